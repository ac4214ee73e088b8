/* cuda_backend.h - the functions of the cuda backend (backend.h) and the few
 * helpers its files share. Plain C with C linkage: cuda_table.c (C) builds
 * the table nn_backend_cuda from them, and the .cu files define them
 * (STYLE.md: .cu files export extern "C" functions only). No CUDA type
 * appears here, so C files can include it; CUDA-typed internals are in
 * cuda_common.cuh.
 *
 * Files:
 *   cuda_context.cu    device choice, stream, cuBLAS handle, scratch,
 *                      precision, memory ops, error reporting
 *   cuda_blas.cu       dense layer (cuBLAS)
 *   cuda_conv.cu       convolution: operands, workspace, alignment, bf16
 *   cuda_dnn.cu        its cuDNN plans: every cuDNN call of nnsweep
 *   cuda_norm.cu       per-channel reductions: batch norm, bias gradients
 *   cuda_kernels.cu    batches, activations, dropout, pooling, casts
 *   cuda_loss_optim.cu softmax cross-entropy, SGD, Adam
 *   cuda_table.c       the table
 *
 * Semantics are those of backend.h and ref.c; each function below is the
 * `_cuda` twin of the op of the same name. All pointers are device memory
 * from alloc_cuda except where a parameter says host. Ops are asynchronous
 * on the backend's one stream; only download and sync wait for the GPU.
 */
#ifndef NNSWEEP_CUDA_BACKEND_H
#define NNSWEEP_CUDA_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
/* core.h is C11 (_Noreturn) without extern "C": read it as C here, so that
 * the .cu files call the same nn_fatal_at the C code does. */
#ifndef _Noreturn
#define _Noreturn __attribute__((noreturn))
#define NN_CUDA_DEFINED_NORETURN
#endif
extern "C" {
#include "nnsweep/core.h"
#include "nnsweep/backend.h"
}
#ifdef NN_CUDA_DEFINED_NORETURN
#undef _Noreturn
#undef NN_CUDA_DEFINED_NORETURN
#endif
#else
#include "nnsweep/backend.h"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Precision of GEMMs and convolutions, as config.h's Precision. */
enum { NN_CUDA_FP32 = 0, NN_CUDA_TF32 = 1, NN_CUDA_BF16 = 2 };

/* ---- device and process state (cuda_context.cu) -------------------------- */
/* (the registry's hooks, nn_cuda_available, _device_count, _use_device,
 * _unusable_reason and _take_failure, are declared in backend_impl.h) */
/* Starts the backend on its GPU (stream, cuBLAS, scratch) if not yet done.
 * Returns 0, or -1 when the GPU has no memory left for it (a failed run). */
int nn_cuda_init(void);
/* Precision of the following GEMMs and convolutions (NN_CUDA_*). */
void set_precision_cuda(int precision);
/* Appends versions (driver, runtime, cuDNN, cuBLAS) and the GPU in use
 * (name, compute capability, multiprocessors, memory) to out, one line
 * each; starts the backend when a GPU is usable. */
void nn_cuda_describe(NnBuf *out);
void nn_cuda_dnn_describe(NnBuf *out); /* the cuDNN line (cuda_dnn.cu) */

/* ---- failed runs (STYLE.md, Errors 3) ----------------------------------------
 * An op that cannot complete for a reason that ends the run but not the
 * process (out of GPU memory inside cuDNN or cuBLAS, no convolution
 * algorithm that runs, a misaligned operand) records it with
 * nn_cuda_run_failed and returns. The ops after it still run (the
 * convolutions do nothing while a failure waits) on whatever their buffers
 * hold: the results are meaningless but every access stays inside its
 * buffer. The trainer takes the failure (nn_cuda_take_failure, through
 * backend_take_failure) at its next check and ends the run as RUN_FAILED;
 * the backend is then ready for the next run. The first failure is the
 * one kept. */
void nn_cuda_run_failed(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int nn_cuda_failed(void); /* nonzero while a failure waits */
/* NNSWEEP_CUDA_VERBOSE=1 (read when the backend starts): log decisions. */
int nn_cuda_verbose(void);

/* ---- memory ------------------------------------------------------------------ */
void *alloc_cuda(size_t bytes); /* zeroed; NULL when out of device memory */
void free_cuda(void *p);
void upload_cuda(void *dst, const void *host_src, size_t bytes);
void download_cuda(void *host_dst, const void *src, size_t bytes);
void copy_cuda(void *dst, const void *src, size_t bytes);
void zero_cuda(void *p, size_t bytes);
void sync_cuda(void);

/* ---- ops ------------------------------------------------------------------------ */
void gather_batch_cuda(const uint8_t *images, const uint8_t *labels, const int32_t *idx, int B,
                       const BatchSpec *spec, float *x, int32_t *y);
void linear_forward_cuda(const float *x, const float *w, const float *b, float *y, int B, int C,
                         int OC);
void linear_backward_cuda(const float *dy, const float *x, const float *w, float *dx, float *dw,
                          float *db, int B, int C, int OC);
size_t conv2d_workspace_floats_cuda(const ConvShape *s);
void conv2d_forward_cuda(const float *x, const float *w, const float *b, float *y,
                         const ConvShape *s, float *ws);
void conv2d_backward_cuda(const float *dy, const float *x, const float *w, float *dx, float *dw,
                          float *db, const ConvShape *s, float *ws);
void maxpool2d_forward_cuda(const float *x, float *y, int32_t *idx, const PoolShape *s);
void maxpool2d_backward_cuda(const float *dy, const int32_t *idx, float *dx, const PoolShape *s);
void batchnorm_forward_train_cuda(const float *x, const float *gamma, const float *beta, float *y,
                                  float *save_mean, float *save_invstd, float *running_mean,
                                  float *running_var, int B, int C, int HW, float momentum,
                                  float eps);
void batchnorm_forward_eval_cuda(const float *x, const float *gamma, const float *beta,
                                 const float *running_mean, const float *running_var, float *y,
                                 int B, int C, int HW, float eps);
void batchnorm_backward_cuda(const float *dy, const float *x, const float *gamma,
                             const float *save_mean, const float *save_invstd, float *dx,
                             float *dgamma, float *dbeta, int B, int C, int HW);
void act_forward_cuda(ActKind k, const float *x, float *y, size_t n);
void act_backward_cuda(ActKind k, const float *x, const float *y, const float *dy, float *dx,
                       size_t n);
void dropout_forward_cuda(const float *x, float *y, float *mask, size_t n, int group, float p,
                          uint64_t seed, uint64_t hi);
void mul_cuda(const float *a, const float *b, float *y, size_t n);
void softmax_xent_cuda(const float *logits, const int32_t *labels, int B, int K,
                       float label_smoothing, float *dlogits, double *acc);
void sgd_step_cuda(float *w, const float *g, float *buf, size_t n, float lr, float momentum,
                   float wd, int nesterov, int first);
void adam_step_cuda(float *w, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                    float beta2, float eps, float wd, int decoupled, int step);

/* ---- helpers shared between the .cu files --------------------------------------- */
/* out[c] = sum over (b, i) of x[b][c][i], x (B, C, HW); deterministic. */
void nn_cuda_channel_sum(const float *x, float *out, int B, int C, int HW);
/* y[b][c][i] += bias[c], y (B, C, HW). */
void nn_cuda_add_channel_bias(float *y, const float *bias, int B, int C, int HW);
/* dst (n bfloat16, round to nearest even) = src (n floats). */
void nn_cuda_f32_to_bf16(const float *src, void *dst, size_t n);
/* dst (B, C, HW floats) = src (bfloat16) + bias[c] (bias may be NULL). */
void nn_cuda_bf16_to_f32(const void *src, float *dst, const float *bias, int B, int C, int HW);

#ifdef __cplusplus
}
#endif

#endif
