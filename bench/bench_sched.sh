#!/usr/bin/env bash
# Scheduler cost: 1,000 runs of a tiny model (MLP with 8 hidden units, 1 epoch
# on 256 training images, 256 test images) on 4 ranks (rank 0 + 3 workers):
# runs per second, and rank 0's time per message and per flushed epoch row
# (`nnsweep sweep --stats`). Not a test.
#   bench/bench_sched.sh [BUILD_DIR] [DATA_DIR]
set -euo pipefail
build=${1:-build}
data=${2:-${CIFAR10_DIR:-data/cifar-10-batches-bin}}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
seeds=$(seq -s, 0 999)
cat > "$tmp/sched.yaml" <<YAML
name: sched_bench
method: grid
parameters:
  hidden_layers: {value: [8]}
  seed: {values: [$seeds]}
  epochs: {value: 1}
  patience: {value: 0}
  train_images: {value: 256}
  test_images: {value: 256}
  batch_size: {value: 32}
YAML
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
start=$(date +%s.%N)
mpirun --oversubscribe --bind-to none -np 4 "$build/nnsweep" sweep "$tmp/sched.yaml" \
  --out "$tmp/sched.h5" --data "$data" --threads 1 --stats --progress 5 --top 3
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" 'BEGIN { printf "wall %.1f s for 1000 runs (mpirun start, dataset loads and file set-up included): %.1f runs/s\n", e - s, 1000 / (e - s) }'
ls -l "$tmp/sched.h5" | awk '{ printf "results file %.1f MiB\n", $5 / 1048576 }'
