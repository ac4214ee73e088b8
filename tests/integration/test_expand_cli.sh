#!/bin/sh
# test_expand_cli.sh NNSWEEP SOURCE_DIR - `nnsweep expand` on the sweep corpus.
#
# Every tests/sweeps/bad/*.yaml (at least 20) must exit 2 and print one line
# on stderr that names "FILE:LINE: " (LINE from its "# line: N" second line)
# and contains the text of its "# expect: ..." first line, and nothing on
# stdout. The good files and every job must exit 0; the seed study must
# expand to its known counts, and with the validation overrides to the runs
# of tests/sweeps/seed_study_val.expected; nothing may be written in the
# working folder.
set -u
nnsweep=$1
case $nnsweep in /*) ;; */*) nnsweep=$(pwd)/$nnsweep ;; esac
cd "$2" || exit 1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL $*"; fail=1; }

n=0
for f in tests/sweeps/bad/*.yaml; do
    n=$((n + 1))
    expect=$(sed -n '1s/^# expect: //p' "$f")
    line=$(sed -n '2s/^# line: //p' "$f")
    [ -n "$expect" ] && [ -n "$line" ] || bad "$f: no '# expect:' and '# line:' first lines"
    "$nnsweep" expand "$f" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    msg=$(cat "$tmp/err")
    [ $rc -eq 2 ] || bad "$f: exit code $rc, expected 2"
    case "$msg" in "nnsweep expand: $f:$line: "*) ;; *) bad "$f: no '$f:$line: ' in: $msg" ;; esac
    case "$msg" in *"$expect"*) ;; *) bad "$f: expected '$expect' in: $msg" ;; esac
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || bad "$f: more than one line on stderr: $msg"
    [ -s "$tmp/out" ] && bad "$f: printed something on stdout"
done
[ $n -ge 20 ] || bad "only $n bad sweep files"
echo "$n bad sweep files: exit 2 with file:line and the expected message"

# the good files and every job expand (run from an empty folder, with no
# dataset: expand touches neither data nor results)
src=$(pwd)
mkdir "$tmp/cwd"
for f in tests/sweeps/good/*.yaml jobs/*.yaml jobs/seed_study/*.yaml jobs/examples/*.yaml; do
    (cd "$tmp/cwd" && CIFAR10_DIR=/nonexistent "$nnsweep" expand "$src/$f" >"$tmp/out" 2>"$tmp/err")
    rc=$?
    [ $rc -eq 0 ] || bad "$f: exit code $rc: $(cat "$tmp/err")"
    grep -q '^total: [0-9]* runs\{0,1\} in [1-9][0-9]* sweeps\{0,1\}\( (and [1-9][0-9]* sweeps\{0,1\} without run_cap)\)\{0,1\}, ' "$tmp/out" || bad "$f: no total line"
done
[ -z "$(ls -A "$tmp/cwd")" ] || bad "expand wrote files: $(ls -A "$tmp/cwd")"

total() { "$nnsweep" expand "$@" 2>/dev/null | sed -n 's/^total: \([0-9]*\) runs.*/\1/p'; }
[ "$(total jobs/seed_study/*.yaml)" = 172 ] || bad "seed study: $(total jobs/seed_study/*.yaml) runs, expected 172"
[ "$(total jobs/seed_study/mlp_sgd.yaml)" = 64 ] || bad "MLP_SGD: $(total jobs/seed_study/mlp_sgd.yaml) runs, expected 64"
[ "$(total jobs/seed_study/cnn_sgd.yaml)" = 48 ] || bad "CNN_SGD: $(total jobs/seed_study/cnn_sgd.yaml) runs, expected 48"

# the Adam sweeps repeat two learning rates: notices on stderr, exit 0
"$nnsweep" expand jobs/seed_study/adam.yaml >"$tmp/out" 2>"$tmp/err" || bad "adam.yaml failed"
[ "$(grep -c 'notice: sweep .*: 2 duplicate runs dropped' "$tmp/err")" -eq 2 ] || bad "adam.yaml: no duplicate notices: $(cat "$tmp/err")"
# a W&B file with program: a program sweep, each run's config as the program
# gets it; W&B's cloud keys are ignored with a notice
"$nnsweep" expand tests/sweeps/good/wandb.yaml >"$tmp/out" 2>"$tmp/err" || bad "wandb.yaml failed"
grep -q 'wandb.yaml:5: notice: project: ignored' "$tmp/err" || bad "no notice for project: $(cat "$tmp/err")"
grep -q '^  program train.py  in .*/tests/sweeps/good  command ${env} ${interpreter} ${program} ${args}$' "$tmp/out" || bad "wandb.yaml: no program line: $(cat "$tmp/out")"
[ "$(grep -c '^ *[0-9]*  [0-9a-f]\{12\}  {"model": "mlp", "hidden_layers": \[[0-9]*\], "learning_rate": 0.[0-9]*, "epochs": 2}$' "$tmp/out")" -eq 4 ] || bad "wandb.yaml: not 4 program configs: $(cat "$tmp/out")"
# --json adds each run's canonical config
"$nnsweep" expand --json jobs/seed_study/batchnorm.yaml >"$tmp/out" 2>/dev/null || bad "--json failed"
[ "$(grep -c '^ *{"activation":.*"batchnorm":true' "$tmp/out")" -eq 8 ] || bad "--json: not 8 configs"
# one line per run: id and the varying parameter
[ "$(grep -c '^ *[0-9]*  [0-9a-f]\{12\} .* learning_rate=' "$tmp/out")" -eq 8 ] || bad "run lines"

# the validation variant of the seed study from the same files: exactly the
# runs of the hand-made copy it replaced (tests/sweeps/seed_study_val.expected)
val="--set val_split=5000 --set select_on=val_accuracy --metric val_accuracy --name-suffix _val"
# expand's output without file:line and cost estimates, the config JSON lines
# as one sha256 (as the expected file was made)
cut_expand() {
    sed -e '/^ *{/d' -e 's/^\(sweep [^ ]*\)  [^ ]*:[0-9]*  /\1  /' \
        -e 's/, [^ ]* training flops$//' -e 's/  [^ ]* training flops$//' \
        -e 's/^\( *[0-9]*  [0-9a-f]\{12\}\)  *[^ ]* /\1 /' "$1"
    echo "config json sha256 $(grep '^ *{' "$1" | sha256sum | cut -d' ' -f1)"
}
"$nnsweep" expand --json $val jobs/seed_study/*.yaml >"$tmp/val" 2>"$tmp/err" || bad "seed study $val: $(cat "$tmp/err")"
grep -v '^#' tests/sweeps/seed_study_val.expected >"$tmp/want"
cut_expand "$tmp/val" >"$tmp/got"
if cmp -s "$tmp/want" "$tmp/got"; then
    echo "seed study with $val: the runs of tests/sweeps/seed_study_val.expected"
else
    bad "seed study with $val differs from tests/sweeps/seed_study_val.expected: $(diff "$tmp/want" "$tmp/got" | head -5)"
fi
[ "$(grep -c '^ *{.*"select_on":"val_accuracy".*"val_split":5000' "$tmp/val")" -eq 172 ] || bad "--set: not in every run"
# the expected file is not empty of content: the test can fail
[ "$(grep -c '^ *[0-9]*  [0-9a-f]\{12\} ' "$tmp/want")" -eq 172 ] || bad "seed_study_val.expected: not 172 runs"
# without the overrides the runs differ (names, ids, configs)
"$nnsweep" expand --json jobs/seed_study/*.yaml >"$tmp/plain" 2>/dev/null
cut_expand "$tmp/plain" | cmp -s - "$tmp/want" && bad "the seed study without overrides matches the val runs"
# overrides: the last value of a key wins; a bad value names the option
"$nnsweep" expand --json --set val_split=100 --set val-split=200 jobs/demo.yaml >"$tmp/out" 2>"$tmp/err" || bad "--set twice: $(cat "$tmp/err")"
[ "$(grep -c '"val_split":200' "$tmp/out")" -eq "$(grep -c '^ *{' "$tmp/out")" ] || bad "--set twice: the last value does not win"
"$nnsweep" expand --metric val_accuracy jobs/demo.yaml >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q 'jobs/demo.yaml:[0-9]*: metric.name: val_accuracy needs a validation split' "$tmp/err" || bad "--metric val_accuracy without val_split: $(cat "$tmp/err")"
"$nnsweep" expand --set val_split=50000 jobs/demo.yaml >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q '^nnsweep expand: --set val_split: expected an integer in 0..49999, found "50000"$' "$tmp/err" || bad "--set out of range: $(cat "$tmp/err")"
"$nnsweep" expand --set learning_rte=0.1 jobs/demo.yaml >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "unknown key 'learning_rte' (did you mean 'learning_rate'" "$tmp/err" || bad "--set unknown key: $(cat "$tmp/err")"
"$nnsweep" expand --name-suffix "_$(printf '%060d' 0)" jobs/demo.yaml >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q 'jobs/demo.yaml:[0-9]*: name: sweep name .* with --name-suffix .*: expected at most 64 characters' "$tmp/err" || bad "--name-suffix too long: $(cat "$tmp/err")"
"$nnsweep" expand --metric val_accuracy:minimize --set val_split=10 jobs/demo.yaml >"$tmp/out" 2>&1 || bad "--metric NAME:GOAL: $(cat "$tmp/out")"
grep -q '^sweep .*metric val_accuracy (minimize)' "$tmp/out" || bad "--metric NAME:GOAL: $(head -1 "$tmp/out")"

# usage errors and names used twice
"$nnsweep" expand --help >"$tmp/out" 2>&1 && grep -q 'usage: nnsweep expand' "$tmp/out" || bad "--help"
"$nnsweep" expand >/dev/null 2>&1; [ $? -eq 2 ] || bad "no file: exit code not 2"
"$nnsweep" expand --bogus jobs/demo.yaml >/dev/null 2>&1; [ $? -eq 2 ] || bad "bad option: exit code not 2"
"$nnsweep" expand tests/sweeps/missing.yaml >/dev/null 2>"$tmp/err"; [ $? -eq 2 ] || bad "missing file: exit code not 2"
"$nnsweep" expand jobs/seed_study/l2.yaml jobs/seed_study/l2.yaml >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && grep -q 'jobs/seed_study/l2.yaml:[0-9]*: name: sweep name MLP_SGD_L2 is already used by jobs/seed_study/l2.yaml:' "$tmp/err" || bad "the same file twice: exit $rc: $(cat "$tmp/err")"

[ $fail -eq 0 ] && echo "ok"
exit $fail
