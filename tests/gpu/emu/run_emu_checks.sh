#!/usr/bin/env bash
# run_emu_checks.sh - runs the cuda backend's tests without a GPU, on the
# host emulation of cuda_emu.h (a developer tool; see that header for what it
# can and cannot show). Builds into build-emu/ (the .cu files rewritten by
# launch_xform.py and compiled as C++ with g++; the rest of the backend, nn
# and run as C) and runs:
#   test_backend_ops cuda   every op against ref (1e-4)
#   test_parity cuda        the PyTorch parity fixtures
#   emu_extra_test          bit-exact gather/dropout, workspace fallbacks,
#                           tf32/bf16 paths, out of memory
# each with 4 and with 132 emulated multiprocessors (different reduction
# splits), once more with 64-bit kernel indices only, and under
# AddressSanitizer + UBSan with --asan.
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
            -I"$root/include" -I"$root/src" -I/usr/include/x86_64-linux-gnu
            -I/usr/include/openblas "$@")
  local objs=() f o
  for f in "$root"/src/backend/cuda/*.cu; do
    python3 "$emu/launch_xform.py" "$f" >"$dir/gen/$(basename "$f" .cu).cpp"
  done
  for f in "$root"/src/core/*.c "$root"/src/backend/*.c "$root"/src/backend/cuda/*.c \
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
  local t src
  for t in test_backend_ops test_parity emu_extra_test; do
    src=$root/tests/unit/$t.c
    [[ $t == emu_extra_test ]] && src=$emu/$t.c
    gcc -std=c11 "${cf[@]}" -I"$root/tests" -DNN_FIXTURES_DIR="\"$root/tests/fixtures\"" \
      -c "$src" -o "$dir/obj/$t.o"
    g++ -o "$dir/$t" "$dir/obj/$t.o" "${objs[@]}" -lopenblas -lyaml -lm -fopenmp "$@"
  done
}

check() { # check DIR: the three programs, with the environment given
  local dir=$1
  shift
  for t in "test_backend_ops cuda" "test_parity cuda" "emu_extra_test"; do
    # shellcheck disable=SC2086
    if ! env "$@" "$dir"/$t >"$dir/last.log" 2>&1; then
      tail -20 "$dir/last.log"
      echo "FAIL: $* $t"
      exit 1
    fi
    echo "ok: $* $t: $(grep -E '^ok:' "$dir/last.log" | tail -1)"
  done
}

echo "building the emulated cuda backend in $out"
build "$out/plain"
check "$out/plain" EMU_SM=4
check "$out/plain" EMU_SM=132
EMU_NO_BF16=1 "$out/plain/emu_extra_test" >/dev/null 2>&1 || { echo "FAIL: bf16 fallback"; exit 1; }
echo "ok: fp32 fallback where cuDNN has no bf16 algorithm"
build "$out/idx64" -DNN_CUDA_IDX32_MAX=0
check "$out/idx64" EMU_SM=4
if ((asan)); then
  build "$out/asan" -fsanitize=address,undefined -fno-omit-frame-pointer
  check "$out/asan" EMU_SM=132 ASAN_OPTIONS=detect_leaks=0:detect_stack_use_after_return=0
fi
echo "all emulated checks passed"
