/* emu_faults.h - the fault injection and counters of the host emulation
 * (cuda_emu.cpp), for the emulated tests (C or C++). Each knob starts from
 * its environment variable where one is named, read at the first call that
 * uses it; a test may set it at any time after that.
 *
 * cuDNN's emulated heuristics rank, for every direction: algorithm 3
 * (deterministic, no workspace, math CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
 * listed on a non-FMA descriptor only), algorithm 0 (non-deterministic, no
 * workspace, reported as CUDNN_DEFAULT_MATH on an FMA descriptor),
 * algorithm 1 (deterministic, 5 KiB of workspace), algorithm 2 (status
 * NOT_SUPPORTED). */
#ifndef NNSWEEP_EMU_FAULTS_H
#define NNSWEEP_EMU_FAULTS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* cudaMalloc and cudnnCreate fail for lack of device memory after this
 * many successes; (size_t)-1: never (EMU_FAIL_AFTER). */
extern size_t emu_fail_after;
/* Bit a set: executing algorithm a is refused with
 * CUDNN_STATUS_NOT_SUPPORTED_SHAPE, before anything runs (EMU_DNN_REFUSE,
 * a number); emu_dnn_refuse_bf16 likewise, on bfloat16 tensors only. */
extern unsigned emu_dnn_refuse, emu_dnn_refuse_bf16;
/* Alignment in bytes that algorithm 1 needs of every tensor and workspace
 * pointer (refused with CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER
 * otherwise); 16 by default. The others need 4. */
extern size_t emu_dnn_align1;
/* After this many more convolution executions, every later one fails
 * with CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED; -1: never. */
extern long emu_dnn_oom_after;
/* The next this many cublasGemmEx calls fail with
 * CUBLAS_STATUS_ALLOC_FAILED. */
extern int emu_blas_oom;
/* What cudaDriverGetVersion reports (13000: CUDA 13.0). Below the
 * runtime's 13000, cudaGetDeviceCount fails with
 * cudaErrorInsufficientDriver; 0 is a machine without a driver (the same
 * error, as on a real one). */
extern int emu_driver_version;
/* Visible devices (1). */
extern int emu_n_devices;
/* Convolution executions asked for, per algorithm (refused ones
 * included), and those run with CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION. */
extern long emu_dnn_execs[4];
extern long emu_dnn_conversion_execs;

#ifdef __cplusplus
}
#endif

#endif
