#!/usr/bin/env python3
"""examples/pytorch_cifar end to end: a small version of its sweep (hyperband,
the seed's MLP in PyTorch on a little of the synthetic CIFAR-10) under real
`mpirun` with two workers.

  sweep    a grid whose order makes hyperband's stops certain (below):
           every run ends (done or stopped); every row each program logged
           (train.py prints each as "epoch N {json}") is in the results file
           exactly once and equal; hyperband stopped runs; the summary and
           the checkpoint artifact of each finished run are recorded
  kill     the example's bayes search; kill -9 of rank 0 while programs run:
           no program is left running;
           --resume finishes the sweep: run_cap runs, each final once, the
           runs finished before the kill unchanged, every run's rows those
           of its last attempt, once each

usage: test_pytorch_example.py NNSWEEP DATA_DIR SOURCE_DIR [CASE ...]
(Debian's python3 with python3-torch, h5py, pandas)
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

try:
    import torch  # noqa: F401 - train.py needs it
except ImportError:
    print("SKIPPED: PyTorch is not installed for this python3 (Debian: python3-torch)")
    sys.exit(77)

NNSWEEP, DATA, SRC = (os.path.abspath(a) for a in sys.argv[1:4])
CASES = sys.argv[4:] or ["sweep", "kill"]
sys.path.insert(0, os.path.join(SRC, "analysis"))
from nnsweep_results import ResultsFile, ResultsFileError  # noqa: E402

# ${interpreter} is the python3 on PATH: Debian's, which has python3-torch
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", CIFAR10_DIR=DATA,
           PATH="/usr/bin:" + os.environ.get("PATH", ""))
TRAIN = os.path.join(SRC, "examples", "pytorch_cifar", "train.py")
RUN_CAP = 8
failures = []


def check(cond, what):
    print("  ok:" if cond else "  FAIL:", what)
    if not cond:
        failures.append(what)
    return cond


# Which runs hyperband stops under bayes depends on the order the runs reach
# a rung, which two workers race for, and on the Latin hypercube, which the
# sweep's hash (the program's path in it) seeds: in CI a sweep ran with its
# bad runs first and none stopped. The grid makes a stop certain: the
# program's runs go out in expansion order, so when run 4 (learning rate
# 1e-5, chance accuracy) starts, runs 1 and 2 (0.1, 0.05) have ended; at rung
# 1 its value is the worst of n >= 3, above the threshold (index int(n/2)).
GRID = """method: grid
parameters:
  hidden_layers: {value: [48]}
  learning_rate: {values: [0.1, 0.05, 0.08, 0.00001, 0.03, 0.00002, 0.12, 0.00003]}
"""
BAYES = """method: bayes
parameters:
  hidden_layers: {values: [[16], [48]]}
  learning_rate: {distribution: log_uniform_values, min: 0.00001, max: 0.3}
"""


def sweep_file(tmp, name, search):
    """The example's sweep, small: 1-3 seconds of training per run."""
    path = os.path.join(tmp, name + ".yaml")
    with open(path, "w") as f:
        f.write(f"""name: {name}
program: {TRAIN}
command: ["${{env}}", "${{interpreter}}", "${{program}}", "${{args}}"]
run_cap: {RUN_CAP}
metric: {{name: val_acc, goal: maximize}}
early_terminate: {{type: hyperband, min_iter: 1, eta: 2}}
{search}  model: {{value: mlp}}
  optimizer: {{value: sgd}}
  batch_size: {{value: 64}}
  epochs: {{value: 6}}
  train_images: {{value: 768}}
  val_split: {{value: 512}}
  test_images: {{value: 256}}
""")
    return path


def mpirun(sweep, out, *more):
    return ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", "3", NNSWEEP, "sweep", sweep,
            "--out", out, "--threads", "1", "--progress", "2", "--kill-grace", "2"] + list(more)


def summary(out):
    with ResultsFile(out) as r:
        return {row["run_id"]: row for row in r.summary().to_dict("records")}


def printed(out, run_id):
    """[(epoch, row)] that the program printed in its last attempt."""
    with open(os.path.join(out + ".runs", run_id, "stdout")) as f:
        last = f.read().rsplit("==== nnsweep: run ", 1)[-1]
    rows = []
    for line in last.splitlines():
        m = re.match(r"^epoch (\d+) (\{.*\})$", line)
        if m:
            rows.append((int(m.group(1)), json.loads(m.group(2))))
    return rows


def stored(out, run_id):
    with ResultsFile(out) as r:
        h = r.history(run_id)
    return [(int(rec["step"]), {k: v for k, v in rec.items() if k != "step"})
            for rec in h.to_dict("records")]


def rows_match(out, run_id):
    p, s = printed(out, run_id), stored(out, run_id)
    if len(p) != len(s):
        print(f"    run {run_id}: {len(p)} rows printed, {len(s)} stored")
        return False
    for (pe, prow), (se, srow) in zip(p, s):
        if pe != se or set(prow) != set(srow) or any(float(prow[k]) != srow[k] for k in prow):
            print(f"    run {run_id}: step {pe}: printed {prow}, stored step {se} {srow}")
            return False
    return True


def programs_running(tmp):
    n = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        n += b"train.py" in cmd and tmp.encode() in env
    return n


def wait_for(pred, timeout, what):
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            if pred():
                return check(True, what)
        except (OSError, KeyError, ValueError, ResultsFileError):
            pass
        time.sleep(0.2)
    return check(False, f"{what} within {timeout} s")


def check_runs(out, what):
    rows = summary(out)
    final = [r for r in rows.values() if r["status"] in ("done", "stopped")]
    check(len(rows) == RUN_CAP and len(final) == RUN_CAP,
          f"{what}: {RUN_CAP} runs, each done or stopped "
          f"({[(r['status'], r['message'][:80]) for r in rows.values()]})")
    check(all(rows_match(out, rid) for rid in rows),
          f"{what}: every row each program logged is in the file once, equal")
    return rows


def case_sweep(tmp):
    print("sweep")
    sweep, out = sweep_file(tmp, "example", GRID), os.path.join(tmp, "example.h5")
    t0 = time.time()
    p = subprocess.run(mpirun(sweep, out), capture_output=True, text=True, env=ENV, timeout=1200,
                       cwd=tmp)
    wall = time.time() - t0
    print(p.stdout[-2000:], p.stderr[-2000:])
    check(p.returncode == 0, f"exit 0 (got {p.returncode}), {wall:.0f} s")
    rows = check_runs(out, "sweep")
    stopped = [r for r in rows.values() if r["status"] == "stopped"]
    check(len(stopped) >= 1, f"hyperband stopped runs ({len(stopped)} of {len(rows)})")
    for rid, r in rows.items():
        n = len(stored(out, rid))
        if r["status"] == "done":
            check(n == 6, f"done run {rid}: 6 epochs ({n})")
        with ResultsFile(out) as res:
            outputs = res.outputs(rid)
        if r["status"] == "done":
            ckpt = os.path.join(out + ".runs", rid, "best.pt")
            check(outputs and outputs["artifacts"] == [{"name": "best", "path": ckpt}] and
                  os.path.exists(ckpt) and "best_val_acc" in outputs["summary"],
                  f"done run {rid}: summary and checkpoint recorded ({outputs})")
    print(f"  demo wall time: {wall:.1f} s for {len(rows)} runs on 2 workers")


def case_kill(tmp):
    print("kill")
    sweep, out = sweep_file(tmp, "killed", BAYES), os.path.join(tmp, "killed.h5")
    p = subprocess.Popen(mpirun(sweep, out), env=ENV, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, cwd=tmp)
    wait_for(lambda: sum(r["status"] in ("done", "stopped") for r in summary(out).values()) >= 2
             and programs_running(tmp) >= 1, 600, "2 runs ended and a program runs")
    rank0 = [int(pid) for pid in os.listdir("/proc") if pid.isdigit() and
             _rank_of(int(pid), p.pid) == 0]
    check(len(rank0) == 1, f"found rank 0 ({rank0})")
    before = summary(out)
    ended = {rid: stored(out, rid) for rid, r in before.items()
             if r["status"] in ("done", "stopped")}
    for pid in rank0:
        os.kill(pid, signal.SIGKILL)
    so, _ = p.communicate(timeout=120)
    print(so[-1000:])
    wait_for(lambda: programs_running(tmp) == 0, 15, "no program left running after kill -9 of "
             "rank 0")
    q = subprocess.run(mpirun(sweep, out, "--resume"), capture_output=True, text=True, env=ENV,
                       timeout=1200, cwd=tmp)
    print(q.stdout[-1500:], q.stderr[-1500:])
    check(q.returncode == 0, f"--resume exits 0 (got {q.returncode})")
    check_runs(out, "after kill -9 of rank 0 and --resume")
    after = summary(out)
    check(all(stored(out, rid) == rows and after[rid]["status"] == before[rid]["status"]
              for rid, rows in ended.items()),
          f"the {len(ended)} runs that ended before the kill are unchanged")


def _rank_of(pid, mpirun_pid):
    """The MPI rank of pid when it is a child of mpirun, else None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        if ppid != mpirun_pid:
            return None
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
        return int(env[b"OMPI_COMM_WORLD_RANK"])
    except (OSError, KeyError, ValueError):
        return None


def main():
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            fn = globals().get("case_" + case)
            if not fn:
                sys.exit(f"unknown case {case}")
            fn(tmp)
    if failures:
        print(f"FAILED: {len(failures)} checks")
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
