/* cpu.c - the fast host backend: OpenBLAS for the GEMMs, the pool of
 * cpu_pool.c for the threads. Every op computes what its twin in ref.c
 * computes (the specification; tests/unit/test_backend_ops.c checks them
 * against each other to 1e-5); only the order of float operations differs,
 * and never with the number of threads (cpu_pool.c; for the products,
 * gemm_pieces below).
 *
 * This file: the table, threads and GEMM, memory, batches, the dense layer
 * (with its fused forward + activation and backward + SGD), and the loss.
 * cpu_elem.c: activations, dropout, optimizers; cpu_conv.c: convolution and
 * pooling; cpu_norm.c: batch norm.
 *
 * Profile of the MLP 3072-256-256-256-10 training step at B = 32 on one
 * core (bench/README.md has the full tables): the first layer's two GEMMs
 * are ~60% of the step and the SGD update over its 786k weights was ~15%
 * more (it reads the gradient that the GEMM has just written, and the GEMM
 * first zeroes it: OpenBLAS's beta = 0 pass). linear_backward_sgd does the
 * update inside the GEMM instead (C = W, alpha = -lr, beta = 1 - lr wd), so
 * the gradient is never written, zeroed or read back. Below 65 rows the
 * forward product is cpu_dense.c's (OpenBLAS ran the first layer's at half
 * the FMA peak).
 */
#define _GNU_SOURCE
#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include "backend/backend_impl.h"
#include "backend/shared_math.h"
#include "nnsweep/rng.h"

/* ---- threads, workspace slots and GEMM ----------------------------------------- */

int cpu_ws_slots(void)
{
    static int slots; /* set once; the value is the same for every thread */
    int n = __atomic_load_n(&slots, __ATOMIC_RELAXED);
    if (n == 0) {
        cpu_set_t set;
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        n = online > 0 ? (int)online : 1;
        if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
        if (n < 1) n = 1;
        __atomic_store_n(&slots, n, __ATOMIC_RELAXED);
    }
    return n;
}

void cpu_blas_single_thread(void)
{
    static int done;
    if (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
        openblas_set_num_threads(1);
        __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    }
}

int cpu_avx2_fma_available(void)
{
    static int state; /* 0: not read yet, 1: no, 2: yes; the same for every thread */
    int s = __atomic_load_n(&state, __ATOMIC_RELAXED);
    if (s == 0) {
        const char *env = getenv("NNSWEEP_AVX2");
        s = 1;
#if defined(__x86_64__) && defined(__GNUC__)
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
            !(env && strcmp(env, "0") == 0))
            s = 2;
#else
        (void)env;
#endif
        __atomic_store_n(&state, s, __ATOMIC_RELAXED);
    }
    return s == 2;
}

/* Flops of a piece of a product at least (~25 us of one core). */
#define CPU_GEMM_PIECE_FLOPS 2e6
/* Pieces of an OpenBLAS product at most, and their width (columns or rows
 * of C) at least. The cut is the same at one thread, where each piece is a
 * call of its own: it repacks the operand the pieces share (the MLP's first
 * layer forward at B = 32: its 32 x 3072 input) and has a call's fixed
 * costs. One thread, OpenBLAS 0.3.21 on Zen 3, against the whole product:
 * the MLP's products in 64-column pieces 0-10% slower, in 32-column ones
 * 5-45%; its first layer's dw + SGD product (256 x 3072, 32 terms) in 4
 * pieces 0-8% slower, in 8 5-20%, in 16 15-30% (noisy shared machine). */
#define CPU_GEMM_MAX_PIECES 4
#define CPU_GEMM_MIN_WIDTH 64

/* Pieces of a product of `flops` along a side of len: at most max_n, at
 * least CPU_GEMM_PIECE_FLOPS and min_len rows or columns each. */
static int split_pieces(double flops, int len, int max_n, int min_len)
{
    int n = max_n;
    if (flops / n < CPU_GEMM_PIECE_FLOPS) n = (int)(flops / CPU_GEMM_PIECE_FLOPS);
    if (n > len / min_len) n = len / min_len;
    return n < 1 ? 1 : n;
}

/* Pieces of an OpenBLAS product: from its shape alone, never from the
 * thread count. OpenBLAS's bits for an element of C depend on where the
 * element falls in the call: Debian's 0.3.21 Haswell and Zen sgemm kernels
 * (the ones it picks on this Zen 3 machine, and on AVX2 CPUs where the
 * environment sets OPENBLAS_CORETYPE so) sum some micro-tiles in one FMA
 * chain over k and others in two (even and odd k, added at the end), by
 * the tile's place in the call (C of 32 x 128: the first and last 8
 * columns of rows 0-5 and 12-17, and rows 24-31, in two chains).
 * So a block of columns computed by a call of its own differs at its edges
 * from the same columns of a larger call. With the pieces fixed by the
 * shape, every thread count makes the same calls and only which thread
 * makes each one varies: the same bits for 1 or 64 threads, on any machine
 * whose OpenBLAS picks the same kernels. */
static int gemm_pieces(double flops, int len)
{
    return split_pieces(flops, len, CPU_GEMM_MAX_PIECES, CPU_GEMM_MIN_WIDTH);
}

/* [*lo, *hi) of piece i of n over len, cut at multiples of 16 (whole cache
 * lines of a row). */
static void piece_range(int len, int n, int i, int *lo, int *hi)
{
    int units = (len + 15) / 16;
    *lo = (int)((long)units * i / n) * 16;
    *hi = (int)((long)units * (i + 1) / n) * 16;
    if (*hi > len) *hi = len;
    if (*lo > len) *lo = len;
}

typedef void (*PieceFn)(const void *ctx, int piece);

typedef struct PieceRun {
    PieceFn fn;
    const void *ctx;
    int pieces, runs;
} PieceRun;

/* Run `item`: its share of the pieces, in order. */
static void piece_run_item(void *ctx, int item, int slot)
{
    (void)slot;
    const PieceRun *r = ctx;
    int end = (int)((long)r->pieces * (item + 1) / r->runs);
    for (int i = (int)((long)r->pieces * item / r->runs); i < end; i++) r->fn(r->ctx, i);
}

/* fn(ctx, i) for every piece i < pieces, the pieces shared out as one
 * contiguous run per thread: neighbouring column blocks run on two threads
 * at a time made the first layer's dw + SGD product slower (2 threads, 8
 * pieces of 384 columns: 0.91-0.98 ms interleaved, 0.59-0.73 in two runs of
 * four, 0.64-0.66 as two pieces). Which thread runs a piece never changes
 * its result. */
static void run_pieces(PieceFn fn, const void *ctx, int pieces)
{
    int runs = cpu_threads();
    if (runs > pieces) runs = pieces;
    PieceRun r = {fn, ctx, pieces, runs};
    cpu_parallel(piece_run_item, &r, runs, 0);
}

typedef struct GemmJob {
    int ta, tb, M, N, K, lda, ldb, ldc, split_n, pieces;
    float alpha, beta;
    const float *A, *B;
    float *C;
} GemmJob;

static void gemm_piece(const void *ctx, int piece)
{
    const GemmJob *j = ctx;
    enum CBLAS_TRANSPOSE ta = j->ta ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = j->tb ? CblasTrans : CblasNoTrans;
    int lo, hi;
    piece_range(j->split_n ? j->N : j->M, j->pieces, piece, &lo, &hi);
    if (hi <= lo) return;
    if (j->split_n) /* C[:, lo:hi] = op(A) op(B)[:, lo:hi] */
        cblas_sgemm(CblasRowMajor, ta, tb, j->M, hi - lo, j->K, j->alpha, j->A, j->lda,
                    j->tb ? j->B + (size_t)lo * j->ldb : j->B + lo, j->ldb, j->beta, j->C + lo,
                    j->ldc);
    else /* C[lo:hi, :] = op(A)[lo:hi, :] op(B) */
        cblas_sgemm(CblasRowMajor, ta, tb, hi - lo, j->N, j->K, j->alpha,
                    j->ta ? j->A + lo : j->A + (size_t)lo * j->lda, j->lda, j->B, j->ldb, j->beta,
                    j->C + (size_t)lo * j->ldc, j->ldc);
}

void cpu_sgemm(int split, int trans_a, int trans_b, int M, int N, int K, float alpha,
               const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    cpu_blas_single_thread();
    /* blocks of the longer side of C */
    int split_n = N >= M;
    GemmJob j = {trans_a, trans_b, M, N, K, lda, ldb, ldc, split_n,
                 split ? gemm_pieces(2.0 * M * N * K, split_n ? N : M) : 1, alpha, beta, A, B, C};
    run_pieces(gemm_piece, &j, j.pieces);
}

/* ---- memory ----------------------------------------------------------------------- */

/* Zeroed host memory aligned to 64 bytes (whole AVX vectors and cache
 * lines), NULL when out of memory. Released with free (free_ref). */
static void *alloc_cpu(size_t bytes)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 1) != 0) return NULL;
    memset(p, 0, bytes ? bytes : 1);
    return p;
}

/* ---- batches ------------------------------------------------------------------------ */

typedef struct GatherJob {
    const uint8_t *images, *labels;
    const int32_t *idx;
    const BatchSpec *spec;
    float lut[NN_IMG_CH][256];
    float *x;
    int32_t *y;
} GatherJob;

/* Image i of the batch: a shifted, optionally mirrored copy of each raw
 * row through the channel's table. */
static void gather_item(void *ctx, int i, int slot)
{
    (void)slot;
    enum { S = NN_IMG_SIDE };
    const GatherJob *j = ctx;
    const BatchSpec *spec = j->spec;
    const uint8_t *img = j->images + (size_t)j->idx[i] * NN_IMG_PIXELS; /* (3, 32, 32) */
    float *out = j->x + (size_t)i * NN_IMG_PIXELS;                      /* (3, 32, 32) */
    uint32_t draw = spec->augment == AUG_NONE ? 0 : rng_u32_at(spec->seed, spec->hi, (uint64_t)i);
    int flip = spec->augment != AUG_NONE && (draw & 1u);
    int dr = 0, dc = 0; /* shift of the window against the raw image, -4..4 */
    if (spec->augment == AUG_CROP_FLIP) {
        dr = (int)((draw >> 1) % NN_CROP_SPAN) - NN_CROP_PAD;
        dc = (int)((draw >> 5) % NN_CROP_SPAN) - NN_CROP_PAD;
    }
    /* cropped columns [lo, hi) come from raw columns [lo + dc, hi + dc) */
    int lo = dc < 0 ? -dc : 0, hi = dc > 0 ? S - dc : S;
    for (int c = 0; c < NN_IMG_CH; c++) {
        const float *t = j->lut[c];
        float pad = t[0];
        for (int h = 0; h < S; h++) {
            float *dst = out + (c * S + h) * S;
            int rh = h + dr;
            if (rh < 0 || rh >= S) {
                for (int w = 0; w < S; w++) dst[w] = pad;
                continue;
            }
            const uint8_t *src = img + (c * S + rh) * S + dc;
            if (!flip && lo == 0 && hi == S) {
                for (int w = 0; w < S; w++) dst[w] = t[src[w]];
                continue;
            }
            float row[S];
            for (int w = 0; w < lo; w++) row[w] = pad;
            for (int w = lo; w < hi; w++) row[w] = t[src[w]];
            for (int w = hi; w < S; w++) row[w] = pad;
            if (flip)
                for (int w = 0; w < S; w++) dst[w] = row[S - 1 - w];
            else
                memcpy(dst, row, sizeof row);
        }
    }
    j->y[i] = j->labels[j->idx[i]];
}

/* As gather_batch_ref: a per-channel table maps the 256 byte values to
 * normalized floats (the same float expression, so bit-identical); images
 * in parallel. */
static void gather_batch_cpu(const uint8_t *images, const uint8_t *labels, const int32_t *idx,
                             int B, const BatchSpec *spec, float *x /* (B, 3, 32, 32) */,
                             int32_t *y /* (B) */)
{
    GatherJob j = {.images = images, .labels = labels, .idx = idx, .spec = spec, .x = x, .y = y};
    for (int c = 0; c < NN_IMG_CH; c++)
        for (int v = 0; v < 256; v++)
            j.lut[c][v] = ((float)v / 255.0f - spec->mean[c]) / spec->std[c];
    cpu_parallel(gather_item, &j, B, 0);
}

/* ---- dense layer ----------------------------------------------------------------------- */

/* Pieces of a dense layer's work: column blocks of y (forward, over OC) or
 * of x, dx and w (backward, over C). */
typedef struct LinearJob {
    const float *x, *w, *b, *dy;
    float *y, *dx, *dw, *db, *wu, *bu;
    int B, C, OC, pieces, has_act, dense; /* dense: cpu_dense_forward */
    ActKind act;
    float lr, wd;
} LinearJob;

/* y[:, lo:hi] = act(x . w[lo:hi]^T + b[lo:hi]): for small batches
 * cpu_dense_forward, else bias rows copied in and one sgemm with beta = 1
 * adding the product; the activation on the block while it is in cache. */
static void linear_forward_piece(const void *ctx, int piece)
{
    const LinearJob *j = ctx;
    int lo, hi;
    piece_range(j->OC, j->pieces, piece, &lo, &hi);
    if (hi <= lo) return;
    int n = hi - lo;
    if (j->dense) {
        cpu_dense_forward(j->x, j->w, j->b, j->y, j->B, j->C, j->OC, lo, hi);
    } else {
        float beta = 0.0f;
        if (j->b) {
            for (int r = 0; r < j->B; r++)
                memcpy(j->y + (size_t)r * j->OC + lo, j->b + lo, sizeof(float) * (size_t)n);
            beta = 1.0f;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->B, n, j->C, 1.0f, j->x, j->C,
                    j->w + (size_t)lo * j->C, j->C, beta, j->y + lo, j->OC);
    }
    if (j->has_act)
        for (int r = 0; r < j->B; r++) {
            float *row = j->y + (size_t)r * j->OC + lo;
            cpu_act_forward_range(j->act, row, row, (size_t)n);
        }
}

/* Pieces: OpenBLAS's by the shape (gemm_pieces). cpu_dense_forward's y
 * values are the same for any split of the columns, so its pieces follow
 * the thread count: one per thread (at one thread one piece, where a cut
 * by the shape would pack x once per piece). */
static void linear_forward_run(const float *x, const float *w, const float *b, float *y, int B,
                               int C, int OC, int has_act, ActKind act)
{
    cpu_blas_single_thread();
    double flops = 2.0 * B * C * OC;
    int dense = B <= CPU_DENSE_MAX_B && cpu_avx2_fma_available();
    LinearJob j = {.x = x, .w = w, .b = b, .y = y, .B = B, .C = C, .OC = OC,
                   .pieces = dense ? split_pieces(flops, OC, cpu_threads(), 16)
                                   : gemm_pieces(flops, OC),
                   .has_act = has_act, .dense = dense, .act = act};
    run_pieces(linear_forward_piece, &j, j.pieces);
}

/* y (B, OC) = x (B, C) . w (OC, C)^T + b */
static void linear_forward_cpu(const float *x, const float *w, const float *b, float *y, int B,
                               int C, int OC)
{
    linear_forward_run(x, w, b, y, B, C, OC, 0, ACT_RELU);
}

/* y = act(x . w^T + b) */
static void linear_forward_act_cpu(const float *x, const float *w, const float *b, float *y, int B,
                                   int C, int OC, ActKind act)
{
    linear_forward_run(x, w, b, y, B, C, OC, 1, act);
}

/* db (OC) = column sums of dy (B, OC), in row order */
static void bias_grad(const float *dy, float *db, int B, int OC)
{
    memset(db, 0, sizeof(float) * (size_t)OC);
    for (int r = 0; r < B; r++) {
        const float *row = dy + (size_t)r * OC;
        for (int o = 0; o < OC; o++) db[o] += row[o];
    }
}

/* Columns [lo, hi) of C: dx[:, lo:hi] = dy . w[:, lo:hi] (w before any
 * update), then either dw[:, lo:hi] = dy^T . x[:, lo:hi] or, fused with
 * SGD, w[:, lo:hi] = (1 - lr wd) w[:, lo:hi] - lr dy^T . x[:, lo:hi].
 * Piece 0 also does the bias. */
static void linear_backward_piece(const void *ctx, int piece)
{
    const LinearJob *j = ctx;
    int lo, hi;
    piece_range(j->C, j->pieces, piece, &lo, &hi);
    if (hi > lo) {
        int n = hi - lo;
        const float *w = j->wu ? j->wu : j->w;
        if (j->dx)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, j->B, n, j->OC, 1.0f, j->dy,
                        j->OC, w + lo, j->C, 0.0f, j->dx + lo, j->C);
        if (j->wu)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, j->OC, n, j->B, -j->lr, j->dy,
                        j->OC, j->x + lo, j->C, 1.0f - j->lr * j->wd, j->wu + lo, j->C);
        else
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, j->OC, n, j->B, 1.0f, j->dy,
                        j->OC, j->x + lo, j->C, 0.0f, j->dw + lo, j->C);
    }
    if (piece != 0) return;
    if (j->db) bias_grad(j->dy, j->db, j->B, j->OC);
    if (j->bu) {
        /* b -= lr (sum_r dy[r] + wd b), the sum in row order as bias_grad */
        for (int o = 0; o < j->OC; o++) {
            float g = 0.0f;
            for (int r = 0; r < j->B; r++) g += j->dy[(size_t)r * j->OC + o];
            j->bu[o] = j->bu[o] - j->lr * (g + j->wd * j->bu[o]);
        }
    }
}

/* dw (OC, C) = dy^T (OC, B) . x (B, C); dx (B, C) = dy (B, OC) . w (OC, C);
 * db (OC) = column sums of dy. */
static void linear_backward_cpu(const float *dy, const float *x, const float *w, float *dx,
                                float *dw, float *db, int B, int C, int OC)
{
    cpu_blas_single_thread();
    double flops = 2.0 * B * C * OC * (dx ? 2 : 1);
    LinearJob j = {.x = x, .w = w, .dy = dy, .dx = dx, .dw = dw, .db = db, .B = B, .C = C,
                   .OC = OC, .pieces = gemm_pieces(flops, C)};
    run_pieces(linear_backward_piece, &j, j.pieces);
}

/* linear_backward followed by plain SGD on w and b: no gradient written. */
static void linear_backward_sgd_cpu(const float *dy, const float *x, float *w, float *b, float *dx,
                                    int B, int C, int OC, float lr, float wd)
{
    cpu_blas_single_thread();
    double flops = 2.0 * B * C * OC * (dx ? 2 : 1);
    LinearJob j = {.x = x, .dy = dy, .dx = dx, .wu = w, .bu = b, .B = B, .C = C, .OC = OC,
                   .pieces = gemm_pieces(flops, C), .lr = lr, .wd = wd};
    run_pieces(linear_backward_piece, &j, j.pieces);
}

/* ---- loss ---------------------------------------------------------------------------------- */

/* As softmax_xent_ref, per sample by xent_sample (shared_math.h), losses summed
 * in double in sample order. Serial: B * K is small (320 values at B = 32,
 * a few microseconds). */
static void softmax_xent_cpu(const float *logits, const int32_t *labels, int B, int K,
                             float label_smoothing, float *dlogits, double *acc)
{
    double loss_sum = 0.0, n_correct = 0.0;
    for (int b = 0; b < B; b++) {
        int label = labels[b], correct;
        NN_CHECK(label >= 0 && label < K, "softmax_xent: label %d of sample %d not in [0, %d)", label,
                 b, K);
        loss_sum += xent_sample(logits + (size_t)b * K, label, K, label_smoothing, B,
                                dlogits ? dlogits + (size_t)b * K : NULL, &correct);
        n_correct += correct;
    }
    acc[0] += loss_sum;
    acc[1] += n_correct;
}

/* Memory ops are those of ref (host memory: memcpy/memset are already
 * optimal), except alloc, which aligns to 64 bytes. */
const Backend nn_backend_cpu = {
    .name = "cpu",
    .host_memory = 1,
    .alloc = alloc_cpu,
    .free = free_ref,
    .upload = upload_ref,
    .download = download_ref,
    .copy = copy_ref,
    .zero = zero_ref,
    .sync = sync_ref,
    .gather_batch = gather_batch_cpu,
    .linear_forward = linear_forward_cpu,
    .linear_backward = linear_backward_cpu,
    .conv2d_workspace_floats = conv2d_workspace_floats_cpu,
    .conv2d_forward = conv2d_forward_cpu,
    .conv2d_backward = conv2d_backward_cpu,
    .maxpool2d_forward = maxpool2d_forward_cpu,
    .maxpool2d_backward = maxpool2d_backward_cpu,
    .batchnorm_forward_train = batchnorm_forward_train_cpu,
    .batchnorm_forward_eval = batchnorm_forward_eval_cpu,
    .batchnorm_backward = batchnorm_backward_cpu,
    .act_forward = act_forward_cpu,
    .act_backward = act_backward_cpu,
    .dropout_forward = dropout_forward_cpu,
    .mul = mul_cpu,
    .softmax_xent = softmax_xent_cpu,
    .sgd_step = sgd_step_cpu,
    .adam_step = adam_step_cpu,
    .linear_forward_act = linear_forward_act_cpu,
    .linear_backward_sgd = linear_backward_sgd_cpu,
    .conv2d_forward_act_pool = conv2d_forward_act_pool_cpu,
    .conv2d_backward_act_pool = conv2d_backward_act_pool_cpu,
    .batchnorm_act_pool_workspace_floats = batchnorm_act_pool_workspace_floats_cpu,
    .batchnorm_act_pool_forward = batchnorm_act_pool_forward_cpu,
    .batchnorm_act_pool_backward = batchnorm_act_pool_backward_cpu,
    .conv2d_backward_bn_act_pool = conv2d_backward_bn_act_pool_cpu,
    .conv2d_forward_bn_act_pool = conv2d_forward_bn_act_pool_cpu,
};
