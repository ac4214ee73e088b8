#!/usr/bin/env python3
"""`nnsweep sweep` under real `mpirun` with several ranks (oversubscribed on
small machines), against the results file read with h5py (through
analysis/nnsweep_results.py, and its /metrics table raw for exactly-once):

  exactly_once   every run of a sweep runs exactly once, the file's metrics
                 equal what the workers sent (their --worker-log), a run
                 with a huge learning rate is recorded `diverged` while the
                 others finish, and one plain process gives the same schema
  device_policy  one device policy on every path (mpirun, one process,
                 nnsweep train): device cuda without a usable GPU fails the
                 run with the reason and is recorded as cuda; auto and cpu
                 train on the cpu
  signal_before_start
                 a stop signal while rank 0 waits for the workers' hellos
                 (one blocked on a FIFO): exit 0, said, nothing written
  kill_worker    kill -9 of a worker mid-sweep, then --resume: the sweep
                 completes, no duplicate run or epoch row; h5py and h5dump
                 read the file
  kill_rank0     the same with kill -9 of rank 0
  signal         SIGUSR2 to mpirun (forwarded to every rank): rank 0 stops,
                 marks unfinished runs interrupted, closes the file and
                 exits 0; --resume finishes the sweep
  resume_guard   --resume with a sweep file whose runs differ is refused with
                 a message naming the difference, the file byte-for-byte
                 unchanged; a new sweep can be added to an existing file
  overrides      --set, --metric and --name-suffix: the results file records
                 them beside the spec; a --resume without them (or with
                 others) is refused, the file byte-for-byte unchanged
  options        under mpirun, a bad option or --help prints once (rank 0),
                 not once per rank
  bad_corpus     every file of tests/sweeps/bad: `nnsweep sweep` (alone, and
                 one under mpirun) gives its file:line message and exit 2,
                 and an existing results file is left byte-for-byte unchanged

usage: test_sweep_mpi.py NNSWEEP DATA_DIR [CASE ...]
Needs Debian's python3-h5py (run with /usr/bin/python3) and hdf5-tools.
"""
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "analysis"))
from sweep_files import sweep_yaml  # noqa: E402
from nnsweep_results import ResultsFile  # noqa: E402

NNSWEEP, DATA = sys.argv[1], sys.argv[2]
CASES = sys.argv[3:] or ["exactly_once", "device_policy", "signal_before_start", "kill_worker",
                         "kill_rank0", "signal", "resume_guard",
                         "overrides", "options", "bad_corpus"]
BAD_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sweeps", "bad")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
failures = []


def check(cond, what):
    if cond:
        print("  ok:", what)
    else:
        print("  FAIL:", what)
        failures.append(what)
    return cond


def mpirun(n, args, **kw):
    return ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(n), NNSWEEP, "sweep",
            "--data", DATA, "--threads", "1", "--progress", "1"] + args


def run(cmd, timeout=600, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env or ENV)
    return p.returncode, p.stdout, p.stderr


def open_swmr(path):
    return h5py.File(path, "r", libver="latest", swmr=True)


def summary(path):
    with open_swmr(path) as f:
        s = f["summary"][()]
    return [{k: (v.decode() if isinstance(v, bytes) else v) for k, v in zip(s.dtype.names, row)}
            for row in s]


def metrics(path, run_ids):
    """{run_id: its metrics DataFrame} (nnsweep_results)."""
    with ResultsFile(path) as r:
        return {rid: r.metrics(rid) for rid in run_ids}


def configs(path, run_ids):
    """{run_id: its config dict} (nnsweep_results)."""
    with ResultsFile(path) as r:
        return {rid: r.config(rid) for rid in run_ids}


def raw_epochs(path):
    """{run_id: the epochs of every /metrics row of its current attempt, in
    table order} - the raw table (results.h, schema 2), duplicates and all."""
    with open_swmr(path) as f:
        s, m = f["summary"][()], f["metrics"][()]
    return {row["run_id"].decode(): list(m["epoch"][(m["run"] == i) &
                                                    (m["attempt"] == row["attempt"])])
            for i, row in enumerate(s)}


def check_no_duplicates(path, expect_runs, what):
    """Every run once in the summary, final, and its metrics rows exactly
    epochs 0..epochs_done (no duplicate, no gap) - in the raw table, not
    only as a reader keeps them."""
    rows = summary(path)
    ids = [r["run_id"] for r in rows]
    check(len(ids) == len(set(ids)) == expect_runs,
          f"{what}: {expect_runs} distinct runs in the summary (found {len(ids)}, "
          f"{len(set(ids))} distinct)")
    ok = True
    raw = raw_epochs(path)
    for r in rows:
        epochs = raw[r["run_id"]]
        if epochs != list(range(r["epochs_done"] + 1)):
            ok = False
            print(f"    run {r['run_id']} ({r['status']}): epochs {epochs}, "
                  f"epochs_done {r['epochs_done']}")
    check(ok, f"{what}: every run's metrics rows are epochs 0..epochs_done exactly once")
    return rows


def readable_everywhere(path, what):
    code, _, err = run(["h5dump", "-H", path], timeout=60)
    check(code == 0, f"{what}: h5dump reads the file ({err.strip()[:200]})")
    try:
        with h5py.File(path, "r") as f:
            n = len(f["summary"])
        check(n > 0, f"{what}: a plain h5py open reads the file")
    except Exception as e:  # noqa: BLE001 - report any failure
        check(False, f"{what}: a plain h5py open reads the file ({e})")


def wait_for(pred, timeout, what):
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            if pred():
                return True
        except (OSError, KeyError):
            pass  # the file is being created or replaced
        time.sleep(0.2)
    return check(False, f"{what} within {timeout} s")


def rank_pids(mpirun_pid):
    """{rank: pid} of the processes mpirun started (from their environment)."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue
        if ppid == mpirun_pid and b"OMPI_COMM_WORLD_RANK" in env:
            out[int(env[b"OMPI_COMM_WORLD_RANK"])] = int(pid)
    return out


def case_exactly_once(tmp):
    print("exactly_once")
    sweep = os.path.join(tmp, "once.yaml")
    sweep_yaml(sweep, "once", 3, 2, 800, extra="  optimizer: {value: sgd}\n")
    # a second sweep in the same file with a learning rate that diverges
    with open(sweep, "a") as f:
        f.write("""---
name: huge_lr
method: grid
parameters:
  hidden_layers: {value: [16]}
  learning_rate: {values: [0.01, 100000]}
  epochs: {value: 2}
  train_images: {value: 800}
  test_images: {value: 300}
""")
    out = os.path.join(tmp, "once.h5")
    logs = os.path.join(tmp, "worker-logs")
    code, so, se = run(mpirun(4, [sweep, "--out", out, "--worker-log", logs]))
    print(so[-1500:], se[-1500:])
    check(code == 0, f"mpirun -np 4 exits 0 (got {code})")
    rows = check_no_duplicates(out, 8, "exactly_once")
    status = {r["run_id"]: r["status"] for r in rows}
    huge = [r for r in rows if r["sweep"] == "huge_lr"]
    lr = {rid: c["learning_rate"] for rid, c in configs(out, [r["run_id"] for r in huge]).items()}
    div = [r for r in huge if lr[r["run_id"]] == 100000]
    check(len(div) == 1 and div[0]["status"] == "diverged" and "loss became" in div[0]["message"],
          "the lr 1e5 run is recorded diverged with its message")
    check(sum(1 for s in status.values() if s == "done") == 7, "the 7 other runs are done")
    # the workers' logs: each run trained once; the file holds exactly what
    # was sent
    sent = {}
    results = {}
    dup = []
    lines = []
    for name in sorted(os.listdir(logs)):
        with open(os.path.join(logs, name)) as f:
            lines += f.readlines()
    check(len(os.listdir(logs)) == 3, f"one log per worker ({sorted(os.listdir(logs))})")
    for line in lines:
        p = line.split()
        if p[0] == "epoch":
            key = (p[1], int(p[2]))
            if key in sent:
                dup.append(key)
            sent[key] = [float(x) for x in p[3:]]
        else:
            results[p[1]] = results.get(p[1], 0) + 1
    check(not dup, f"no epoch sent twice ({dup[:3]})")
    check(sorted(results) == sorted(status) and all(v == 1 for v in results.values()),
          "every run was trained by exactly one worker, once")
    fields = ["train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss",
              "test_accuracy", "top_accuracy", "learning_rate"]
    same = True
    for rid, m in metrics(out, status).items():
        for _, row in m.iterrows():
            want = sent.get((rid, int(row["epoch"])))
            got = [float(row[k]) for k in fields]
            if want is None or not np.array_equal(np.array(got), np.array(want),
                                                  equal_nan=True):
                same = False
                print("    differs:", rid, int(row["epoch"]), got, want)
        n_sent = sum(1 for (r, _) in sent if r == rid)
        same &= n_sent == len(m)
    check(same, "the file's metrics equal, bit for bit, what the workers sent")
    done = [r for r in rows if r["status"] == "done"]
    with ResultsFile(out) as f:
        w = f.weights(done[0]["run_id"])
    check(len(w) > 0 and w["fc0.weight"].shape[1] == 3072 and done[0]["has_weights"],
          "best weights stored for a done run")
    readable_everywhere(out, "exactly_once")

    # one plain process: same schema, same number of rows
    out1 = os.path.join(tmp, "single.h5")
    code, so, se = run([NNSWEEP, "sweep", sweep, "--out", out1, "--data", DATA, "--threads", "2"])
    check(code == 0, f"one plain process exits 0 ({se[-300:]})")
    check_no_duplicates(out1, 8, "single process")


def start_sweep(tmp, name, n_lr, epochs, train_images, n_ranks):
    """A sweep of 2 x n_lr runs that take seconds each, started in the
    background."""
    sweep = os.path.join(tmp, f"{name}.yaml")
    sweep_yaml(sweep, name, n_lr, epochs, train_images, widths="[[256], [128, 64]]")
    out = os.path.join(tmp, f"{name}.h5")
    p = subprocess.Popen(mpirun(n_ranks, [sweep, "--out", out]), env=ENV,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return sweep, out, p


def n_finished(out):
    return sum(1 for r in summary(out) if r["status"] in ("done", "diverged", "failed"))


def case_kill(tmp, victim):
    name = f"kill_{victim}"
    print(name)
    sweep, out, p = start_sweep(tmp, name, 4, 3, 8000, 3)
    total = 8
    wait_for(lambda: os.path.exists(out) and n_finished(out) >= 2, 300, "2 runs finished")
    ranks = rank_pids(p.pid)
    check(set(ranks) == {0, 1, 2}, f"found ranks 0..2 ({ranks})")
    rank = 1 if victim == "worker" else 0
    # mid-epoch: wait until some run has rows but is not finished
    time.sleep(0.5)
    os.kill(ranks[rank], signal.SIGKILL)
    try:
        so, _ = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
        so, _ = p.communicate()
    print(so[-1200:])
    check(p.returncode != 0, f"mpirun reports the killed rank (exit {p.returncode})")
    before = summary(out)
    finished = [r["run_id"] for r in before if r["status"] in ("done", "diverged", "failed")]
    check(0 < len(finished) < total, f"some runs finished before the kill ({len(finished)})")
    kept = metrics(out, finished)
    code, so, se = run(mpirun(3, [sweep, "--out", out, "--resume"]))
    print(so[-1500:], se[-800:])
    check(code == 0, f"--resume exits 0 (got {code})")
    rows = check_no_duplicates(out, total, name)
    check(all(r["status"] == "done" for r in rows), "every run done after --resume")
    now = metrics(out, finished)
    same = all(now[rid].equals(kept[rid]) for rid in finished)
    check(same, "runs finished before the kill were not rerun (rows unchanged)")
    readable_everywhere(out, name)


def case_signal(tmp):
    print("signal")
    sweep, out, p = start_sweep(tmp, "sig", 4, 3, 8000, 3)
    wait_for(lambda: os.path.exists(out) and n_finished(out) >= 1, 300, "a run finished")
    time.sleep(0.5)
    p.send_signal(signal.SIGUSR2)  # mpirun forwards SIGUSR2 to every rank
    so, _ = p.communicate(timeout=120)
    print(so[-1500:])
    check(p.returncode == 0, f"mpirun exits 0 after SIGUSR2 (got {p.returncode})")
    check("stopped" in so, "rank 0 says it stopped")
    rows = summary(out)
    check(all(r["status"] in ("done", "interrupted", "pending") for r in rows),
          "unfinished runs are interrupted or pending, none left running")
    readable_everywhere(out, "signal (closed cleanly)")
    code, so, se = run(mpirun(3, [sweep, "--out", out, "--resume"]))
    check(code == 0, f"--resume exits 0 ({se[-300:]})")
    rows = check_no_duplicates(out, 8, "signal + resume")
    check(all(r["status"] == "done" for r in rows), "every run done after --resume")


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def case_resume_guard(tmp):
    print("resume_guard")
    sweep = os.path.join(tmp, "guard.yaml")
    sweep_yaml(sweep, "guard", 2, 1, 500)
    out = os.path.join(tmp, "guard.h5")
    code, _, se = run([NNSWEEP, "sweep", sweep, "--out", out, "--data", DATA, "--threads", "2"])
    check(code == 0, f"first sweep ({se[-300:]})")
    digest = sha(out)
    changed = os.path.join(tmp, "guard2.yaml")
    sweep_yaml(changed, "guard", 3, 1, 500)
    code, _, se = run([NNSWEEP, "sweep", changed, "--out", out, "--data", DATA, "--resume"])
    check(code == 2 and "differs" in se and "is not in the file" in se,
          f"resume with other runs refused with the difference named: {se.strip()}")
    check(sha(out) == digest, "the file is byte-for-byte unchanged")
    code, _, se = run([NNSWEEP, "sweep", sweep, "--out", out, "--data", DATA])
    check(code == 2 and "--resume" in se, f"the same sweep again without --resume: {se.strip()}")
    check(sha(out) == digest, "the file is byte-for-byte unchanged")
    other = os.path.join(tmp, "other.yaml")
    sweep_yaml(other, "other", 1, 1, 500)
    code, _, se = run([NNSWEEP, "sweep", other, "--out", out, "--data", DATA, "--threads", "2"])
    check(code == 0, f"a new sweep is added to the file ({se[-300:]})")
    rows = check_no_duplicates(out, 6, "two sweeps in one file")
    check({r["sweep"] for r in rows} == {"guard", "other"}, "both sweeps in the summary")
    check(not os.path.exists(out + ".partial") and not os.path.exists(out + ".lock"),
          "no side files left")


def case_overrides(tmp):
    print("overrides")
    sweep = os.path.join(tmp, "over.yaml")
    sweep_yaml(sweep, "over", 2, 1, 500)
    out = os.path.join(tmp, "over.h5")
    base = [NNSWEEP, "sweep", sweep, "--out", out, "--data", DATA, "--threads", "2", "--quiet"]
    sets = ["--set", "val_split=100", "--set", "select_on=val_accuracy"]
    metric, suffix = ["--metric", "val_accuracy"], ["--name-suffix", "_val"]
    code, _, se = run(base + sets + metric + suffix)
    check(code == 0, f"a sweep with overrides ({se[-300:]})")
    code, so, _ = run([NNSWEEP, "expand", sweep] + sets + metric + suffix)
    expanded = {line.split()[1] for line in so.splitlines() if line.startswith("  ")}
    rows = check_no_duplicates(out, 4, "with overrides")
    check({r["run_id"] for r in rows} == expanded and {r["sweep"] for r in rows} == {"over_val"},
          "the runs of `nnsweep expand` with the same overrides, in sweep over_val")
    with open(sweep) as f:
        text = f.read()
    with open_swmr(out) as f:
        g = f["sweeps/over_val"]
        attrs = {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in g.attrs.items()}
    cfgs = list(configs(out, [r["run_id"] for r in rows]).values())
    check(attrs.get("spec") == text and attrs.get("metric") == "val_accuracy" and
          attrs.get("overrides") == "--set val_split=100 --set select_on=val_accuracy "
                                    "--metric val_accuracy --name-suffix _val",
          f"/sweeps/over_val: the YAML as written and the overrides ({attrs.get('overrides')!r})")
    check(all(c["val_split"] == 100 and c["select_on"] == "val_accuracy" for c in cfgs),
          "every run has val_split 100 and select_on val_accuracy")
    check(all(np.isfinite(r["best_val_accuracy"]) for r in rows), "val accuracies recorded")
    digest = sha(out)
    # a resume must be given the same overrides
    code, _, se = run(base + ["--resume"] + metric + suffix + ["--set", "val_split=200",
                                                               "--set", "select_on=val_accuracy"])
    check(code == 2 and "differs" in se and "is not in the sweep file" in se,
          f"--resume with another --set value refused: {se.strip()}")
    code, _, se = run(base + ["--resume"] + metric + suffix + ["--set", "val_split=100"])
    check(code == 2 and "differs" in se and "is not in the sweep file" in se,
          f"--resume without one --set refused: {se.strip()}")
    code, _, se = run(base + ["--resume"] + sets + suffix)
    check(code == 2 and "differs" in se and "its metric is val_accuracy (maximize) there, "
          "test_accuracy (maximize) here" in se, f"--resume without --metric refused: {se.strip()}")
    check(sha(out) == digest, "the file is byte-for-byte unchanged")
    code, _, se = run(base + ["--resume"] + sets + metric + suffix)
    check(code == 0, f"--resume with the same overrides ({se[-300:]})")
    check_no_duplicates(out, 4, "resumed with the same overrides")


def case_options(tmp):
    print("options")
    sweep = os.path.join(tmp, "opt.yaml")
    sweep_yaml(sweep, "opt", 1, 1, 300)
    code, so, se = run(mpirun(3, [sweep, "--resme", "--out", os.path.join(tmp, "opt.h5")]),
                       timeout=120)
    check(code != 0 and se.count("unknown option '--resme' (did you mean --resume?") == 1 and
          not os.path.exists(os.path.join(tmp, "opt.h5")),
          f"mpirun -np 3 with a misspelled option: one message, from rank 0 ({se.strip()[:300]!r})")
    code, so, se = run(mpirun(3, ["--help"]), timeout=120)
    check(code == 0 and so.count("usage: nnsweep sweep") == 1,
          f"mpirun -np 3 --help: one usage (exit {code}, {so.count('usage:')} usages)")


def case_bad_corpus(tmp):
    print("bad_corpus")
    sweep = os.path.join(tmp, "base.yaml")
    sweep_yaml(sweep, "base", 1, 1, 300)
    out = os.path.join(tmp, "base.h5")
    code, _, se = run([NNSWEEP, "sweep", sweep, "--out", out, "--data", DATA, "--threads", "2",
                       "--quiet"])
    check(code == 0, f"base sweep ({se[-300:]})")
    digest = sha(out)
    files = sorted(f for f in os.listdir(BAD_DIR) if f.endswith(".yaml"))
    check(len(files) >= 20, f"at least 20 bad sweep files ({len(files)})")
    bad = 0
    for name in files:
        path = os.path.join(BAD_DIR, name)
        with open(path) as f:
            expect = f.readline().split("# expect:", 1)[1].strip()
        for cmd in ([NNSWEEP, "sweep", path, "--out", out, "--data", DATA],):
            code, _, se = run(cmd, timeout=60)
            ok = (code == 2 and f"{path}:" in se and expect in se and sha(out) == digest and
                  not os.path.exists(out + ".partial") and not os.path.exists(out + ".lock"))
            if not ok:
                bad += 1
                print(f"    {name}: exit {code}, stderr {se.strip()[:300]!r}, expected {expect!r}")
    check(bad == 0, f"{len(files)} bad sweep files: exit 2, file:line message, the results file "
                    "byte-for-byte unchanged")
    path = os.path.join(BAD_DIR, files[0])
    code, _, se = run(mpirun(3, [path, "--out", out]), timeout=120)
    check(code == 2 and f"{path}:" in se and sha(out) == digest,
          f"under mpirun too: exit {code}, {se.strip()[:200]!r}")


def case_device_policy(tmp):
    """One device policy on every path: `device: cuda` where no GPU can be
    used fails the run with the reason and records device "cuda" (never a
    silent CPU run recorded "cpu"); `auto` trains on the CPU and says so;
    the same under mpirun and in one plain process, and for nnsweep train."""
    print("device_policy")
    if gpu_usable():
        print("  SKIPPED: a GPU is usable here, so the no-GPU policy is not observable")
        return
    sweep = os.path.join(tmp, "devices.yaml")
    with open(sweep, "w") as f:
        f.write("name: devices\nmethod: grid\nparameters:\n"
                "  device: {values: [cuda, auto, cpu]}\n  hidden_layers: {value: [16]}\n"
                "  epochs: {value: 1}\n  train_images: {value: 500}\n  test_images: {value: 200}\n")
    for how, cmd in (("mpirun -np 2", mpirun(2, [sweep, "--out", os.path.join(tmp, "dev2.h5")])),
                     ("one process", [NNSWEEP, "sweep", sweep, "--data", DATA, "--threads", "1",
                                      "--out", os.path.join(tmp, "dev1.h5")])):
        out = cmd[cmd.index("--out") + 1]
        code, so, se = run(cmd)
        check(code == 0, f"{how}: the sweep exits 0 with a failed run ({se.strip()[-300:]})")
        rows = summary(out)
        cfg = configs(out, [r["run_id"] for r in rows])
        dev = {cfg[r["run_id"]]["device"]: r for r in rows}
        c = dev["cuda"]
        check(c["status"] == "failed" and "device: cuda was asked for" in c["message"]
              and c["device"] == "cuda",
              f"{how}: device cuda without a GPU fails, says why and is recorded as cuda "
              f"({c['status']}, {c['device']!r}, {c['message'][:120]!r})")
        for key in ("auto", "cpu"):
            r = dev[key]
            check(r["status"] == "done" and r["device"] == "cpu",
                  f"{how}: device {key} trains on the cpu ({r['status']}, {r['device']!r})")
    code, so, se = run([NNSWEEP, "train", "--data", DATA, "--device", "cuda", "--epochs", "1",
                        "--hidden-layers", "16", "--train-images", "500", "--test-images", "200"])
    check(code == 1 and "status failed" in so and "device: cuda was asked for" in so,
          f"nnsweep train --device cuda without a GPU: the run fails with the reason, exit 1 "
          f"(exit {code}, {so.strip()[-200:]!r})")


def gpu_usable():
    """Whether this nnsweep can use a GPU here (then device cuda would train)."""
    try:
        code = subprocess.run(["nvidia-smi", "-L"], capture_output=True, timeout=30).returncode
    except (OSError, subprocess.TimeoutExpired):
        return False
    return code == 0


def case_signal_before_start(tmp):
    """A stop signal while rank 0 still waits for the workers' hellos: it
    says so, writes nothing and exits 0 - a clean stop, not bad input."""
    print("signal_before_start")
    data = os.path.join(tmp, "slow-data")
    os.makedirs(data, exist_ok=True)
    for name in os.listdir(DATA):
        os.symlink(os.path.join(DATA, name), os.path.join(data, name))
    fifo = os.path.join(data, "data_batch_1.bin")
    os.unlink(fifo)
    os.mkfifo(fifo)  # a worker reading the dataset blocks here until it is fed
    sweep = os.path.join(tmp, "early.yaml")
    sweep_yaml(sweep, "early", 2, 1, 500)
    out = os.path.join(tmp, "early.h5")
    cmd = mpirun(2, [sweep, "--out", out])
    cmd[cmd.index("--data") + 1] = data
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    time.sleep(3)  # rank 0 waits for the hello of a worker stuck on the FIFO
    p.send_signal(signal.SIGUSR2)
    time.sleep(1)
    try:  # let the worker go on: a short file, it cannot train
        with open(fifo, "wb") as f:
            f.write(b"\0" * 100)
    except BrokenPipeError:
        pass  # it read what it needed (the size check) and closed
    try:
        so, _ = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
        so, _ = p.communicate()
    print(so[-800:])
    check(p.returncode == 0 and "before the sweep started; nothing was written" in so,
          f"a signal before the start: exit 0 and said (exit {p.returncode})")
    check(not os.path.exists(out), "nothing was written")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            if case == "exactly_once":
                case_exactly_once(tmp)
            elif case == "kill_worker":
                case_kill(tmp, "worker")
            elif case == "kill_rank0":
                case_kill(tmp, "rank0")
            elif case == "signal":
                case_signal(tmp)
            elif case == "resume_guard":
                case_resume_guard(tmp)
            elif case == "overrides":
                case_overrides(tmp)
            elif case == "options":
                case_options(tmp)
            elif case == "bad_corpus":
                case_bad_corpus(tmp)
            elif case == "device_policy":
                case_device_policy(tmp)
            elif case == "signal_before_start":
                case_signal_before_start(tmp)
            else:
                sys.exit(f"unknown case {case}")
    if failures:
        print(f"FAILED: {len(failures)} checks")
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
