"""figures_search - the report's search section (figures.py, SECTIONS
"search"): for each sweep that searches (random, bayes) or stops runs early
(hyperband), the best value so far against the number of runs, and where
its stopping rule stopped runs. Data from study.search_sets."""

import math

import numpy as np
from matplotlib.lines import Line2D

import study

STATUS_COLORS = {"done": "tab:blue", "stopped": "tab:red", "diverged": "tab:purple",
                 "failed": "tab:gray"}


def draw_search(s, figure):
    """s: one entry of study.search_sets; figure(w, h, nrows, ncols) makes
    the Figure and its axes (figures._figure). Left: each run's metric
    (dots, colour: status) and the best so far (step line) in proposal
    order; right, when the sweep stopped runs: the metric per epoch of every
    run, stopped runs in red ending in a cross at the epoch they stopped."""
    panels = 2 if s["stopped"] else 1
    fig, axes = figure(7 * panels, 4.5, 1, panels)
    ax = axes[0, 0]
    runs = s["runs"]
    x = np.arange(1, len(runs) + 1)
    for status, color in STATUS_COLORS.items():
        sel = (runs["status"] == status).to_numpy()
        if sel.any():
            ax.scatter(x[sel], runs["value"].to_numpy(float)[sel], s=18, color=color,
                       label=status, zorder=3)
    ax.step(x, runs["best"].to_numpy(float), where="post", color="black", lw=1.2,
            label="best so far")
    ax.set_xlabel("run (results file order: a search's proposal order)")
    ax.set_ylabel(f"{s['metric']} at the run's best epoch")
    ax.set_title(f"{s['sweep']} ({s['method']}, {s['goal']})", fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    if panels == 2:
        ax = axes[0, 1]
        stops = set()
        for epochs, values, status in s["curves"]:
            if len(epochs) == 0:
                continue
            stopped = status == "stopped"
            ax.plot(epochs, values, color="tab:red" if stopped else "tab:blue",
                    alpha=0.8 if stopped else 0.35, lw=1)
            if stopped:
                ax.plot(epochs[-1], values[-1], "x", color="tab:red", ms=7)
                stops.add(int(epochs[-1]))
        for e in sorted(stops):
            ax.axvline(e, color="gray", ls="--", lw=0.8)
        ax.set_xlabel("epoch (dashed: epochs where runs were stopped)")
        ax.set_ylabel(s["metric"])
        ax.set_title("where runs were stopped", fontsize="medium")
        ax.grid(alpha=0.3)
        ax.legend(handles=[Line2D([], [], color="tab:blue", label="ran to the end"),
                           Line2D([], [], color="tab:red", marker="x", label="stopped")],
                  fontsize="small")
    return fig


def section_search(st, fs, figure):
    """Adds the search section's figures to fs (figures.Figureset)."""
    sets = study.search_sets(st)
    if not sets:
        fs.note("search", "skipped: no sweep searches (method random or bayes) or stopped "
                          "runs early with two or more finished runs")
        return
    for s in sets:
        finite = s["runs"]["best"].map(lambda v: isinstance(v, float) and math.isfinite(v))
        best = s["runs"]["best"][finite]
        cap = (f"{len(s['runs'])} finished runs of {s['sweep']}; best {s['metric']} "
               f"{best.iloc[-1]:.4f}" if len(best) else f"{len(s['runs'])} finished runs")
        if s["stopped"]:
            cap += f"; {s['stopped']} stopped early by the sweep's stopping rule"
        fs.add("search", f"search_{s['sweep']}", f"{s['sweep']}: best so far", cap + ".",
               draw_search(s, figure))
