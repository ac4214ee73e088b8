#!/bin/sh
# bench_rows.sh - rank 0's cost per logged row of program sweeps (bench/
# README.md, "Programs"): W workers each run bench/row_logger, which logs
# ROWS rows of 4 values as fast as it can; rank 0 appends and flushes every
# row (--stats prints its time per row and per message, and the rows per
# second over the session), and the rows per second sustained: all rows
# over the time between the first and the last row written (the loggers'
# own clocks, read back from the results file). Oversubscribed where W + 1
# exceeds the cores. Needs Debian's python3 (h5py, pandas).
#
#   bench/bench_rows.sh BUILD_DIR [WORKERS [ROWS [REPEATS [PAUSE_US]]]]
#                                        (defaults 2, 20000, 3, 0)
# PAUSE_US > 0: each logger sleeps that long after a row, so that rows come
# one at a time (rank 0's cost per row without batching).
set -eu
build=$1
workers=${2:-2}
rows=${3:-20000}
repeats=${4:-3}
pause=${5:-0}
tmp=$(mktemp -d /tmp/nnsweep-bench-rows-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ids=$(seq -s, 1 "$workers")
cat >"$tmp/rows.yaml" <<YAML
program: $build/bench/row_logger
command: ["\${program}", "\${args}"]
method: grid
parameters:
  rows: {value: $rows}
  pause_us: {value: $pause}
  worker: {values: [$ids]}
YAML
i=0
while [ "$i" -lt "$repeats" ]; do
    i=$((i + 1))
    rm -rf "$tmp/r.h5" "$tmp/r.h5.runs"
    start=$(date +%s.%N)
    mpirun --oversubscribe --bind-to none -np $((workers + 1)) "$build/nnsweep" sweep \
        "$tmp/rows.yaml" --out "$tmp/r.h5" --stats --quiet --threads 1 --progress 1000 |
        grep 'rank 0:' || true
    end=$(date +%s.%N)
    sustained=$(PYTHONPATH="$(dirname "$0")/../analysis" /usr/bin/python3 -c '
import sys
from nnsweep_results import ResultsFile
h = ResultsFile(sys.argv[1]).histories()
print("%.0f" % (len(h) / (h["t"].max() - h["t"].min())))' "$tmp/r.h5")
    echo "  $workers workers x $rows rows: $(echo "$end - $start" | bc) s wall, $sustained rows/s sustained"
done
