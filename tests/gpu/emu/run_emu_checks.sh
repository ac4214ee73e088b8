#!/usr/bin/env bash
# run_emu_checks.sh - runs the cuda backend's tests without a GPU, on the
# host emulation of cuda_emu.h (a developer tool and the CTest
# test_cuda_emulated; see that header for what it can and cannot show).
# Builds into build-emu/ (the .cu files rewritten by launch_xform.py and
# compiled as C++ with g++; the rest of the backend, nn, data and run as C)
# and runs:
#   test_backend_ops cuda   every op against ref (1e-4); again in tf32 and
#                           bf16 (NNSWEEP_TEST_PRECISION), and with cuDNN
#                           refusing its first-ranked algorithm everywhere
#                           (EMU_DNN_REFUSE=2: the fallback runs every conv)
#   test_parity cuda        the PyTorch parity fixtures
#   test_cuda_extra         bit-exact gather/dropout, workspace fallbacks,
#                           tf32/bf16, staged misaligned weights, a
#                           misaligned activation (tests/gpu/)
#   emu_fault_test          injected faults: driver too old, out of memory
#                           (cudnnCreate, cuDNN, cuBLAS, model), refused and
#                           misaligned algorithms, whole runs that fail and
#                           the good runs after them; with
#                           NNSWEEP_CUDA_VERBOSE=1, whose plan and algorithm
#                           lines are checked
#   gpu_preflight --small   its steps, on the small shapes
#   train_compare --small   cpu against the emulated GPU, fp32/tf32/bf16, on
#                           a synthetic set of 100 + 100 images
# with 4 and with 132 emulated multiprocessors (different reduction splits),
# once more with 64-bit kernel indices only, and under AddressSanitizer +
# UBSan with --asan.
#   tests/gpu/emu/run_emu_checks.sh [--asan]
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
emu=$root/tests/gpu/emu
out=${NN_EMU_BUILD_DIR:-$root/build-emu}
asan=0
[[ "${1:-}" == --asan ]] && asan=1

build() { # build DIR EXTRA_FLAGS...
  local dir=$1
  shift
  mkdir -p "$dir/gen" "$dir/obj" "$dir/include"
  for h in cuda_runtime.h cublas_v2.h cuda_bf16.h cudnn.h; do
    echo '#include "cuda_emu.h"' >"$dir/include/$h"
  done
  local cf=(-O1 -g -fopenmp -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DNNSWEEP_HAVE_CUDA=1
            -DNNSWEEP_PYTHON_DIR="\"$root/python\""
            -I"$root/include" -I"$root/src" -I/usr/include/x86_64-linux-gnu
            -I/usr/include/openblas "$@")
  local objs=() f o
  for f in "$root"/src/backend/cuda/*.cu; do
    python3 "$emu/launch_xform.py" "$f" >"$dir/gen/$(basename "$f" .cu).cpp"
  done
  for f in "$root"/src/core/*.c "$root"/src/backend/*.c "$root"/src/backend/{ref,cpu,cuda}/*.c \
           "$root"/src/data/*.c "$root"/src/nn/*.c "$root"/src/run/*.c; do
    o=$dir/obj/$(basename "$f" .c).o
    gcc -std=c11 "${cf[@]}" -c "$f" -o "$o" &
    objs+=("$o")
  done
  for f in "$dir"/gen/*.cpp; do
    o=$dir/obj/$(basename "$f" .cpp).cu.o
    g++ -std=c++17 "${cf[@]}" -Wno-unused-variable -I"$dir/include" -I"$emu" -c "$f" -o "$o" &
    objs+=("$o")
  done
  g++ -std=c++17 "${cf[@]}" -I"$emu" -c "$emu/cuda_emu.cpp" -o "$dir/obj/cuda_emu.o" &
  wait
  objs+=("$dir/obj/cuda_emu.o")
  local t src srcs tobjs
  for t in test_backend_ops test_parity test_cuda_extra gpu_preflight train_compare \
           emu_fault_test fake_cifar10; do
    case $t in
      test_cuda_extra | gpu_preflight | train_compare) srcs=("$root/tests/gpu/$t.c") ;;
      emu_fault_test) srcs=("$emu/$t.c") ;;
      fake_cifar10) srcs=("$root/tests/$t.c") ;;
      test_backend_ops)
        srcs=("$root"/tests/unit/{test_backend_ops,backend_ops_fused,backend_ops_threads}.c) ;;
      *) srcs=("$root/tests/unit/$t.c") ;;
    esac
    tobjs=()
    for src in "${srcs[@]}"; do
      tobjs+=("$dir/obj/$(basename "$src" .c).t.o")
      gcc -std=c11 "${cf[@]}" -Wall -Wextra -I"$root/tests" -I"$emu" \
        -DNN_FIXTURES_DIR="\"$root/tests/fixtures\"" -c "$src" -o "${tobjs[-1]}"
    done
    g++ -o "$dir/$t" "${tobjs[@]}" "${objs[@]}" -lopenblas -lyaml -lm -fopenmp "$@"
  done
}

# run DIR LOG ENV... -- PROGRAM ARGS...: one program, its output in LOG; on
# failure the log's end and exit 1
run() {
  local dir=$1 log=$2
  shift 2
  local envs=()
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done
  shift
  if ! env "${envs[@]}" "$dir/$1" "${@:2}" >"$log" 2>&1; then
    tail -20 "$log"
    echo "FAIL: ${envs[*]} $*"
    exit 1
  fi
  echo "ok: ${envs[*]} $*: $(grep -E '^ok:' "$log" | tail -1)"
}

check() { # check DIR ENV...: the four programs, with the environment given
  local dir=$1
  shift
  run "$dir" "$dir/last.log" "$@" -- test_backend_ops cuda
  run "$dir" "$dir/last.log" "$@" -- test_parity cuda
  run "$dir" "$dir/last.log" "$@" -- test_cuda_extra
  run "$dir" "$dir/fault.log" NNSWEEP_CUDA_VERBOSE=1 "$@" -- emu_fault_test
  # the first GPU run records these lines (cuda_dnn.cu, NNSWEEP_CUDA_VERBOSE)
  for want in "conv plan B3 C3 H8 W8 OC4 K3 pad1 fp32 (asked fp32): forward candidates: 1 IMPLICIT_PRECOMP_GEMM/FMA/5120 B/det, 0 IMPLICIT_GEMM/FMA/0 B/nondet" \
              "forward runs algo 1 IMPLICIT_PRECOMP_GEMM, math FMA, workspace 5120 B (deterministic)" \
              "backward filter runs algo 0 ALGO_0, math FMA, workspace 0 B (non-deterministic)" \
              "warning: cuDNN refused forward algorithm 1 IMPLICIT_PRECOMP_GEMM (math FMA)" \
              "runs no forward algorithm for B6 C3 H8 W8 OC4 K3 pad1 bf16"; do
    grep -qF -- "$want" "$dir/fault.log" || { echo "FAIL: emu_fault_test's log lacks: $want"; exit 1; }
  done
}

echo "building the emulated cuda backend in $out"
build "$out/plain"
check "$out/plain" EMU_SM=4
check "$out/plain" EMU_SM=132
run "$out/plain" "$out/plain/last.log" EMU_SM=4 NNSWEEP_TEST_PRECISION=1 -- test_backend_ops cuda
run "$out/plain" "$out/plain/last.log" EMU_SM=4 NNSWEEP_TEST_PRECISION=2 -- test_backend_ops cuda
run "$out/plain" "$out/plain/last.log" EMU_SM=4 EMU_DNN_REFUSE=2 -- test_backend_ops cuda
grep -q "warning: cuDNN refused" "$out/plain/last.log" ||
  { echo "FAIL: EMU_DNN_REFUSE=2 refused nothing"; exit 1; }
run "$out/plain" "$out/plain/last.log" EMU_NO_BF16=1 -- test_cuda_extra
grep -q "that layer runs in fp32" "$out/plain/last.log" ||
  { echo "FAIL: EMU_NO_BF16=1: no fp32 fallback"; exit 1; }
run "$out/plain" "$out/plain/last.log" -- gpu_preflight --small
# cpu against the emulated GPU in fp32, tf32 and bf16 (epoch 0 within 1e-4)
[[ -f $out/fake-cifar10/test_batch.bin ]] || "$out/plain/fake_cifar10" "$out/fake-cifar10" >/dev/null
run "$out/plain" "$out/plain/compare.log" -- train_compare --data "$out/fake-cifar10" \
  --train-images 100 --test-images 100 --epochs 1 --batch 50 --small
grep "^PASS" "$out/plain/compare.log"
build "$out/idx64" -DNN_CUDA_IDX32_MAX=0
check "$out/idx64" EMU_SM=4
if ((asan)); then
  build "$out/asan" -fsanitize=address,undefined -fno-omit-frame-pointer
  check "$out/asan" EMU_SM=132 ASAN_OPTIONS=detect_leaks=0:detect_stack_use_after_return=0
fi
echo "all emulated checks passed"
