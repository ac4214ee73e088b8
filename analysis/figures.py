"""figures - the figures of analysis/report.py, drawn with matplotlib (Agg
canvas, no display; nothing is written).

The draw_* functions take data that study.py selected (the runs a figure
compares, grouped) and return a Figure; the section functions pick the
data through study.py, draw it, and record in a note why a section (or part
of it) was skipped or cut. build_figures(study) returns every figure the
data supports as a Figureset. report.py writes the PNGs and the page.
"""

import math
import re

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

import figures_search  # noqa: E402
import study  # noqa: E402
from study import fmt, is_finite, label, value_sort_key, varying_keys  # noqa: E402

# Section ids in page order, with their titles.
SECTIONS = [
    ("overview", "Overview"),
    ("best", "Best run of each sweep"),
    ("curves", "Training curves per sweep"),
    ("lr", "Best test accuracy per learning rate"),
    ("size", "Depth x width"),
    ("l2", "L2 regularization (weight decay)"),
    ("dropout", "Dropout"),
    ("optim", "Batch norm and Adam against plain SGD"),
    ("cost", "Accuracy against training time and parameter count"),
    ("seeds", "Seeds: mean \u00b1 std"),
    ("search", "Search: best so far, and where runs were stopped"),
    ("classes", "Best runs per class (nnsweep evaluate)"),
]

FAMILY_COLORS = {"mlp": "tab:blue", "cnn": "tab:orange"}
MAX_LINES = 10          # lines per learning-rate panel
MAX_GROUP_FIGURES = 4   # heatmaps / optimizer figures per family


# ---------------------------------------------------------------------------
# Small helpers for figures
# ---------------------------------------------------------------------------

def value_colors(values):
    """{value: colour}: ordered values on viridis by rank (so log-spaced
    learning rates spread evenly), others on tab10."""
    vals = sorted(set(values), key=value_sort_key)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
        cmap = matplotlib.colormaps["viridis"]
        n = len(vals)
        return {v: cmap(0.9 * i / max(n - 1, 1)) for i, v in enumerate(vals)}
    cmap = matplotlib.colormaps["tab10"]
    return {v: cmap(i % 10) for i, v in enumerate(vals)}

def _figure(w, h, nrows=1, ncols=1):
    fig = Figure(figsize=(w, h), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _drop_unused(fig, axes, n_used):
    for ax in axes.flat[n_used:]:
        fig.delaxes(ax)


def _loss_ylim(ax, series):
    lo, top = _loss_cap(series)
    if lo is not None and top > lo:
        ax.set_ylim(min(0.0, lo), top * 1.05)


def _family_colors(families):
    extra = iter(["tab:green", "tab:red", "tab:purple", "tab:brown"])
    return {f: FAMILY_COLORS.get(f) or next(extra, "tab:gray")
            for f in sorted(set(families), key=lambda f: (
                list(FAMILY_COLORS).index(f) if f in FAMILY_COLORS else len(FAMILY_COLORS), f))}


def _epoch_axis(ax):
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _bar_values(ax, xs, ys, fmt_fn=lambda y: f"{y:.3f}"):
    """Writes each bar's value inside its top (above it for short bars)."""
    top = max(ys) if len(ys) else 1.0
    for x, y in zip(xs, ys):
        inside = y > 0.25 * top
        ax.text(x, y, fmt_fn(y) + ("\n" if inside else ""), ha="center",
                va="top" if inside else "bottom", fontsize="small",
                color="white" if inside else "black")


def _loss_cap(series):
    """Top of a loss axis that keeps diverging runs from flattening the
    others: at most 2.5x the largest initial (epoch 0) loss."""
    finite = [s[np.isfinite(s)] for s in series]
    finite = [s for s in finite if len(s)]
    if not finite:
        return None, None
    hi = max(float(s.max()) for s in finite)
    first = max(float(s[0]) for s in finite)
    lo = min(float(s.min()) for s in finite)
    top = min(hi, 2.5 * first) if first > 0 else hi
    return lo, top


def _plot_series(ax, x, y, **kw):
    if len(x) == 1:
        kw.setdefault("marker", "o")
    ax.plot(x, y, **kw)


def _legend_for(ax, colors, title, limit=12, **kw):
    handles = [Line2D([], [], color=c, lw=2, label=fmt(v)) for v, c in list(colors.items())[:limit]]
    if len(colors) > limit:
        handles.append(Line2D([], [], color="none", label=f"... {len(colors) - limit} more"))
    ax.legend(handles=handles, title=title, fontsize="small", title_fontsize="small",
              ncol=2 if len(handles) > 10 else 1, **kw)


class Figureset:
    """The figures of a report, in page order, and the notes per section
    (why a section or part of it was skipped, what a figure leaves out)."""

    def __init__(self):
        self.figures = []   # dicts: name, section, title, caption, fig
        self.notes = {sid: [] for sid, _ in SECTIONS}
        self._names = set()

    def add(self, section, name, title, caption, fig):
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "figure"
        name, k = base, 2
        while name in self._names:
            name, k = f"{base}_{k}", k + 1
        self._names.add(name)
        self.figures.append(dict(section=section, name=name, title=title, caption=caption,
                                 fig=fig))

    def note(self, section, text):
        self.notes[section].append(text)

    def section_figures(self, section):
        return [f for f in self.figures if f["section"] == section]


# ---------------------------------------------------------------------------
# Figures: draw_* take the selected data and return a Figure
# ---------------------------------------------------------------------------

def draw_best(best):
    """Bar chart of the best run of each sweep (rows of study.best_runs with
    a test accuracy)."""
    fig, axes = _figure(9, 0.5 + 0.45 * len(best))
    ax = axes[0, 0]
    colors = _family_colors(best["family"])
    y = np.arange(len(best))
    ax.barh(y, best["acc"], color=[colors[f] for f in best["family"]])
    for yi, (a, p) in enumerate(zip(best["acc"], best["provisional"])):
        ax.text(a, yi, f" {a:.3f}{' (running)' if p else ''}", va="center", fontsize="small")
    ax.set_yticks(y, [f"{s} ({fam})" for s, fam in zip(best["sweep"], best["family"])])
    ax.invert_yaxis()
    ax.set_xlim(0, min(1.0, best["acc"].max() * 1.2 + 0.02))
    ax.set_xlabel("best test accuracy")
    ax.set_title("Best run of each sweep")
    return fig


def draw_curves(sweep, cs, metrics):
    """One sweep's training curves (cs: a set of study.curve_sets)."""
    runs, ckey, panels = cs["runs"], cs["ckey"], cs["panels"]
    colors = value_colors([r.get(ckey) for r in runs["rel"]])
    ncols = 3
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = _figure(15, 3.6 * nrows, nrows, ncols)
    for ax, (col, title) in zip(axes.flat, panels):
        series = []
        for _, run in runs.iterrows():
            m = metrics[run["run_id"]]
            y = m[col].to_numpy(dtype=float)
            series.append(y)
            _plot_series(ax, m["epoch"], y, color=colors[run["rel"].get(ckey)], lw=1.2,
                         alpha=0.85)
        if col.endswith("loss"):
            _loss_ylim(ax, series)
        ax.set_title(title)
        _epoch_axis(ax)
        ax.grid(alpha=0.3)
    if len(panels) < axes.size:
        # the first free slot holds the legend (a legend-only axes,
        # labelled "legend"), the others go
        _drop_unused(fig, axes, len(panels) + 1)
        leg_ax = axes.flat[len(panels)]
        leg_ax.set_axis_off()
        leg_ax.set_label("legend")
        _legend_for(leg_ax, colors, ckey, limit=20, loc="upper left")
    else:
        _legend_for(axes.flat[0], colors, ckey)
    fig.suptitle(f"{sweep}: {len(runs)} runs, coloured by {ckey}")
    return fig


def draw_lr(panels):
    """Best test accuracy against learning rate: one panel per (family,
    lines of study.lr_lines)."""
    fig, axes = _figure(7.5 * len(panels), 6, 1, len(panels))
    for ax, (fam, lines) in zip(axes.flat, panels):
        keys = varying_keys([g["rel"] for g in lines], drop=("learning_rate", "seed"))
        cmap = matplotlib.colormaps["tab10"]
        for i, g in enumerate(lines):
            lrs = sorted(g["acc"])
            ax.plot(lrs, [g["acc"][x] for x in lrs], marker="o", color=cmap(i % 10),
                    label=label(g["rel"], keys))
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("best test accuracy")
        ax.set_title(f"{fam.upper()}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    return fig


def draw_size(fam, groups):
    """Depth x width heatmaps of a family (groups of study.size_groups)."""
    keys = varying_keys([g["rel"] for g in groups], drop=study.size_drop(fam))
    what = "hidden layers x width" if fam == "mlp" else "conv layers x channels"
    fig, axes = _figure(6.5 * len(groups), 4.8, 1, len(groups))
    for ax, g in zip(axes.flat, groups):
        depths = sorted({c[0] for c in g["cells"]})
        widths = sorted({c[1] for c in g["cells"]},
                        key=lambda w: (0, int(w), "") if w.isdigit() else (1, 0, w))
        grid = np.full((len(depths), len(widths)), np.nan)
        for (d, w), a in g["cells"].items():
            grid[depths.index(d), widths.index(w)] = a
        im = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis", aspect="auto",
                       origin="lower")
        for i in range(len(depths)):
            for j in range(len(widths)):
                if np.isfinite(grid[i, j]):
                    ax.text(j, i, f"{grid[i, j]:.3f}", ha="center", va="center",
                            color="white" if grid[i, j] < np.nanmean(grid) else "black",
                            fontsize="small")
        ax.set_xticks(range(len(widths)), widths)
        ax.set_yticks(range(len(depths)), [str(d) for d in depths])
        ax.set_xlabel("width (units)" if fam == "mlp" else "channels per conv layer")
        ax.set_ylabel("hidden layers" if fam == "mlp" else "conv layers")
        ax.set_title(label(g["rel"], keys) if keys else "best over learning rates and seeds",
                     fontsize="medium")
        fig.colorbar(im, ax=ax, label="best test accuracy")
    fig.suptitle(f"{fam.upper()}: {what}")
    return fig


def draw_regularizer(sel, key, what, metrics):
    """Train vs test loss, train vs top test accuracy and the best test
    accuracy per value of key in one sweep (sel: one of
    study.regularizer_sweeps)."""
    runs, best = sel["runs"], sel["best"]
    colors = value_colors([r.get(key) for r in runs["rel"]])
    fig, axes = _figure(16, 4.8, 1, 3)
    ax_l, ax_a, ax_b = axes.flat
    series = []
    for _, run in runs.iterrows():
        m = metrics[run["run_id"]]
        c = colors[run["rel"].get(key)]
        x, y = m["train_loss"].to_numpy(float), m["test_loss"].to_numpy(float)
        series += [x, y]
        xa, ya = m["train_accuracy"].to_numpy(float), m["top_accuracy"].to_numpy(float)
        _plot_series(ax_l, x, y, color=c, lw=1.2, alpha=0.85)
        _plot_series(ax_a, xa, ya, color=c, lw=1.2, alpha=0.85)
        ax_l.plot(x[-1:], y[-1:], "o", color=c, ms=4)   # where the run ended
        ax_a.plot(xa[-1:], ya[-1:], "o", color=c, ms=4)
    lo, top = _loss_cap(series)
    if lo is not None and top > lo:
        ax_l.plot([lo, top], [lo, top], color="grey", ls=":", lw=1)
        ax_l.set_xlim(min(0.0, lo), top * 1.05)
        ax_l.set_ylim(min(0.0, lo), top * 1.05)
    ax_l.set_xlabel("train loss")
    ax_l.set_ylabel("test loss")
    ax_l.set_title("train vs test loss per epoch (dot: last epoch)")
    ax_a.plot([0, 1], [0, 1], color="grey", ls=":", lw=1)
    ax_a.set_xlabel("train accuracy")
    ax_a.set_ylabel("top test accuracy")
    ax_a.set_title("train accuracy vs best test accuracy so far")
    for ax in (ax_l, ax_a):
        ax.grid(alpha=0.3)
    _legend_for(ax_l, colors, key)
    order = list(best)
    if order:
        ax_b.bar(range(len(order)), [best[v] for v in order],
                 color=[colors[v] for v in order])
        ax_b.set_xticks(range(len(order)), [fmt(v) for v in order])
        _bar_values(ax_b, range(len(order)), [best[v] for v in order])
        ax_b.set_xlabel(key)
        ax_b.set_ylabel("best test accuracy")
        ax_b.set_title(f"best test accuracy per {key}")
    else:
        fig.delaxes(ax_b)
    fig.suptitle(f"{sel['sweep']}: {what}")
    return fig


def draw_optim(group):
    """One architecture's variants (a group of study.optim_groups): best
    accuracy each, against learning rate, and their best runs' losses."""
    variants = group["variants"]
    names = [v["name"] for v in variants]
    cmap = matplotlib.colormaps["tab10"]
    colors = {v: cmap(i % 10) for i, v in enumerate(names)}
    fig, axes = _figure(16, 4.8, 1, 3)
    ax_b, ax_lr, ax_c = axes.flat
    accs = [v["best"]["acc"] for v in variants]
    ax_b.bar(range(len(names)), accs, color=[colors[v] for v in names])
    _bar_values(ax_b, range(len(names)), accs)
    ax_b.set_xticks(range(len(names)),
                    [f"{v['name']}\nlr {fmt(v['best']['rel'].get('learning_rate'))}"
                     for v in variants], fontsize="small")
    ax_b.set_ylabel("best test accuracy")
    ax_b.set_title("best over learning rates and seeds")
    for v in variants:
        lrs = sorted(v["acc"])
        ax_lr.plot(lrs, [v["acc"][x] for x in lrs], marker="o", color=colors[v["name"]],
                   label=v["name"])
    ax_lr.set_xscale("log")
    ax_lr.set_xlabel("learning rate")
    ax_lr.set_ylabel("best test accuracy")
    ax_lr.set_title("against learning rate")
    ax_lr.legend(fontsize="small")
    series = []
    for v in variants:
        m = v["metrics"]
        if m is None or not len(m):
            continue
        for col, ls in (("test_loss", "-"), ("train_loss", "--")):
            y = m[col].to_numpy(float)
            series.append(y)
            _plot_series(ax_c, m["epoch"], y, color=colors[v["name"]], ls=ls, lw=1.3)
    _loss_ylim(ax_c, series)
    _epoch_axis(ax_c)
    ax_c.set_ylabel("loss")
    ax_c.set_title("best run of each: test (solid), train (dashed) loss")
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    fig.suptitle(f"{group['arch']}: batch norm and Adam against plain SGD")
    return fig


def draw_cost(r):
    """Best test accuracy against training time and against parameters
    (r: study.cost_runs), with the Pareto fronts (study.pareto)."""
    fig, axes = _figure(14, 5, 1, 2)
    colors = _family_colors(r["family"])
    acc = r["acc"].to_numpy(float)
    for ax, col, xl in ((axes[0, 0], "wall_seconds", "training time (s, wall clock)"),
                        (axes[0, 1], "n_params", "trainable parameters")):
        cost = r[col].to_numpy(float)
        for fam in colors:
            sel = (r["family"] == fam).to_numpy()
            ax.scatter(cost[sel], acc[sel], s=22, color=colors[fam], alpha=0.8,
                       label=fam.upper())
        front = study.pareto(cost, acc)
        fx = list(cost[front]) + [cost.max()]
        fy = list(acc[front]) + [acc[front][-1]]
        ax.step(fx, fy, where="post", color="black", lw=1, label="Pareto front")
        for i in front:
            ax.annotate(r["run_id"].iloc[i], (cost[i], acc[i]), fontsize="x-small",
                        textcoords="offset points", xytext=(3, -9))
        ax.set_xscale("log")
        ax.set_xlabel(xl)
        ax.set_ylabel("best test accuracy")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize="small")
    return fig


def draw_seeds(sweep, rep, curves):
    """Mean +- std over seeds of one sweep's repeated configs (rep: its
    study.seed_groups entry, curves: study.seed_curve of each)."""
    keys = varying_keys([g[0] for g in rep])
    fig, axes = _figure(14, 4.8, 1, 2)
    ax_e, ax_c = axes.flat
    cmap = matplotlib.colormaps["tab10"]
    names = [label(rel, keys) for rel, _ in rep]
    for i, ((rel, rows), c) in enumerate(zip(rep, curves)):
        a = np.array([r["acc"] for r in rows], float)
        ax_e.errorbar([i], [a.mean()], yerr=[a.std(ddof=1)], fmt="o", capsize=5,
                      color=cmap(i % 10), ms=8)
        ax_e.scatter(np.full(len(a), i + 0.12), a, s=12, color=cmap(i % 10), alpha=0.6)
        if c is not None:
            ax_c.plot(c.index, c["mean"], color=cmap(i % 10), label=names[i])
            ax_c.fill_between(c.index, c["mean"] - c["std"], c["mean"] + c["std"],
                              color=cmap(i % 10), alpha=0.2)
    ax_e.set_xticks(range(len(rep)), names, rotation=15, fontsize="small")
    ax_e.set_ylabel("best test accuracy")
    ax_e.set_title("mean \u00b1 std over seeds (dots: each seed)")
    _epoch_axis(ax_c)
    ax_c.set_ylabel("test accuracy")
    ax_c.set_title("test accuracy per epoch, mean \u00b1 std")
    ax_c.legend(fontsize="small")
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    fig.suptitle(f"{sweep}: repeated configs")
    return fig


def draw_classes(best, e):
    """Confusion matrix and per-class accuracy of run best from `nnsweep
    evaluate --json` (e)."""
    conf = np.array(e["confusion"], dtype=float)
    names = list(e["classes"])
    per = [math.nan if v is None else v for v in e["per_class_accuracy"]]
    fig, axes = _figure(15, 5.5, 1, 2)
    ax_m, ax_p = axes.flat
    frac = conf / np.maximum(conf.sum(axis=1, keepdims=True), 1)
    im = ax_m.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for i in range(conf.shape[0]):
        for j in range(conf.shape[1]):
            ax_m.text(j, i, f"{int(conf[i, j])}", ha="center", va="center", fontsize="x-small",
                      color="white" if frac[i, j] > 0.5 else "black")
    ax_m.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax_m.set_yticks(range(len(names)), names)
    ax_m.set_xlabel("predicted")
    ax_m.set_ylabel("true class")
    ax_m.set_title("confusion matrix (counts; colour: fraction of the true class)")
    fig.colorbar(im, ax=ax_m)
    ax_p.barh(range(len(names)), per, color="tab:blue")
    ax_p.set_yticks(range(len(names)), names)
    ax_p.invert_yaxis()
    ax_p.axvline(e["test_accuracy"], color="black", ls="--", lw=1, label="overall")
    ax_p.set_xlim(0, 1)
    ax_p.set_xlabel("accuracy")
    ax_p.set_title("per-class test accuracy")
    ax_p.legend(fontsize="small")
    fig.suptitle(f"{best['arch']} (run {best['run_id']}, sweep {best['sweep']})")
    return fig


# ---------------------------------------------------------------------------
# Sections: the data study.py selects, drawn, with notes
# ---------------------------------------------------------------------------

def _section_best(st, fs):
    best = study.best_runs(st)
    best = best[best["acc"].map(is_finite)]
    if best.empty:
        fs.note("best", "no figure: no run has a test accuracy yet")
        return
    fs.add("best", "best_per_sweep", "Best test accuracy of each sweep",
           "The best run of each sweep (table above); colour: model family.", draw_best(best))


def _section_curves(st, fs):
    for sweep, cs in study.curve_sets(st):
        if cs is None:
            fs.note("curves", f"{sweep}: skipped, no run has written an epoch yet")
            continue
        ckey = cs["ckey"]
        other = [k for k in cs["vary"] if k != ckey]
        cap = (f"One line per run (epoch 0 = before training), colour: {ckey}."
               + (f" Also varying in this sweep: {', '.join(other)}." if other else "")
               + (" Loss axes are cut at 2.5x the initial loss (diverging runs leave the top)."))
        fs.add("curves", f"curves_{sweep}", f"{sweep}", cap, draw_curves(sweep, cs, st.metrics))


def _section_lr(st, fs):
    panels = []
    for fam in study.families(st):
        lines = study.lr_lines(st, fam)
        if not lines:
            fs.note("lr", f"{fam.upper()}: skipped, no {fam.upper()} setting was trained with "
                          "two or more learning rates")
            continue
        if len(lines) > MAX_LINES:
            fs.note("lr", f"{fam.upper()}: the {MAX_LINES} best of {len(lines)} settings shown")
            lines = lines[:MAX_LINES]
        panels.append((fam, lines))
    if not panels:
        return
    fs.add("lr", "lr_per_family", "Best test accuracy per learning rate",
           "One line per model depth and setting (every config key but the learning rate, "
           "the seed and the layer widths): the best test accuracy over widths and seeds at "
           "each learning rate.", draw_lr(panels))


def _section_size(st, fs):
    for fam in study.families(st):
        groups = study.size_groups(st, fam)
        what = "hidden layers x width" if fam == "mlp" else "conv layers x channels"
        if not groups:
            fs.note("size", f"{fam.upper()}: skipped, no two {fam.upper()} depths and two widths "
                            "were trained with otherwise equal settings")
            continue
        if len(groups) > MAX_GROUP_FIGURES:
            fs.note("size", f"{fam.upper()}: {MAX_GROUP_FIGURES} of {len(groups)} settings shown")
            groups = groups[:MAX_GROUP_FIGURES]
        fs.add("size", f"heatmap_{fam}", f"{fam.upper()} {what}",
               "Best test accuracy over learning rates and seeds"
               + (" (and paddings, which go with the depth in the seed study)"
                  if fam == "cnn" else "")
               + "; blank cells were not trained.", draw_size(fam, groups))


def _section_regularizer(st, fs, key, section, what):
    for sel in study.regularizer_sweeps(st, key):
        sweep, other = sel["sweep"], sel["other"]
        fs.add(section, f"{section}_{sweep}", f"{sweep}: {what}",
               f"Colour: {key}. Dotted: train = test. Bars: best over "
               + (", ".join(other) + " and seeds" if other else "seeds") + ".",
               draw_regularizer(sel, key, what, st.metrics))
    if not fs.section_figures(section):
        fs.note(section, f"skipped: no sweep has runs with two or more values of {key}")


def _section_optim(st, fs):
    for fam in study.families(st):
        groups = study.optim_groups(st, fam)
        if not groups:
            fs.note("optim", f"{fam.upper()}: skipped, no {fam.upper()} architecture was "
                             "trained both with plain SGD and with batch norm or Adam (other "
                             "settings equal)")
            continue
        if len(groups) > MAX_GROUP_FIGURES:
            fs.note("optim", f"{fam.upper()}: {MAX_GROUP_FIGURES} of {len(groups)} architectures "
                             "shown")
            groups = groups[:MAX_GROUP_FIGURES]
        for k, g in enumerate(groups):
            arch = g["arch"]
            fs.add("optim", f"optim_{fam}_{k + 1}", arch,
                   f"{arch}; every setting but optimizer, batch norm (BN) and learning rate "
                   f"equal ({g['n_runs']} runs).", draw_optim(g))


def _section_cost(st, fs):
    r, n_left = study.cost_runs(st)
    if len(r) < 2:
        fs.note("cost", "skipped: fewer than two finished runs with a test accuracy")
        return
    fs.add("cost", "pareto", "Accuracy against time and size",
           f"{len(r)} finished runs. The black step is the Pareto front: no run is both "
           "cheaper and more accurate than a run on it (labels: run ids).", draw_cost(r))
    if n_left:
        fs.note("cost", f"{n_left} unfinished runs left out (their time is not final)")


def _section_seeds(st, fs):
    groups = study.seed_groups(st)
    if not groups:
        fs.note("seeds", "skipped: no sweep repeats a config with two or more seeds")
        return
    for sweep, rep in groups.items():
        curves = [study.seed_curve(st, rows) for _, rows in rep]
        fs.add("seeds", f"seeds_{sweep}", f"{sweep}: mean \u00b1 std over seeds",
               "Error bars: sample standard deviation over the seeds (table above).",
               draw_seeds(sweep, rep, curves))


def _section_classes(st, fs, evaluate):
    """Per-class accuracy and confusion matrix of the best run with stored
    weights of each model family, from `nnsweep evaluate`."""
    if not evaluate:
        fs.note("classes", "not requested: run report.py with --nnsweep PATH (and --data DIR) "
                           "for the per-class accuracy and confusion matrix of the best runs")
        return
    ok = study.class_runs(st)
    if ok.empty:
        fs.note("classes", "skipped: no finished run has stored weights "
                           "(save_weights_min_accuracy)")
        return
    for fam in study.families(st):
        runs = ok[ok["family"] == fam]
        if runs.empty:
            fs.note("classes", f"{fam.upper()}: skipped, no finished {fam.upper()} run has "
                               "stored weights")
            continue
        best = runs.loc[runs["acc"].idxmax()]
        try:
            e = study.evaluate_run(evaluate["nnsweep"], st.path, best["run_id"],
                                   evaluate.get("data"))
        except RuntimeError as err:
            fs.note("classes", f"{fam.upper()}: nnsweep evaluate {best['run_id']} failed: {err}")
            continue
        fs.add("classes", f"classes_{fam}", f"{fam.upper()}: best run per class",
               f"nnsweep evaluate of run {best['run_id']}'s stored weights on {e['n']} test "
               f"images: accuracy {e['test_accuracy']:.4f} (recorded "
               f"{e['recorded_test_accuracy']:.4f} at epoch {e['best_epoch']}).",
               draw_classes(best, e))


def build_figures(st, evaluate=None):
    """Every figure the data supports, as a Figureset (matplotlib Figure
    objects in .figures, notes on what was skipped in .notes). Writes
    nothing. evaluate={"nnsweep": PATH, "data": DIR or None} adds the
    per-class section (runs `nnsweep evaluate`)."""
    fs = Figureset()
    if st.runs.empty:
        for sid, _ in SECTIONS[1:]:
            fs.note(sid, "skipped: the file has no runs")
        return fs
    _section_best(st, fs)
    _section_curves(st, fs)
    _section_lr(st, fs)
    _section_size(st, fs)
    _section_regularizer(st, fs, "weight_decay", "l2", "L2 weight decay")
    _section_regularizer(st, fs, "dropout", "dropout", "dropout")
    _section_optim(st, fs)
    _section_cost(st, fs)
    _section_seeds(st, fs)
    figures_search.section_search(st, fs, _figure)
    _section_classes(st, fs, evaluate)
    return fs
