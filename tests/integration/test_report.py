#!/usr/bin/env python3
"""analysis/report.py and `nnsweep evaluate` on a real tiny sweep (label cpu).

  report     `nnsweep sweep` trains 35 tiny runs (MLPs varying depth, width,
             learning rate, weight decay, dropout, batch norm, optimizer and
             seed, one diverging; CNNs varying depth, channels and learning
             rate) on the synthetic dataset;
             report.py writes the report: exit 0, every figure section has a
             figure, every figure's axes hold finite data (checked on the
             Figure objects that report.build_figures returns), report.html
             references every PNG it embeds and every PNG exists, each
             sweep's best run is in the table; a file with one run says which
             sections it skipped and why
  evaluate   `nnsweep evaluate` on stored runs (MLP, MLP + batch norm,
             dropout, CNN): its accuracy equals the recorded best test
             accuracy to 1e-6, --json parses and is consistent
  swmr       report.py on a file that a sweep (in the background) is writing:
             exit 0, the page says runs are unfinished and the figures hold
             data; after the sweep ends, the report has no unfinished runs
  bad_input  a missing file, a directory, an empty file, garbage bytes,
             truncated copies, copies with damaged metadata and foreign HDF5
             files (h5py-made) each give exit 2 and one line naming the file,
             never a traceback or a hang

usage: test_report.py NNSWEEP DATA_DIR [CASE ...]
Run with Debian's python3 (/usr/bin/python3: h5py, numpy, pandas, matplotlib).
"""
import base64
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ANALYSIS = os.path.join(HERE, "..", "..", "analysis")
REPORT = os.path.join(ANALYSIS, "report.py")
sys.path.insert(0, ANALYSIS)
import report  # noqa: E402
from nnsweep_results import ResultsFile, ResultsFileError  # noqa: E402

NNSWEEP, DATA = sys.argv[1], sys.argv[2]
CASES = sys.argv[3:] or ["report", "evaluate", "swmr", "bad_input"]
PY = sys.executable
failures = []
# `nnsweep sweep` starts MPI (a singleton without mpirun), and Open MPI's own
# allocations show as leaks under LeakSanitizer: CI's sanitizer stage runs
# this cpu-labelled test with an ASan build, so leak detection is off for
# `nnsweep sweep` only (train and evaluate keep it; later options win).
SWEEP_ENV = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0")

COMMON = """  epochs: {value: 2}
  train_images: {value: 1000}
  test_images: {value: 500}
  batch_size: {value: 50}
  patience: {value: 0}
"""
# Sweeps shaped like the seed study's, tiny: each feeds one report section.
TINY = f"""name: mlp_arch
method: grid
metric: {{name: test_accuracy, goal: maximize}}
parameters:
  hidden_layers: {{values: [[16], [32], [16, 16], [32, 32]]}}
  learning_rate: {{values: [0.02, 0.1]}}
{COMMON}---
name: mlp_l2
method: grid
parameters:
  hidden_layers: {{value: [32, 32]}}
  learning_rate: {{value: 0.1}}
  weight_decay: {{values: [0, 0.001, 0.01]}}
{COMMON}---
name: mlp_dropout
method: grid
parameters:
  hidden_layers: {{value: [32, 32]}}
  learning_rate: {{value: 0.1}}
  dropout: {{values: [0, 0.2, 0.5]}}
{COMMON}---
name: mlp_bn_adam
method: grid
parameters:
  hidden_layers: {{value: [32, 32]}}
  batchnorm: {{values: [false, true]}}
  optimizer: {{values: [sgd, adam]}}
  learning_rate: {{values: [0.001, 0.1]}}
{COMMON}---
name: mlp_seeds
method: grid
parameters:
  hidden_layers: {{value: [16]}}
  learning_rate: {{values: [0.02, 0.1]}}
  seed: {{values: [0, 1, 2]}}
{COMMON}---
name: cnn_arch
method: grid
parameters:
  model: {{value: cnn}}
  conv_layers: {{values: [[4], [8], [4, 4], [8, 8]]}}
  hidden_layers: {{value: [16]}}
  kernel_size: {{value: 3}}
  padding: {{value: 1}}
  learning_rate: {{value: 0.05}}
{COMMON}---
name: cnn_lr
method: grid
parameters:
  model: {{value: cnn}}
  conv_layers: {{value: [4]}}
  hidden_layers: {{value: [16]}}
  kernel_size: {{value: 3}}
  padding: {{value: 1}}
  learning_rate: {{value: 0.01}}
{COMMON}---
name: mlp_diverge
method: grid
parameters:
  hidden_layers: {{value: [16]}}
  learning_rate: {{values: [0.1, 100000]}}
{COMMON}"""
# Every section the tiny study must fill (l2: mlp_l2, dropout: mlp_dropout,
# optim: mlp_bn_adam, seeds: mlp_seeds, size: mlp_arch and cnn_arch, ...).
EXPECT_SECTIONS = ["best", "curves", "lr", "size", "l2", "dropout", "optim", "cost", "seeds"]


def check(cond, what):
    print(("  ok: " if cond else "  FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def run(cmd, timeout=600):
    env = SWEEP_ENV if cmd[:2] == [NNSWEEP, "sweep"] else None
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    return p.returncode, p.stdout, p.stderr


def err_lines(stderr):
    """stderr's lines less matplotlib's own first-run notes ("Matplotlib is
    building the font cache", a temporary config folder)."""
    return [ln for ln in stderr.strip().splitlines() if not ln.startswith("Matplotlib ")]


def sweep(yaml_path, out, extra=()):
    return [NNSWEEP, "sweep", yaml_path, "--out", out, "--data", DATA, "--threads", "1",
            "--quiet", *extra]


def summary(path):
    with h5py.File(path, "r", libver="latest", swmr=True) as f:
        s = f["summary"][()]
    return [{k: (v.decode() if isinstance(v, bytes) else v) for k, v in zip(s.dtype.names, row)}
            for row in s]


def finite(a):
    a = np.asarray(a, dtype=float)
    return a.size > 0 and np.isfinite(a).any()


def axes_problems(fig):
    """Why an Axes of fig shows no data ([] when each shows some): every
    Axes needs a line with a finite point, a collection with finite offsets
    or paths, a bar of finite height, or an image with a finite value."""
    out = []
    for i, ax in enumerate(fig.axes):
        if hasattr(ax, "_colorbar"):
            continue  # a colorbar's axes: part of its image
        if ax.get_label() == "legend" and not ax.axison:
            if ax.get_legend() is None or not ax.get_legend().get_texts():
                out.append(f"axes {i}: a legend panel without a legend")
            continue  # a panel that holds the legend of the others
        data = False
        for ln in ax.lines:
            x, y = ln.get_xdata(), ln.get_ydata()
            if len(x) and np.isfinite(np.asarray(x, float)).any() and finite(y):
                data = True
        for c in ax.collections:
            offs = c.get_offsets()
            if len(offs) and finite(offs):
                data = True
            for p in c.get_paths():
                if len(p.vertices) and finite(p.vertices):
                    data = True
        for p in ax.patches:
            if hasattr(p, "get_height") and math.isfinite(p.get_height()) and p.get_height() != 0:
                data = True
        for im in ax.images:
            if finite(np.ma.filled(np.ma.asarray(im.get_array(), dtype=float), np.nan)):
                data = True
        if not data or not ax.has_data():
            out.append(f"axes {i} ({ax.get_title()!r}) has no finite data")
    return out


def check_figures(fs, what):
    bad = []
    for f in fs.figures:
        if not f["fig"].axes:
            bad.append(f"{f['name']}: no axes")
        bad += [f"{f['name']}: {p}" for p in axes_problems(f["fig"])]
    check(not bad, f"{what}: every axes of the {len(fs.figures)} figures holds finite data"
          + (f" ({bad[:5]})" if bad else ""))


def check_page(out_dir, what, expect_figures=None, embed=True):
    """report.html references every PNG (linked, and embedded unless
    embed=False), every PNG it names exists and is a PNG; returns the page
    text."""
    page = os.path.join(out_dir, "report.html")
    if not check(os.path.isfile(page), f"{what}: {page} written"):
        return ""
    with open(page, encoding="utf-8") as fh:
        text = fh.read()
    pngs = sorted(n for n in os.listdir(out_dir) if n.endswith(".png"))
    named = sorted(set(re.findall(r'href="([^"/]+\.png)"', text)))
    check(pngs == named, f"{what}: report.html links exactly the {len(pngs)} PNGs of the folder"
          + ("" if pngs == named else f" (folder {pngs}, page {named})"))
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    if embed:
        check(len(embedded) == len(pngs), f"{what}: every figure is embedded as a data URI "
              f"({len(embedded)} of {len(pngs)})")
        check(all(base64.b64decode(e)[:8] == b"\x89PNG\r\n\x1a\n" for e in embedded),
              f"{what}: the data URIs hold PNGs")
    else:
        srcs = sorted(set(re.findall(r'<img src="([^"/]+\.png)"', text)))
        check(not embedded and srcs == pngs, f"{what}: --no-embed: every <img> names its PNG")
    ok = all(open(os.path.join(out_dir, n), "rb").read(8) == b"\x89PNG\r\n\x1a\n" for n in named
             if os.path.exists(os.path.join(out_dir, n)))
    check(ok and all(os.path.exists(os.path.join(out_dir, n)) for n in named),
          f"{what}: every PNG the page names exists and is a PNG")
    if expect_figures is not None:
        check(len(pngs) == expect_figures, f"{what}: {expect_figures} figures written "
              f"(found {len(pngs)})")
    return text


def case_report(tmp):
    print("report")
    yaml_path = os.path.join(tmp, "tiny.yaml")
    with open(yaml_path, "w") as f:
        f.write(TINY)
    out = os.path.join(tmp, "tiny.h5")
    t0 = time.time()
    code, so, se = run(sweep(yaml_path, out))
    if not check(code == 0, f"nnsweep sweep of the tiny study exits 0 ({time.time() - t0:.0f} s; "
                            f"{se.strip()[-500:]})"):
        return None
    rows = summary(out)
    status = sorted(r["status"] for r in rows)
    check(len(rows) == 35 and status.count("done") == 34 and status.count("diverged") == 1,
          f"35 runs: 34 done, the one at learning rate 1e5 diverged ({status})")

    rep = os.path.join(tmp, "report")
    t0 = time.time()
    code, so, se = run([PY, REPORT, out, "--out", rep])
    check(code == 0 and not err_lines(se), f"report.py exits 0 and prints no warning "
          f"({time.time() - t0:.0f} s; {se.strip()[-800:]})")
    check(os.path.join(rep, "report.html") in so, f"report.py says where the report is ({so!r})")

    st = report.load(out)
    fs = report.build_figures(st)
    for sid in EXPECT_SECTIONS:
        check(len(fs.section_figures(sid)) >= 1, f"section {sid} has a figure")
    check(len(fs.section_figures("curves")) == 8, "one curves figure per sweep (8)")
    check(len(fs.section_figures("size")) == 2, "two depth x width heatmaps (MLP and CNN)")
    lr_fig = fs.section_figures("lr")[0]["fig"]
    check(len([a for a in lr_fig.axes if not hasattr(a, "_colorbar")]) == 2,
          "learning-rate figure: one panel per model family (MLP, CNN)")
    check_figures(fs, "tiny study")
    text = check_page(rep, "tiny study", expect_figures=len(fs.figures))
    names = sorted(f["name"] + ".png" for f in fs.figures)
    check(names == sorted(n for n in os.listdir(rep) if n.endswith(".png")),
          "the CLI wrote the figures build_figures returns")
    best = {}
    for r in rows:
        b = best.get(r["sweep"])
        if b is None or r["best_test_accuracy"] > b["best_test_accuracy"]:
            best[r["sweep"]] = r
    missing = [s for s, r in best.items() if r["run_id"] not in text]
    check(not missing, f"the best-run table names each sweep's best run (missing: {missing})")
    check("unfinished" not in text, "a finished file: no unfinished runs reported")
    div = [r for r in rows if r["status"] == "diverged"]
    check(bool(div) and div[0]["run_id"] in text and "did not finish normally" in text,
          "the overview lists the diverged run")
    check(os.path.exists(os.path.join(rep, "runs.csv")), "runs.csv written")

    # a file with one run: sections skipped with a reason, still valid
    one = os.path.join(tmp, "one.h5")
    code, so, se = run([NNSWEEP, "train", "--data", DATA, "--threads", "1", "--quiet",
                        "--epochs", "1", "--train-images", "500", "--test-images", "200",
                        "--hidden-layers", "16", "--out", one])
    if check(code == 0, f"nnsweep train --out writes a one-run file ({se.strip()[-300:]})"):
        rep1 = os.path.join(tmp, "report1")
        code, so, se = run([PY, REPORT, one, "--out", rep1, "--no-embed"])
        check(code == 0, f"report.py on a one-run file exits 0 ({se.strip()[-300:]})")
        text1 = check_page(rep1, "one run", embed=False) if code == 0 else ""
        fs1 = report.build_figures(report.load(one))
        check_figures(fs1, "one run")
        for sid in ("lr", "size", "l2", "dropout", "optim", "cost", "seeds"):
            check(not fs1.section_figures(sid) and any("skipped" in n for n in fs1.notes[sid]),
                  f"one run: section {sid} skipped with a reason ({fs1.notes[sid]})")
        check(text1.count("skipped") >= 7 and "data:image/png" not in text1,
              "one run: the page lists the skipped sections; --no-embed links the PNGs")
        # the report folder is reused: PNGs of the earlier report are removed
        code, so, se = run([PY, REPORT, one, "--out", rep, "--quiet"])
        check(code == 0 and so == "", "--quiet prints nothing")
        check_page(rep, "report folder reused", expect_figures=len(fs1.figures))
    return out


def case_evaluate(tmp, results):
    print("evaluate")
    if results is None:
        results = case_report(tmp)
        if results is None:
            return
    rows = [r for r in summary(results) if r["status"] == "done" and r["has_weights"]]
    with ResultsFile(results) as f:
        cfg = {r["run_id"]: f.config(r["run_id"]) for r in rows}
    picks = {}
    for r in sorted(rows, key=lambda r: -r["best_test_accuracy"]):
        c = cfg[r["run_id"]]
        kind = ("cnn" if c["model"] == "cnn" else "batchnorm" if c["batchnorm"]
                else "dropout" if c["dropout"] > 0 else "adam" if c["optimizer"] == "adam"
                else "mlp")
        picks.setdefault(kind, r)
    check(len(picks) == 5, f"stored weights of an MLP, MLP + batch norm, dropout, Adam and CNN "
          f"run ({sorted(picks)})")
    for kind, r in sorted(picks.items()):
        code, so, se = run([NNSWEEP, "evaluate", results, r["run_id"], "--data", DATA, "--json"])
        if not check(code == 0, f"evaluate {kind} run {r['run_id']} --json exits 0 "
                                f"({se.strip()[-300:]})"):
            continue
        try:
            e = json.loads(so)
        except ValueError as err:
            check(False, f"evaluate --json output parses ({err}: {so[:200]!r})")
            continue
        acc = e["test_accuracy"]
        check(abs(acc - r["best_test_accuracy"]) <= 1e-6,
              f"{kind}: evaluated accuracy {acc:.6f} = recorded best {r['best_test_accuracy']:.6f}")
        conf = np.array(e["confusion"])
        check(conf.shape == (10, 10) and conf.sum() == e["n"] == 500
              and abs(np.trace(conf) / e["n"] - acc) <= 1e-9 and len(e["classes"]) == 10,
              f"{kind}: the confusion matrix has {e['n']} images and its diagonal is the accuracy")
        per = [x for x in e["per_class_accuracy"] if x is not None]
        rows_n = conf.sum(axis=1)
        want = [conf[i, i] / rows_n[i] for i in range(10) if rows_n[i]]
        check(np.allclose(per, want), f"{kind}: per-class accuracy = diagonal / row sums")
    # the report's per-class section runs nnsweep evaluate on the best runs
    st = report.load(results)
    fs = report.build_figures(st, {"nnsweep": NNSWEEP, "data": DATA})
    names = sorted(f["name"] for f in fs.section_figures("classes"))
    check(names == ["classes_cnn", "classes_mlp"], "report --nnsweep: per-class figures of "
          f"the best MLP and CNN ({fs.notes['classes']})")
    check_figures(fs, "report --nnsweep")
    fs = report.build_figures(st, {"nnsweep": NNSWEEP, "data": os.path.join(tmp, "no-data")})
    check(not fs.section_figures("classes") and any("failed" in n for n in fs.notes["classes"]),
          f"report --nnsweep with a bad --data: the section says evaluate failed "
          f"({fs.notes['classes']})")
    r = picks.get("cnn") or rows[0]
    code, so, se = run([NNSWEEP, "evaluate", results, r["run_id"], "--data", DATA])
    check(code == 0 and "airplane" in so and "truck" in so,
          "evaluate without --json prints the table with class names")
    code, so, se = run([NNSWEEP, "evaluate", results, "no_such_run", "--data", DATA])
    check(code == 2 and "no_such_run" in se and "Traceback" not in se,
          f"evaluate of an unknown run: exit 2 naming it ({code}, {se.strip()!r})")


SLOW = """name: live
method: grid
parameters:
  hidden_layers: {values: [[256], [256, 256]]}
  learning_rate: {values: [0.01, 0.03, 0.1, 0.3]}
  epochs: {value: 6}
  train_images: {value: 5000}
  test_images: {value: 1000}
  batch_size: {value: 32}
  patience: {value: 0}
"""


def case_swmr(tmp):
    print("swmr")
    yaml_path = os.path.join(tmp, "live.yaml")
    with open(yaml_path, "w") as f:
        f.write(SLOW)
    out = os.path.join(tmp, "live.h5")
    proc = subprocess.Popen(sweep(yaml_path, out), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=SWEEP_ENV)
    try:
        # wait, reading with SWMR, until the first run has written 2 epochs
        t0, ready = time.time(), False
        while time.time() - t0 < 300 and proc.poll() is None:
            try:
                with ResultsFile(out) as f:
                    ready = any(len(f.metrics(k)) >= 2 for k in f.summary()["run_id"])
            except (OSError, KeyError, ResultsFileError):
                pass  # not there yet, or being replaced
            if ready:
                break
            time.sleep(0.1)
        check(ready and proc.poll() is None,
              f"the sweep is running and has written epochs ({time.time() - t0:.1f} s)")
        st = report.load(out)  # as report.py does, while the sweep writes
        check(st.n_unfinished > 0, f"loaded while written: {st.n_unfinished} of {len(st.runs)} "
              "runs unfinished")
        check_figures(report.build_figures(st), "while written")
        rep = os.path.join(tmp, "report_live")
        code, so, se = run([PY, REPORT, out, "--out", rep])
        check(code == 0 and "Traceback" not in se,
              f"report.py on a file being written exits 0 ({se.strip()[-500:]})")
        still = proc.poll() is None
        text = check_page(rep, "while written")
        check("runs are unfinished" in text and "unfinished" in so,
              f"the page and the message say runs are unfinished (sweep still running after "
              f"the report: {still})")
    finally:
        try:
            so, se = proc.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            proc.kill()
            so, se = proc.communicate()
    check(proc.returncode == 0, f"the sweep finishes normally ({se.strip()[-300:]})")
    code, so, se = run([PY, REPORT, out, "--out", rep])
    text = check_page(rep, "after the sweep") if code == 0 else ""
    check(code == 0 and "unfinished" not in text, "after the sweep: report without unfinished runs")


def case_bad_input(tmp, results):
    print("bad_input")
    if results is None:
        # any small finished file will do
        results = os.path.join(tmp, "small.h5")
        run([NNSWEEP, "train", "--data", DATA, "--threads", "1", "--quiet", "--epochs", "1",
             "--train-images", "300", "--test-images", "100", "--hidden-layers", "8",
             "--out", results])
    size = os.path.getsize(results)
    data = open(results, "rb").read()
    files = {}

    def put(name, content):
        p = os.path.join(tmp, name)
        with open(p, "wb") as f:
            f.write(content)
        files[name] = p

    files["missing"] = os.path.join(tmp, "does_not_exist.h5")
    files["directory"] = tmp
    put("empty.h5", b"")
    put("garbage.h5", bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8)))
    put("text.h5", b"run_id,accuracy\nabc,0.5\n")
    for frac in (0.001, 0.3, 0.9, 0.999):
        put(f"truncated_{frac}.h5", data[:int(size * frac)])
    # damaged metadata in place (object headers near the start): a plain
    # open fails its checksum, a SWMR reader would retry forever
    rng = np.random.default_rng(7)
    for k, off in enumerate((900, 1500, 2400, 3300)):
        b = bytearray(data)
        b[off:off + 64] = bytes(rng.integers(0, 256, 64, dtype=np.uint8))
        put(f"damaged_{k}.h5", bytes(b))
    foreign = os.path.join(tmp, "foreign.h5")
    with h5py.File(foreign, "w") as f:
        f["images"] = np.zeros((4, 32, 32, 3), np.uint8)
        f.attrs["format"] = "something-else"
    files["foreign.h5"] = foreign
    foreign2 = os.path.join(tmp, "foreign2.h5")
    with h5py.File(foreign2, "w") as f:  # our layout's names, not our format
        f["summary"] = np.arange(3)
        f.create_group("runs")
        f.create_group("sweeps")
    files["foreign2.h5"] = foreign2
    newer = os.path.join(tmp, "newer.h5")
    shutil.copy(results, newer)
    with h5py.File(newer, "r+") as f:
        f.attrs["schema_version"] = np.int32(99)
    files["newer_schema.h5"] = newer

    for name, p in files.items():
        t0 = time.time()
        try:
            code, so, se = run([PY, REPORT, p, "--out", os.path.join(tmp, "bad_report")],
                               timeout=120)
        except subprocess.TimeoutExpired:
            check(False, f"{name}: report.py hangs")
            continue
        lines = err_lines(se)
        if name.startswith("damaged") and code == 0:
            # the bytes hit data that no check covers: a report is fine too
            check("Traceback" not in se, f"{name}: damage in unchecked bytes, report written")
            continue
        check(code == 2 and len(lines) == 1 and "Traceback" not in se and p in lines[0]
              and lines[0].startswith("report.py: "),
              f"{name}: exit 2 with one line naming the file ({code}, {time.time() - t0:.1f} s: "
              f"{se.strip()[:300]!r})")
    # the message says what is wrong
    code, so, se = run([PY, REPORT, files["garbage.h5"], "--out", os.path.join(tmp, "x")])
    check("not an HDF5 file" in se, f"garbage: 'not an HDF5 file' ({se.strip()!r})")
    code, so, se = run([PY, REPORT, files["foreign.h5"], "--out", os.path.join(tmp, "x")])
    check("not an nnsweep results file" in se, f"foreign: 'not an nnsweep results file' "
          f"({se.strip()!r})")
    code, so, se = run([PY, REPORT, files["newer_schema.h5"], "--out", os.path.join(tmp, "x")])
    check("schema version 99" in se, f"newer schema: names the version ({se.strip()!r})")
    code, so, se = run([PY, REPORT, files["missing"], "--out", os.path.join(tmp, "x")])
    check("no such file" in se, f"missing: 'no such file' ({se.strip()!r})")
    code, so, se = run([PY, REPORT, results, "--out", "/proc/nnsweep-report"])
    check(code == 1 and len(err_lines(se)) == 1 and "Traceback" not in se,
          f"unwritable output folder: exit 1, one line ({code}, {se.strip()!r})")
    code, so, se = run([PY, REPORT])
    check(code == 2 and "usage" in se, "no arguments: usage, exit 2")


def main():
    tmp = tempfile.mkdtemp(prefix="nnsweep-report-")
    print(f"files in {tmp}")
    results = None
    if "report" in CASES:
        results = case_report(tmp)
    if "evaluate" in CASES:
        case_evaluate(tmp, results)
    if "swmr" in CASES:
        case_swmr(tmp)
    if "bad_input" in CASES:
        case_bad_input(tmp, results)
    if failures:
        print(f"test_report: {len(failures)} FAILED (files kept in {tmp}):")
        for f in failures:
            print("  " + f)
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    print("test_report: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
