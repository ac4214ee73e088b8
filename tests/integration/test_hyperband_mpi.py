#!/usr/bin/env python3
"""early_terminate: hyperband end to end, under real `mpirun` (rank 0 and
two workers that wait for its verdict at the rung epochs), on the synthetic
dataset, checked in the results file with analysis/nnsweep_results.py:

  - runs that are not in the best 1/eta at a rung end `stopped` right after
    that rung's epoch: their metrics stop there, their best weights are kept;
    the others run to their last epoch;
  - `nnsweep inspect` counts them ("stopped early") and lists them;
  - --resume on the finished file runs nothing again (a stopped run is
    finished) and leaves every row as it was;
  - analysis/report.py draws the search section's figure for the sweep.

usage: test_hyperband_mpi.py NNSWEEP DATA_DIR ANALYSIS_DIR
Needs Debian's python3-h5py, -pandas and -matplotlib (run with /usr/bin/python3).
"""
import os
import subprocess
import sys
import tempfile

NNSWEEP, DATA, ANALYSIS = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, ANALYSIS)
from nnsweep_results import ResultsFile  # noqa: E402 - analysis/ reads both schemas
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", MPLBACKEND="Agg")
failures = []

# learning rates from the best down: a run handed out later is worse than
# those already at the rung, so hyperband has something to stop
SWEEP = """name: hb
method: grid
metric: {name: val_accuracy, goal: maximize}
early_terminate: {type: hyperband, min_iter: 1, eta: 2}
parameters:
  val_split: {value: 200}
  train_images: {value: 400}
  test_images: {value: 200}
  hidden_layers: {value: [16]}
  learning_rate: {values: [0.3, 0.2, 0.1, 0.03, 0.01, 0.003, 0.001, 0.0003]}
  epochs: {value: 6}
  batch_size: {value: 50}
  patience: {value: 0}
  save_weights_min_accuracy: {value: 0}
"""
RUNGS = (1, 2, 4)  # min_iter 1, eta 2, below the runs' 6 epochs


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def sweep(tmp, *extra):
    cmd = ["mpirun", "-np", "3", NNSWEEP, "sweep", os.path.join(tmp, "hb.yaml"), "--data", DATA,
           "--out", os.path.join(tmp, "r.h5"), "--threads", "1", "--quiet", *extra]
    return subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)


def rows(path):
    with ResultsFile(path, swmr=False) as f:
        return {r.run_id: dict(status=r.status, epochs_done=int(r.epochs_done),
                               has_weights=bool(r.has_weights), n_rows=len(f.metrics(r.run_id)))
                for r in f.summary().itertuples()}


def main():
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "hb.yaml"), "w") as f:
            f.write(SWEEP)
        p = sweep(tmp)
        check(p.returncode == 0, f"sweep under mpirun: exit {p.returncode} {p.stderr[-300:]}")
        path = os.path.join(tmp, "r.h5")
        before = rows(path)
        stopped = {k: v for k, v in before.items() if v["status"] == "stopped"}
        done = {k: v for k, v in before.items() if v["status"] == "done"}
        check(len(before) == 8 and len(stopped) >= 2 and len(done) >= 2,
              f"8 runs: {len(stopped)} stopped, {len(done)} done")
        for k, v in stopped.items():
            check(v["epochs_done"] in RUNGS and v["n_rows"] == v["epochs_done"] + 1 and
                  v["has_weights"], f"stopped run {k}: after epoch {v['epochs_done']} (a rung), "
                  f"{v['n_rows']} metrics rows, weights {v['has_weights']}")
        for k, v in done.items():
            check(v["epochs_done"] == 6 and v["n_rows"] == 7, f"done run {k}: 6 epochs")

        p = subprocess.run([NNSWEEP, "inspect", path], capture_output=True, text=True)
        check(p.returncode == 0 and f"{len(stopped)} stopped early" in p.stdout and
              p.stdout.count(" stopped ") >= len(stopped),
              f"inspect shows the stopped runs: {p.stdout[:300]}")

        p = sweep(tmp, "--resume")
        check(p.returncode == 0, f"--resume: exit {p.returncode} {p.stderr[-300:]}")
        check(rows(path) == before, "--resume ran nothing again: every row as it was")

        out = os.path.join(tmp, "report")
        p = subprocess.run([sys.executable, os.path.join(ANALYSIS, "report.py"), path, "--out",
                            out], env=ENV, capture_output=True, text=True, timeout=600)
        check(p.returncode == 0 and os.path.exists(os.path.join(out, "search_hb.png")),
              f"report.py draws search_hb.png: {p.stdout[-200:]} {p.stderr[-300:]}")
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("ok")


main()
