#!/usr/bin/env bash
# run_gpu_checks.sh - every check that needs a GPU, in one go, for a machine
# with one NVIDIA GPU (under 10 minutes on one H100/H200 with 16 cores):
#   1. build nnsweep with the CUDA backend for this GPU's architecture
#      (build-gpu/, all modules);
#   2. the GPU tests (ctest -L gpu: test_backend_ops_cuda, test_parity_cuda);
#      a GPU test that skips here is a failure;
#   3. test_backend_ops cuda under compute-sanitizer memcheck (time-boxed: a
#      timeout is reported, not failed); racecheck too with GPU_RACECHECK=1
#      (slow: several minutes);
#   4. training throughput (images/s) of `nnsweep train`: MLP 3 x 256 and the
#      seed study's 5 x 256 CNN, batch 32 and 512, fp32 and bf16;
#   5. a 20-run sweep on this GPU with 1, 2 and 4 workers (mpirun).
# Results go to bench/RESULTS.md; when $OUT is set (the device runner), the
# results and all logs are copied there too.
#
# Data: $CIFAR10_DIR when it holds the binary CIFAR-10, else the synthetic
# set of tests/fake_cifar10 (same format and size; throughput does not
# depend on the pixels).
#
# Images/s: the wall time of `nnsweep train --epochs E` minus that of
# --epochs 1 (start-up, data loading and the epoch-0 evaluation cancel),
# divided by (E - 1) epochs of training images; E is chosen so that the
# difference is a few seconds. Each epoch also evaluates --test-images 1000.
#
# Without a GPU, tests/gpu/emu/run_emu_checks.sh runs the cuda tests on a host
# emulation (logic only: no real cuBLAS/cuDNN, no timings).
#
# Usage: tests/gpu/run_gpu_checks.sh [--skip-build] [--skip-sanitizer] [--skip-bench]
# Exit: 0 when the build, the tests and the sanitizers passed; 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
root=$(pwd)
skip_build=0 skip_san=0 skip_bench=0
for a in "$@"; do
  case $a in
    --skip-build) skip_build=1 ;;
    --skip-sanitizer) skip_san=1 ;;
    --skip-bench) skip_bench=1 ;;
    *) echo "usage: $0 [--skip-build] [--skip-sanitizer] [--skip-bench]" >&2; exit 2 ;;
  esac
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export PATH=/usr/local/cuda/bin:$PATH
build=$root/build-gpu
logs=$root/build-gpu/gpu-logs
mkdir -p "$logs"
results=$root/bench/RESULTS.md
failures=()
t_start=$(date +%s)

say() { echo "[gpu-checks $(( $(date +%s) - t_start ))s] $*"; }
fail() { say "FAIL: $*"; failures+=("$*"); }
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.6g\", $1 }"; }
fmt1() { awk "BEGIN { printf \"%.1f\", $1 }"; } # one decimal, for the tables

finish() {
  if [[ -n "${OUT:-}" ]]; then
    mkdir -p "$OUT"
    cp -f "$results" "$OUT/" 2>/dev/null
    cp -rf "$logs" "$OUT/" 2>/dev/null
  fi
  if ((${#failures[@]})); then
    say "${#failures[@]} failure(s):"
    printf '  - %s\n' "${failures[@]}"
    exit 1
  fi
  say "all checks passed"
  exit 0
}

# ---- 0. the GPU -----------------------------------------------------------------
if ! nvidia-smi -L >"$logs/nvidia-smi.txt" 2>&1; then
  cat "$logs/nvidia-smi.txt"
  fail "nvidia-smi sees no GPU: nothing to check here"
  finish
fi
gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)
cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '.')
say "GPU: $gpu_name (driver $driver, compute capability ${cc:-?})"

# ---- 1. build ---------------------------------------------------------------------
if ((!skip_build)); then
  arch=${cc:-native}
  say "building in $build (CUDA architecture $arch)"
  if ! cmake -S . -B "$build" -DNNSWEEP_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$arch" \
       >"$logs/configure.log" 2>&1; then
    tail -20 "$logs/configure.log"
    fail "cmake configure"
    finish
  fi
  if ! cmake --build "$build" -j"$(nproc)" >"$logs/build.log" 2>&1; then
    grep -E "error|Error" "$logs/build.log" | head -20
    fail "build"
    finish
  fi
  if grep -qiE "warning" "$logs/build.log"; then
    grep -iE "warning" "$logs/build.log" | head -10
    fail "the build printed warnings (see gpu-logs/build.log)"
  fi
fi
nnsweep=$build/nnsweep
ops=$build/tests/test_backend_ops
parity=$build/tests/test_parity
for f in "$nnsweep" "$ops" "$parity"; do
  [[ -x "$f" ]] || { fail "missing $f (build first)"; finish; }
done

# ---- 2. GPU tests ------------------------------------------------------------------
say "ctest -L gpu"
(cd "$build" && ctest -L gpu --output-on-failure --timeout 600) >"$logs/ctest-gpu.log" 2>&1
rc=$?
tail -15 "$logs/ctest-gpu.log"
((rc == 0)) || fail "GPU tests (ctest -L gpu), see gpu-logs/ctest-gpu.log"
if grep -q "Skipped" "$logs/ctest-gpu.log"; then
  fail "a GPU test skipped although nvidia-smi sees a GPU (CUDA backend not built or no usable device)"
fi
# the per-comparison error fractions of the parity test, for the record
"$parity" cuda >"$logs/parity-cuda.txt" 2>&1

# ---- 3. compute-sanitizer -----------------------------------------------------------
if ((!skip_san)) && command -v compute-sanitizer >/dev/null; then
  tools=(memcheck)
  [[ "${GPU_RACECHECK:-0}" == 1 ]] && tools+=(racecheck)
  for tool in "${tools[@]}"; do
    limit=$([[ $tool == memcheck ]] && echo 120 || echo 600)
    say "compute-sanitizer --tool $tool test_backend_ops cuda (at most $limit s)"
    timeout "$limit" compute-sanitizer --tool "$tool" --error-exitcode 3 "$ops" cuda \
      >"$logs/sanitizer-$tool.log" 2>&1
    rc=$?
    tail -3 "$logs/sanitizer-$tool.log"
    if ((rc == 124)); then
      say "compute-sanitizer $tool: timed out (not a failure; rerun it alone for a verdict)"
    elif ((rc != 0)); then
      fail "compute-sanitizer $tool (exit $rc), see gpu-logs/sanitizer-$tool.log"
    fi
  done
fi

((skip_bench)) && finish

# ---- data ---------------------------------------------------------------------------
data=${CIFAR10_DIR:-}
data_kind="CIFAR-10 ($data)"
if [[ -z "$data" || ! -f "$data/test_batch.bin" ]]; then
  data=$build/gpu-data/fake-cifar10
  data_kind="synthetic CIFAR-10 (tests/fake_cifar10)"
  mkdir -p "$(dirname "$data")"
  [[ -f "$data/test_batch.bin" ]] || "$build/tests/fake_cifar10" "$data" >"$logs/fake-data.log" 2>&1 \
    || { fail "fake_cifar10"; finish; }
fi
say "data: $data_kind"

# ---- 4. training throughput ------------------------------------------------------------
mlp=(--model mlp --hidden-layers "256,256,256")
cnn=(--model cnn --conv-layers "256,256,256,256,256" --kernel-size 5 --padding 3 --pool-size 2
     --hidden-layers "128,64")
common=(--device cuda --test-images 1000 --patience 0 --learning-rate 0.01 --seed 1)

# run_train LOG EPOCHS ARGS...: wall seconds of one `nnsweep train`, or empty on failure
run_train() {
  local log=$1 epochs=$2
  shift 2
  local t0 t1
  t0=$(now)
  if ! "$nnsweep" train --data "$data" --quiet --epochs "$epochs" "$@" >"$log" 2>&1; then
    return 1
  fi
  t1=$(now)
  grep -q "^status done" "$log" || return 1
  calc "$t1 - $t0"
}

bench_rows=()
# bench NAME N_IMAGES ARGS...
bench() {
  local name=$1 n=$2
  shift 2
  local tag=${name// /_}
  local t1 t3 te e per ips acc
  say "throughput: $name"
  t1=$(run_train "$logs/train-$tag-e1.log" 1 --train-images "$n" "$@") || {
    fail "nnsweep train $name (see gpu-logs/train-$tag-e1.log)"; bench_rows+=("| $name | failed | | |"); return; }
  t3=$(run_train "$logs/train-$tag-e3.log" 3 --train-images "$n" "$@") || {
    fail "nnsweep train $name (see gpu-logs/train-$tag-e3.log)"; bench_rows+=("| $name | failed | | |"); return; }
  per=$(calc "($t3 - $t1) / 2")
  e=$(awk -v p="$per" 'BEGIN { e = (p > 0) ? int(4 / p) + 1 : 40; if (e < 2) e = 2; if (e > 40) e = 40; print e + 1 }')
  if ((e > 3)); then
    te=$(run_train "$logs/train-$tag-e$e.log" "$e" --train-images "$n" "$@") || {
      fail "nnsweep train $name (see gpu-logs/train-$tag-e$e.log)"; bench_rows+=("| $name | failed | | |"); return; }
  else
    e=3 te=$t3
  fi
  ips=$(awk -v n="$n" -v e="$e" -v a="$t1" -v b="$te" 'BEGIN { d = b - a; if (d <= 0) print "n/a"; else printf "%.0f", n * (e - 1) / d }')
  acc=$(grep -o "test accuracy [0-9.na]*" "$logs/train-$tag-e$e.log" | awk '{ print $3 }')
  bench_rows+=("| $name | $ips | $((e - 1)) x $n images in $(fmt1 "$te - $t1") s | ${acc:-?} |")
  say "  $ips images/s"
}

for prec in fp32 bf16; do
  for b in 32 512; do
    bench "MLP 3x256 batch $b $prec" 50000 "${mlp[@]}" "${common[@]}" --batch-size "$b" --precision "$prec"
  done
done
for prec in fp32 bf16; do
  for b in 32 512; do
    bench "CNN 5x256 batch $b $prec" 10000 "${cnn[@]}" "${common[@]}" --batch-size "$b" --precision "$prec"
  done
done

# ---- 5. a sweep with 1, 2, 4 workers on this GPU ----------------------------------------
sweep_rows=()
sweep_file=$build/gpu-data/sweep20.yaml
mkdir -p "$(dirname "$sweep_file")"
cat >"$sweep_file" <<'EOF'
# 20 runs (5 learning rates x 4 seeds) of the MLP 3 x 256, 2 epochs on 10000 images
name: gpu_sweep20
method: grid
metric: {name: test_accuracy, goal: maximize}
parameters:
  model: {value: mlp}
  hidden_layers: {value: [256, 256, 256]}
  learning_rate: {values: [0.005, 0.01, 0.02, 0.05, 0.1]}
  seed: {values: [1, 2, 3, 4]}
  batch_size: {value: 32}
  epochs: {value: 2}
  patience: {value: 0}
  train_images: {value: 10000}
  test_images: {value: 1000}
  device: {value: cuda}
EOF
if command -v mpirun >/dev/null; then
  base=""
  for w in 1 2 4; do
    say "sweep: 20 runs, $w worker(s)"
    out=$build/gpu-data/sweep-w$w.h5
    rm -f "$out"
    t0=$(now)
    if timeout 240 mpirun --oversubscribe -np $((w + 1)) "$nnsweep" sweep "$sweep_file" \
         --out "$out" --data "$data" --quiet >"$logs/sweep-w$w.log" 2>&1; then
      t1=$(now)
      wall=$(calc "$t1 - $t0")
      [[ -z "$base" ]] && base=$wall
      sweep_rows+=("| $w | $(fmt1 "$wall") | $(fmt1 "20 * 60 / $wall") | $(awk "BEGIN { printf \"%.2f\", $base / $wall }") |")
      say "  $wall s"
    else
      fail "sweep with $w worker(s) (failed or over 240 s), see gpu-logs/sweep-w$w.log"
      sweep_rows+=("| $w | failed | | |")
    fi
  done
else
  fail "mpirun not found: no sweep benchmark"
fi

# ---- results -------------------------------------------------------------------------------
cudnn=$(awk '/define CUDNN_MAJOR/ {a=$3} /define CUDNN_MINOR/ {b=$3} /define CUDNN_PATCHLEVEL/ {c=$3} END {print a "." b "." c}' \
  /usr/local/cuda/include/cudnn_version.h 2>/dev/null)
nvcc_v=$(nvcc --version 2>/dev/null | grep -o "release [0-9.]*" | head -1)
{
  echo "# nnsweep GPU benchmark"
  echo
  echo "Written by tests/gpu/run_gpu_checks.sh on $(date -u '+%Y-%m-%d %H:%M UTC')."
  echo
  echo "- GPU: $gpu_name, driver $driver, compute capability ${cc:-?}"
  echo "- CUDA ${nvcc_v#release }, cuDNN ${cudnn:-?}; CPU: $(nproc) cores"
  echo "- data: $data_kind"
  echo "- $("$nnsweep" --version 2>/dev/null | head -1), build-gpu (RelWithDebInfo, -DNNSWEEP_CUDA=ON)"
  echo
  echo "## Training throughput (\`nnsweep train\`, one process)"
  echo
  echo "Images/s of training: (wall(E epochs) - wall(1 epoch)) / (E - 1) epochs, each"
  echo "epoch also evaluating 1000 test images. MLP 3x256: hidden 256,256,256 on 50000"
  echo "images; CNN 5x256: the seed study's CNN (conv 256 x 5, kernel 5, padding 3,"
  echo "pool 2, hidden 128,64) on 10000 images. SGD, lr 0.01."
  echo
  echo "| run | images/s | measured | test accuracy (last run) |"
  echo "|---|---:|---|---:|"
  printf '%s\n' "${bench_rows[@]}"
  echo
  echo "## Sweep: 20 runs on one GPU (\`mpirun -np workers+1 nnsweep sweep\`)"
  echo
  echo "MLP 3x256, batch 32, 2 epochs on 10000 images each (tests/gpu sweep20.yaml)."
  echo
  echo "| workers | wall s | runs/min | speed-up |"
  echo "|---:|---:|---:|---:|"
  printf '%s\n' "${sweep_rows[@]}"
  if ((${#failures[@]})); then
    echo
    echo "## Failures"
    echo
    printf -- '- %s\n' "${failures[@]}"
  fi
} >"$results"
say "wrote $results"
finish
