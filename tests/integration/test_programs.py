#!/usr/bin/env python3
"""Program sweeps (W&B's program/command: include/nnsweep/program.h) run by
`nnsweep sweep`, checked against the results file (analysis/
nnsweep_results.py) and the runs' own files:

  good         a Python program that uses nnsweep_run: every row it logged
               (it prints each to its stdout too) is in the file exactly
               once with the same values, rows are readable (SWMR) while it
               runs, best step and value, its summary and artifact, its
               stdout/stderr beside the results file, `inspect --run ID`
               says where they are, pandas gets a wide table in one call
  faults       one sweep whose runs exit 3, die of SIGSEGV, write garbage on
               the channel, hang past --time-limit, never log the metric,
               and one that works: each failed run's message names the cause
               and shows the tail of its stderr, the sweep goes on, the good
               run is done
  not_found    a program that is missing, or not executable where the
               command runs it directly: exit 2 naming file:line before any
               run starts, no results file written
  kill_local   kill -9 of a one-process `nnsweep sweep` while its program
               (and the program's own child) runs: nothing is left running;
               --resume reruns the unfinished run, every run once
  kill_worker  (mpi) kill -9 of a worker rank of `mpirun` while its program
               runs: nothing is left running; --resume finishes the sweep

usage: test_programs.py NNSWEEP SOURCE_DIR [CASE ...]   (Debian's python3)
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

NNSWEEP, SRC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
CASES = sys.argv[3:] or ["good", "faults", "not_found", "kill_local"]
sys.path.insert(0, os.path.join(SRC, "analysis"))
from nnsweep_results import ResultsFile, ResultsFileError  # noqa: E402

ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
# `nnsweep sweep` starts MPI (a singleton without mpirun), and Open MPI's own
# allocations show as leaks under LeakSanitizer: CI's sanitizer stage runs
# this cpu-labelled test with an ASan build, so leak detection is off for
# `nnsweep sweep` only (inspect keeps it; later options win), as in test_report.
SWEEP_ENV = dict(ENV, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0")
PY = "/usr/bin/python3"
failures = []


def check(cond, what):
    print("  ok:" if cond else "  FAIL:", what)
    if not cond:
        failures.append(what)
    return cond


def run(cmd, timeout=600, cwd=None):
    env = SWEEP_ENV if "sweep" in cmd[1:3] else ENV
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
    return p.returncode, p.stdout, p.stderr


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def summary(path):
    with ResultsFile(path) as r:
        return {row["run_id"]: row for row in r.summary().to_dict("records")}


def printed_rows(stdout_path):
    """The rows a program printed ("ROW <json>") in its last attempt."""
    with open(stdout_path) as f:
        text = f.read()
    last = text.rsplit("==== nnsweep: run ", 1)[-1]
    return [json.loads(line[4:]) for line in last.splitlines() if line.startswith("ROW ")]


def file_rows(path, run_id):
    """The rows of the file's current attempt: [{"step": s, name: value...}]."""
    with ResultsFile(path) as r:
        h = r.history(run_id)
    rows = []
    for rec in h.to_dict("records"):
        rows.append({k: v for k, v in rec.items() if k == "step" or v == v})  # drop NaN holes
    return rows


def same_rows(printed, stored):
    if len(printed) != len(stored):
        return False
    for p, s in zip(printed, stored):
        if p["step"] != s["step"] or set(p["log"]) | {"step"} != set(s):
            return False
        if any(float(p["log"][k]) != s[k] for k in p["log"]):
            return False
    return True


def processes(marker):
    """pids of processes whose command line holds marker."""
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmd:
            pids.append(int(pid))
    return pids


def parent(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def wait_for(pred, timeout, what):
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            if pred():
                return check(True, what)
        except (OSError, KeyError, ValueError, ResultsFileError):
            pass  # the file is being created or replaced
        time.sleep(0.1)
    return check(False, f"{what} within {timeout} s")


# A program that logs what its config asks and prints each row as it logs it.
PROGRAM = r'''
import json, os, signal, subprocess, sys, time
import nnsweep_run as run
cfg = run.config
def log(values, step=None):
    print("ROW " + json.dumps({"log": values, "step": step}), flush=True)
    run.log(values, step=step)
fault = cfg.get("fault", "ok")
print("fault", fault, "args", sys.argv[1:], flush=True)
if fault != "nometric":
    log({"acc": 0.25, "loss": 2.0}, step=0)
if fault == "exit3":
    print("Traceback (most recent call last):", file=sys.stderr)
    print("ValueError: boom", file=sys.stderr)
    sys.exit(3)
if fault == "segv":
    print("about to crash", file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGSEGV)
if fault == "garbage":
    os.write(run._fd, b"loss=0.5\n")
    time.sleep(600)
if fault == "hang":
    print("hanging", file=sys.stderr, flush=True)
    time.sleep(600)
if fault == "nometric":
    log({"loss": 1.0}, step=0)
    sys.exit(0)
if fault == "sleep":  # a child of its own, then a long run
    subprocess.Popen(["sleep", "3" + cfg["marker"]])
    for i in range(1, 300):
        log({"acc": 0.25 + i * 1e-4}, step=i)
        time.sleep(0.05)
    sys.exit(0)
for i in range(1, int(cfg.get("steps", 5))):
    log({"acc": 0.25 + 0.1 * i * cfg.get("lr", 1), "loss": 2.0 / (i + 1), "epoch": i}, step=2 * i)
    time.sleep(float(cfg.get("pause", 0)))
run.summary({"final_acc": 0.5})
path = os.path.join(run.dir, "model.bin")
open(path, "w").write("x")
run.artifact(path, name="model")
'''


def sweep_file(tmp, name, params, method="grid", extra=""):
    path = os.path.join(tmp, name + ".yaml")
    write(os.path.join(tmp, "prog.py"), PROGRAM)
    lines = [f"name: {name}", "program: prog.py", f"method: {method}",
             "metric: {name: acc, goal: maximize}", extra, "parameters:"]
    for k, v in params.items():
        lines.append(f"  {k}: {json.dumps(v)}")
    write(path, "\n".join(lines) + "\n")
    return path


def case_good(tmp):
    print("good")
    sweep = sweep_file(tmp, "good", {"lr": {"values": [0.5, 1.0]}, "steps": {"value": 12},
                                     "pause": {"value": 0.25}})
    out = os.path.join(tmp, "good.h5")
    p = subprocess.Popen([NNSWEEP, "sweep", sweep, "--out", out, "--progress", "1"],
                         env=SWEEP_ENV,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # rows are readable while the sweep writes them
    def some_rows():
        s = summary(out)
        return any(r["status"] == "running" and len(file_rows(out, rid)) >= 2
                   for rid, r in s.items())
    wait_for(some_rows, 60, "rows readable (SWMR) while the program runs")
    so, _ = p.communicate(timeout=300)
    print(so[-1500:])
    check(p.returncode == 0, f"exit 0 (got {p.returncode})")
    rows = summary(out)
    check(len(rows) == 2 and all(r["status"] == "done" for r in rows.values()),
          f"2 runs done ({[(r['status'], r['message']) for r in rows.values()]})")
    for rid, r in rows.items():
        run_dir = out + ".runs/" + rid
        printed = printed_rows(os.path.join(run_dir, "stdout"))
        stored = file_rows(out, rid)
        check(len(printed) == 12 and same_rows(printed, stored),
              f"run {rid}: the {len(printed)} rows it logged are in the file once, equal "
              f"({len(stored)} stored)")
        with ResultsFile(out) as res:
            lr = res.config(rid)["lr"]
        check(r["best_step"] == 22 and abs(r["best_value"] - (0.25 + 1.1 * lr)) < 1e-12,
              f"run {rid}: best step {r['best_step']} value {r['best_value']}")
        check(r["kind"] == "program", f"run {rid}: kind program ({r['kind']})")
        with ResultsFile(out) as res:
            outputs = res.outputs(rid)
        check(outputs == {"summary": {"final_acc": 0.5},
                          "artifacts": [{"name": "model", "path": run_dir + "/model.bin"}]},
              f"run {rid}: outputs {outputs}")
        code, so2, se2 = run([NNSWEEP, "inspect", out, "--run", rid])
        check(code == 0 and run_dir + "/stdout" in so2 and run_dir + "/stderr" in so2,
              f"inspect --run {rid} shows where its stdout and stderr are ({so2[:300]}{se2})")
    with ResultsFile(out) as res:
        wide = res.histories()
    check(len(wide) == 24 and {"run_id", "step", "acc", "loss", "epoch"} <= set(wide.columns),
          f"histories(): one wide table ({len(wide)} rows, columns {list(wide.columns)})")


def case_faults(tmp):
    print("faults")
    faults = ["exit3", "segv", "garbage", "hang", "nometric", "ok"]
    sweep = sweep_file(tmp, "faults", {"fault": {"values": faults}, "steps": {"value": 3}})
    out = os.path.join(tmp, "faults.h5")
    t0 = time.time()
    code, so, se = run([NNSWEEP, "sweep", sweep, "--out", out, "--time-limit", "3",
                        "--kill-grace", "1"], timeout=300)
    print(so[-1500:], se[-3000:])
    check(code == 0, f"the sweep goes on and exits 0 (got {code}) in {time.time() - t0:.0f} s")
    rows = summary(out)
    with ResultsFile(out) as res:
        by_fault = {res.config(rid)["fault"]: r for rid, r in rows.items()}
    want = {
        "exit3": ["exited with status 3", "ValueError: boom"],
        "segv": ["killed by signal 11", "about to crash"],
        "garbage": ["garbage on the channel, line 2", "loss=0.5"],
        "hang": ["time limit of 3 s", "hanging"],
        "nometric": ["never logged the sweep metric 'acc'", "loss"],
    }
    for fault, words in want.items():
        r = by_fault.get(fault, {"status": "missing", "message": ""})
        check(r["status"] == "failed" and all(w in r["message"] for w in words),
              f"{fault}: failed, the message names the cause ({r['status']}: {r['message']})")
        check(f"failed: {words[0]}" in se or words[0] in se,
              f"{fault}: the failure is said on stderr")
    check(by_fault["ok"]["status"] == "done", "the good run of the sweep is done")
    check(len(file_rows(out, by_fault["garbage"]["run_id"])) == 1,
          "garbage: the row before the garbage is kept")


def case_not_found(tmp):
    print("not_found")
    sweep = os.path.join(tmp, "missing.yaml")
    write(sweep, "method: grid\nprogram: no_such_train.py\nparameters:\n  x: {value: 1}\n")
    out = os.path.join(tmp, "missing.h5")
    code, so, se = run([NNSWEEP, "sweep", sweep, "--out", out])
    check(code == 2 and f"{sweep}:2: program:" in se and "no_such_train.py" in se,
          f"a missing program: exit 2 naming file:line ({code}: {se.strip()})")
    check(not os.path.exists(out), "nothing written")
    write(os.path.join(tmp, "noexec.sh"), "#!/bin/sh\n", 0o644)
    sweep = os.path.join(tmp, "noexec.yaml")
    write(sweep, "method: grid\nprogram: noexec.sh\ncommand: [\"${program}\", \"${args}\"]\n"
                 "parameters:\n  x: {value: 1}\n")
    code, so, se = run([NNSWEEP, "sweep", sweep, "--out", out])
    check(code == 2 and "not executable" in se and ":2: program:" in se,
          f"a program that is not executable: exit 2 ({code}: {se.strip()})")
    check(not os.path.exists(out), "nothing written")


def case_kill_local(tmp):
    print("kill_local")
    marker = str(os.getpid() % 100000 + 100000)
    sweep = sweep_file(tmp, "kill_local", {"fault": {"values": ["ok", "sleep"]},
                                           "marker": {"value": marker}})
    out = os.path.join(tmp, "kill_local.h5")
    p = subprocess.Popen([NNSWEEP, "sweep", sweep, "--out", out], env=SWEEP_ENV,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_for(lambda: processes("sleep 3" + marker), 60, "the program's child started")
    wait_for(lambda: any(len(file_rows(out, rid)) > 3 for rid, r in summary(out).items()
                         if r["status"] == "running"), 60, "the running program logged rows")
    os.kill(p.pid, signal.SIGKILL)
    p.communicate()
    wait_for(lambda: not processes("sleep 3" + marker) and not processes(tmp + "/prog.py"), 10,
             "no program (nor its child) left running after kill -9")
    code, so, se = run([NNSWEEP, "sweep", sweep, "--out", out, "--resume"], timeout=300)
    print(so[-800:], se[-800:])
    check(code == 0, f"--resume exits 0 (got {code})")
    rows = summary(out)
    check(len(rows) == 2 and all(r["status"] == "done" for r in rows.values()),
          "both runs done after --resume")
    for rid in rows:
        printed = printed_rows(out + ".runs/" + rid + "/stdout")
        check(same_rows(printed, file_rows(out, rid)),
              f"run {rid}: the last attempt's rows, once each")


def case_kill_worker(tmp):
    print("kill_worker")
    marker = str(os.getpid() % 100000 + 200000)
    sweep = sweep_file(tmp, "kill_worker", {"fault": {"values": ["ok", "sleep"]},
                                            "marker": {"value": marker}})
    out = os.path.join(tmp, "kill_worker.h5")
    cmd = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", "3", NNSWEEP, "sweep",
           sweep, "--out", out, "--threads", "1"]
    p = subprocess.Popen(cmd, env=SWEEP_ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    wait_for(lambda: processes("sleep 3" + marker), 60, "the program's child started")
    # the worker whose program has the child: the child's parent's parent
    # (${env} execs the interpreter in place: the program is the worker's child)
    victim = None
    for pid in processes("sleep 3" + marker):
        victim = parent(parent(pid))
    check(victim is not None, "found a worker that runs a program")
    if victim:
        os.kill(victim, signal.SIGKILL)
    p.communicate(timeout=120)
    wait_for(lambda: not processes("sleep 3" + marker) and not processes(tmp + "/prog.py"), 10,
             "no program left running after kill -9 of a worker")
    code, so, se = run(cmd + ["--resume"], timeout=300)
    check(code == 0, f"--resume exits 0 (got {code}: {se[-500:]})")
    rows = summary(out)
    check(len(rows) == 2 and all(r["status"] == "done" for r in rows.values()),
          "both runs done after --resume")


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
