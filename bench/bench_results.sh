#!/usr/bin/env bash
# The results file's writer cost (tests/integration/results_writer.c bench
# and addbench modes), at several numbers of runs in the file, REPEATS times
# each; with a second writer (built from another commit, e.g. schema 1's
# 5829a81) the same figures of that one, interleaved. Not a test.
#   bench/bench_results.sh WRITER [OLD_WRITER] [REPEATS]
# Per file size N (100, 1,000, 10,000 runs): every run added up front, then
# each run's 11 epoch rows appended and flushed (+ one logged row of 4 names
# per epoch: new writer only) and the run finished without weights; then 100
# runs with weights (the seed study's MLP, 3.6 MB each); then adding 100,000
# runs up front and 1,000 more in SWMR mode (new writer only).
set -uo pipefail
new=${1:?usage: bench_results.sh WRITER [OLD_WRITER] [REPEATS]}
old=${2:-}
reps=${3:-3}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nnsweep-bench-results-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for rep in $(seq "$reps"); do
    for n in 100 1000 10000; do
        echo "== rep $rep, $n runs, 11 rows each, no weights"
        "$new" bench "$tmp/new.h5" "$n" 10 0 4 | sed 's/^/new: /'
        [ -n "$old" ] && "$old" bench "$tmp/old.h5" "$n" 10 0 | sed 's/^/old: /'
        rm -f "$tmp"/*.h5
    done
    echo "== rep $rep, 100 runs with weights"
    "$new" bench "$tmp/new.h5" 100 10 1 | sed 's/^/new: /'
    [ -n "$old" ] && "$old" bench "$tmp/old.h5" 100 10 1 | sed 's/^/old: /'
    rm -f "$tmp"/*.h5
    echo "== rep $rep, adding runs"
    "$new" addbench "$tmp/add.h5" 100000 1000 | sed 's/^/new: /'
    rm -f "$tmp"/*.h5
done
