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

/* ---- ref's fused ops (ref_fused.c): the plain ops in sequence ---------- */
void linear_forward_act_ref(const float *x, const float *w, const float *bias, float *y, int B,
                            int C, int OC, ActKind act);
void linear_backward_dx_ref(const float *dy, const float *w, float *dx, int B, int C, int OC);
void linear_backward_sgd_ref(const float *dy, const float *x, float *w, float *bias, float *dx,
                             int B, int C, int OC, float lr, float wd);
void conv2d_forward_act_pool_ref(const float *x, const float *w, const float *bias, float *y,
                                 int32_t *idx, const ConvShape *s, ActKind act, int pool,
                                 float *ws);
void conv2d_backward_act_pool_ref(const float *dy, const float *y, const int32_t *idx,
                                  const float *x, const float *w, float *dx, float *dw, float *db,
                                  const ConvShape *s, ActKind act, int pool, float *ws);
size_t batchnorm_act_pool_workspace_floats_ref(int B, int C, int H, int W);
void batchnorm_act_pool_forward_ref(const float *x, const float *gamma, const float *beta,
                                    float *y, int32_t *idx, float *save_mean, float *save_invstd,
                                    float *running_mean, float *running_var, int train, int B,
                                    int C, int H, int W, float momentum, float eps, ActKind act,
                                    int pool, float *ws);
void batchnorm_act_pool_backward_ref(const float *dy, const float *y, const int32_t *idx,
                                     const float *x, const float *gamma, const float *save_mean,
                                     const float *save_invstd, float *dx, float *dgamma,
                                     float *dbeta, int B, int C, int H, int W, ActKind act,
                                     int pool, float *ws);
void conv2d_backward_bn_act_pool_ref(const float *dy, const float *y, const int32_t *idx,
                                     const float *zp, const float *z, const float *gamma,
                                     const float *save_mean, const float *save_invstd,
                                     float *dgamma, float *dbeta, const float *x, const float *w,
                                     float *dx, float *dw, float *db, const ConvShape *s,
                                     ActKind act, int pool, float *ws);
void conv2d_forward_bn_act_pool_ref(const float *x, const float *w, const float *b, float *z,
                                    const float *gamma, const float *beta, float *y, int32_t *idx,
                                    float *zp, float *save_mean, float *save_invstd,
                                    float *running_mean, float *running_var, const ConvShape *s,
                                    float momentum, float eps, ActKind act, int pool, float *ws);

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

/* ---- cpu internals (cpu.c, cpu_pool.c, cpu_elem.c, cpu_conv.c, cpu_norm.c) ---- */

/* Threads (cpu_pool.c). A job is n_items calls fn(ctx, item, slot), run by
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

/* Row-major C (M, N) = alpha op(A) op(B) + beta C, as cblas_sgemm. With
 * split nonzero and the product large enough, cut into blocks of the
 * longer side of C fixed by M, N and K alone (never by the thread count:
 * OpenBLAS rounds a block differently from the same columns of a larger
 * call; cpu.c, gemm_pieces), run over the pool's threads, or in order inside
 * an item; split 0: one call. */
void cpu_sgemm(int split, int trans_a, int trans_b, int M, int N, int K, float alpha,
               const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* Whether this CPU has AVX2 and FMA (x86-64 built with GCC or Clang; 0
 * elsewhere) and the environment does not set NNSWEEP_AVX2=0: the direct
 * and Winograd convolutions and the dense forward below run only where it
 * says 1. Read once per process. NNSWEEP_AVX2=0 runs the paths of a CPU
 * without them (im2col and OpenBLAS), which the tests check here too. */
int cpu_avx2_fma_available(void);

/* y[:, lo:hi] (B, OC) = x (B, C) . w[lo:hi] (OC, C)^T + b[lo:hi] (b may be
 * NULL: no bias), for B <= CPU_DENSE_MAX_B (cpu_dense.c, AVX2 + FMA). */
#define CPU_DENSE_MAX_B 64
void cpu_dense_forward(const float *x, const float *w, const float *b, float *y, int B, int C,
                       int OC, int lo, int hi);

/* Direct convolution (cpu_conv_direct.c, x86-64 with AVX2 + FMA) on images copied
 * by cpu_conv_direct_image: channel-last with the padding, (H + 2 pad) x
 * (W + 2 pad) x C floats and 16 zeros (cpu_conv_direct_image_floats).
 * - cpu_conv_direct: out[o * ld + t] = the conv (no bias) of one image at
 *   pixel t, channel o; OC a multiple of CPU_CONV_DIRECT_OC, weights packed
 *   by cpu_conv_direct_pack (block b: channels [16 b, 16 b + 16); OC *
 *   C*K*K floats in all).
 * - cpu_conv_direct_dw: dwk (OC, K, K, C) = (add: +=) the dw of n images
 *   (copies consecutive from in) for output gradients d[o * ld + k P + t].
 * - cpu_conv_direct_dx: dxim (the copies' layout) = one image's dx for
 *   output gradients d[o * ld + t], weights packed by
 *   cpu_conv_direct_pack_dx (kernel row ky; cpu_conv_direct_pack_dx_floats
 *   in all); cpu_conv_direct_unimage copies dxim's middle to (C, H, W). */
#define CPU_CONV_DIRECT_OC 16
void cpu_conv_direct_pack(const float *w, const ConvShape *s, int block, float *wpk);
void cpu_conv_direct_image(const float *x, const ConvShape *s, float *in);
void cpu_conv_direct(const float *in, const float *wpk, const ConvShape *s, float *out, size_t ld);
void cpu_conv_direct_dw(const float *in, int n, const float *d, size_t ld, const ConvShape *s,
                        int add, float *dwk);
void cpu_conv_direct_pack_dx(const float *w, const ConvShape *s, int ky, float *wdx);
size_t cpu_conv_direct_pack_dx_floats(const ConvShape *s);
void cpu_conv_direct_dx(const float *d, size_t ld, const float *wdx, const ConvShape *s,
                        float *dxim);
size_t cpu_conv_direct_image_floats(const ConvShape *s);
void cpu_conv_direct_unimage(const float *in, const ConvShape *s, float *x);
/* dst[h * row + q * C + c] = x[c][h][q]: x (C, H, W) channel-last into
 * rows of `row` floats (cpu_conv_direct_image's and cpu_conv_wino's copies). */
void cpu_conv_hwc(const float *x, int C, int H, int W, float *dst, size_t row);

/* Winograd convolution F(2x2, 5x5) (cpu_conv_winograd.c, x86-64 with AVX2
 * + FMA): cpu_conv_wino_fits says whether it runs s (K 5, C and OC 16 to
 * 256, C a multiple of 8, OC of 16, B >= 2).
 * - cpu_conv_wino_pack: block b (output channels [16 b, 16 b + 16)) of the
 *   transformed weights u (cpu_conv_wino_pack_floats in all) from w.
 * - cpu_conv_wino: out[o * ld + t] = the conv (no bias) of one image x (C,
 *   H, W) at pixel t, channel o, with cpu_conv_wino_work_floats of work. */
int cpu_conv_wino_fits(const ConvShape *s);
size_t cpu_conv_wino_pack_floats(const ConvShape *s);
size_t cpu_conv_wino_work_floats(const ConvShape *s);
void cpu_conv_wino_pack(const float *w, const ConvShape *s, int block, float *u);
void cpu_conv_wino(const float *x, const float *u, const ConvShape *s, float *out, size_t ld,
                   float *work);
/* - cpu_conv_wino_dw: dwt (36, OC, C) = (add: +=) the transformed dw of one
 *   image x for output gradients d[o * ld + t] (C a multiple of 16), with
 *   cpu_conv_wino_work_floats of work; cpu_conv_wino_dw_out: dw (OC, C, 5,
 *   5) of output channels [o0, o1) (multiples of 4) from dwt
 *   (cpu_conv_wino_dw_doubles). */
size_t cpu_conv_wino_dw_doubles(const ConvShape *s);
void cpu_conv_wino_dw(const float *x, const float *d, size_t ld, const ConvShape *s, int add,
                      double *dwt, float *work);
void cpu_conv_wino_dw_out(const double *dwt, const ConvShape *s, int o0, int o1, float *dw);

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
/* The train forward of batchnorm_act_pool from its planes' sums, for
 * conv2d_forward_bn_act_pool_cpu (cpu_norm.c): cpu_bn_plane_sums writes a
 * plane's {sum, squared deviations from its mean} while the plane is in
 * cache; cpu_bn_act_pool_train_planes is batchnorm_act_pool_forward_cpu
 * (train) with the statistics merged from pstats (B, C, 2) instead of two
 * passes over x, and (pool > 1) x at the pooled places into zp. */
void cpu_bn_plane_sums(const float *r, size_t n, double sums[2]);
void cpu_bn_act_pool_train_planes(const float *x, const double *pstats, const float *gamma,
                                  const float *beta, float *y, int32_t *idx, float *zp,
                                  float *save_mean, float *save_invstd, float *running_mean,
                                  float *running_var, int B, int C, int H, int W, float momentum,
                                  float eps, ActKind act, int pool, float *ws);
/* The backward of batchnorm_act_pool over (B, C, H, W), in two parts
 * (cpu_norm.c), for conv2d_backward_bn_act_pool_cpu: cpu_bn_act_pool_sums
 * writes dgamma and dbeta (ws: batchnorm_act_pool_workspace_floats_cpu),
 * reading x at the pooled places from zp (pool > 1; NULL: x at idx);
 * cpu_bn_act_pool_plane_dx then writes the dx of plane `plane` (image *
 * C + channel; H W floats at dx) from them, with g (the pooled plane's
 * floats) as scratch: dx = a g + c0 - (x - mean) c1, where g is act_backward of the
 * pooled gradient at the places idx (every place without pooling), a =
 * gamma invstd, c0 = -a dbeta / N, c1 = a invstd dgamma / N, N = B H W. */
void cpu_bn_act_pool_sums(const float *dy, const float *y, const int32_t *idx, const float *zp,
                          const float *x, const float *save_mean, const float *save_invstd,
                          float *dgamma, float *dbeta, int B, int C, int H, int W, ActKind act,
                          int pool, float *ws);
void cpu_bn_act_pool_plane_dx(const float *dy, const float *y, const int32_t *idx,
                              const float *x, const float *gamma, const float *save_mean,
                              const float *save_invstd, const float *dgamma, const float *dbeta,
                              int B, int C, int H, int W, ActKind act, int pool, size_t plane,
                              float *g, float *dx);

size_t conv2d_workspace_floats_cpu(const ConvShape *s);
void conv2d_forward_cpu(const float *x, const float *w, const float *b, float *y,
                        const ConvShape *s, float *ws);
void conv2d_backward_cpu(const float *dy, const float *x, const float *w, float *dx, float *dw,
                         float *db, const ConvShape *s, float *ws);
void conv2d_forward_act_pool_cpu(const float *x, const float *w, const float *b, float *y,
                                 int32_t *idx, const ConvShape *s, ActKind act, int pool,
                                 float *ws);
void conv2d_backward_act_pool_cpu(const float *dy, const float *y, const int32_t *idx,
                                  const float *x, const float *w, float *dx, float *dw, float *db,
                                  const ConvShape *s, ActKind act, int pool, float *ws);
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
size_t batchnorm_act_pool_workspace_floats_cpu(int B, int C, int H, int W);
void batchnorm_act_pool_forward_cpu(const float *x, const float *gamma, const float *beta,
                                    float *y, int32_t *idx, float *save_mean, float *save_invstd,
                                    float *running_mean, float *running_var, int train, int B,
                                    int C, int H, int W, float momentum, float eps, ActKind act,
                                    int pool, float *ws);
void batchnorm_act_pool_backward_cpu(const float *dy, const float *y, const int32_t *idx,
                                     const float *x, const float *gamma, const float *save_mean,
                                     const float *save_invstd, float *dx, float *dgamma,
                                     float *dbeta, int B, int C, int H, int W, ActKind act,
                                     int pool, float *ws);
void conv2d_backward_bn_act_pool_cpu(const float *dy, const float *y, const int32_t *idx,
                                     const float *zp, const float *z, const float *gamma,
                                     const float *save_mean, const float *save_invstd,
                                     float *dgamma, float *dbeta, const float *x, const float *w,
                                     float *dx, float *dw, float *db, const ConvShape *s,
                                     ActKind act, int pool, float *ws);
void conv2d_forward_bn_act_pool_cpu(const float *x, const float *w, const float *b, float *z,
                                    const float *gamma, const float *beta, float *y, int32_t *idx,
                                    float *zp, float *save_mean, float *save_invstd,
                                    float *running_mean, float *running_var, const ConvShape *s,
                                    float momentum, float eps, ActKind act, int pool, float *ws);

/* OpenBLAS thread control. OpenBLAS's cblas.h declares it too; the
 * declaration is repeated (identically) so that the build does not depend
 * on which cblas.h find_path picked. */
void openblas_set_num_threads(int num_threads);

#ifdef __cplusplus
}
#endif

#endif
