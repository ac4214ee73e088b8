#!/usr/bin/env bash
# `nnsweep train` input errors: one message naming the key or file and what
# was expected, exit code 2; --help lists every key with its default; a short
# run on the synthetic dataset prints one line per epoch and a summary.
#   test_train_cli.sh NNSWEEP FAKE_CIFAR10_DIR
set -uo pipefail
nnsweep=$1
fake=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# expect CODE SUBSTRING -- ARGS...: exit code and a stderr substring
expect() {
  local code=$1 want=$2
  shift 3
  local err got
  err=$("$nnsweep" train "$@" 2>&1 >/dev/null)
  got=$?
  if [[ $got -ne $code ]]; then
    echo "FAIL: train $*: exit $got, expected $code ($err)"
    fails=$((fails + 1))
  elif [[ "$err" != *"$want"* ]]; then
    echo "FAIL: train $*: message '$err' lacks '$want'"
    fails=$((fails + 1))
  else
    echo "ok: train $* -> $code: $err"
  fi
}

d=(--data "$fake")

expect 2 "--learning-rate: expected a number" -- "${d[@]}" --learning-rate fast
expect 2 "--epochs: expected an integer in 1..100000" -- "${d[@]}" --epochs -3
expect 2 "unknown option '--learning-rte' (did you mean --learning-rate?" -- "${d[@]}" --learning-rte 0.1
expect 2 "--threads: expected an integer in 1..1024" -- "${d[@]}" --threads 0
expect 2 "--activation: expected one of relu" -- "${d[@]}" --activation swish
expect 2 "--hidden-layers: expected a list" -- "${d[@]}" --hidden-layers 64,abc
expect 2 "--dropout: expected a number in [0, 1)" -- "${d[@]}" --dropout 1.5
expect 2 "select_on: val_accuracy needs a validation set" -- "${d[@]}" --select-on val_accuracy
expect 2 "1x1" -- "${d[@]}" --model cnn --conv-layers 8,8,8,8,8 --padding 0
expect 2 "expected a value" -- "${d[@]}" --learning-rate
expect 2 "unexpected argument" -- "${d[@]}" stray
expect 2 "$tmp/none" -- --data "$tmp/none" --epochs 1

# a truncated dataset file names the file and the expected size
mkdir -p "$tmp/trunc"
cp "$fake"/*.bin "$tmp/trunc/"
truncate -s 1000000 "$tmp/trunc/data_batch_3.bin"
expect 2 "data_batch_3.bin" -- --data "$tmp/trunc" --epochs 1

# a bad config file: file:line and the key
printf 'model: mlp\nlearning_rate: [0.1]\n' > "$tmp/run.yaml"
expect 2 "run.yaml:2: learning_rate" -- "${d[@]}" --config "$tmp/run.yaml"

# --help lists every key with its default
help=$("$nnsweep" train --help)
for key in --learning-rate --hidden-layers --conv-layers --save-weights-min-accuracy --precision; do
  if [[ "$help" != *"$key"* ]]; then echo "FAIL: --help lacks $key"; fails=$((fails + 1)); fi
done
[[ "$help" == *"[0.05]"* ]] || { echo "FAIL: --help lacks the learning-rate default"; fails=$((fails + 1)); }

# a short run: epoch 0, 1, 2 lines and the summary; flags override the file
printf 'learning_rate: 0.01\nepochs: 5\n' > "$tmp/ok.yaml"
out=$("$nnsweep" train "${d[@]}" --config "$tmp/ok.yaml" --epochs 2 --hidden-layers 32 \
  --train-images 2000 --test-images 500 --threads 1)
code=$?
echo "$out"
lines=$(echo "$out" | grep -cE '^ +[0-9]+  ')
if [[ $code -ne 0 || $lines -ne 3 || "$out" != *"status done"* || "$out" != *'"learning_rate":0.01'* ]]; then
  echo "FAIL: short run (exit $code, $lines epoch lines)"
  fails=$((fails + 1))
fi

# --out: a sweep of one run ("train", open): runs accumulate in the file, the
# same run again is refused (exit 2, the file unchanged), a stop signal ends
# the run `interrupted` and leaves the file closed cleanly
quick=("${d[@]}" --epochs 1 --hidden-layers 16 --train-images 500 --test-images 200 --threads 1)
"$nnsweep" train "${quick[@]}" --out "$tmp/r.h5" --quiet >/dev/null 2>&1 || { echo "FAIL: --out run 1"; fails=$((fails + 1)); }
"$nnsweep" train "${quick[@]}" --seed 7 --out "$tmp/r.h5" --quiet >/dev/null 2>&1 || { echo "FAIL: --out run 2"; fails=$((fails + 1)); }
board=$("$nnsweep" inspect "$tmp/r.h5" 2>&1)
if [[ "$board" != *"sweep train"*"2 runs: 2 done"* ]]; then
  echo "FAIL: two train --out runs accumulate in sweep train: $board"
  fails=$((fails + 1))
fi
sum_before=$(md5sum < "$tmp/r.h5")
expect 2 "already recorded there (status done)" -- "${quick[@]}" --out "$tmp/r.h5"
[[ "$(md5sum < "$tmp/r.h5")" == "$sum_before" ]] || { echo "FAIL: the refused run changed the file"; fails=$((fails + 1)); }
"$nnsweep" train "${d[@]}" --epochs 50 --hidden-layers 64 --train-images 5000 --threads 1 \
  --out "$tmp/sig.h5" > "$tmp/sig.out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q '^ *1  ' "$tmp/sig.out" && break; sleep 0.2; done
kill -TERM $pid
wait $pid
code=$?
board=$("$nnsweep" inspect "$tmp/sig.h5" 2>&1)
if [[ $code -ne 1 || "$(cat "$tmp/sig.out")" != *"status interrupted"* || "$board" != *"1 interrupted"* ]]; then
  echo "FAIL: SIGTERM to train --out: exit $code, $(tail -3 "$tmp/sig.out"), $board"
  fails=$((fails + 1))
else
  echo "ok: SIGTERM to train --out: exit 1, the run interrupted and recorded so"
fi
h5dump -H "$tmp/sig.h5" >/dev/null 2>&1 || { echo "FAIL: the stopped train left its file open"; fails=$((fails + 1)); }

if [[ $fails -ne 0 ]]; then echo "FAILED: $fails"; exit 1; fi
echo "ok"
