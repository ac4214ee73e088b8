#!/usr/bin/env bash
# The main job of README.md: the demo sweep (jobs/demo.yaml: a few MLPs and a
# small CNN, 3 epochs on CIFAR-10) under mpirun on this machine's cores -
# rank 0 schedules and writes results.h5, one worker per core (at most 4) -
# then the leaderboard and the HTML report of the results file.
#   scripts/demo.sh [BUILD_DIR]      (make demo runs it)
# Running it again resumes: finished runs are kept, the rest are trained.
set -euo pipefail
build=${1:-build}
out=${NNSWEEP_DEMO_OUT:-results.h5}
cores=$(nproc)
workers=$((cores < 4 ? cores : 4))
if [[ $(id -u) -eq 0 ]]; then
  # Open MPI refuses to run as root unless told that it is meant
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
echo "demo: mpirun -np $((workers + 1)) nnsweep sweep jobs/demo.yaml --out $out --resume"
mpirun --oversubscribe --bind-to none -np $((workers + 1)) \
  "$build/nnsweep" sweep jobs/demo.yaml --out "$out" --resume

python=python3
if [[ -x /usr/bin/python3 ]]; then python=/usr/bin/python3; fi  # Debian's, with h5py
"$python" analysis/report.py "$out" --out report --nnsweep "$build/nnsweep"
echo "demo: results in $out (nnsweep inspect $out), report in report/report.html"
