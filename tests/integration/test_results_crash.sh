#!/bin/bash
# test_results_crash.sh WRITER - the results file survives kill -9 (label cpu).
#
# results_writer (WRITER) stands in for rank 0. It is killed with -9 right
# after a flush, mid-loop at several moments and in its structural phase;
# after each kill (a) h5py with swmr=True (/usr/bin/python3, through
# analysis/nnsweep_results.py) must read every row the writer reported
# flushed, with its exact values, and every finished run's weights, and a
# plain open must fail as DESIGN.md measured; (b) the next writer repairs
# the file itself (results_open_write) and goes on appending; (c) after the
# last writer closes cleanly, h5dump and a plain h5py open read it all.
# A concurrent SWMR reader must see rows grow while a writer runs. Prints
# the time per appended+flushed row and the file size per run.
set -u
W=${1:?usage: test_results_crash.sh RESULTS_WRITER}
PY=${NNSWEEP_PYTHON:-/usr/bin/python3}
HERE=$(cd "$(dirname "$0")" && pwd)
CHECK=("$PY" "$HERE/results_check.py")
T=$(mktemp -d "${TMPDIR:-/tmp}/nnsweep-crash-XXXXXX")
F=$T/results.h5
fail() {
    echo "test_results_crash: FAIL: $*" >&2
    echo "files kept in $T" >&2
    exit 1
}
"$PY" -c "import h5py, numpy, pandas" || fail "$PY lacks h5py/numpy/pandas (Debian: python3-h5py python3-pandas)"
command -v h5dump >/dev/null || fail "h5dump not found (Debian: hdf5-tools)"

RUNS=80 EPOCHS=40 HIDDEN=32
"$W" create "$F" $RUNS $EPOCHS $HIDDEN || fail "create"

# wait_for LOG PATTERN COUNT: until LOG has COUNT lines matching PATTERN
wait_for() {
    local i
    for ((i = 0; i < 3000; i++)); do
        [ "$(grep -c "$2" "$1" 2>/dev/null)" -ge "$3" ] && return 0
        sleep 0.01
    done
    return 1
}

# kill_cycle N DELAY_US PAUSE_AFTER AFTER_FLUSHED: start a writer, kill -9 it
# once it has paused (PAUSE_AFTER > 0) or flushed AFTER_FLUSHED more rows.
kill_cycle() {
    local log=$T/work$1.log
    "$W" work "$F" "$2" "$3" >"$log" 2>"$log.err" &
    local pid=$!
    if [ "$3" -gt 0 ]; then
        wait_for "$log" '^paused' 1 || fail "cycle $1: writer never paused: $(cat "$log.err")"
    else
        wait_for "$log" '^flushed' "$4" || fail "cycle $1: writer stalled: $(cat "$log.err")"
    fi
    kill -9 $pid
    wait $pid 2>/dev/null
    local rc=$?
    grep -q '^closed' "$log" && fail "cycle $1: the writer finished before the kill; make the work longer"
    [ $rc -eq 137 ] || fail "cycle $1: writer exit $rc, expected 137 (killed): $(cat "$log.err")"
    if [ "$1" -gt 1 ]; then
        grep -q '^repaired' "$log" || fail "cycle $1: the writer did not repair the killed writer's file"
    fi
    echo "cycle $1: killed after $(grep -c '^flushed' "$log") rows, $(grep -c '^finished' "$log") runs"
    "${CHECK[@]}" verify "$F" "$T"/work*.log || fail "cycle $1: (a) SWMR read after kill -9"
    "${CHECK[@]}" plainfails "$F" || fail "cycle $1: plain open"
}

kill_cycle 1 0 3 0        # right after the third flush
kill_cycle 2 0 0 40       # mid-loop, free running
kill_cycle 3 0 0 150
kill_cycle 4 500 0 60     # with a pause between epochs
kill_cycle 5 0 85 0       # right after a flush, runs finished before
kill_cycle 6 0 0 7
kill_cycle 7 0 0 300

# (b) + (c): the last writer repairs, finishes every run and closes cleanly.
"$W" work "$F" 0 >"$T/work9.log" 2>"$T/work9.log.err" || fail "final writer: $(cat "$T/work9.log.err")"
grep -q '^repaired' "$T/work9.log" || fail "final writer did not repair"
grep -q '^closed' "$T/work9.log" || fail "final writer did not close"
"${CHECK[@]}" verify "$F" --complete "$T"/work*.log || fail "(c) SWMR read after close"
"${CHECK[@]}" verify "$F" --plain --complete "$T"/work*.log || fail "(c) plain h5py open after close"
h5dump -H "$F" >/dev/null || fail "(c) h5dump -H"
h5dump "$F" >/dev/null || fail "(c) h5dump"
for s in partial lock; do [ -e "$F.$s" ] && fail "$F.$s left behind"; done

# kill -9 in the structural phase of a new file: nothing or a whole file.
G=$T/new.h5
"$W" create "$G" 400 5 $HIDDEN >/dev/null 2>&1 &
pid=$!
sleep 0.3
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
if [ -e "$G" ]; then
    "${CHECK[@]}" verify "$G" || fail "structural kill left a bad file"
    echo "structural kill: the writer had finished"
else
    echo "structural kill: no file, as promised$( [ -e "$G.partial" ] && echo ' (stale copy left)')"
fi
rm -f "$G"
"$W" create "$G" 3 5 $HIDDEN || fail "create after a structural kill"
"${CHECK[@]}" verify "$G" || fail "file created after a structural kill"
[ -e "$G.partial" ] && fail "stale $G.partial not removed"

# a concurrent SWMR reader sees the rows grow; it opens the file before the
# writer, whose structural phase replaces the file (the reader reopens)
C=$T/live.h5
"$W" create "$C" 4 15 $HIDDEN || fail "create live"
"${CHECK[@]}" poll "$C" 60 >"$T/poll.log" 2>&1 &
ppid=$!
wait_for "$T/poll.log" '^ready' 1 || fail "SWMR reader never started: $(cat "$T/poll.log")"
"$W" work "$C" 20000 >"$T/live.log" 2>&1 || fail "live writer: $(cat "$T/live.log")"
wait $ppid || fail "concurrent SWMR reader: $(cat "$T/poll.log")"
cat "$T/poll.log"

# the reader's errors for files that are not ours
cp "$F" "$T/v2.h5"
"$PY" -c "import h5py, sys; f = h5py.File(sys.argv[1], 'r+'); f.attrs['schema_version'] = 2; f.close()" "$T/v2.h5" ||
    fail "making v2.h5"
"${CHECK[@]}" foreign "$T" || fail "foreign files"

# figures
"$W" bench "$T/bench.h5" 20 100 1 || fail bench
"$W" bench "$T/bench0.h5" 20 100 0 || fail bench
ls -l "$F" | awk '{print "crash test file: " $5 " bytes"}'

rm -rf "$T"
echo "test_results_crash: ok"
