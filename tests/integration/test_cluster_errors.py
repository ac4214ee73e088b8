#!/usr/bin/env python3
"""The errors users meet on a cluster, without a cluster: `nnsweep sweep`
under mpirun, and the sbatch scripts of slurm/ run by bash with a faked
Slurm environment (NNSWEEP_DRY_RUN=1 prints the srun line instead of running
it). tests/integration/test_slurm.py runs the same scripts on a real Slurm.

  dataset     one rank cannot read the dataset: it says why (and that every
              node must see the dataset) and gets no runs, the others finish
              the sweep; no rank can: exit 2, one grouped message, nothing
              written
  gpus        NNSWEEP_GPUS (what slurm/gpu.sbatch sets) asks for more GPUs
              than a worker sees, or for GPUs from a build without CUDA: the
              worker says why, exit 2, nothing written; a bad value too
  unsafe_fs   a results file on NFS / SMB2 (statfs faked through
              NNSWEEP_TEST_FS_TYPE): exit 2, why and what to do, nothing
              written (alone and under mpirun; an existing file byte-for-byte
              unchanged); NNSWEEP_ALLOW_UNSAFE_FS=1 writes anyway
  scripts     cpu.sbatch and gpu.sbatch: their common part is identical; the
              srun line (tasks = rank 0 + GPUs x NNSWEEP_WORKERS_PER_GPU,
              --mpi=pmix, --resume, --threads, --grace); the refusals: no
              GPUs, too few tasks, nvidia-smi listing fewer GPUs than Slurm
              gave, a bad NNSWEEP_WORKERS_PER_GPU, not in a job, no nnsweep
              program, no sweep file; shellcheck when it is installed

usage: test_cluster_errors.py NNSWEEP DATA_DIR SOURCE_DIR [CASE ...]
Needs python3-h5py (run with /usr/bin/python3) and Open MPI's mpirun.
"""
import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile

import h5py

NNSWEEP, DATA, SRC = (os.path.abspath(p) for p in sys.argv[1:4])
CASES = sys.argv[4:] or ["dataset", "gpus", "unsafe_fs", "scripts"]
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
HOST = socket.gethostname()
failures = []


def check(cond, what):
    print(("  ok: " if cond else "  FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def run(cmd, env=None, timeout=300):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env or ENV)
    return p.returncode, p.stdout, p.stderr


def sweep_cmd(sweep, out, data=DATA):
    return [NNSWEEP, "sweep", sweep, "--out", out, "--data", data, "--threads", "1", "--quiet"]


def mpirun(n, args, extra=()):
    return ["mpirun", "--oversubscribe", "--bind-to", "none", *extra, "-np", str(n)] + args


def write_sweep(path, name, n_runs=4):
    lrs = ", ".join(str(0.01 * (k + 1)) for k in range(n_runs))
    with open(path, "w") as f:
        f.write(f"""name: {name}
method: grid
parameters:
  hidden_layers: {{value: [16]}}
  learning_rate: {{values: [{lrs}]}}
  epochs: {{value: 1}}
  train_images: {{value: 300}}
  test_images: {{value: 100}}
  batch_size: {{value: 50}}
""")


def nothing_written(out):
    d = os.path.dirname(out)
    return not any(f.startswith(os.path.basename(out)) for f in os.listdir(d))


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def summary(path):
    with h5py.File(path, "r") as f:
        s = f["summary"][()]
    return [{k: (v.decode() if isinstance(v, bytes) else v) for k, v in zip(s.dtype.names, row)}
            for row in s]


def case_dataset(tmp):
    print("dataset")
    sweep = os.path.join(tmp, "ds.yaml")
    write_sweep(sweep, "ds")
    out = os.path.join(tmp, "ds.h5")
    bad = os.path.join(tmp, "no-such-dataset")
    # MPMD: ranks 0-2 see the dataset, rank 3 is given a directory that does not exist
    code, so, se = run(mpirun(3, sweep_cmd(sweep, out)) + [":", "-np", "1"] +
                       sweep_cmd(sweep, out, data=bad))
    print(se.strip()[-1200:])
    check(code == 0, f"the sweep goes on without the rank that cannot read the dataset (exit {code})")
    check(f"rank 3 on {HOST} cannot train and gets no runs: cannot read the dataset: "
          f"dataset directory {bad}" in se, "rank 3 says it cannot read the dataset, and where")
    check("every node sees at the same path" in se and "--data" in se,
          "the message says every node must see the dataset and how to give it")
    check("going on with the 2 of 3 worker ranks that can train" in se,
          "rank 0 says it goes on with the others")
    rows = summary(out)
    check(len(rows) == 4 and all(r["status"] == "done" for r in rows) and
          {r["worker_rank"] for r in rows} <= {1, 2}, "every run done, none by rank 3")

    out2 = os.path.join(tmp, "ds2.h5")
    code, so, se = run(mpirun(4, sweep_cmd(sweep, out2, data=bad)))
    print(se.strip()[-800:])
    lines = [ln for ln in se.splitlines() if "cannot train" in ln]
    check(code == 2, f"no rank can read the dataset: exit 2 (got {code})")
    check(len(lines) == 1 and f"3 ranks cannot train and get no runs (1, 2, 3 on {HOST})" in lines[0],
          f"one grouped line for the 3 ranks with the same reason ({len(lines)} lines)")
    check("nothing was written" in se and nothing_written(out2), "nothing was written")


def case_gpus(tmp):
    print("gpus")
    sweep = os.path.join(tmp, "gpu.yaml")
    write_sweep(sweep, "gpu", 1)
    out = os.path.join(tmp, "gpu.h5")
    # more GPUs than any machine here has
    code, so, se = run(mpirun(3, sweep_cmd(sweep, out), ["-x", "NNSWEEP_GPUS=64"]))
    print(se.strip()[-800:])
    check(code == 2, f"NNSWEEP_GPUS=64: exit 2 (got {code})")
    check("the job asks for 64 GPUs per node (NNSWEEP_GPUS=64)" in se and
          ("built without the CUDA backend" in se or
           re.search(r"sees [0-9] \(CUDA_VISIBLE_DEVICES=", se) is not None),
          "the workers say the job's GPUs are not there for them, and why")
    check("nothing was written" in se and nothing_written(out), "nothing was written")
    code, so, se = run(mpirun(2, sweep_cmd(sweep, out), ["-x", "NNSWEEP_GPUS=four"]))
    line = next((ln for ln in se.splitlines() if "NNSWEEP_GPUS=four" in ln), "")
    check(code == 2 and "NNSWEEP_GPUS=four: expected the number of GPUs" in line,
          f"a bad NNSWEEP_GPUS is named ({line.strip()[:200]!r})")
    code, so, se = run(mpirun(2, sweep_cmd(sweep, out), ["-x", "NNSWEEP_GPUS=0"]))
    check(code == 0, f"NNSWEEP_GPUS=0 asks for nothing: the sweep runs (exit {code})")


def case_unsafe_fs(tmp):
    print("unsafe_fs")
    sweep = os.path.join(tmp, "fs.yaml")
    write_sweep(sweep, "fs", 2)
    d = os.path.join(tmp, "fsdir")
    os.makedirs(d)
    out = os.path.join(d, "fs.h5")
    nfs = dict(ENV, NNSWEEP_TEST_FS_TYPE="6969")
    code, so, se = run(sweep_cmd(sweep, out), env=nfs)
    print(se.strip())
    check(code == 2, f"results file on NFS: exit 2 (got {code})")
    check(f"{out}: {d} is on NFS" in se and "POSIX write ordering" in se and
          "local disk" in se and "NNSWEEP_ALLOW_UNSAFE_FS=1" in se,
          "the message says where, why, what to do and how to override")
    check(os.listdir(d) == [], "nothing was written (no file, lock or copy)")
    code, so, se = run(sweep_cmd(sweep, out), env=dict(ENV, NNSWEEP_TEST_FS_TYPE="FE534D42"))
    check(code == 2 and "is on SMB2" in se, f"SMB2 is refused too ({se.strip()[:120]!r})")
    code, so, se = run(mpirun(3, sweep_cmd(sweep, out), ["-x", "NNSWEEP_TEST_FS_TYPE=6969"]))
    check(code == 2 and "is on NFS" in se and os.listdir(d) == [],
          f"under mpirun: exit 2, nothing written (exit {code})")
    # the real statfs of this directory (a local file system) passes
    code, so, se = run(sweep_cmd(sweep, out))
    check(code == 0, f"the same directory without the fake: exit 0 ({se.strip()[-200:]})")
    digest = sha(out)
    code, so, se = run(sweep_cmd(sweep, out) + ["--resume"], env=nfs)
    check(code == 2 and sha(out) == digest and sorted(os.listdir(d)) == ["fs.h5"],
          "--resume of an existing file on NFS: refused, the file byte-for-byte unchanged")
    os.unlink(out)
    code, so, se = run(sweep_cmd(sweep, out), env=dict(nfs, NNSWEEP_ALLOW_UNSAFE_FS="1"))
    check(code == 0 and len(summary(out)) == 2,
          f"NNSWEEP_ALLOW_UNSAFE_FS=1 writes anyway (exit {code})")


# ---- the sbatch scripts ----------------------------------------------------------------------


def fake_program(d, name, text):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "w") as f:
        f.write("#!/bin/sh\n" + text)
    os.chmod(os.path.join(d, name), 0o755)
    return d


def script(tmp, name, args, env, fake_bin=None, kill_wait=30):
    """Runs slurm/<name> with bash as Slurm would, in a job described by env,
    with an scontrol that reports KillWait = kill_wait."""
    e = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SRUN_"))}
    e.update(NNSWEEP=NNSWEEP, NNSWEEP_DRY_RUN="1", SLURM_CONF=os.path.join(tmp, "no-slurm.conf"))
    e.pop("CUDA_VISIBLE_DEVICES", None)
    bin_dir = fake_program(os.path.join(tmp, f"scontrol-{kill_wait}"), "scontrol",
                           f'[ "$*" = "show config" ] && echo "KillWait                = {kill_wait} sec"\n')
    e["PATH"] = ":".join(filter(None, [fake_bin, bin_dir, e.get("PATH", "/usr/bin:/bin")]))
    e.update(env)
    p = subprocess.run(["bash", os.path.join(SRC, "slurm", name)] + args, env=e,
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def case_scripts(tmp):
    print("scripts")
    cpu, gpu = (os.path.join(SRC, "slurm", n) for n in ("cpu.sbatch", "gpu.sbatch"))
    marker = "# ---- common to cpu.sbatch and gpu.sbatch"
    bodies = []
    for p in (cpu, gpu):
        with open(p) as f:
            text = f.read()
        bodies.append(text[text.find(marker):] if marker in text else None)
        check(os.access(p, os.X_OK), f"{os.path.basename(p)} is executable")
        for opt in ("--requeue", "--signal=B:USR2@120", "--open-mode=append"):
            check(f"#SBATCH {opt}" in text, f"{os.path.basename(p)} has #SBATCH {opt}")
    check(bodies[0] is not None and bodies[0] == bodies[1],
          "the common part of cpu.sbatch and gpu.sbatch is identical")

    job = {"SLURM_JOB_ID": "42", "SLURM_JOB_NUM_NODES": "1", "SLURM_NTASKS": "9",
           "SLURM_CPUS_PER_TASK": "4", "SLURM_JOB_NODELIST": "n1"}
    code, out = script(tmp, "cpu.sbatch", ["a.yaml", "--out", "r.h5", "--data", "d"], job)
    print(out.strip())
    check(code == 0 and "9 tasks (rank 0 + 8 workers); results r.h5" in out,
          "cpu.sbatch: every task of the job, rank 0 + 8 workers")
    check(f"srun --mpi=pmix --ntasks=9 --kill-on-bad-exit=1 --cpus-per-task=4 {NNSWEEP} sweep "
          "--resume --threads 4 --grace 20 a.yaml --out r.h5 --data d" in out,
          "cpu.sbatch: srun --mpi=pmix, --cpus-per-task passed on, --resume --threads --grace "
          "before the user's arguments")

    code, out = script(tmp, "cpu.sbatch", ["a.yaml"], job, kill_wait=12)
    check(code == 0 and "--grace 8 a.yaml" in out,
          "--grace fits in Slurm's KillWait (12 s -> 8 s; 30 s -> the default 20 s)")

    gjob = dict(job, SLURM_JOB_NUM_NODES="2", SLURM_NTASKS="10", SLURM_GPUS_ON_NODE="4")
    code, out = script(tmp, "gpu.sbatch", ["a.yaml", "--out=g.h5"], gjob)
    print(out.strip())
    check(code == 0 and "9 tasks (rank 0 + 8 workers), 4 GPU(s) per node; results g.h5" in out
          and "--ntasks=9 " in out, "gpu.sbatch: 2 nodes x 4 GPUs -> rank 0 + 8 workers")
    code, out = script(tmp, "gpu.sbatch", ["a.yaml"], dict(gjob, NNSWEEP_WORKERS_PER_GPU="2",
                                                             SLURM_NTASKS="18"))
    check(code == 0 and "--ntasks=17 " in out, "gpu.sbatch: 2 workers per GPU -> 1 + 2 x 4 x 2 tasks")
    code, out = script(tmp, "gpu.sbatch", ["a.yaml"], dict(gjob, NNSWEEP_WORKERS_PER_GPU="2"))
    print(out.strip())
    check(code == 2 and "need 17 tasks (rank 0 + 16 workers) but the job has 10" in out and
          "--ntasks-per-node=9" in out, "gpu.sbatch: too few tasks, with what to submit")
    code, out = script(tmp, "gpu.sbatch", ["a.yaml"], dict(gjob, NNSWEEP_WORKERS_PER_GPU="0"))
    check(code == 2 and "NNSWEEP_WORKERS_PER_GPU='0': expected an integer >= 1" in out,
          "gpu.sbatch: a bad NNSWEEP_WORKERS_PER_GPU")
    nogpu = {k: v for k, v in gjob.items() if k != "SLURM_GPUS_ON_NODE"}
    code, out = script(tmp, "gpu.sbatch", ["a.yaml"], nogpu)
    print(out.strip())
    check(code == 2 and "this job has no GPUs: submit with --gpus-per-node=N" in out,
          "gpu.sbatch: a job without GPUs, with what to submit")
    code, out = script(tmp, "gpu.sbatch", ["a.yaml"], dict(nogpu, CUDA_VISIBLE_DEVICES="0,1"))
    check(code == 0 and "5 tasks (rank 0 + 4 workers), 2 GPU(s) per node" in out,
          "gpu.sbatch: GPUs counted from CUDA_VISIBLE_DEVICES when Slurm does not say")
    fake = fake_program(os.path.join(tmp, "fakebin"), "nvidia-smi",
                        "echo 'GPU 0: Fake GPU (UUID: GPU-0)'\necho 'GPU 1: Fake GPU (UUID: GPU-1)'\n")
    code, out = script(tmp, "gpu.sbatch", ["a.yaml"], gjob, fake_bin=fake)
    print(out.strip())
    check(code == 2 and "gave this job 4 GPU(s) per node but nvidia-smi on" in out and
          "lists 2" in out, "gpu.sbatch: more GPUs requested than nvidia-smi lists")
    code, out = script(tmp, "gpu.sbatch", ["a.yaml"], dict(gjob, SLURM_GPUS_ON_NODE="2",
                                                             SLURM_NTASKS="6"), fake_bin=fake)
    check(code == 0 and "--ntasks=5 " in out, "gpu.sbatch: as many GPUs as nvidia-smi lists: fine")

    code, out = script(tmp, "cpu.sbatch", ["a.yaml"], {})
    check(code == 2 and "not inside a Slurm job: submit this script with sbatch" in out,
          "outside a job: refused")
    code, out = script(tmp, "cpu.sbatch", ["a.yaml"], dict(job, NNSWEEP="/no/such/nnsweep"))
    check(code == 2 and "cannot find the nnsweep program '/no/such/nnsweep'" in out,
          "no nnsweep program: refused, with NNSWEEP named")
    code, out = script(tmp, "cpu.sbatch", [], job)
    check(code == 2 and "usage: sbatch" in out, "no sweep file: usage")

    if shutil.which("shellcheck"):
        p = subprocess.run(["shellcheck", cpu, gpu], capture_output=True, text=True)
        check(p.returncode == 0, f"shellcheck is clean {p.stdout.strip()[:600]}")
    else:
        print("  (shellcheck is not installed: not run, not counted)")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            {"dataset": case_dataset, "gpus": case_gpus, "unsafe_fs": case_unsafe_fs,
             "scripts": case_scripts}[case](tmp)
    if failures:
        print(f"FAILED: {len(failures)} checks")
        for f in failures:
            print("  - " + f)
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
