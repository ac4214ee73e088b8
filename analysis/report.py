#!/usr/bin/env python3
"""report.py - figures and one self-contained HTML page from an nnsweep
results file: the seed study's tables and figures, and a few more.

usage: report.py RESULTS.h5 [--out DIR] [--no-embed] [--dpi N] [--quiet]
                 [--nnsweep PATH [--data DIR]]

Writes DIR/report.html (default DIR: report/), one PNG per figure next to it,
and DIR/runs.csv (one row per run: summary, config and the accuracy the
figures use). report.html embeds every figure as a data: URI, so that the
page alone is the whole report (mail it, attach it to an issue), and links
each one to its PNG file; --no-embed references the PNG files instead
(smaller page, needs the folder). Works on a finished file and on one that
a sweep is still writing (SWMR read: the figures show what was flushed so
far, and the page says how many runs are unfinished).

What goes in, and when (decided from each run's config in the file, never
from sweep names; a section without the data it needs says why it is
skipped):
  overview      runs per sweep and status; failed, diverged, interrupted runs
  best          best run of each sweep: hyperparameters, best epoch, test
                accuracy, time; a bar chart of them
  curves        per sweep: train/test (and val) loss and accuracy and the top
                accuracy per epoch, one line per run, coloured by learning
                rate (by the sweep's first varying key if the rate is fixed)
  lr            per model family: best test accuracy against learning rate,
                one line per depth and setting with >= 2 learning rates
  size          per model family: depth x width heatmap (MLP: hidden layers,
                CNN: conv layers x channels) of the best test accuracy over
                learning rates and seeds, where >= 2 depths and >= 2 widths
                share every other setting
  l2, dropout   per sweep whose weight_decay (dropout) takes >= 2 values:
                train vs test loss trajectories, train accuracy vs top test
                accuracy, best test accuracy per value
  optim         per model family and architecture that was trained with plain
                SGD and with batch norm and/or Adam(W): best accuracy per
                variant, against learning rate, and the loss curves of each
                variant's best run
  cost          best test accuracy against training time and against the
                parameter count, Pareto fronts marked (finished runs)
  seeds         per sweep that repeats a config with >= 2 seeds: mean +- std
                of the best test accuracy and of the test accuracy per epoch
  classes       only with --nnsweep: the best run of each model family that
                has stored weights, through `nnsweep evaluate`: confusion
                matrix and per-class accuracy (a failing evaluate is a note,
                not an error)

"Best test accuracy" is the summary's best_test_accuracy: the test accuracy
at the epoch that the run's select_on metric picked. For a run still
running it is worked out the same way from the epochs written so far (marked
provisional).

Exit status: 0 written; 2 the input is missing, not an nnsweep results file
or damaged, or bad arguments; 1 the report could not be written. Errors are
one line on stderr. Needs Debian's python3-h5py, python3-numpy,
python3-pandas and python3-matplotlib (Agg backend, no display).

Three modules on top of nnsweep_results.py (the one reader of the schema):
study.py reads a file into a Study and selects the runs each section
compares, figures.py draws them, and this file writes the tables, the page
and runs.csv. Other programs (tests) import it: load() (from study.py)
reads a file into a Study, and build_figures(study) (from figures.py)
returns the figures as matplotlib Figure objects without writing anything.
"""

import argparse
import base64
import html
import math
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

try:
    import numpy as np

    from figures import SECTIONS, Figureset, build_figures
    from study import (ReportInputError, Study, best_runs, fmt, is_finite, is_missing, label,
                       load, plain, seed_groups, sweep_order, varying_keys)
except ImportError as _e:  # pragma: no cover - depends on the machine
    sys.stderr.write(f"report.py: Python module {_e.name!r} is missing: install Debian's "
                     "python3-h5py python3-numpy python3-pandas python3-matplotlib "
                     f"and run it with that Python (/usr/bin/python3 {sys.argv[0]} ...)\n")
    sys.exit(2)

__all__ = ["Study", "Figureset", "load", "build_figures", "write_report", "render_html", "main",
           "SECTIONS", "ReportInputError"]


# ---------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------

CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.9em;color:#555}.note{color:#8a5a00}.warn{background:#fff4d6;padding:.5em}
code{background:#f4f4f4;padding:0 .2em}details{font-size:.85em}
"""


def _e(s):
    return html.escape(str(s))


def _num(v, digits=4):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "\u2013"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _table(header, rows, num_cols=()):
    out = ["<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>"]
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            cls = ' class="num"' if i in num_cols else ""
            cells.append(f"<td{cls}>{v}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join(out) + "</table>"


def _overview_html(st):
    parts = []
    r = st.runs
    n = len(r)
    parts.append(f"<p>File <code>{_e(os.path.abspath(st.path))}</code> "
                 f"(nnsweep {_e(st.attrs.get('nnsweep_version', '?'))}, schema "
                 f"{_e(st.attrs.get('schema_version', '?'))}, dataset "
                 f"{_e(st.attrs.get('dataset', '?'))}), read {_e(st.read_at)}: "
                 f"{n} runs in {len(sweep_order(st))} sweeps.</p>")
    if st.n_unfinished:
        parts.append(f'<p class="warn">{st.n_unfinished} of {n} runs are unfinished (pending or '
                     "running): a sweep is writing this file, or was stopped before the end. "
                     "The figures show the epochs written so far; accuracies of running runs "
                     "are provisional.</p>")
    statuses = ["done", "running", "pending", "diverged", "failed", "interrupted"]
    rows = []
    for sweep in sweep_order(st):
        s = r[r["sweep"] == sweep]
        sw = st.sweeps[st.sweeps["name"] == sweep]
        method = sw["method"].iloc[0] if len(sw) else "?"
        metric = f"{sw['goal'].iloc[0]} {sw['metric'].iloc[0]}" if len(sw) else "?"
        counts = [str(int((s["status"] == k).sum())) for k in statuses]
        rows.append([_e(sweep), _e(method), _e(metric), str(len(s))] + counts
                    + [_num(float(s["wall_seconds"].sum()), 1)])
    parts.append(_table(["sweep", "method", "metric", "runs"] + statuses + ["run time (s)"],
                        rows, num_cols=range(3, 11)))
    bad = r[r["status"].isin(["diverged", "failed", "interrupted"])]
    if len(bad):
        parts.append("<p>Runs that did not finish normally:</p>")
        parts.append(_table(["run", "sweep", "status", "epochs", "message"],
                            [[_e(x.run_id), _e(x.sweep), _e(x.status),
                              f"{x.epochs_done}/{x.epochs}", _e(x.message)]
                             for x in bad.itertuples()]))
    parts.append('<p>Every run with its config and accuracy: <a href="runs.csv">runs.csv</a>.</p>')
    return "\n".join(parts)


BEST_KEYS = ["learning_rate", "optimizer", "batchnorm", "weight_decay", "dropout", "batch_size"]


def _best_html(st):
    best = best_runs(st)
    if best.empty:
        return '<p class="note">No run has a test accuracy yet.</p>'
    # the core hyperparameters, and any other key that differs between them
    keys = BEST_KEYS + [k for k in varying_keys(list(best["rel"]), drop=BEST_KEYS)
                        if k not in ("hidden_layers", "conv_layers", "model", "kernel_size",
                                     "padding", "pool_size")]
    has_val = best["best_val_accuracy"].map(is_finite).any()
    header = ["sweep", "run", "status", "model"] + keys + ["varied in sweep", "best epoch",
                                                         "epochs", "best test accuracy"]
    header += ["best val accuracy"] if has_val else []
    header += ["time (s)", "parameters", "config"]
    rows = []
    for _, b in best.iterrows():
        rel = b["rel"]
        vary = varying_keys(list(st.runs[st.runs["sweep"] == b["sweep"]]["cfg"]))
        cfg_txt = ", ".join(f"{k}={fmt(v)}" for k, v in sorted(b["cfg"].items()))
        row = [_e(b["sweep"]), f"<code>{_e(b['run_id'])}</code>", _e(b["status"]),
               _e(b["arch"])]
        row += [_e(fmt(rel.get(k))) if k in rel else "\u2013" for k in keys]
        row += [_e(", ".join(f"{k}={fmt(b['cfg'].get(k))}" for k in vary) or "\u2013"),
                str(b["acc_epoch"]), f"{b['epochs_done']}/{b['epochs']}",
                _num(b["acc"]) + (" (provisional)" if b["provisional"] else "")]
        row += [_num(b["best_val_accuracy"])] if has_val else []
        row += [_num(float(b["wall_seconds"]), 1), f"{int(b['n_params']):,}",
                f"<details><summary>all keys</summary>{_e(cfg_txt)}</details>"]
        rows.append(row)
    n0 = 4 + len(keys) + 1
    return _table(header, rows, num_cols=range(n0, len(header) - 1))


def _seeds_html(st):
    groups = seed_groups(st)
    rows = []
    for sweep, rep in groups.items():
        keys = varying_keys([g[0] for g in rep])
        for rel, rs in rep:
            a = np.array([r["acc"] for r in rs], float)
            rows.append([_e(sweep), _e(label(rel, keys)), str(len(a)), _num(a.mean()),
                         _num(a.std(ddof=1)), _num(a.min()), _num(a.max())])
    if not rows:
        return ""
    return _table(["sweep", "config", "seeds", "mean", "std", "min", "max"], rows,
                  num_cols=range(2, 7))


def _count(n, what):
    return f"{n} {what}{'' if n == 1 else 's'}"


def _fig_html(f, embed):
    png = f["name"] + ".png"
    if embed:
        src = "data:image/png;base64," + base64.b64encode(f["png_bytes"]).decode("ascii")
    else:
        src = png
    return (f'<figure id="{_e(f["name"])}"><a href="{_e(png)}"><img src="{src}" '
            f'alt="{_e(f["title"])}"></a><figcaption><b>{_e(f["title"])}</b> '
            f'(<a href="{_e(png)}">{_e(png)}</a>). {_e(f["caption"])}</figcaption></figure>')


def render_html(st, fs, embed=True):
    """The page as text; fs.figures need png_bytes (write_report sets them)."""
    title = f"nnsweep report: {os.path.basename(st.path)}"
    out = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{_e(title)}"
           f"</title><style>{CSS}</style></head><body><h1>{_e(title)}</h1>"]
    skipped = [(sid, t, n) for sid, t in SECTIONS for n in fs.notes[sid]
               if n.startswith("skipped") or ": skipped" in n]
    out.append("<ul>" + "".join(
        f'<li><a href="#{sid}">{_e(t)}</a> ({_count(len(fs.section_figures(sid)), "figure")})'
        "</li>" for sid, t in SECTIONS) + "</ul>")
    if skipped:
        out.append("<p>Skipped for lack of data:</p><ul>" + "".join(
            f"<li>{_e(t)}: {_e(n)}</li>" for _, t, n in skipped) + "</ul>")
    intro = {
        "best": _best_html(st) if not st.runs.empty else "",
        "seeds": _seeds_html(st) if not st.runs.empty else "",
    }
    for sid, t in SECTIONS:
        out.append(f'<h2 id="{sid}">{_e(t)}</h2>')
        if sid == "overview":
            out.append(_overview_html(st))
        out.append(intro.get(sid, ""))
        for n in fs.notes[sid]:
            out.append(f'<p class="note">{_e(n)}</p>')
        for f in fs.section_figures(sid):
            out.append(_fig_html(f, embed))
    out.append(f"<hr><p style=\"font-size:.8em;color:#777\">Written by analysis/report.py from "
               f"{_e(os.path.abspath(st.path))}, {_e(st.read_at)}.</p></body></html>")
    return "\n".join(out)


def _runs_csv(st):
    cols = ["run_id", "sweep", "status", "family", "arch", "acc", "provisional", "acc_epoch",
            "epochs_done", "epochs", "best_epoch", "best_test_accuracy", "best_val_accuracy",
            "wall_seconds", "n_params", "has_weights", "host", "device", "message"]
    df = st.runs[[c for c in cols if c in st.runs]].copy()
    df = df.rename(columns={"acc": "test_accuracy_used", "acc_epoch": "epoch_used"})
    for k in st.config_keys:
        if k in st.runs and k not in df:
            df[k] = [fmt(plain(v)) if not is_missing(plain(v)) else "" for v in st.runs[k]]
    return df.to_csv(index=False)


MANIFEST = ".nnsweep-report"


def write_report(st, fs, out_dir, embed=True, dpi=100):
    """Writes the PNGs, runs.csv and report.html (last, by rename) to
    out_dir; removes PNGs an earlier report there wrote and this one did
    not. Returns the path of report.html. OSError on failure."""
    os.makedirs(out_dir, exist_ok=True)
    old = set()
    try:
        with open(os.path.join(out_dir, MANIFEST)) as f:
            old = {line.strip() for line in f if line.strip().endswith(".png")}
    except OSError:
        pass
    written = []
    for f in fs.figures:
        png = os.path.join(out_dir, f["name"] + ".png")
        f["fig"].savefig(png, dpi=dpi)
        with open(png, "rb") as fh:
            f["png_bytes"] = fh.read()
        written.append(f["name"] + ".png")
    for name in old - set(written):
        if "/" not in name:
            try:
                os.remove(os.path.join(out_dir, name))
            except OSError:
                pass
    with open(os.path.join(out_dir, "runs.csv"), "w") as f:
        f.write(_runs_csv(st))
    with open(os.path.join(out_dir, MANIFEST), "w") as f:
        f.write("\n".join(written) + "\n")
    page = os.path.join(out_dir, "report.html")
    tmp = page + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(render_html(st, fs, embed))
    os.replace(tmp, page)
    return page


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="report.py", description="HTML report with figures of an nnsweep results file "
        "(works while a sweep writes it).")
    ap.add_argument("results", help="results file (HDF5) written by nnsweep sweep/train")
    ap.add_argument("--out", default="report", help="output folder (default: report)")
    ap.add_argument("--no-embed", action="store_true",
                    help="reference the PNG files instead of embedding them in report.html")
    ap.add_argument("--dpi", type=int, default=100, help="PNG resolution (default 100)")
    ap.add_argument("--quiet", action="store_true", help="print nothing on success")
    ap.add_argument("--nnsweep", metavar="PATH",
                    help="nnsweep program: adds per-class accuracy and the confusion matrix of "
                         "the best run of each model family (nnsweep evaluate)")
    ap.add_argument("--data", metavar="DIR",
                    help="CIFAR-10 folder for --nnsweep (default: nnsweep's, $CIFAR10_DIR)")
    args = ap.parse_args(argv)
    if not 10 <= args.dpi <= 600:
        ap.error("--dpi: expected 10..600")
    try:
        st = load(args.results)
    except ReportInputError as e:
        sys.stderr.write(f"report.py: {e}\n")
        return 2
    fs = build_figures(st, {"nnsweep": args.nnsweep, "data": args.data} if args.nnsweep
                       else None)
    try:
        page = write_report(st, fs, args.out, embed=not args.no_embed, dpi=args.dpi)
    except OSError as e:
        sys.stderr.write(f"report.py: cannot write the report to {args.out}: {e}\n")
        return 1
    if not args.quiet:
        size = os.path.getsize(page)
        extra = f", {st.n_unfinished} runs unfinished" if st.n_unfinished else ""
        print(f"report: {page} ({len(fs.figures)} figures, {len(st.runs)} runs{extra}, "
              f"{size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
