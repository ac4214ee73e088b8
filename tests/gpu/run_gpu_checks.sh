#!/usr/bin/env bash
# run_gpu_checks.sh - every check that needs a GPU, in one short run on a
# machine with one NVIDIA GPU (target: under 5 minutes on one H100 with 16
# cores, build included), ordered so that a run cut off early still returns
# the most important answers:
#   env          driver, CUDA runtime, cuDNN, GPU, cores, tools (env.txt)
#   configure, build  only the programs below, for this GPU's architecture
#   preflight    gpu_preflight: versions; every convolution shape of the
#                checks and the seed study in fp32/tf32/bf16, with the
#                algorithm, math type and workspace cuDNN ran (a driver too
#                old or no GPU stops the run here)
#   ops_fp32 ops_tf32 ops_bf16 extra   test_backend_ops cuda against ref
#                (fp32 with NNSWEEP_CUDA_SYNC=1, so that a kernel fault names
#                its launch), and test_cuda_extra
#   parity       test_parity cuda on the committed PyTorch fixtures
#   train_compare  the same short training on cpu and cuda from the same
#                weights: epoch 0 losses within 1e-4 in fp32, tf32 and bf16
# optional, while the budget lasts (GPU_BUDGET_S, default 230 s after the
# start; none starts later):
#   bench_PREC_bBATCH  training images/s of MLP 3x256 and CNN 5x256 at batch
#                32 and 512 in fp32, tf32 and bf16 (bench_train)
#   sweep        a 6-run sweep with 2 workers on the GPU (mpirun)
#   torch_PREC_bBATCH  the throughput in PyTorch, when /usr/bin/python3 has
#                torch with CUDA (bench/torch_bench.py --device cuda)
#   cudnn_log    when an ops test failed: its rerun with cuDNN's API log
#   memcheck     a tiny training run under compute-sanitizer, if installed
#
# Every log is written to $OUT (default build-gpu/gpu-logs) while its step
# runs (stdout line-buffered), so a run killed at its time limit still
# returns them; SUMMARY.txt there has one line per step (PASS, FAIL, SKIP,
# TIMEOUT or NOT RUN, seconds, the first error, the figures: epoch-0 loss
# differences, images/s, the sweep's run counts), and
# RESULTS-gpu.md the throughput table. Each step has its own time limit
# (the build's: GPU_BUILD_LIMIT_S, default 300 s), cut to what is left
# before the deadline (GPU_DEADLINE_S, default 290 s after the start: no
# step runs past it, so a hung one cannot eat the device time).
# Data: $CIFAR10_DIR when it holds CIFAR-10, else the synthetic set of
# tests/fake_cifar10 (same format; the checks do not depend on the pixels).
#
#   tests/gpu/run_gpu_checks.sh [--cpu]
# --cpu (or --dry-run): every step with the cpu backend instead of cuda, on
# any machine, to check the script itself up to the GPU calls (the GPU-only
# steps then skip; a CUDA toolkit, when there, is still built for, as
# architecture GPU_ARCH, default 90).
# Without a GPU, the CTest test_cuda_emulated (tests/gpu/emu) runs the cuda
# backend's tests on a host emulation.
# Exit: 0 when every step passed (or skipped in --cpu mode), 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
root=$(pwd)
mode=gpu
for a in "$@"; do
  case $a in
    --cpu | --dry-run) mode=cpu ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: $0 [--cpu]" >&2; exit 2 ;;
  esac
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
export PATH=/usr/local/cuda/bin:$PATH
build=${GPU_BUILD:-$root/build-gpu}
out=${OUT:-$build/gpu-logs}
mkdir -p "$out" "$build" || exit 1
summary=$out/SUMMARY.txt
budget=${GPU_BUDGET_S:-230}
deadline=${GPU_DEADLINE_S:-290}
dev=cuda
[[ $mode == cpu ]] && dev=cpu
fails=0
: >"$summary"

note() { echo "[$SECONDS s] $*" | tee -a "$summary"; }
# first_error LOG: the first line of LOG that says what went wrong
first_error() {
  grep -m1 -iE 'error|fail|abort|mismatch|differ|refused|out of memory' "$1" | cut -c1-300
}
# step NAME LIMIT CMD...: CMD with a time limit (at most what is left
# before the deadline), its output in $out/NAME.log as it comes; one
# summary line, which ends with what the function named in $figures (if
# any; reset after) prints from the log. Exit 77 is a skip in --cpu mode
# and a failure on a GPU (where every GPU test must run). Returns CMD's
# status.
figures=
step() {
  local name=$1 lim=$2 fig=$figures
  shift 2
  figures=
  local s=$SECONDS rc d
  ((lim > deadline - SECONDS)) && lim=$((deadline - SECONDS))
  if ((lim <= 0)); then
    note "NOT RUN $name: the deadline of ${deadline}s has passed"
    fails=$((fails + 1))
    return 124
  fi
  timeout -k 10 "$lim" stdbuf -oL -eL "$@" >"$out/$name.log" 2>&1
  rc=$?
  d=$((SECONDS - s))
  [[ -n $fig ]] && fig=$($fig "$out/$name.log")
  case $rc in
    0) note "PASS $name (${d}s)${fig:+: $fig}" ;;
    77) if [[ $mode == cpu ]]; then
          note "SKIP $name (${d}s): $(grep -m1 '^SKIP' "$out/$name.log" | cut -c1-200)"
        else
          note "FAIL $name (${d}s): skipped on a GPU machine: $(grep -m1 '^SKIP' "$out/$name.log")"
          fails=$((fails + 1))
        fi ;;
    124 | 137) note "TIMEOUT $name (limit ${lim}s): $(tail -1 "$out/$name.log" | cut -c1-200)"
               fails=$((fails + 1)) ;;
    *) note "FAIL $name (exit $rc, ${d}s): $(first_error "$out/$name.log")${fig:+; $fig}"
       fails=$((fails + 1)) ;;
  esac
  return $rc
}
# left NAME: whether an optional step may still start
left() {
  ((SECONDS < budget)) && return 0
  note "NOT RUN $1: the budget of ${budget}s is spent"
  return 1
}
finish() {
  note "done ($mode mode): $fails failure(s); logs in $out"
  exit $((fails > 0))
}

# ---- environment --------------------------------------------------------------------
{
  echo "mode $mode, $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -srm), $(nproc) cores"
  git -C "$root" log -1 --format='nnsweep %h %s' 2>/dev/null &&
    git -C "$root" status --porcelain --untracked-files=no | head -20
  timeout 30 nvidia-smi 2>&1 || echo "nvidia-smi: not available or failed"
  nvcc --version 2>&1 | tail -2
  grep -hE "define CUDNN_(MAJOR|MINOR|PATCHLEVEL) " /usr/local/cuda/include/cudnn_version*.h \
    /usr/include/cudnn_version*.h 2>/dev/null
  cmake --version | head -1
  mpirun --version 2>&1 | head -1
  free -g | head -2
  command -v compute-sanitizer || echo "compute-sanitizer: not installed"
  timeout 60 /usr/bin/python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda,
                      torch.cuda.is_available())' 2>&1 | tail -1
} >"$out/env.txt" 2>&1
cc=
if [[ $mode == gpu ]]; then
  cc=$(timeout 30 nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '. ')
  [[ -z $cc ]] && cc=$(__nvcc_device_query 2>/dev/null | tr ',' '\n' | head -1)
fi
gpu=$(timeout 30 nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)
drv_cuda=$(grep -m1 -oE 'CUDA Version: [0-9.]+' "$out/env.txt" | cut -d' ' -f3)
note "ENV GPU: ${gpu:-none seen by nvidia-smi} (driver for CUDA ${drv_cuda:-?});" \
  "nvcc $(grep -m1 -oE 'release [0-9.]+' "$out/env.txt" | cut -d' ' -f2);" \
  "compute capability ${cc:-?}; $(nproc) cores"

# ---- build ------------------------------------------------------------------------------
cuda=(-DNNSWEEP_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="${cc:-native}")
if [[ $mode == cpu ]]; then
  if command -v nvcc >/dev/null; then
    cuda=(-DNNSWEEP_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="${GPU_ARCH:-90}")
  else
    cuda=(-DNNSWEEP_CUDA=OFF)
  fi
fi
step configure 120 cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${cuda[@]}" || finish
targets=(nnsweep test_backend_ops test_parity test_cuda_extra train_compare bench_train fake_cifar10)
grep -q "NNSWEEP_CUDA:BOOL=ON" "$build/CMakeCache.txt" && targets+=(gpu_preflight)
step build "${GPU_BUILD_LIMIT_S:-300}" cmake --build "$build" -j"$(nproc)" --target "${targets[@]}" ||
  finish
grep -iE "warning" "$out/build.log" | head -20 >"$out/build-warnings.txt"
[[ -s "$out/build-warnings.txt" ]] && note "NOTE build printed warnings: see build-warnings.txt"
t=$build/tests

# ---- preflight --------------------------------------------------------------------------
if [[ -x $t/gpu_preflight ]]; then
  step preflight 90 "$t/gpu_preflight"
  rc=$?
  if ((rc == 77)) && [[ $mode == gpu ]]; then
    note "STOP: no usable GPU ($(grep -m1 -E 'no usable GPU|driver' "$out/preflight.log"))"
    finish
  fi
else
  note "SKIP preflight: this build has no cuda backend"
fi

# ---- data ---------------------------------------------------------------------------------
data=${CIFAR10_DIR:-}
if [[ -z $data || ! -f $data/test_batch.bin ]]; then
  data=$build/fake-cifar10
  [[ -f $data/test_batch.bin ]] || step fake_data 120 "$t/fake_cifar10" "$data" || finish
fi

# ---- ops against ref, PyTorch parity ----------------------------------------------------------
step ops_fp32 240 env NNSWEEP_CUDA_SYNC=1 "$t/test_backend_ops" $dev
ops_failed=$?
for p in 1 2; do
  name=ops_tf32
  ((p == 2)) && name=ops_bf16
  step $name 180 env NNSWEEP_TEST_PRECISION=$p "$t/test_backend_ops" $dev
  rc=$?
  ((rc != 0 && rc != 77)) && ops_failed=1
done
step extra 120 "$t/test_cuda_extra"
step parity 180 "$t/test_parity" $dev "$root/tests/fixtures"

# ---- the same training on cpu and cuda ------------------------------------------------------------
tc=(--data "$data" --other "$dev" --train-images 3000 --test-images 1000 --epochs 2)
[[ $mode == cpu ]] && tc=(--data "$data" --other cpu --train-images 600 --test-images 200 --epochs 1)
# compare_figures LOG: each comparison's verdict and epoch-0 loss difference
# shellcheck disable=SC2317 # (the figure functions are called through $figures)
compare_figures() {
  grep -E '^(PASS|FAIL) ' "$1" | awk '{ sub(":", "", $4); sub(",", "", $9)
    printf "%s%s %s %s epoch-0 loss diff %s", (NR > 1 ? "; " : ""), $1, $2, $4, $9 }'
}
figures=compare_figures
step train_compare 300 "$t/train_compare" "${tc[@]}"

# ---- optional: throughput ------------------------------------------------------------------------
bench=$build/bench/bench_train
cases=(mlp cnn5x256)
precs=(fp32 tf32 bf16)
timing=(--seconds 1.5 --train-only --eval-batch 512)
if [[ $mode == cpu ]]; then
  cases=(mlp cnn2x32) precs=(fp32) timing=(--steps 2 --train-only --eval-batch 64)
fi
{
  echo "# nnsweep training throughput (tests/gpu/run_gpu_checks.sh, $mode mode)"
  echo
  echo "$(head -1 "$out/env.txt"); GPU: ${gpu:-none}"
  echo "bench_train --backend $dev ${timing[*]}: images/s of training steps (gather,"
  echo "forward, loss, backward, SGD) after a warm-up (bench/bench_train.c: mlp is the MLP"
  echo "3x256, cnn5x256 the seed study's CNN 5x256)."
  echo
  echo "| precision | batch |$(printf ' %s |' "${cases[@]}")"
  echo "|---|---:|$(printf -- '---:|%.0s' "${cases[@]}")"
} >"$out/RESULTS-gpu.md"
# bench_figures LOG: "CASE IMAGES/S ..." of a bench_train or torch_bench log
# shellcheck disable=SC2317
bench_figures() {
  awk '!/^#/ && NF == 3 { printf "%s%s %s", (n++ ? ", " : "images/s "), $1, $2 }' "$1"
}
for p in "${precs[@]}"; do
  for b in 32 512; do
    left "bench_${p}_b$b" || break 2
    figures=bench_figures
    step "bench_${p}_b$b" 90 "$bench" --backend $dev --precision "$p" --batch $b "${timing[@]}" \
      "${cases[@]}"
    row=$(awk '!/^#/ && NF == 3 { printf " %s |", $2 }' "$out/bench_${p}_b$b.log")
    echo "| $p | $b |$row" >>"$out/RESULTS-gpu.md"
  done
done

# ---- optional: a sweep with 2 workers -----------------------------------------------------------
if left sweep; then
  cat >"$build/gpu-sweep.yaml" <<EOF
# 6 runs (3 learning rates x 2 seeds) of an MLP 256-256, 1 epoch on 2000 images
name: gpu_sweep
method: grid
metric: {name: test_accuracy, goal: maximize}
parameters:
  model: {value: mlp}
  hidden_layers: {value: [256, 256]}
  learning_rate: {values: [0.01, 0.05, 0.1]}
  seed: {values: [1, 2]}
  batch_size: {value: 64}
  epochs: {value: 1}
  patience: {value: 0}
  train_images: {value: 2000}
  test_images: {value: 500}
  device: {value: $dev}
EOF
  rm -f "$build/gpu-sweep.h5"
  # sweep_figures LOG: the sweep's status counts
  # shellcheck disable=SC2317
  sweep_figures() { grep -m1 -E '^sweep gpu_sweep' "$1" | sed 's/^[^:]*: //'; }
  figures=sweep_figures
  if step sweep 150 mpirun -np 3 "$build/nnsweep" sweep "$build/gpu-sweep.yaml" \
       --out "$build/gpu-sweep.h5" --data "$data" --quiet &&
     ! grep -q "6 runs: 6 done" "$out/sweep.log"; then
    # a failed run is a result, not an error of the sweep: its status says
    note "FAIL sweep: not every run is done (its line above; sweep.log)"
    fails=$((fails + 1))
  fi
fi

# ---- optional: PyTorch on the same GPU, when there ---------------------------------------------
if [[ $mode == gpu ]] && timeout 60 /usr/bin/python3 -c 'import sys, torch
sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; then
  for p in "${precs[@]}"; do
    for b in 32 512; do
      left "torch_${p}_b$b" || break 2
      figures=bench_figures
      step "torch_${p}_b$b" 90 /usr/bin/python3 bench/torch_bench.py --device cuda --precision "$p" \
        --batch $b --seconds 1.5 --train-only --eval-batch 512 "${cases[@]}"
    done
  done
else
  note "SKIP torch: no PyTorch with CUDA here ($mode mode)"
fi

# ---- optional: diagnosis -----------------------------------------------------------------------------
if ((ops_failed && deadline - SECONDS > 10)) && [[ $mode == gpu ]] && left cudnn_log; then
  # the cuDNN call sequence behind the failure (cuDNN 9's API log), its last
  # 2 MB; within the deadline, and not counted again as a failure
  lim=$((deadline - SECONDS))
  ((lim > 120)) && lim=120
  CUDNN_LOGLEVEL_DBG=2 CUDNN_LOGDEST_DBG="$build/cudnn-api.log" timeout -k 10 "$lim" \
    "$t/test_backend_ops" cuda >/dev/null 2>&1
  tail -c 2000000 "$build/cudnn-api.log" >"$out/cudnn-api-tail.log" 2>/dev/null
  note "NOTE cuDNN API log of the ops test: cudnn-api-tail.log"
fi
if [[ $mode == gpu ]] && command -v compute-sanitizer >/dev/null && left memcheck; then
  step memcheck 150 compute-sanitizer --tool memcheck --error-exitcode 3 "$build/nnsweep" train \
    --data "$data" --device cuda --model cnn --conv-layers 8,8 --kernel-size 3 --padding 1 \
    --pool-size 2 --hidden-layers 16 --batchnorm true --dropout 0.2 --epochs 1 \
    --train-images 256 --test-images 256 --batch-size 32 --quiet
fi
finish
