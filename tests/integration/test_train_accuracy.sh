#!/usr/bin/env bash
# The seed study's best MLP recipe (3 hidden layers of 256, ReLU, SGD lr 0.05,
# no momentum, batch 32, normalize half) must reach at least 0.50 test
# accuracy within 5 epochs on the real CIFAR-10 (issue: training engine).
# Needs the real dataset: skipped (exit 77) when CIFAR10_DIR is not set.
set -euo pipefail
nnsweep=$1
if [[ -z "${CIFAR10_DIR:-}" || ! -f "$CIFAR10_DIR/test_batch.bin" ]]; then
  echo "SKIP: CIFAR10_DIR is not set to the real CIFAR-10 binary directory"
  exit 77
fi
out=$("$nnsweep" train --data "$CIFAR10_DIR" --epochs 5 --hidden-layers 256,256,256 \
  --activation relu --optimizer sgd --learning-rate 0.05 --momentum 0 --batch-size 32 \
  --normalize half --seed 1)
echo "$out"
acc=$(echo "$out" | sed -n 's/^status done: best epoch [0-9]*, test accuracy \([0-9.]*\).*/\1/p')
if [[ -z "$acc" ]]; then
  echo "FAIL: no 'status done' summary line"
  exit 1
fi
if awk -v a="$acc" 'BEGIN { exit !(a >= 0.50) }'; then
  echo "ok: test accuracy $acc >= 0.50 within 5 epochs"
else
  echo "FAIL: test accuracy $acc < 0.50 within 5 epochs"
  exit 1
fi
