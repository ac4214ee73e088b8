#!/usr/bin/env python3
"""Peers of bench_search.c on the same synthetic functions (bench/README.md,
"Search"): W&B's bayes driven through its own engine (the PyPI package
`sweeps`: next_run from the sweep config and the runs so far), Optuna's
TPE and Optuna's random sampler. Prints the same TSV rows as
build/bench/bench_search; --table FILE... turns rows of both into the
README's markdown table.

  .venv-bench/bin/python bench/search_peers.py [-n 60] [-s 10] > peers.tsv
  python3 bench/search_peers.py --table ours.tsv peers.tsv

The functions, their parameters and optima are those of bench_search.c's
header comment; "within 1%" is |f - f*| <= 0.01 |f*|. Times are the
process's CPU time per proposal (all its threads: numpy's BLAS may use
several), as bench_search reports, so that a loaded machine does not
inflate them.
"""
import argparse
import math
import statistics
import sys
import time


def branin(p):
    x1, x2 = p["x1"], p["x2"]
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 * x1 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


H_ALPHA = [1.0, 1.2, 3.0, 3.2]
H_A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
       [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
H_P = [[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
       [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
       [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
       [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]]


def hartmann6(p):
    x = [p["x%d" % (j + 1)] for j in range(6)]
    return -sum(H_ALPHA[i] * math.exp(-sum(H_A[i][j] * (x[j] - H_P[i][j]) ** 2 for j in range(6)))
                for i in range(4))


def mixed(p):
    c = "abc".index(p["opt"])
    off, t0, w0 = [1, 1.2, 1.5][c], [-3, -1.5, -4.5][c], [0.3, 0.7, 0.5][c]
    dt, dw, dl = math.log10(p["lr"]) - t0, p["w"] - w0, p["layers"] - 3
    return off + 0.5 * dt * dt + 4 * dw * dw + 0.6 * dt * dw + 0.1 * dl * dl


# name -> (function, f*, W&B parameters)
FUNCS = {
    "branin": (branin, 0.397887, {"x1": {"min": -5.0, "max": 10.0}, "x2": {"min": 0.0, "max": 15.0}}),
    "hartmann6": (hartmann6, -3.32237, {"x%d" % (j + 1): {"min": 0.0, "max": 1.0} for j in range(6)}),
    "mixed": (mixed, 1.0, {
        "opt": {"values": ["a", "b", "c"]},
        "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1.0},
        "w": {"min": 0.0, "max": 1.0},
        "layers": {"min": 1, "max": 6},
    }),
}


def optuna_params(trial, params):
    out = {}
    for k, spec in params.items():
        if "values" in spec:
            out[k] = trial.suggest_categorical(k, spec["values"])
        elif spec.get("distribution") == "log_uniform_values":
            out[k] = trial.suggest_float(k, spec["min"], spec["max"], log=True)
        elif isinstance(spec["min"], int):
            out[k] = trial.suggest_int(k, spec["min"], spec["max"])
        else:
            out[k] = trial.suggest_float(k, spec["min"], spec["max"])
    return out


def run_wandb(f, params, seed, n, in_flight):
    """W&B's bayes; in_flight > 1: runs in flight are passed as running."""
    import random
    import numpy as np
    from sweeps import RunState, SweepRun, next_run
    random.seed(seed)
    np.random.seed(seed)
    config = {"method": "bayes", "metric": {"name": "f", "goal": "minimize"}, "parameters": params}
    done, queue, ys, times = [], [], [], []
    while len(done) < n:
        while len(queue) < in_flight and len(done) + len(queue) < n:
            t0 = time.process_time()
            run = next_run(config, done + queue)
            times.append(time.process_time() - t0)
            run.state = RunState.running
            queue.append(run)
        run = queue.pop(0)
        p = {k: v["value"] for k, v in run.config.items()}
        y = f(p)
        run.state = RunState.finished
        run.summary_metrics = {"f": y}
        done.append(run)
        ys.append(y)
    return ys, times


def run_optuna(f, params, seed, n, sampler_name):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = (optuna.samplers.TPESampler(seed=seed) if sampler_name == "tpe"
               else optuna.samplers.RandomSampler(seed=seed))
    study = optuna.create_study(sampler=sampler, direction="minimize")
    ys, times = [], []
    for _ in range(n):
        t0 = time.process_time()
        trial = study.ask()
        p = optuna_params(trial, params)
        times.append(time.process_time() - t0)
        y = f(p)
        study.tell(trial, y)
        ys.append(y)
    return ys, times


def row(fname, method, seed, fstar, ys, times):
    best, hit, best20 = math.inf, -1, math.nan
    for i, y in enumerate(ys):
        best = min(best, y)
        if hit < 0 and abs(best - fstar) <= 0.01 * abs(fstar):
            hit = i + 1
        if i == 19:
            best20 = best
    ms = [t * 1e3 for t in times]
    return "%s\t%s\t%d\t%d\t%.6g\t%.6g\t%.3f\t%.3f" % (
        fname, method, seed, hit, best20, best, sum(ms) / len(ms), max(ms))


def table(paths):
    rows = []
    for path in paths:
        with open(path) as fh:
            for line in fh:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 8 and parts[0] != "function":
                    rows.append(parts)
    groups = {}
    for r in rows:
        groups.setdefault((r[0], r[1]), []).append(r)
    print("| function | method | seeds within 1% | evaluations to 1%: median [range] "
          "| best after 20: median [range] | best after n | CPU ms per proposal: median (max) |")
    print("|---|---|---|---|---|---|---|")
    for (fname, method), rs in groups.items():
        hits = sorted(int(r[3]) for r in rs if int(r[3]) > 0)
        # median over all seeds, a seed that never got there counting as
        # infinite ("never" when that is the median); the range over hits
        allh = sorted(int(r[3]) if int(r[3]) > 0 else math.inf for r in rs)
        med = statistics.median(allh)
        evals = ("%s [%d, %d]" % ("%g" % med if med != math.inf else "never", hits[0], hits[-1])
                 if hits else "never")
        b20 = [float(r[4]) for r in rs]
        bn = [float(r[5]) for r in rs]
        ms = [float(r[6]) for r in rs]
        msx = [float(r[7]) for r in rs]
        print("| %s | %s | %d of %d | %s | %.4g [%.4g, %.4g] | %.4g [%.4g, %.4g] | %.3g (%.3g) |" % (
            fname, method, len(hits), len(rs), evals, statistics.median(b20), min(b20), max(b20),
            statistics.median(bn), min(bn), max(bn), statistics.median(ms), max(msx)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=60, help="evaluations per run")
    ap.add_argument("-s", type=int, default=10, help="seeds")
    ap.add_argument("-f", default="branin,hartmann6,mixed", help="functions")
    ap.add_argument("-m", default="wandb_bayes,optuna_tpe,optuna_random,wandb_bayes_async4",
                    help="methods (wandb_bayes_async4: Branin only)")
    ap.add_argument("--table", nargs="+", metavar="TSV", help="print the markdown table of TSV files")
    a = ap.parse_args()
    if a.table:
        table(a.table)
        return 0
    print("function\tmethod\tseed\thit_1pct\tbest_20\tbest_n\tms_mean\tms_max")
    for fname in a.f.split(","):
        f, fstar, params = FUNCS[fname]
        for method in a.m.split(","):
            if method == "wandb_bayes_async4" and fname != "branin":
                continue
            for seed in range(a.s):
                if method.startswith("wandb_bayes"):
                    ys, times = run_wandb(f, params, seed, a.n, 5 if method.endswith("async4") else 1)
                else:
                    ys, times = run_optuna(f, params, seed, a.n, method.split("_")[1])
                print(row(fname, method, seed, fstar, ys, times), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
