/* backend_impl.h - private to src/backend (and the backend tests): the
 * backend tables, the CUDA hooks, and the few helpers that ref.c, cpu.c and
 * cpu_conv.c share. Nothing outside src/backend and tests/ includes it.
 *
 * The CUDA backend (src/backend/cuda/) defines nn_backend_cuda and
 * nn_cuda_available with C linkage; both are declared only when the build
 * defines NNSWEEP_HAVE_CUDA, so a CPU-only build has no reference to them.
 */
#ifndef NNSWEEP_BACKEND_IMPL_H
#define NNSWEEP_BACKEND_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "nnsweep/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the tables (static storage, never freed) ------------------------- */
extern const Backend nn_backend_ref; /* ref.c */
extern const Backend nn_backend_cpu; /* cpu.c */
#ifdef NNSWEEP_HAVE_CUDA
extern const Backend nn_backend_cuda; /* cuda/ */
/* Nonzero when a CUDA device is visible and usable by this process. */
int nn_cuda_available(void);
#endif

/* ---- CIFAR-10 image geometry used by gather_batch ----------------------- */
#define NN_IMG_CH 3    /* channels */
#define NN_IMG_SIDE 32 /* height = width */
#define NN_IMG_PIXELS (NN_IMG_CH * NN_IMG_SIDE * NN_IMG_SIDE)
#define NN_CROP_PAD 4 /* zero pixels on each side before the random crop */
#define NN_CROP_SPAN (2 * NN_CROP_PAD + 1) /* window offsets 0..8 */

/* ---- host memory ops, shared by ref and cpu (ref.c) --------------------
 * alloc: zeroed host memory, NULL when malloc fails (never aborts); a
 * request of 0 bytes returns a valid, freeable pointer. */
void *alloc_ref(size_t bytes);
void free_ref(void *p);
void upload_ref(void *dst, const void *host_src, size_t bytes);
void download_ref(void *host_dst, const void *src, size_t bytes);
void copy_ref(void *dst, const void *src, size_t bytes);
void zero_ref(void *p, size_t bytes);
void sync_ref(void);

/* ---- cpu internals (cpu.c, cpu_conv.c, cpu_norm.c) ----------------------------------- */
/* Per-thread workspace slots the cpu backend sizes its workspaces for: the
 * number of processors of this process (omp_get_num_procs() at first use,
 * then fixed), so that a workspace sized at model build stays valid when
 * backend_cpu_set_threads changes the thread count later. */
int cpu_ws_slots(void);

/* OpenBLAS runs single-threaded (set once here and by
 * backend_cpu_set_threads): all parallelism is OpenMP's, so the pthread
 * OpenBLAS pool and the OpenMP pool never spin against each other. */
void cpu_blas_single_thread(void);

/* Row-major C (M, N) = alpha op(A) op(B) + beta C, as cblas_sgemm; split
 * into column (or row) blocks over the OpenMP threads when the product is
 * large enough and the caller is not already in a parallel region. */
void cpu_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc);

/* Loops shorter than this run on one thread: cheap elementwise ops, and
 * ops with a transcendental function or a Philox draw per element. */
#define CPU_PAR_MIN ((size_t)1 << 15)
#define CPU_PAR_MIN_MATH ((size_t)1 << 12)

size_t conv2d_workspace_floats_cpu(const ConvShape *s);
void conv2d_forward_cpu(const float *x, const float *w, const float *b, float *y,
                        const ConvShape *s, float *ws);
void conv2d_backward_cpu(const float *dy, const float *x, const float *w, float *dx, float *dw,
                         float *db, const ConvShape *s, float *ws);
void maxpool2d_forward_cpu(const float *x, float *y, int32_t *idx, const PoolShape *s);
void maxpool2d_backward_cpu(const float *dy, const int32_t *idx, float *dx, const PoolShape *s);
void batchnorm_forward_train_cpu(const float *x, const float *gamma, const float *beta, float *y,
                                 float *save_mean, float *save_invstd, float *running_mean,
                                 float *running_var, int B, int C, int HW, float momentum,
                                 float eps);
void batchnorm_forward_eval_cpu(const float *x, const float *gamma, const float *beta,
                                const float *running_mean, const float *running_var, float *y,
                                int B, int C, int HW, float eps);
void batchnorm_backward_cpu(const float *dy, const float *x, const float *gamma,
                            const float *save_mean, const float *save_invstd, float *dx,
                            float *dgamma, float *dbeta, int B, int C, int HW);

/* OpenBLAS thread control. OpenBLAS's cblas.h declares it too; the
 * declaration is repeated (identically) so that the build does not depend
 * on which cblas.h find_path picked. */
void openblas_set_num_threads(int num_threads);

#ifdef __cplusplus
}
#endif

#endif
