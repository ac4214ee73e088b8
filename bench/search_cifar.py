#!/usr/bin/env python3
"""End-to-end search benchmarks on CIFAR-10 (bench/README.md, "Search on
CIFAR-10"), through build/bench/bench_sweep (the real trainer, in process,
no results file):

  search     bayes against random over an MLP space (learning rate
             log-uniform, width x depth, dropout, batch size; short runs):
             the best validation accuracy after 8, 16 and 32 runs, per seed.
  hyperband  a grid with a fixed epoch budget, run in full and with
             early_terminate: hyperband: the best validation accuracy of
             each and the epoch-seconds each spent, per seed. Training
             dominates an epoch here (8,000 images trained, 2,000 validation
             and 500 test images evaluated), as in a real study.

  python3 bench/search_cifar.py search    --out DIR [-s 10] [--runs 32]
  python3 bench/search_cifar.py hyperband --out DIR [-s 10]
  python3 bench/search_cifar.py table DIR

A seed s changes the sweep's name (so the random draws and the Bayesian
search's seed) and the runs' `seed` key (initialization, data order).
Each sweep runs in its own bench_sweep process with --threads 1; the rows
go to DIR/<sweep>.tsv, which a rerun skips when complete. Needs
$CIFAR10_DIR (or --data); NNSWEEP_BENCH_SWEEP names another bench_sweep
binary (a copy, so that a rebuild does not change a benchmark midway);
NNSWEEP_BIN the nnsweep whose `expand` gives the runs' FLOPs for the table.
"""
import argparse
import math
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.environ.get("NNSWEEP_BENCH_SWEEP",
                       os.path.join(HERE, "..", "build", "bench", "bench_sweep"))
# `nnsweep expand` gives each run's training FLOPs (the table's FLOP fraction)
NNSWEEP = os.environ.get("NNSWEEP_BIN", os.path.join(HERE, "..", "build", "nnsweep"))

COMMON = """  model: {{value: mlp}}
  train_images: {{value: {train}}}
  val_split: {{value: {val}}}
  test_images: {{value: {test}}}
  select_on: {{value: val_accuracy}}
  optimizer: {{value: sgd}}
  momentum: {{value: 0.9}}
  patience: {{value: 0}}
  seed: {{value: {seed}}}
"""

SEARCH = """name: {name}
method: {method}
run_cap: {runs}
metric: {{name: val_accuracy, goal: maximize}}
parameters:
  learning_rate: {{distribution: log_uniform_values, min: 0.0005, max: 0.5}}
  hidden_layers:
    values: [[64], [128], [256], [64, 64], [128, 128], [256, 256],
             [64, 64, 64], [128, 128, 128], [256, 256, 256]]
  dropout: {{distribution: uniform, min: 0.0, max: 0.6}}
  batch_size: {{values: [32, 64, 128, 256]}}
  epochs: {{value: 2}}
""" + COMMON

GRID = """name: {name}
method: grid
metric: {{name: val_accuracy, goal: maximize}}
{hyperband}parameters:
  learning_rate: {{values: [0.003, 0.01, 0.03]}}
  hidden_layers: {{values: [[64], [256], [128, 128]]}}
  dropout: {{values: [0.0, 0.2, 0.4]}}
  batch_size: {{value: 64}}
  epochs: {{value: 9}}
""" + COMMON

HYPERBAND = "early_terminate: {type: hyperband, min_iter: 1, eta: 3}\n"


def run_sweep(out, name, text, data):
    """Runs one sweep file (unless DIR/name.tsv is complete); returns its rows."""
    tsv = os.path.join(out, name + ".tsv")
    if not (os.path.exists(tsv) and open(tsv).read().endswith("#done\n")):
        yaml = os.path.join(out, name + ".yaml")
        with open(yaml, "w") as f:
            f.write(text)
        cmd = [BENCH, "--threads", "1", yaml] + (["--data", data] if data else [])
        with open(tsv, "w") as f:
            rc = subprocess.run(cmd, stdout=f).returncode
        if rc != 0:
            sys.exit(f"{' '.join(cmd)}: exit {rc}")
        with open(tsv, "a") as f:
            f.write("#done\n")
        print(f"{name}: done", file=sys.stderr, flush=True)
    rows = []
    with open(tsv) as f:
        head = f.readline().rstrip("\n").split("\t")
        for line in f:
            if not line.startswith("#"):
                rows.append(dict(zip(head, line.rstrip("\n").split("\t"))))
    return rows


def best_after(rows, n):
    vals = [float(r["metric"]) for r in rows[:n] if math.isfinite(float(r["metric"]))]
    return max(vals) if vals else math.nan


def summary(xs):
    xs = [x for x in xs if math.isfinite(x)]
    if not xs:
        return "-"
    return f"{statistics.median(xs):.4f} [{min(xs):.4f}, {max(xs):.4f}]"


def cmd_search(a):
    for s in range(a.seeds):
        for method in ("random", "bayes"):
            name = f"e2e_{method}_s{s}"
            run_sweep(a.out, name, SEARCH.format(name=name, method=method, runs=a.runs,
                                                 train=a.train, val=5000, test=2000, seed=s),
                      a.data)


def cmd_hyperband(a):
    for s in range(a.seeds):
        for hb in (False, True):
            name = f"grid_{'hyperband' if hb else 'full'}_s{s}"
            run_sweep(a.out, name, GRID.format(name=name, hyperband=HYPERBAND if hb else "",
                                               train=a.train, val=2000, test=500, seed=s),
                      a.data)


def load(out, name):
    path = os.path.join(out, name + ".tsv")
    if not os.path.exists(path) or not open(path).read().endswith("#done\n"):
        return None
    return run_sweep(out, name, "", None)


def flops_per_epoch(out, name):
    """{run_id: training FLOPs of one epoch} from `nnsweep expand` of the sweep file."""
    p = subprocess.run([NNSWEEP, "expand", os.path.join(out, name + ".yaml")],
                       capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{NNSWEEP} expand {name}.yaml: {p.stderr.strip()}")
    flops = {}
    for line in p.stdout.splitlines():
        f = line.split()
        if len(f) >= 4 and f[0].isdigit() and "=" in f[3]:
            epochs = next((int(x.split("=")[1]) for x in f[3:] if x.startswith("epochs=")), 9)
            flops[f[1]] = float(f[2]) / epochs
    return flops


def flop_total(out, name, rows):
    flops = flops_per_epoch(out, name)
    return sum(int(r["epochs_done"]) * flops[r["run_id"]] for r in rows)


def cmd_table(a):
    print("Search, best validation accuracy after n runs: median [min, max] over seeds")
    print("| method | seeds | 8 runs | 16 runs | 32 runs | minutes per sweep |")
    print("|---|---|---|---|---|---|")
    for method in ("random", "bayes"):
        sets = [r for r in (load(a.out, f"e2e_{method}_s{s}") for s in range(100)) if r]
        if not sets:
            continue
        cells = [summary([best_after(r, n) for r in sets]) for n in (8, 16, 32)]
        mins = summary([sum(float(x["wall_seconds"]) for x in r) / 60 for r in sets])
        print(f"| {method} | {len(sets)} | " + " | ".join(cells) + f" | {mins} |")
    wins = []
    for s in range(100):
        r, b = load(a.out, f"e2e_random_s{s}"), load(a.out, f"e2e_bayes_s{s}")
        if r and b:
            wins.append(tuple(best_after(b, n) - best_after(r, n) for n in (8, 16, 32)))
    if wins:
        print("bayes - random per seed (8, 16, 32 runs): " +
              ", ".join(summary([w[i] for w in wins]) for i in range(3)))
    print()
    print("Hyperband on a grid of 27 runs x 9 epochs: median [min, max] over seeds")
    print("| seeds | best val acc, full grid | with hyperband | difference (points) | "
          "epoch-seconds, full | with hyperband | fraction | epochs fraction | "
          "training FLOPs fraction | runs stopped |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    full, hb, diff, sec_f, sec_h, frac, efrac, ffrac, stopped = [], [], [], [], [], [], [], [], []
    for s in range(100):
        f, h = load(a.out, f"grid_full_s{s}"), load(a.out, f"grid_hyperband_s{s}")
        if not (f and h):
            continue
        bf, bh = best_after(f, len(f)), best_after(h, len(h))
        full.append(bf)
        hb.append(bh)
        diff.append(100 * (bf - bh))
        tf = sum(float(x["epoch_seconds"]) for x in f)
        th = sum(float(x["epoch_seconds"]) for x in h)
        sec_f.append(tf)
        sec_h.append(th)
        frac.append(th / tf)
        efrac.append(sum(int(x["epochs_done"]) for x in h) / sum(int(x["epochs_done"]) for x in f))
        ffrac.append(flop_total(a.out, f"grid_hyperband_s{s}", h) /
                     flop_total(a.out, f"grid_full_s{s}", f))
        stopped.append(sum(x["status"] == "stopped" for x in h))
    if full:
        print(f"| {len(full)} | {summary(full)} | {summary(hb)} | {summary(diff)} | "
              f"{summary(sec_f)} | {summary(sec_h)} | {summary(frac)} | {summary(efrac)} | "
              f"{summary(ffrac)} | {summary(stopped)} |")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", choices=["search", "hyperband", "table"])
    p.add_argument("out", nargs="?")
    p.add_argument("--out", dest="out_opt")
    p.add_argument("-s", "--seeds", type=int, default=10)
    p.add_argument("--runs", type=int, default=32)
    p.add_argument("--train", type=int, default=None,
                   help="training images per run (default: search 6000, hyperband 8000)")
    p.add_argument("--data", default=None)
    a = p.parse_args()
    a.out = a.out_opt or a.out
    if a.train is None:
        a.train = 8000 if a.what == "hyperband" else 6000
    if not a.out:
        p.error("an output directory is needed")
    os.makedirs(a.out, exist_ok=True)
    {"search": cmd_search, "hyperband": cmd_hyperband, "table": cmd_table}[a.what](a)


if __name__ == "__main__":
    main()
