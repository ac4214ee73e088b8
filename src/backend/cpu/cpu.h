/* cpu.h - private to the cpu backend (src/backend/cpu/): the functions its
 * files share. Nothing outside this folder and the backend tests includes
 * it; backend_impl.h has what the backends share.
 *
 * Files, each calling only those above it (no circle), and the table,
 * which calls them all:
 *   cpu_platform.c     processors (workspace slots), AVX2 + FMA probe,
 *                      OpenBLAS at one thread, aligned memory
 *   cpu_pool.c         the threads: cpu_parallel, backend_cpu_set_threads
 *   cpu_gemm.c         OpenBLAS products cut into pieces by their shape
 *   cpu_dense.c        the dense forward product for small batches (AVX2)
 *   cpu_elem.c         sums, activations, dropout, optimizers
 *   cpu_maxpool.c      max pooling
 *   cpu_norm.c         batch norm, and batch norm + act + max pool
 *   cpu_batch.c        gather_batch, softmax_xent
 *   cpu_linear.c       the dense layer, and its fused ops
 *   cpu_conv_*.c, cpu_conv.c  convolution and its fused ops (cpu_conv.h)
 *   cpu_table.c        the table nn_backend_cpu
 */
#ifndef NNSWEEP_CPU_H
#define NNSWEEP_CPU_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend_impl.h"

/* ---- the machine (cpu_platform.c) ---------------------------------------- */

/* Per-thread workspace slots the cpu backend sizes its workspaces for: the
 * number of processors of this process (its affinity mask, at first use,
 * then fixed), so that a workspace sized at model build stays valid when
 * backend_cpu_set_threads changes the thread count later; jobs that use
 * per-thread scratch pass it as max_threads. */
int cpu_ws_slots(void);

/* OpenBLAS runs single-threaded (set once here and by
 * backend_cpu_set_threads): all parallelism is the pool's, so OpenBLAS's
 * own spinning pthread pool never competes with it. */
void cpu_blas_single_thread(void);

/* Whether this CPU has AVX2 and FMA (x86-64 built with GCC or Clang; 0
 * elsewhere) and the environment does not set NNSWEEP_AVX2=0: the direct
 * and Winograd convolutions and the dense forward below run only where it
 * says 1. Read once per process. NNSWEEP_AVX2=0 runs the paths of a CPU
 * without them (im2col and OpenBLAS), which the tests check here too. */
int cpu_avx2_fma_available(void);

/* 64-byte aligned, zeroed host memory: the table's alloc. */
void *alloc_cpu(size_t bytes);

/* OpenBLAS thread control. OpenBLAS's cblas.h declares it too; the
 * declaration is repeated (identically) so that the build does not depend
 * on which cblas.h find_path picked. */
void openblas_set_num_threads(int num_threads);

/* ---- threads (cpu_pool.c) ------------------------------------------------- */

/* A job is n_items calls fn(ctx, item, slot), run by
 * the calling thread and the pool's helpers, each item exactly once, in no
 * particular order; cpu_parallel returns when all are done (their writes
 * visible). slot (0 <= slot < cpu_ws_slots(), or < max_threads) names the
 * thread, for per-thread scratch space only: results must depend on the
 * item, never on the slot or the thread count. At most max_threads threads
 * take part (<= 0: all of cpu_threads()). Inside an item, a nested
 * cpu_parallel runs its items in order on the calling thread. */
typedef void (*CpuTaskFn)(void *ctx, int item, int slot);
void cpu_parallel(CpuTaskFn fn, void *ctx, int n_items, int max_threads);
int cpu_set_threads(int n); /* the caller included; returns the number set */
int cpu_threads(void);      /* threads in use (first use: cpu_ws_slots()) */
int cpu_in_parallel(void);  /* nonzero inside an item */

/* ---- products (cpu_gemm.c) ------------------------------------------------- */

/* Row-major C (M, N) = alpha op(A) op(B) + beta C, as cblas_sgemm. With
 * split nonzero and the product large enough, cut into blocks of the
 * longer side of C fixed by M, N and K alone (never by the thread count:
 * OpenBLAS rounds a block differently from the same columns of a larger
 * call; cpu_gemm_pieces), run over the pool's threads, or in order inside
 * an item; split 0: one call. */
void cpu_sgemm(int split, int trans_a, int trans_b, int M, int N, int K, float alpha,
               const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* Pieces of a product of `flops` along a side of len: at most max_n, at
 * least 2 MFLOP (cpu_gemm.c) and min_len rows or columns each
 * (cpu_split_pieces); those of an OpenBLAS product, from its shape alone
 * (cpu_gemm_pieces, which says why). cpu_piece_range: [*lo, *hi) of piece
 * i of n over len, cut at multiples of 16. cpu_run_pieces: fn(ctx, i) for
 * every piece i < pieces, as one contiguous run of pieces per thread. */
typedef void (*CpuPieceFn)(const void *ctx, int piece);
int cpu_split_pieces(double flops, int len, int max_n, int min_len);
int cpu_gemm_pieces(double flops, int len);
void cpu_piece_range(int len, int n, int i, int *lo, int *hi);
void cpu_run_pieces(CpuPieceFn fn, const void *ctx, int pieces);

/* ---- kernels ------------------------------------------------------------- */

/* y[:, lo:hi] (B, OC) = x (B, C) . w[lo:hi] (OC, C)^T + b[lo:hi] (b may be
 * NULL: no bias), for B <= CPU_DENSE_MAX_B (cpu_dense.c, AVX2 + FMA). */
#define CPU_DENSE_MAX_B 64
void cpu_dense_forward(const float *x, const float *w, const float *b, float *y, int B, int C,
                       int OC, int lo, int hi);

/* Elementwise jobs are cut into items of this many floats (64 KiB): small
 * ops are one item, so they run on the calling thread without waking the
 * pool; items with a transcendental function or a Philox draw per element
 * are shorter. */
#define CPU_CHUNK ((size_t)1 << 14)
#define CPU_CHUNK_MATH ((size_t)1 << 11)

/* Sums in eight interleaved float lanes, then the lanes pairwise (a fixed
 * order, vectorized; more accurate than one running sum) (cpu_elem.c):
 * cpu_sum = sum r[i], cpu_sum_sqdev = sum (r[i] - m)^2,
 * cpu_sum_dot_dev: *sg = sum g[i], *sgx = sum g[i] (r[i] - m) s. */
float cpu_sum(const float *r, size_t n);
float cpu_sum_sqdev(const float *r, size_t n, float m);
void cpu_sum_dot_dev(const float *g, const float *r, size_t n, float m, float s, float *sg,
                     float *sgx);

/* Elementwise kernels (cpu_elem.c), serial, over n floats; the table's
 * act_forward/act_backward run them over chunks in parallel. */
void cpu_act_forward_range(ActKind k, const float *x, float *y, size_t n);
void cpu_act_backward_range(ActKind k, const float *x, const float *y, const float *dy,
                            float *dx, size_t n);
void act_forward_cpu(ActKind k, const float *x, float *y, size_t n);
void act_backward_cpu(ActKind k, const float *x, const float *y, const float *dy, float *dx,
                      size_t n);
void dropout_forward_cpu(const float *x, float *y, float *mask, size_t n, int group, float p,
                         uint64_t seed, uint64_t hi);
void mul_cpu(const float *a, const float *b, float *y, size_t n);
void sgd_step_cpu(float *w, const float *g, float *buf, size_t n, float lr, float momentum,
                  float wd, int nesterov, int first);
void adam_step_cpu(float *w, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                   float beta2, float eps, float wd, int decoupled, int step);

/* Max pooling of one plane (H, W) into y (H/P, W/P) and idx (may be
 * NULL), as maxpool2d_forward_ref (cpu_maxpool.c); with src (a plane of
 * the same shape, else NULL), zs (H/P, W/P) = src at the windows' maxima. */
void cpu_maxpool_plane(const float *plane, const float *src, int H, int W, int P, float *y,
                       int32_t *idx, float *zs);
/* The fused batch norm group's parts (cpu_norm.c) that a conv before it
 * uses (conv2d_*_bn_act_pool_cpu), for a group g whose batch norm reads
 * t->x (B, OC, OH, OW) (the conv's output) and the other tensors of t:
 * - cpu_bn_plane_sums writes a plane's {sum, squared deviations from its
 *   mean} while the conv's item has the plane in cache;
 * - cpu_bn_act_pool_train_planes is batchnorm_act_pool_forward_cpu
 *   (train) with the statistics merged from pstats (B, OC, 2) instead of
 *   two passes over x, and (pool > 1) x at the pooled places into t->zp;
 *   ws: batchnorm_act_pool_workspace_floats_cpu(g) floats;
 * - the backward in two parts: cpu_bn_act_pool_sums writes dgamma and
 *   dbeta (ws as above), reading x at the pooled places from zp (pool > 1;
 *   NULL: x at idx); cpu_bn_act_pool_plane_dx then writes the dx of plane
 *   `plane` (image * OC + channel; OH OW floats at dx) from them, with gs
 *   (the pooled plane's floats) as scratch: dx = a g + c0 - (x - mean) c1,
 *   where g is act_backward of the pooled gradient at the places idx
 *   (every place without pooling), a = gamma invstd, c0 = -a dbeta / N,
 *   c1 = a invstd dgamma / N, N = B OH OW. */
void cpu_bn_plane_sums(const float *r, size_t n, double sums[2]);
void cpu_bn_act_pool_train_planes(const FusedGroup *g, const FusedTensors *t,
                                  const double *pstats, float *ws);
void cpu_bn_act_pool_sums(const FusedGroup *g, const FusedTensors *t, const float *zp,
                          float *ws);
void cpu_bn_act_pool_plane_dx(const FusedGroup *g, const FusedTensors *t, size_t plane,
                              float *gs, float *dx);

/* ---- the table's ops (cpu_batch.c, cpu_linear.c, cpu_conv.c, cpu_norm.c,
 * cpu_maxpool.c, cpu_elem.c): the twins of ref.c's, as backend.h says -- */

void gather_batch_cpu(const uint8_t *images, const uint8_t *labels, const int32_t *idx, int B,
                      const BatchSpec *spec, float *x, int32_t *y);
void softmax_xent_cpu(const float *logits, const int32_t *labels, int B, int K,
                      float label_smoothing, float *dlogits, double *acc);
void linear_forward_cpu(const float *x, const float *w, const float *b, float *y, int B, int C,
                        int OC);
void linear_backward_cpu(const float *dy, const float *x, const float *w, float *dx, float *dw,
                         float *db, int B, int C, int OC);
void linear_forward_act_cpu(const float *x, const float *w, const float *b, float *y, int B,
                            int C, int OC, ActKind act);
void linear_backward_sgd_cpu(const float *dy, const float *x, float *w, float *b, float *dx,
                             int B, int C, int OC, float lr, float wd);
size_t conv2d_workspace_floats_cpu(const ConvShape *s);
void conv2d_forward_cpu(const float *x, const float *w, const float *b, float *y,
                        const ConvShape *s, float *ws);
void conv2d_backward_cpu(const float *dy, const float *x, const float *w, float *dx, float *dw,
                         float *db, const ConvShape *s, float *ws);
void conv2d_forward_act_pool_cpu(const FusedGroup *g, const FusedTensors *t);
void conv2d_backward_act_pool_cpu(const FusedGroup *g, const FusedTensors *t);
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
size_t batchnorm_act_pool_workspace_floats_cpu(const FusedGroup *g);
void batchnorm_act_pool_forward_cpu(const FusedGroup *g, const FusedTensors *t, int train);
void batchnorm_act_pool_backward_cpu(const FusedGroup *g, const FusedTensors *t);
void conv2d_backward_bn_act_pool_cpu(const FusedGroup *g, const FusedTensors *t);
void conv2d_forward_bn_act_pool_cpu(const FusedGroup *g, const FusedTensors *t);

#endif
