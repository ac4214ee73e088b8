#!/bin/sh
# test_cli_options.sh NNSWEEP SOURCE_DIR - the option tables of every command
# (src/cli/options.c): exact matching, one message naming the option and
# exit code 2 for a bad one, "did you mean" for a misspelling, and a --help
# generated from the table. Nothing here reads data or trains.
#
# For each command: its options (what the table holds) must all be in its
# --help, and every --NAME that --help lists must be accepted (never
# "unknown option"); a prefix of an option (--outfoo), a misspelling, a
# missing value and an out-of-range number are refused with the option
# named. (Under mpirun, ranks other than 0 parse silently: test_sweep_mpi.py,
# case options.)
set -u
nnsweep=$1
case $nnsweep in /*) ;; */*) nnsweep=$(pwd)/$nnsweep ;; esac
# nns CMD ARGS...: nnsweep; `nnsweep sweep` starts MPI (a singleton), whose
# own allocations show as leaks under LeakSanitizer (CI's sanitizer build),
# so leak detection is off for it only, as in test_report.py
nns() {
    if [ "$1" = sweep ]; then
        ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" "$nnsweep" "$@"
    else
        "$nnsweep" "$@"
    fi
}
cd "$2" || exit 1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL $*"; fail=1; }

# expect CODE TEXT CMD ARGS...: exit code CODE, TEXT in the one stderr line,
# nothing on stdout
expect() {
    code=$1 text=$2
    shift 2
    nns "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    msg=$(cat "$tmp/err")
    if [ $rc -ne "$code" ]; then
        bad "$*: exit $rc, expected $code ($msg)"
    else
        case "$msg" in
        *"$text"*) echo "ok: $* -> $rc: $msg" ;;
        *) bad "$*: message '$msg' lacks '$text'" ;;
        esac
        [ "$(wc -l <"$tmp/err")" -le 1 ] || bad "$*: more than one line on stderr: $msg"
        [ -s "$tmp/out" ] && bad "$*: printed on stdout: $(cat "$tmp/out")"
    fi
}

# every option of each command's table (sweep and expand share the overrides)
overrides="set metric name-suffix"
opts_sweep="out resume data threads grace progress top quiet stats $overrides"
opts_expand="json $overrides"
opts_inspect="sweep top run"
opts_evaluate="data json threads"
opts_repair=""
opts_train="config data threads out quiet learning-rate hidden-layers batchnorm val-split select-on
            save-weights-min-accuracy precision seed"

for cmd in sweep expand inspect evaluate repair train; do
    nns $cmd --help >"$tmp/help" 2>"$tmp/err"
    rc=$?
    [ $rc -eq 0 ] && [ ! -s "$tmp/err" ] || bad "$cmd --help: exit $rc: $(cat "$tmp/err")"
    grep -q "^usage: nnsweep $cmd" "$tmp/help" || bad "$cmd --help: no usage line"
    eval "opts=\$opts_$cmd"
    for o in $opts help; do
        grep -q "^  --$o\( \|$\)" "$tmp/help" || bad "$cmd --help does not list --$o"
    done
    # every option the help lists is one the parser knows (the unknown
    # --zz-end after it makes sure that nothing runs)
    n=0
    for o in $(sed -n 's/^  --\([a-z-]*\).*/\1/p' "$tmp/help"); do
        [ "$o" = help ] && continue
        n=$((n + 1))
        nns $cmd "--$o" --zz-end >/dev/null 2>"$tmp/err" </dev/null
        rc=$?
        [ $rc -eq 2 ] || bad "$cmd --$o --zz-end: exit $rc"
        grep -q "unknown option '--$o'" "$tmp/err" && bad "$cmd: --$o is in --help but unknown"
    done
    [ $n -ge 1 ] || [ $cmd = repair ] || bad "$cmd --help lists no option"
    nns $cmd -h >"$tmp/h" 2>&1 && cmp -s "$tmp/h" "$tmp/help" || bad "$cmd -h differs from --help"
done
[ "$(grep -c '^  --' "$tmp/help")" -ge 40 ] || bad "train --help lists fewer than 40 options"
grep -q '^  --learning-rate  .*\[0.05\]' "$tmp/help" || bad "train --help: no default of --learning-rate"

# a prefix of an option is not the option; misspellings get a suggestion
expect 2 "unknown option '--outfoo' (did you mean --out?" sweep jobs/demo.yaml --outfoo x.h5
expect 2 "unknown option '--outfoo' (did you mean --out?" sweep jobs/demo.yaml --outfoo=x.h5
expect 2 "unknown option '--thread' (did you mean --threads?" sweep jobs/demo.yaml --thread 2
expect 2 "unknown option '--resme' (did you mean --resume?" sweep jobs/demo.yaml --resme
expect 2 "unknown option '--topp' (did you mean --top?" sweep jobs/demo.yaml --topp 3
expect 2 "unknown option '--dataa' (did you mean --data?" evaluate r.h5 abc --dataa d
expect 2 "unknown option '--runn' (did you mean --run?" inspect r.h5 --runn abc
expect 2 "unknown option '--jsno' (did you mean --json?" expand --jsno jobs/demo.yaml
expect 2 "unknown option '--sett' (did you mean --set?" expand --sett val_split=1 jobs/demo.yaml
expect 2 "unknown option '--thread' (did you mean --threads?" train --thread 2
expect 2 "unknown option '--learning-rte' (did you mean --learning-rate?" train --learning-rte 0.1
expect 2 "unknown option '--bogus' (see --help)" repair r.h5 --bogus
expect 2 "unknown option '-x' (see --help)" inspect r.h5 -x
# missing values, numbers out of range or not numbers, values given to flags
expect 2 "--out: expected a value after it" sweep jobs/demo.yaml --out
expect 2 "--out: expected a value after it, found the option --resume" sweep jobs/demo.yaml --out --resume
expect 2 "--threads: expected an integer in 1..100000, found \"0\"" sweep jobs/demo.yaml --threads 0
expect 2 "--threads: expected an integer in 1..1024, found \"2x\"" train --threads 2x
expect 2 "--top: expected an integer in 1..1000000, found \"-1\"" inspect r.h5 --top=-1
expect 2 "--grace: expected a number in [0, 1e+06], found \"soon\"" sweep jobs/demo.yaml --grace soon
expect 2 "--threads: expected an integer in 1..100000, found \"1.5\"" evaluate r.h5 abc --threads 1.5
expect 2 "--quiet: takes no value, found \"yes\"" sweep jobs/demo.yaml --quiet=yes
expect 2 "--out: expected a file name, found \"\"" sweep jobs/demo.yaml --out=
# arguments
expect 2 "expected at least one sweep file" sweep --quiet
expect 2 "expected RESULTS.h5 RUN_ID" evaluate r.h5
expect 2 "unexpected argument 'b.h5'" repair a.h5 b.h5
expect 2 "unexpected argument 'stray'" train stray
# dashes and underscores are one character in names; -- ends the options
"$nnsweep" expand --name_suffix=_x jobs/demo.yaml >"$tmp/out" 2>&1 || bad "--name_suffix: $(cat "$tmp/out")"
grep -q '^sweep [^ ]*_x ' "$tmp/out" || bad "--name_suffix=_x: $(head -1 "$tmp/out")"
cp jobs/demo.yaml "$tmp/-demo.yaml"
(cd "$tmp" && "$nnsweep" expand -- -demo.yaml >out 2>&1) || bad "expand -- -demo.yaml: $(cat "$tmp/out")"
[ $fail -eq 0 ] && echo "ok"
exit $fail
