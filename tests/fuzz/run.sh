#!/bin/sh
# run.sh BUILD_DIR SECONDS - runs every fuzz target of BUILD_DIR (a build with
# -DNNSWEEP_FUZZ=ON -DNNSWEEP_SANITIZE=ON, clang) for SECONDS each, from its
# seed corpus (tests/fuzz/CMakeLists.txt names the directories), under ASan,
# UBSan and LeakSanitizer; an input that runs longer than 25 s is a hang.
# New inputs go to BUILD_DIR/fuzz-work/<target>, a failing one to
# BUILD_DIR/fuzz-artifacts/ (copy it to tests/fuzz/corpus/<target>/ with
# the fix, so that replay_<target> keeps it as a test case). Exit 1 when a
# target found something.
set -u
build=$1
secs=$2
src=$(cd "$(dirname "$0")/../.." && pwd)
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
art="$build/fuzz-artifacts"
mkdir -p "$art"
fail=0
for t in sweep config results; do
    case $t in
        sweep) seeds="$src/jobs $src/jobs/seed_study $src/jobs/examples $src/tests/sweeps/good $src/tests/sweeps/bad $src/tests/fuzz/corpus/sweep" ;;
        *) seeds="$src/tests/fuzz/corpus/$t" ;;
    esac
    work="$build/fuzz-work/$t"
    mkdir -p "$work"
    # shellcheck disable=SC2086
    "$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=25 -rss_limit_mb=3072 \
        -max_len=8192 -print_final_stats=1 -artifact_prefix="$art/$t-" "$work" $seeds \
        >"$build/fuzz-$t.log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/fuzz-$t.log")
    if [ $rc -eq 0 ]; then
        echo "fuzz_$t: ${runs:-?} inputs in ${secs} s, nothing found"
    else
        echo "fuzz_$t: FOUND something (exit $rc): $(ls "$art" | grep "^$t-" | head -3)"
        grep -E "ERROR|SUMMARY|fatal|CHECK" "$build/fuzz-$t.log" | head -5
        fail=1
    fi
done
exit $fail
