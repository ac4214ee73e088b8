/* cpu.c - the fast host backend: OpenBLAS for the GEMMs, OpenMP for the
 * loops. Every op computes what its twin in ref.c computes (the
 * specification; tests/unit/test_backend_ops.c checks them against each
 * other to 1e-5); only the order of float operations differs.
 *
 * This file: the table, memory, batches, dense layer, activations, dropout,
 * loss and optimizers. cpu_conv.c: convolution and pooling; cpu_norm.c:
 * batch norm.
 *
 * Threads: one pool, OpenMP's. OpenBLAS (Debian's pthread build, with its
 * own spinning worker pool) is kept at one thread; cpu_sgemm splits a large
 * product into column blocks over the OpenMP threads, and cpu_conv.c runs
 * whole images per thread. Measured on 2 cores (EPYC, at real-time priority
 * to shut out other load), an MLP 3072-256-256-256-10 training step at
 * B = 32: one pool 2.2-3.6 ms, OpenBLAS's threads for the GEMMs plus
 * OpenMP for the rest 10-59 ms (the two pools' spinning workers fight over
 * the cores), one thread 4.1-4.6 ms.
 * Small loops stay serial (the `if` clauses): waking a thread team costs
 * more than a few thousand flops.
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "backend/backend_impl.h"
#include "nnsweep/rng.h"

/* ---- threads and workspace slots -------------------------------------------- */

int cpu_ws_slots(void)
{
    static int slots; /* set once; the value is the same for every thread */
    int n = __atomic_load_n(&slots, __ATOMIC_RELAXED);
    if (n == 0) {
        n = omp_get_num_procs();
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

/* Below this many flops one thread does the whole product (~25 us). */
#define CPU_GEMM_PAR_FLOPS 1e6

void cpu_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc)
{
    cpu_blas_single_thread();
    enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
    int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
    double flops = 2.0 * M * N * K;
    if (nt > 1 && flops / nt < CPU_GEMM_PAR_FLOPS / 2) nt = (int)(flops / (CPU_GEMM_PAR_FLOPS / 2));
    if (nt <= 1) {
        cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    /* blocks of the longer side of C, multiples of 16 (whole cache lines) */
    int split_n = N >= M, len = split_n ? N : M;
    int n_units = (len + 15) / 16;
    if (nt > n_units) nt = n_units;
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        int lo = (int)((long)n_units * t / n) * 16, hi = (int)((long)n_units * (t + 1) / n) * 16;
        if (hi > len) hi = len;
        if (hi > lo) {
            if (split_n) /* C[:, lo:hi] = op(A) op(B)[:, lo:hi] */
                cblas_sgemm(CblasRowMajor, ta, tb, M, hi - lo, K, alpha, A, lda,
                            trans_b ? B + (size_t)lo * ldb : B + lo, ldb, beta, C + lo, ldc);
            else /* C[lo:hi, :] = op(A)[lo:hi, :] op(B) */
                cblas_sgemm(CblasRowMajor, ta, tb, hi - lo, N, K, alpha,
                            trans_a ? A + lo : A + (size_t)lo * lda, lda, B, ldb, beta,
                            C + (size_t)lo * ldc, ldc);
        }
    }
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

/* As gather_batch_ref: a per-channel table maps the 256 byte values to
 * normalized floats (the same float expression, so bit-identical), and each
 * output row is a shifted, optionally mirrored copy of one raw row. */
static void gather_batch_cpu(const uint8_t *images, const uint8_t *labels, const int32_t *idx,
                             int B, const BatchSpec *spec, float *x /* (B, 3, 32, 32) */,
                             int32_t *y /* (B) */)
{
    enum { S = NN_IMG_SIDE };
    float lut[NN_IMG_CH][256];
    for (int c = 0; c < NN_IMG_CH; c++)
        for (int v = 0; v < 256; v++) lut[c][v] = ((float)v / 255.0f - spec->mean[c]) / spec->std[c];

#pragma omp parallel for schedule(static) if (B >= 16)
    for (int i = 0; i < B; i++) {
        const uint8_t *img = images + (size_t)idx[i] * NN_IMG_PIXELS; /* (3, 32, 32) */
        float *out = x + (size_t)i * NN_IMG_PIXELS;                   /* (3, 32, 32) */
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
            const float *t = lut[c];
            float pad = t[0];
            for (int h = 0; h < S; h++) {
                float *dst = out + (c * S + h) * S;
                int rh = h + dr;
                if (rh < 0 || rh >= S) {
                    for (int w = 0; w < S; w++) dst[w] = pad;
                    continue;
                }
                const uint8_t *src = img + (c * S + rh) * S + dc;
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
        y[i] = labels[idx[i]];
    }
}

/* ---- dense layer ----------------------------------------------------------------------- */

/* y (B, OC) = x (B, C) . w (OC, C)^T + b: bias rows copied in, one sgemm
 * with beta = 1 adds the product. */
static void linear_forward_cpu(const float *x, const float *w, const float *b, float *y, int B,
                               int C, int OC)
{
    float beta = 0.0f;
    if (b) {
        for (int r = 0; r < B; r++) memcpy(y + (size_t)r * OC, b, sizeof(float) * (size_t)OC);
        beta = 1.0f;
    }
    cpu_sgemm(0, 1, B, OC, C, 1.0f, x, C, w, C, beta, y, OC);
}

/* dw (OC, C) = dy^T (OC, B) . x (B, C); dx (B, C) = dy (B, OC) . w (OC, C);
 * db (OC) = column sums of dy. */
static void linear_backward_cpu(const float *dy, const float *x, const float *w, float *dx,
                                float *dw, float *db, int B, int C, int OC)
{
    cpu_sgemm(1, 0, OC, C, B, 1.0f, dy, OC, x, C, 0.0f, dw, C);
    if (dx) cpu_sgemm(0, 0, B, C, OC, 1.0f, dy, OC, w, C, 0.0f, dx, C);
    if (db) {
        memset(db, 0, sizeof(float) * (size_t)OC);
        for (int r = 0; r < B; r++) {
            const float *row = dy + (size_t)r * OC;
            for (int o = 0; o < OC; o++) db[o] += row[o];
        }
    }
}

/* ---- activations ------------------------------------------------------------------------ */

#define CPU_SQRT1_2 0.70710678118654752440f
#define CPU_INV_SQRT_2PI 0.39894228040143267794f

/* y = f(x), one loop per kind (the switch is outside the loops) */
static void act_forward_cpu(ActKind k, const float *x, float *y, size_t n)
{
    switch (k) {
    case ACT_RELU:
#pragma omp parallel for simd schedule(static) if (n >= CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
        break;
    case ACT_TANH:
#pragma omp parallel for schedule(static) if (n >= CPU_PAR_MIN_MATH)
        for (size_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
        break;
    case ACT_SIGMOID:
#pragma omp parallel for schedule(static) if (n >= CPU_PAR_MIN_MATH)
        for (size_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    case ACT_GELU:
#pragma omp parallel for schedule(static) if (n >= CPU_PAR_MIN_MATH)
        for (size_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * CPU_SQRT1_2));
        break;
    case ACT_LEAKY_RELU:
#pragma omp parallel for simd schedule(static) if (n >= CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : x[i] * NN_LEAKY_SLOPE;
        break;
    default: nn_fatal("activation kind %d out of range", (int)k);
    }
}

/* dx = dy * f'(x), f' as in act_grad_ref */
static void act_backward_cpu(ActKind k, const float *x, const float *y, const float *dy, float *dx,
                             size_t n)
{
    switch (k) {
    case ACT_RELU:
#pragma omp parallel for simd schedule(static) if (n >= CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++) dx[i] = y[i] <= 0.0f ? 0.0f : dy[i];
        break;
    case ACT_TANH:
#pragma omp parallel for simd schedule(static) if (n >= CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
        break;
    case ACT_SIGMOID:
#pragma omp parallel for simd schedule(static) if (n >= CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i]) * y[i];
        break;
    case ACT_GELU:
#pragma omp parallel for schedule(static) if (n >= CPU_PAR_MIN_MATH)
        for (size_t i = 0; i < n; i++) {
            float cdf = 0.5f * (1.0f + erff(x[i] * CPU_SQRT1_2));
            float pdf = CPU_INV_SQRT_2PI * expf(-0.5f * x[i] * x[i]);
            dx[i] = dy[i] * (cdf + x[i] * pdf);
        }
        break;
    case ACT_LEAKY_RELU:
#pragma omp parallel for simd schedule(static) if (n >= CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++) dx[i] = x[i] > 0.0f ? dy[i] : dy[i] * NN_LEAKY_SLOPE;
        break;
    default: nn_fatal("activation kind %d out of range", (int)k);
    }
}

/* ---- dropout and elementwise product -------------------------------------------------- */

/* As dropout_forward_ref, drawing one Philox block (four groups' uniforms)
 * per call instead of one per group. */
static void dropout_forward_cpu(const float *x, float *y, float *mask, size_t n, int group, float p,
                                uint64_t seed, uint64_t hi)
{
    NN_CHECK(group >= 1, "dropout: group %d < 1", group);
    float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    size_t G = (size_t)group;
    size_t n_groups = (n + G - 1) / G;
    size_t n_blocks = (n_groups + 3) / 4;
#pragma omp parallel for schedule(static) if (n >= CPU_PAR_MIN_MATH)
    for (size_t blk = 0; blk < n_blocks; blk++) {
        uint32_t words[4];
        rng_philox(seed, hi, blk, words);
        for (size_t j = 0; j < 4; j++) {
            size_t g = blk * 4 + j;
            if (g >= n_groups) break;
            float m = rng_u01(words[j]) >= p ? scale : 0.0f;
            size_t i0 = g * G, i1 = i0 + G < n ? i0 + G : n;
            for (size_t i = i0; i < i1; i++) {
                mask[i] = m;
                y[i] = x[i] * m;
            }
        }
    }
}

/* y = a * b */
static void mul_cpu(const float *a, const float *b, float *y, size_t n)
{
#pragma omp parallel for simd schedule(static) if (n >= CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) y[i] = a[i] * b[i];
}

/* ---- loss ---------------------------------------------------------------------------------- */

/* As softmax_xent_ref in float per sample (log-probabilities as
 * (l - max) - log sum exp(l - max), exact for the largest logit), losses
 * summed in double; samples in parallel when there are many. */
static void softmax_xent_cpu(const float *logits, const int32_t *labels, int B, int K,
                             float label_smoothing, float *dlogits, double *acc)
{
    double loss_sum = 0.0, n_correct = 0.0;
    float ls = label_smoothing, smooth = label_smoothing / (float)K;
#pragma omp parallel for schedule(static) reduction(+ : loss_sum, n_correct) \
    if ((size_t)B * K >= CPU_PAR_MIN_MATH)
    for (int b = 0; b < B; b++) {
        const float *l = logits + (size_t)b * K;
        int label = labels[b];
        NN_CHECK(label >= 0 && label < K, "softmax_xent: label %d of sample %d not in [0, %d)", label,
                 b, K);
        int arg = 0;
        for (int k = 1; k < K; k++)
            if (l[k] > l[arg]) arg = k;
        float m = l[arg], sum_exp = 0.0f, sum_d = 0.0f;
        for (int k = 0; k < K; k++) {
            sum_exp += expf(l[k] - m);
            sum_d += l[k] - m;
        }
        float log_sum = logf(sum_exp);
        /* sum_k logp[k] = sum_k (l[k] - m) - K log_sum */
        double sum_logp = (double)sum_d - (double)K * log_sum;
        double logp_label = (double)((l[label] - m) - log_sum);
        loss_sum += -(1.0 - ls) * logp_label - (double)smooth * sum_logp;
        n_correct += arg == label;
        if (dlogits) {
            float *d = dlogits + (size_t)b * K;
            for (int k = 0; k < K; k++) {
                float target = (k == label ? 1.0f - ls : 0.0f) + smooth;
                d[k] = (expf((l[k] - m) - log_sum) - target) / (float)B;
            }
        }
    }
    acc[0] += loss_sum;
    acc[1] += n_correct;
}

/* ---- optimizers ---------------------------------------------------------------------------- */

/* As sgd_step_ref; the branches are loop-invariant (hoisted by the compiler). */
static void sgd_step_cpu(float *w, const float *g, float *buf, size_t n, float lr, float momentum,
                         float wd, int nesterov, int first)
{
    if (momentum == 0.0f) {
#pragma omp parallel for simd schedule(static) if (n >= CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            float gi = wd != 0.0f ? g[i] + wd * w[i] : g[i];
            w[i] = w[i] - lr * gi;
        }
        return;
    }
#pragma omp parallel for simd schedule(static) if (n >= CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float gi = wd != 0.0f ? g[i] + wd * w[i] : g[i];
        float bi = first ? gi : momentum * buf[i] + gi;
        buf[i] = bi;
        float d = nesterov ? gi + momentum * bi : bi;
        w[i] = w[i] - lr * d;
    }
}

/* As adam_step_ref. */
static void adam_step_cpu(float *w, const float *g, float *m, float *v, size_t n, float lr,
                          float beta1, float beta2, float eps, float wd, int decoupled, int step)
{
    NN_CHECK(step >= 1, "adam_step: step %d, counts from 1", step);
    double bc1 = 1.0 - pow(beta1, step), bc2 = 1.0 - pow(beta2, step);
    float step_size = (float)(lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
    float decay = (float)(1.0 - (double)lr * wd);
    float l2 = decoupled ? 0.0f : wd;           /* coupled: g' = g + wd w */
    float wmul = decoupled && wd != 0.0f ? decay : 1.0f; /* decoupled: w *= 1 - lr wd */
    float c1 = 1.0f - beta1, c2 = 1.0f - beta2;
#pragma omp parallel for simd schedule(static) if (n >= CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float wi = w[i] * wmul;
        float gi = l2 != 0.0f ? g[i] + l2 * wi : g[i];
        float mi = beta1 * m[i] + c1 * gi;
        float vi = beta2 * v[i] + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] = wi - step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
    }
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
};
