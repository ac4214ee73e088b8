#!/usr/bin/env python3
"""The sbatch scripts of slurm/ on a real one-node Slurm cluster (Debian's
munge, slurmctld and slurmd, started here as root under a temporary folder
on free ports, stopped again whatever happens), against the results file
read with h5py:

  exactly_once  slurm/cpu.sbatch runs a sweep with srun --mpi=pmix, rank 0
                and 2 workers: every run done exactly once, the file's
                metrics equal what the workers sent (--worker-log),
                the file closed cleanly
  requeue       `scontrol requeue` while runs are in flight (what preemption
                does: SIGTERM to every process, SIGKILL KillWait later): the
                sweep stops cleanly, the job comes back, resumes and finishes:
                every run done exactly once, no duplicate epoch row, runs
                finished before the requeue not rerun
  kill9         kill -9 of rank 0 mid-run (what a SIGKILL after KillWait or a
                node crash does to the writer): the job fails; `scontrol
                requeue` brings it back, it repairs the file, resumes and
                finishes: every run exactly once in the file, nothing lost
                (a result in flight when rank 0 died is computed again)
  warning       the time-limit warning of --signal=B:USR2@120, sent by hand
                (`scancel --batch --signal=USR2`, which is what Slurm does):
                the script passes it on to every rank, the sweep stops, the
                script requeues the job, which resumes and finishes
  gpu_script    slurm/gpu.sbatch on a node with 2 (fake) GPUs: the task count
                (rank 0 + GPUs x NNSWEEP_WORKERS_PER_GPU workers), a worker
                that cannot use the GPUs says why (no CUDA backend, or no GPU
                visible) and nothing is written; too few tasks for
                NNSWEEP_WORKERS_PER_GPU are refused with what to submit
  bad_data      a dataset no rank can read, and a results file on a file
                system without POSIX write ordering (faked with
                NNSWEEP_TEST_FS_TYPE): the job fails with the message, exit 2,
                nothing written

usage: test_slurm.py NNSWEEP DATA_DIR SOURCE_DIR [CASE ...]
Needs root (slurmd runs as root) and Debian's munge, slurmctld, slurmd and
slurm-client; installs them with apt-get when they are missing. Exits 77
(skipped) only when they are missing and cannot be installed, or when not
root. Needs python3-h5py (run with /usr/bin/python3).
"""
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sweep_files import sweep_yaml  # noqa: E402

NNSWEEP, DATA, SRC = (os.path.abspath(p) for p in sys.argv[1:4])
CASES = sys.argv[4:] or ["exactly_once", "requeue", "kill9", "warning", "gpu_script", "bad_data"]
PACKAGES = ["munge", "slurmctld", "slurmd", "slurm-client"]
PROGRAMS = ["munged", "slurmctld", "slurmd", "sbatch", "scontrol", "scancel", "squeue", "srun"]
SKIP = 77
TOTAL_SECONDS = 1200  # apt-get included; below the CTest TIMEOUT (1500), so that we clean up
KILL_WAIT = 10  # slurm.conf KillWait: SIGTERM .. SIGKILL
CRED_EXPIRE = 10  # AuthInfo cred_expire: how long a requeued job waits (default 120 s)
failures = []


def say(*a):
    print(*a, flush=True)


def check(cond, what):
    say(("  ok: " if cond else "  FAIL: ") + what)
    if not cond:
        failures.append(what)
    return cond


class Stop(BaseException):
    """A signal or the overall time limit: clean up and fail (not an
    Exception, so that no `except Exception` swallows it)."""


def on_signal(sig, _frame):
    raise Stop(f"signal {sig}" if sig != signal.SIGALRM else f"time limit {TOTAL_SECONDS} s")


# ---- packages ------------------------------------------------------------------------------


def missing_programs():
    return [p for p in PROGRAMS if not shutil.which(p, path=os.environ["PATH"] + ":/usr/sbin:/sbin")]


def ensure_packages():
    """Installs Debian's packages when programs are missing. Returns None, or
    why they cannot be had (the test is then skipped)."""
    if not missing_programs():
        return None
    if not shutil.which("apt-get"):
        return f"missing {missing_programs()} and no apt-get to install {PACKAGES}"
    say(f"installing {' '.join(PACKAGES)} with apt-get (missing: {missing_programs()})")
    # no daemon of the system's own configuration is started by the install
    policy = "/usr/sbin/policy-rc.d"
    made_policy = not os.path.exists(policy)
    if made_policy:
        with open(policy, "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(policy, 0o755)
    try:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends"] + PACKAGES
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=300)
            p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            return f"apt-get install {' '.join(PACKAGES)} failed: {(p.stdout + p.stderr)[-800:]}"
    except subprocess.TimeoutExpired:
        return "apt-get timed out"
    finally:
        if made_policy:
            os.unlink(policy)
    if missing_programs():
        return f"still missing after apt-get: {missing_programs()}"
    return None


# ---- the cluster -----------------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent():
    """preexec_fn: the daemon gets SIGTERM if this test process dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Cluster:
    def __init__(self, tmp):
        self.tmp = tmp
        self.daemons = []  # Popen, in start order
        self.conf = os.path.join(tmp, "slurm.conf")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_",
                                                                         "SRUN_", "SALLOC_"))}
        env.update(SLURM_CONF=self.conf, OMPI_ALLOW_RUN_AS_ROOT="1",
                   OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", NNSWEEP=NNSWEEP)
        env["PATH"] = env.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin"
        self.env = env
        self.host = socket.gethostname().split(".")[0]

    def path(self, *p):
        return os.path.join(self.tmp, *p)

    def start(self):
        t = self.path
        for d in ("munge", "state", "spool", "log", "run", "dev", "jobs"):
            os.makedirs(t(d), exist_ok=True)
        os.chmod(t("munge"), 0o700)
        with open(t("munge", "munge.key"), "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(t("munge", "munge.key"), 0o400)
        sock = t("munge", "sock")
        self.spawn("munged", ["munged", "-F", "--force", f"--key-file={t('munge', 'munge.key')}",
                              f"--socket={sock}", f"--pid-file={t('munge', 'pid')}",
                              f"--log-file={t('log', 'munged.log')}",
                              f"--seed-file={t('munge', 'seed')}"])
        wait_until(lambda: os.path.exists(sock), 20, "munged's socket")
        # two fake GPUs for gpu.sbatch: character devices (CUDA_VISIBLE_DEVICES
        # is then set), else plain files (slurmd complains but counts them)
        for i in range(2):
            dev = t("dev", f"nvidia{i}")
            try:
                os.mknod(dev, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
            except OSError:
                open(dev, "w").close()
        with open(t("gres.conf"), "w") as f:
            f.write(f"AutoDetect=off\nName=gpu File={t('dev')}/nvidia[0-1]\n")
        cpus = max(os.cpu_count() or 1, 6)
        with open(self.conf, "w") as f:
            f.write(f"""# one-node test cluster (tests/integration/test_slurm.py)
ClusterName=nnsweeptest
SlurmctldHost={self.host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
AuthType=auth/munge
AuthInfo=socket={sock},cred_expire={CRED_EXPIRE}
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
# a requeued job becomes eligible after cred_expire: look every 2 s, not 60
SchedulerParameters=sched_interval=2
MpiDefault=none
JobRequeue=1
KillWait={KILL_WAIT}
ReturnToService=2
MailProg=/bin/true
StateSaveLocation={t('state')}
SlurmdSpoolDir={t('spool')}
SlurmctldPidFile={t('run', 'slurmctld.pid')}
SlurmdPidFile={t('run', 'slurmd.pid')}
SlurmctldLogFile={t('log', 'slurmctld.log')}
SlurmdLogFile={t('log', 'slurmd.log')}
# more CPUs than the machine has, so that rank 0 + 2 workers fit on 2 cores
SlurmdParameters=config_overrides
GresTypes=gpu
NodeName={self.host} NodeAddr=127.0.0.1 CPUs={cpus} Gres=gpu:2 State=UNKNOWN
PartitionName=test Nodes={self.host} Default=YES MaxTime=INFINITE State=UP
""")
        self.spawn("slurmctld", ["slurmctld", "-D", "-f", self.conf])
        self.spawn("slurmd", ["slurmd", "-D", "-f", self.conf])

        def node_idle():
            out = self.run(["sinfo", "-h", "-N", "-o", "%T"], check=False)
            return out.strip() in ("idle", "mixed")
        if not wait_until(node_idle, 60, "the node idle"):
            raise Stop("the cluster did not come up: " +
                       self.run(["sinfo", "-N", "-o", "%N %T %E"], check=False))
        out = self.run(["srun", "--mpi=list"], check=False)
        check("pmix" in out, f"srun supports --mpi=pmix ({' '.join(out.split())[:200]})")

    def spawn(self, name, argv):
        log = open(self.path("log", f"{name}.stdout"), "w")
        p = subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                             preexec_fn=die_with_parent)
        log.close()
        self.daemons.append((name, p))
        time.sleep(0.3)
        if p.poll() is not None:
            raise Stop(f"{name} exited at once ({p.returncode}): {self.tail(name)}")

    def run(self, argv, check=True, timeout=60):
        p = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise Stop(f"{' '.join(argv)}: exit {p.returncode}: {p.stderr.strip()[:500]}")
        return p.stdout + p.stderr

    def tail(self, name, n=3000):
        out = ""
        for f in (f"{name}.log", f"{name}.stdout"):
            try:
                with open(self.path("log", f), errors="replace") as fh:
                    out += fh.read()[-n:]
            except OSError:
                pass
        return out

    def our_pids(self):
        """Processes that carry this cluster's SLURM_CONF in their environment:
        slurmstepd, job scripts, srun and the ranks, all started here."""
        mark = f"SLURM_CONF={self.conf}".encode()
        pids = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if mark in f.read().split(b"\0"):
                        pids.append(int(pid))
            except OSError:
                continue
        return pids

    def stop(self):
        """Cancels every job, stops the daemons this test started and any
        process of theirs still alive. Never raises."""
        try:
            if self.daemons and self.daemons[-1][1].poll() is None:
                self.run(["scancel", "--user=root"], check=False, timeout=20)
                wait_until(lambda: not self.run(["squeue", "-h"], check=False, timeout=20).strip(),
                           KILL_WAIT + 20, "jobs ended", quiet=True)
        except Exception as e:  # noqa: BLE001 - go on stopping
            say(f"  (cleanup: {e})")
        for name, p in reversed(self.daemons):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for _ in range(2):
            for pid in self.our_pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.5)
        left = self.our_pids()
        say(f"cluster stopped: {len(self.daemons)} daemons, "
            f"{'no process left' if not left else f'processes left: {left}'}")

    # ---- jobs ----

    def sbatch(self, name, script, sbatch_opts, args, env=None):
        out = self.path("jobs", f"{name}.out")
        argv = (["sbatch", "--parsable", f"--chdir={self.path('jobs')}", f"--output={out}",
                 f"--job-name={name}"] + sbatch_opts + [os.path.join(SRC, "slurm", script)] + args)
        p = subprocess.run(argv, env=dict(self.env, **(env or {})), capture_output=True, text=True,
                           timeout=60)
        if p.returncode != 0:
            raise Stop(f"sbatch failed: {p.stderr.strip()}")
        job = p.stdout.strip().split(";")[0]
        say(f"  submitted {script} as job {job}: {' '.join(args)}")
        return job, out

    def job(self, job):
        """JobState, Restarts, ExitCode, ... of a job, from scontrol."""
        out = self.run(["scontrol", "show", "job", "-o", job], check=False)
        return dict(re.findall(r"(\w+)=(\S*)", out))

    def wait_job(self, job, timeout, states=("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT",
                                            "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL")):
        info = {}

        def ended():
            nonlocal info
            info = self.job(job)
            return info.get("JobState") in states
        wait_until(ended, timeout, f"job {job} in {'/'.join(states[:2])}...")
        return info


def wait_until(pred, timeout, what, quiet=False):
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            if pred():
                return True
        except Exception:  # noqa: BLE001 - the results file is being created or replaced
            pass
        time.sleep(0.25)
    if not quiet:
        check(False, f"{what} within {timeout} s")
    return False


# ---- results ---------------------------------------------------------------------------------


def h5():
    import h5py  # noqa: PLC0415 - only once the test runs
    return h5py


def summary(path):
    with h5().File(path, "r", libver="latest", swmr=True) as f:
        s = f["summary"][()]
    return [{k: (v.decode() if isinstance(v, bytes) else v) for k, v in zip(s.dtype.names, row)}
            for row in s]


def metrics(path, run_ids):
    """{run_id: every /metrics row of its current attempt, in table order} -
    the raw table (results.h, schema 2), duplicates and all."""
    with h5().File(path, "r", libver="latest", swmr=True) as f:
        s, m = f["summary"][()], f["metrics"][()]
    at = {row["run_id"].decode(): i for i, row in enumerate(s)}
    return {r: m[(m["run"] == at[r]) & (m["attempt"] == s[at[r]]["attempt"])] for r in run_ids}


def check_exactly_once(path, n_runs, what):
    """Every run once in the summary and done; its metrics rows exactly
    epochs 0..epochs; the file closed cleanly (a plain open works)."""
    rows = summary(path)
    ids = [r["run_id"] for r in rows]
    check(len(ids) == len(set(ids)) == n_runs,
          f"{what}: {n_runs} distinct runs in the summary ({len(ids)}, {len(set(ids))} distinct)")
    check(all(r["status"] == "done" for r in rows),
          f"{what}: every run done ({sorted(set(r['status'] for r in rows))})")
    bad = []
    for rid, m in metrics(path, ids).items():
        r = next(x for x in rows if x["run_id"] == rid)
        if list(m["epoch"]) != list(range(r["epochs"] + 1)) or r["epochs_done"] != r["epochs"]:
            bad.append((rid, list(m["epoch"]), r["epochs_done"]))
    check(not bad, f"{what}: every run's metrics rows are epochs 0..epochs, each once {bad[:3]}")
    try:
        with h5().File(path, "r") as f:
            check(len(f["summary"]) == n_runs, f"{what}: the file was closed cleanly (plain open)")
    except OSError as e:
        check(False, f"{what}: the file was closed cleanly (plain open: {e})")
    check(not os.path.exists(path + ".lock") and not os.path.exists(path + ".partial"),
          f"{what}: no side files left")
    return rows


def read_trace(path):
    """[(kind, run_id, ...)] from the workers' logs in directory path
    (`nnsweep sweep --worker-log`)."""
    out = []
    if os.path.isdir(path):
        for name in sorted(os.listdir(path)):
            with open(os.path.join(path, name)) as f:
                out += [line.split() for line in f if line.strip()]
    return out


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


CPU_OPTS = ["--ntasks-per-node=3", "--cpus-per-task=1", "--time=15"]


# ---- cases -----------------------------------------------------------------------------------


def case_exactly_once(c):
    say("exactly_once")
    sweep = c.path("jobs", "once.yaml")
    sweep_yaml(sweep, "once", 3, 2, 800)
    out = c.path("jobs", "once.h5")
    trace = c.path("jobs", "once.logs")
    job, log = c.sbatch("once", "cpu.sbatch", CPU_OPTS,
                        [sweep, "--out", out, "--data", DATA, "--progress", "1",
                         "--worker-log", trace])
    info = c.wait_job(job, 180)
    text = read(log)
    say(text[-2500:])
    check(info.get("JobState") == "COMPLETED" and info.get("ExitCode") == "0:0",
          f"job {job} COMPLETED with exit 0:0 ({info.get('JobState')}, {info.get('ExitCode')})")
    check("srun --mpi=pmix --ntasks=3" in text and "rank 0 + 2 workers" in text,
          "the script launched rank 0 + 2 workers with srun --mpi=pmix")
    rows = check_exactly_once(out, 6, "exactly_once")
    check({r["worker_rank"] for r in rows} == {1, 2}, "both workers trained runs")
    tr = read_trace(trace)
    results = [t[1] for t in tr if t[0] == "result"]
    check(sorted(results) == sorted(r["run_id"] for r in rows),
          f"every run trained once, by one worker ({len(results)} results sent)")
    sent = {(t[1], int(t[2])): [float(x) for x in t[3:]] for t in tr if t[0] == "epoch"}
    fields = ["train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss",
              "test_accuracy", "top_accuracy", "learning_rate"]
    import numpy as np  # noqa: PLC0415
    same = True
    n_rows = 0
    for rid, m in metrics(out, [r["run_id"] for r in rows]).items():
        for row in m:
            n_rows += 1
            want = sent.get((rid, int(row["epoch"])))
            got = [float(row[k]) for k in fields]
            same &= want is not None and np.array_equal(np.array(got), np.array(want),
                                                         equal_nan=True)
    check(same and n_rows == len(sent), f"the file's {n_rows} metrics rows equal what the workers "
                                        f"sent ({len(sent)})")


def start_long(c, name):
    """8 runs of a few seconds each on 2 workers (about 20 s in all)."""
    sweep = c.path("jobs", f"{name}.yaml")
    sweep_yaml(sweep, name, 4, 3, 8000, widths="[[256], [128, 64]]")
    out = c.path("jobs", f"{name}.h5")
    trace = c.path("jobs", f"{name}.logs")
    job, log = c.sbatch(name, "cpu.sbatch", CPU_OPTS,
                        [sweep, "--out", out, "--data", DATA, "--progress", "2",
                         "--worker-log", trace])
    return job, log, out, trace


def wait_mid_run(c, job, out):
    """Until one run has finished and another has epoch rows but is not
    finished: the stop then lands in the middle of a run."""
    def mid():
        if c.job(job).get("JobState") != "RUNNING" or not os.path.exists(out):
            return False
        rows = summary(out)
        done = [r for r in rows if r["status"] == "done"]
        running = [r for r in rows if r["status"] == "running" and r["epochs_done"] >= 1]
        return len(done) >= 1 and len(running) >= 1
    return wait_until(mid, 180, f"job {job}: a run done and another mid-way")


def check_resumed(c, name, job, log, out, trace, before, first_stop, clean=True):
    """After the stop: the job comes back (Restarts=1) and finishes; clean:
    the first run of the job stopped cleanly, else the second repaired."""
    info = c.wait_job(job, 240)
    text = read(log)
    say(text[-3000:])
    check(info.get("JobState") == "COMPLETED" and info.get("Restarts") == "1",
          f"job {job} came back once and COMPLETED (state {info.get('JobState')}, "
          f"restarts {info.get('Restarts')}, exit {info.get('ExitCode')})")
    first = text.split("(restart 1)")[0]
    check(first_stop in first, f"first run of the job: {first_stop!r}")
    second = text.split("(restart 1)")[-1]
    if clean:
        check("stopped by a signal" in first and "closed cleanly" in first,
              "first run of the job: rank 0 stopped cleanly and closed the file")
    else:
        check("was not closed cleanly" in second and "repaired" in second,
              "second run of the job: the file of the killed writer was repaired")
    check("(restart 1)" in text and "already finished" in second,
          "second run of the job: resumed the same file")
    rows = check_exactly_once(out, 8, name)
    after = metrics(out, list(before))
    import numpy as np  # noqa: PLC0415
    same = all(after[r].shape == before[r].shape and all(
        np.array_equal(after[r][k], before[r][k], equal_nan=after[r][k].dtype.kind == "f")
        for k in after[r].dtype.names) for r in before)
    check(bool(before) and same, f"the {len(before)} runs done before the stop were not rerun")
    done = {}
    for t in read_trace(trace):
        if t[0] == "result" and t[2] == "done":
            done[t[1]] = done.get(t[1], 0) + 1
    if clean:
        check(sorted(done) == sorted(r["run_id"] for r in rows) and set(done.values()) == {1},
              "every run finished done exactly once across both runs of the job")
        return
    # kill -9 of rank 0: a result a worker had sent (and traced) but rank 0
    # had not written yet is lost with it, and the run is done again after
    # the requeue; a worker then waits for rank 0, so at most one per worker
    twice = sorted(r for r, n in done.items() if n == 2)
    check(sorted(done) == sorted(r["run_id"] for r in rows) and set(done.values()) <= {1, 2}
          and len(twice) <= 2 and not set(twice) & set(before),
          f"every run finished done once across both runs of the job, or twice where its "
          f"first result was in flight when rank 0 was killed (at most one per worker; "
          f"twice: {twice})")


def case_requeue(c):
    say("requeue (preemption)")
    job, log, out, trace = start_long(c, "requeue")
    if not wait_mid_run(c, job, out):
        return
    before = metrics(out, [r["run_id"] for r in summary(out) if r["status"] == "done"])
    c.run(["scontrol", "requeue", job])
    say(f"  scontrol requeue {job} with {len(before)} runs done")
    check_resumed(c, "requeue", job, log, out, trace, before, "DUE TO JOB REQUEUE")


def rank_pid(job, rank):
    """pid of MPI rank `rank` (SLURM_PROCID) of the job's step, or None."""
    want = {b"SLURM_JOB_ID=" + job.encode(), b"SLURM_PROCID=" + str(rank).encode()}
    exe = os.path.realpath(NNSWEEP)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.path.realpath(f"/proc/{pid}/exe") != exe:
                continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                if want <= set(f.read().split(b"\0")):
                    return int(pid)
        except OSError:
            continue
    return None


def case_kill9(c):
    say("kill9 (rank 0 killed, then requeued by hand)")
    job, log, out, trace = start_long(c, "kill9")
    if not wait_mid_run(c, job, out):
        return
    pid = rank_pid(job, 0)
    if not check(pid is not None, f"found rank 0 of job {job}"):
        return
    before = metrics(out, [r["run_id"] for r in summary(out) if r["status"] == "done"])
    os.kill(pid, signal.SIGKILL)
    say(f"  kill -9 of rank 0 (pid {pid}) with {len(before)} runs done")
    info = c.wait_job(job, 60)
    check(info.get("JobState") == "FAILED", f"the job failed ({info.get('JobState')}, "
                                            f"{info.get('ExitCode')})")
    rows = summary(out)
    check(any(r["status"] == "running" for r in rows),
          "the killed writer left runs marked running (SWMR read still works)")
    c.run(["scontrol", "requeue", job])
    say(f"  scontrol requeue {job}")
    check_resumed(c, "kill9", job, log, out, trace, before, "Killed", clean=False)


def case_warning(c):
    say("warning (time limit: --signal=B:USR2)")
    job, log, out, trace = start_long(c, "warning")
    if not wait_mid_run(c, job, out):
        return
    before = metrics(out, [r["run_id"] for r in summary(out) if r["status"] == "done"])
    c.run(["scancel", "--batch", "--signal=USR2", job])
    say(f"  SIGUSR2 to the batch script of job {job} with {len(before)} runs done")
    check_resumed(c, "warning", job, log, out, trace, before, "SIGUSR2")
    text = read(log)
    check("requeueing job" in text, "the script requeued the job itself")


def real_gpus():
    """GPUs nvidia-smi lists on this machine (0 without it)."""
    try:
        p = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
        return sum(1 for ln in p.stdout.splitlines() if ln.startswith("GPU "))
    except (OSError, subprocess.TimeoutExpired):
        return 0


def case_gpu_script(c):
    say("gpu_script")
    sweep = c.path("jobs", "gpu.yaml")
    sweep_yaml(sweep, "gpu", 1, 1, 200)
    out = c.path("jobs", "gpu.h5")
    job, log = c.sbatch("gpu", "gpu.sbatch", ["--gpus-per-node=2", "--ntasks-per-node=3",
                                              "--cpus-per-task=1", "--time=5"],
                        [sweep, "--out", out, "--data", DATA])
    info = c.wait_job(job, 120)
    text = read(log)
    say(text[-2000:])
    check("3 tasks (rank 0 + 2 workers), 2 GPU(s) per node" in text and "--ntasks=3" in text,
          "gpu.sbatch: 2 GPUs x 1 worker per GPU -> srun of rank 0 + 2 workers")
    if real_gpus() >= 2:
        say("  (this machine has 2 real GPUs: the refusal of the fake ones is not checked)")
    else:
        check("NNSWEEP_GPUS=2" in text and ("built without the CUDA backend" in text or
                                             re.search(r"sees [01] \(", text) is not None),
              "the workers say why they cannot use the job's GPUs")
        check("2 ranks cannot train" in text and "nothing was written" in text,
              "rank 0 groups the two workers' message and writes nothing")
        check(info.get("JobState") == "FAILED" and info.get("ExitCode") == "2:0",
              f"the job fails with exit 2 ({info.get('JobState')}, {info.get('ExitCode')})")
        check(not os.path.exists(out), "no results file was created")

    job, log = c.sbatch("gpu_tasks", "gpu.sbatch", ["--gpus-per-node=2", "--ntasks-per-node=3",
                                                    "--cpus-per-task=1", "--time=5"],
                        [sweep, "--out", out, "--data", DATA], env={"NNSWEEP_WORKERS_PER_GPU": "2"})
    info = c.wait_job(job, 60)
    text = read(log)
    check("need 5 tasks (rank 0 + 4 workers) but the job has 3" in text and
          "--ntasks-per-node=5" in text and info.get("ExitCode") == "2:0",
          f"too few tasks for 2 workers per GPU: {text.strip()[-300:]!r}")


def case_bad_data(c):
    say("bad_data")
    sweep = c.path("jobs", "bad.yaml")
    sweep_yaml(sweep, "bad", 1, 1, 200)
    out = c.path("jobs", "bad.h5")
    job, log = c.sbatch("bad_data", "cpu.sbatch", CPU_OPTS,
                        [sweep, "--out", out, "--data", c.path("no-such-dataset")])
    info = c.wait_job(job, 120)
    text = read(log)
    say(text[-1500:])
    check("2 ranks cannot train" in text and "cannot read the dataset" in text and
          "every node sees" in text, "the workers' hello says the dataset cannot be read, and why")
    check(info.get("ExitCode") == "2:0" and not os.path.exists(out),
          f"exit 2, nothing written ({info.get('JobState')}, {info.get('ExitCode')})")

    job, log = c.sbatch("bad_fs", "cpu.sbatch", CPU_OPTS,
                        [sweep, "--out", out, "--data", DATA],
                        env={"NNSWEEP_TEST_FS_TYPE": "6969"})
    info = c.wait_job(job, 120)
    text = read(log)
    say(text[-1500:])
    check("is on NFS" in text and "POSIX write ordering" in text and
          "NNSWEEP_ALLOW_UNSAFE_FS=1" in text, "a results file on NFS is refused with why and what to do")
    check(info.get("ExitCode") == "2:0" and not os.path.exists(out) and
          not os.path.exists(out + ".lock"),
          f"exit 2, nothing written ({info.get('JobState')}, {info.get('ExitCode')})")


def main():
    if os.geteuid() != 0:
        say("SKIP: needs root (slurmd runs as root; the packages are installed with apt-get)")
        sys.exit(SKIP)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM):
        signal.signal(s, on_signal)
    signal.alarm(TOTAL_SECONDS)
    t0 = time.time()
    try:
        why = ensure_packages()
    except Stop as e:
        say(f"FAILED: installing {' '.join(PACKAGES)}: {e}")
        sys.exit(1)
    if why:
        say(f"SKIP: Slurm cannot be had here: {why}")
        sys.exit(SKIP)
    tmp = tempfile.mkdtemp(prefix="nnsweep-slurm-")
    cluster = Cluster(tmp)
    try:
        cluster.start()
        say(f"cluster up in {time.time() - t0:.1f} s ({tmp}, {cluster.host})")
        for case in CASES:
            t1 = time.time()
            {"exactly_once": case_exactly_once, "requeue": case_requeue, "kill9": case_kill9,
             "warning": case_warning, "gpu_script": case_gpu_script,
             "bad_data": case_bad_data}[case](cluster)
            say(f"  ({case}: {time.time() - t1:.0f} s)")
    except Stop as e:
        check(False, f"stopped: {e}")
    except Exception as e:  # noqa: BLE001 - report, then clean up
        check(False, f"{type(e).__name__}: {e}")
        raise
    finally:
        signal.alarm(0)
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)  # the cleanup runs to its end (bounded)
        if failures:
            for name in ("slurmctld", "slurmd", "munged"):
                say(f"---- {name} (tail) ----\n{cluster.tail(name, 2500)}")
        cluster.stop()
        if os.environ.get("NNSWEEP_KEEP_TMP"):
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    say(f"total {time.time() - t0:.0f} s")
    if failures:
        say(f"FAILED: {len(failures)} checks")
        for f in failures:
            say("  - " + f)
        sys.exit(1)
    say("ok")


if __name__ == "__main__":
    main()
