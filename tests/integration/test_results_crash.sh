#!/bin/bash
# test_results_crash.sh WRITER - the results file survives kill -9 (label cpu).
#
# results_writer (WRITER) stands in for rank 0. It is killed with -9 right
# after a flush, mid-loop at several moments and in its structural phase;
# after each kill (a) h5py with swmr=True (/usr/bin/python3, through
# analysis/nnsweep_results.py) must read every row the writer reported
# flushed, with its exact values, and every finished run's weights, and a
# plain open must fail as DESIGN.md measured; (b) the next writer repairs
# the file itself (results_open_write, as `h5clear -s --increment`) and goes
# on appending; (c) after the last writer closes cleanly, h5dump and a plain
# h5py open read it all. The same while runs are added, logged with names
# of their own and reset in SWMR mode (results_writer grow), and for a
# schema-1 file (written by hand with h5py) that a writer converts. A
# concurrent SWMR reader must see rows - and runs - grow while a writer
# runs. Prints the time per appended+flushed row and the file size per run.
#
# With NNSWEEP (the nnsweep program), `nnsweep inspect` must show the runs
# added in SWMR mode and a program run's logged values, and read the
# schema-1 file.
set -u
W=${1:?usage: test_results_crash.sh RESULTS_WRITER [NNSWEEP]}
NN=${2:-}
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
    local i n
    for ((i = 0; i < 3000; i++)); do
        n=$(grep -c "$2" "$1" 2>/dev/null)
        [ "${n:-0}" -ge "$3" ] && return 0
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

# runs added, logged (new names as they come) and reset in SWMR mode, killed
# after N flushed updates of a kind; the next writer repairs and goes on
GR=$T/grow.h5 GRUNS=40 GSTEPS=8
# grow_cycle N DELAY_US PAUSE KIND COUNT: start a grow writer, kill -9 it once
# it has paused (PAUSE = KIND:N, right after that update) or printed COUNT
# updates of KIND (PAUSE = -: free running)
grow_cycle() {
    local log=$T/grow$1.log
    "$W" grow "$GR" $GRUNS $GSTEPS "$2" "$3" >"$log" 2>"$log.err" &
    local pid=$!
    if [ "$3" != - ]; then
        wait_for "$log" '^paused' 1 || fail "grow $1: writer never paused: $(cat "$log.err")"
    else
        wait_for "$log" "^$4" "$5" || fail "grow $1: writer stalled: $(cat "$log.err")"
    fi
    kill -9 $pid
    wait $pid 2>/dev/null
    local rc=$?
    grep -q '^closed' "$log" && fail "grow $1: the writer finished before the kill"
    [ $rc -eq 137 ] || fail "grow $1: writer exit $rc, expected 137: $(cat "$log.err")"
    if [ "$1" -gt 1 ]; then
        grep -q '^repaired' "$log" || fail "grow $1: the writer did not repair the file"
    fi
    echo "grow $1: killed after $(grep -c '^added' "$log") runs added, $(grep -c '^logged' "$log") rows logged, $(grep -c '^reset' "$log") resets"
    "${CHECK[@]}" verifygrow "$GR" --runs=$GRUNS --steps=$GSTEPS "$T"/grow[0-9]*.log || fail "grow $1: SWMR read after kill -9"
    "${CHECK[@]}" plainfails "$GR" || fail "grow $1: plain open"
}
grow_cycle 1 0 logged:5 - 0      # the first session: right after a logged row
grow_cycle 2 0 added:2 - 0       # right after a run was added in SWMR mode
grow_cycle 3 2000 - logged 30    # free running
grow_cycle 4 0 reset:1 - 0       # right after a reset
grow_cycle 5 500 - added 3       # free running
grow_cycle 6 0 finished:2 - 0    # right after a run ended
grow_cycle 7 0 - logged 12       # free running, no delay
"$W" grow "$GR" $GRUNS $GSTEPS 0 >"$T/grow9.log" 2>"$T/grow9.log.err" || fail "final grow: $(cat "$T/grow9.log.err")"
grep -q '^repaired' "$T/grow9.log" || fail "final grow writer did not repair"
"${CHECK[@]}" verifygrow "$GR" --complete --runs=$GRUNS --steps=$GSTEPS "$T"/grow[0-9]*.log || fail "grow: read after close"
"${CHECK[@]}" verifygrow "$GR" --plain --complete --runs=$GRUNS --steps=$GSTEPS "$T"/grow[0-9]*.log || fail "grow: plain read after close"
h5dump "$GR" >/dev/null || fail "grow: h5dump"
if [ -n "$NN" ]; then
    board=$("$NN" inspect "$GR" --top 3 2>&1) || fail "inspect of the grow file: $board"
    [[ "$board" == *"sweep grow (random, minimize loss): $GRUNS runs: $GRUNS done"* &&
       "$board" == *"g0000         done                 7.0000      7        -"* ]] || fail "inspect of the grow file: $board"
    run=$("$NN" inspect "$GR" --run g0003 2>&1) || fail "inspect --run g0003: $run"
    [[ "$run" == *"run g0003 of sweep grow (program): done"* &&
       "$run" == *"logged values:"*"step"*"loss"*"acc/top-1"*"n0"* &&
       "$run" == *"       6          3006       3006.01             -             -       3006.02"* ]] ||
        fail "inspect --run of a program run: $run"
    echo "inspect: the grow file's leaderboard and a program run's logged values"
fi

# a concurrent SWMR reader sees runs added and rows logged
L=$T/livegrow.h5
"$W" grow "$L" 1 2 0 >/dev/null || fail "create livegrow"
"${CHECK[@]}" poll "$L" 120 12 >"$T/pollgrow.log" 2>&1 &
ppid=$!
wait_for "$T/pollgrow.log" '^ready' 1 || fail "SWMR reader never started: $(cat "$T/pollgrow.log")"
"$W" grow "$L" 12 $GSTEPS 20000 >"$T/livegrow.log" 2>&1 || fail "live grow writer: $(cat "$T/livegrow.log")"
wait $ppid || fail "concurrent SWMR reader of added runs: $(cat "$T/pollgrow.log")"
cat "$T/pollgrow.log"

# a schema-1 file (the old writer's layout, by h5py) is read, converted by
# the next writer (killed once after the conversion was committed), repaired
V=$T/v1.h5
"${CHECK[@]}" makev1 "$V" >"$T/v1made.log" || fail "makev1"
"${CHECK[@]}" verify "$V" "$T/v1made.log" || fail "schema 1: read"
"${CHECK[@]}" verify "$V" --plain "$T/v1made.log" || fail "schema 1: plain read"
"$W" work "$V" 0 1 >"$T/v1work1.log" 2>&1 &
pid=$!
wait_for "$T/v1work1.log" '^paused' 1 || fail "schema 1: writer never paused: $(cat "$T/v1work1.log")"
kill -9 $pid
wait $pid 2>/dev/null
grep -q '^converted' "$T/v1work1.log" || fail "schema 1: the writer did not convert"
"${CHECK[@]}" verify "$V" "$T/v1made.log" "$T/v1work1.log" || fail "schema 1: SWMR read of the converted file after kill -9"
"$W" work "$V" 0 >"$T/v1work2.log" 2>&1 || fail "schema 1: second writer: $(cat "$T/v1work2.log")"
grep -q '^repaired' "$T/v1work2.log" && ! grep -q '^converted' "$T/v1work2.log" ||
    fail "schema 1: the second writer should repair, not convert: $(cat "$T/v1work2.log")"
"${CHECK[@]}" verify "$V" --plain --complete "$T/v1made.log" "$T"/v1work*.log || fail "schema 1: converted and completed"
if [ -n "$NN" ]; then
    "${CHECK[@]}" makev1 "$T/v1b.h5" >/dev/null || fail "makev1"
    run=$("$NN" inspect "$T/v1b.h5" --run r01 2>&1) || fail "inspect of a schema-1 file: $run"
    [[ "$run" == *"run r01 of sweep crash (train): running, 1/3 epochs"* &&
       "$run" == *"    1  1001.1000  1001.2000"* ]] || fail "inspect --run of a schema-1 file: $run"
    board=$("$NN" inspect "$T/v1b.h5" 2>&1) || fail "inspect of a schema-1 file: $board"
    [[ "$board" == *"3 runs: 1 done, 1 running, 1 pending"* ]] || fail "inspect of a schema-1 file: $board"
    echo "inspect: a schema-1 file"
fi

# the reader's errors for files that are not ours
cp "$F" "$T/v3.h5"
"$PY" -c "import h5py, sys; f = h5py.File(sys.argv[1], 'r+'); f.attrs['schema_version'] = 3; f.close()" "$T/v3.h5" ||
    fail "making v3.h5"
"${CHECK[@]}" foreign "$T" || fail "foreign files"

# figures
"$W" bench "$T/bench.h5" 20 100 1 4 || fail bench
"$W" bench "$T/bench0.h5" 20 100 0 || fail bench
"$W" addbench "$T/add.h5" 20000 200 || fail addbench
ls -l "$F" | awk '{print "crash test file: " $5 " bytes"}'

rm -rf "$T"
echo "test_results_crash: ok"
