/* cpu_elem.c - the elementwise ops of the cpu backend: activations,
 * dropout, products and the optimizer updates. Each computes what its twin
 * in ref.c computes, in float.
 *
 * The loops are written without data-dependent branches (selects, not
 * if/else), so that the compiler vectorizes them: ReLU's backward as an
 * if/else over random signs mispredicted every other element and ran at
 * ~1 ns per element; as a select it is memory-bound. Jobs are cut into
 * items of CPU_CHUNK floats (cpu_pool.c), so an op over a few thousand
 * floats runs on the calling thread.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "backend/cpu/cpu.h"
#include "backend/shared_math.h"
#include "nnsweep/rng.h"

#define CPU_SQRT1_2 0.70710678118654752440f
#define CPU_INV_SQRT_2PI 0.39894228040143267794f

/* Items of `chunk` floats over n. */
static int n_chunks(size_t n, size_t chunk) { return (int)((n + chunk - 1) / chunk); }

static void chunk_range(size_t n, size_t chunk, int item, size_t *lo, size_t *hi)
{
    *lo = (size_t)item * chunk;
    *hi = *lo + chunk < n ? *lo + chunk : n;
}

/* ---- sums ------------------------------------------------------------------------- */

#define LANES 8

static float lanes_total(const float *acc)
{
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

float cpu_sum(const float *r, size_t n)
{
    float acc[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) acc[l] += r[i + l];
    float tail = 0.0f;
    for (; i < n; i++) tail += r[i];
    return lanes_total(acc) + tail;
}

float cpu_sum_sqdev(const float *r, size_t n, float m)
{
    float acc[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) {
            float d = r[i + l] - m;
            acc[l] += d * d;
        }
    float tail = 0.0f;
    for (; i < n; i++) {
        float d = r[i] - m;
        tail += d * d;
    }
    return lanes_total(acc) + tail;
}

void cpu_sum_dot_dev(const float *g, const float *r, size_t n, float m, float s, float *sg,
                     float *sgx)
{
    float a1[LANES] = {0}, a2[LANES] = {0};
    size_t i = 0;
#if defined(__SSE2__)
    /* the lanes of the loop below, four at a time, in the same order (the
     * same bits): GCC 12 compiled that loop into shuffles and scalar adds,
     * 4.4 KB of code at about 3 cycles per element */
    const __m128 vm = _mm_set1_ps(m), vs = _mm_set1_ps(s);
    __m128 g_lo = _mm_setzero_ps(), g_hi = g_lo, x_lo = g_lo, x_hi = g_lo;
    for (; i + LANES <= n; i += LANES) {
        __m128 u = _mm_loadu_ps(g + i), v = _mm_loadu_ps(g + i + 4);
        g_lo = _mm_add_ps(g_lo, u);
        g_hi = _mm_add_ps(g_hi, v);
        x_lo = _mm_add_ps(x_lo, _mm_mul_ps(u, _mm_mul_ps(_mm_sub_ps(_mm_loadu_ps(r + i), vm), vs)));
        x_hi = _mm_add_ps(x_hi,
                          _mm_mul_ps(v, _mm_mul_ps(_mm_sub_ps(_mm_loadu_ps(r + i + 4), vm), vs)));
    }
    _mm_storeu_ps(a1, g_lo);
    _mm_storeu_ps(a1 + 4, g_hi);
    _mm_storeu_ps(a2, x_lo);
    _mm_storeu_ps(a2 + 4, x_hi);
#endif
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) {
            a1[l] += g[i + l];
            a2[l] += g[i + l] * ((r[i + l] - m) * s);
        }
    float t1 = 0.0f, t2 = 0.0f;
    for (; i < n; i++) {
        t1 += g[i];
        t2 += g[i] * ((r[i] - m) * s);
    }
    *sg = lanes_total(a1) + t1;
    *sgx = lanes_total(a2) + t2;
}

/* ---- activations ------------------------------------------------------------------ */

/* y = f(x) over n floats, one loop per kind. y may alias x. */
void cpu_act_forward_range(ActKind k, const float *x, float *y, size_t n)
{
    switch (k) {
    case ACT_RELU: /* x < 0 ? 0 : x: NaN passes */
        for (size_t i = 0; i < n; i++) {
            float v = x[i];
            y[i] = v < 0.0f ? 0.0f : v;
        }
        break;
    case ACT_TANH:
        for (size_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
        break;
    case ACT_SIGMOID:
        for (size_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    case ACT_GELU:
        for (size_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * CPU_SQRT1_2));
        break;
    case ACT_LEAKY_RELU:
        for (size_t i = 0; i < n; i++) { /* v * 1 is v exactly: a select of the factor */
            float v = x[i];
            y[i] = v * (v > 0.0f ? 1.0f : NN_LEAKY_SLOPE);
        }
        break;
    default: nn_fatal("activation kind %d out of range", (int)k);
    }
}

/* dx = dy * f'(x), f' as act_grad_ref. dx may alias dy. */
void cpu_act_backward_range(ActKind k, const float *x, const float *y, const float *dy, float *dx,
                            size_t n)
{
    switch (k) {
    case ACT_RELU: /* loads outside the select, so that it vectorizes */
        for (size_t i = 0; i < n; i++) {
            float g = dy[i];
            dx[i] = y[i] <= 0.0f ? 0.0f : g;
        }
        break;
    case ACT_TANH:
        for (size_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
        break;
    case ACT_SIGMOID:
        for (size_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i]) * y[i];
        break;
    case ACT_GELU:
        for (size_t i = 0; i < n; i++) {
            float cdf = 0.5f * (1.0f + erff(x[i] * CPU_SQRT1_2));
            float pdf = CPU_INV_SQRT_2PI * expf(-0.5f * x[i] * x[i]);
            dx[i] = dy[i] * (cdf + x[i] * pdf);
        }
        break;
    case ACT_LEAKY_RELU:
        for (size_t i = 0; i < n; i++) dx[i] = dy[i] * (x[i] > 0.0f ? 1.0f : NN_LEAKY_SLOPE);
        break;
    default: nn_fatal("activation kind %d out of range", (int)k);
    }
}

/* Chunk size of an activation: shorter for the transcendental ones. */
static size_t act_chunk(ActKind k)
{
    return k == ACT_RELU || k == ACT_LEAKY_RELU ? CPU_CHUNK : CPU_CHUNK_MATH;
}

typedef struct ActJob {
    ActKind k;
    const float *x, *y, *dy;
    float *out;
    size_t n, chunk;
} ActJob;

static void act_forward_item(void *ctx, int item, int slot)
{
    (void)slot;
    const ActJob *j = ctx;
    size_t lo, hi;
    chunk_range(j->n, j->chunk, item, &lo, &hi);
    cpu_act_forward_range(j->k, j->x + lo, j->out + lo, hi - lo);
}

static void act_backward_item(void *ctx, int item, int slot)
{
    (void)slot;
    const ActJob *j = ctx;
    size_t lo, hi;
    chunk_range(j->n, j->chunk, item, &lo, &hi);
    cpu_act_backward_range(j->k, j->x + lo, j->y + lo, j->dy + lo, j->out + lo, hi - lo);
}

void act_forward_cpu(ActKind k, const float *x, float *y, size_t n)
{
    ActJob j = {k, x, NULL, NULL, y, n, act_chunk(k)};
    cpu_parallel(act_forward_item, &j, n_chunks(n, j.chunk), 0);
}

void act_backward_cpu(ActKind k, const float *x, const float *y, const float *dy, float *dx,
                      size_t n)
{
    ActJob j = {k, x, y, dy, dx, n, act_chunk(k)};
    cpu_parallel(act_backward_item, &j, n_chunks(n, j.chunk), 0);
}

/* ---- dropout and elementwise product ---------------------------------------------- */

typedef struct DropoutJob {
    const float *x;
    float *y, *mask;
    size_t n, G, n_groups, n_blocks, blocks_per_item;
    float p, scale;
    uint64_t seed, hi;
} DropoutJob;

/* Philox4x32-10 of PHILOX_LANES consecutive counters (lo0, lo0 + 1, ...)
 * at once: rng.h's rng_philox, one lane per counter. A scalar call per
 * block (the compiler does not vectorize its 32 x 32 -> 64-bit products)
 * took ~6% of an MLP step with three dropout layers; with SSE2, four
 * lanes per register. w[t][l]: word t of block lo0 + l. */
#define PHILOX_LANES 8
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u
#if defined(__SSE2__)
/* hi and lo 32-bit halves of m * a, lane by lane */
static inline void mulhilo4(__m128i a, __m128i m, __m128i *hi, __m128i *lo)
{
    const __m128i low = _mm_set1_epi64x(0xFFFFFFFFll), high = _mm_slli_epi64(low, 32);
    __m128i even = _mm_mul_epu32(a, m);                     /* lanes 0, 2 */
    __m128i odd = _mm_mul_epu32(_mm_srli_epi64(a, 32), m);  /* lanes 1, 3 */
    *lo = _mm_or_si128(_mm_and_si128(even, low), _mm_slli_epi64(odd, 32));
    *hi = _mm_or_si128(_mm_srli_epi64(even, 32), _mm_and_si128(odd, high));
}

static void philox_lanes(uint64_t key, uint64_t hi, uint64_t lo0, uint32_t w[4][PHILOX_LANES])
{
    const __m128i m0 = _mm_set1_epi32((int)PHILOX_M0), m1 = _mm_set1_epi32((int)PHILOX_M1);
    for (int h = 0; h < PHILOX_LANES; h += 4) {
        uint32_t lo_w[4], hi_w[4];
        for (int l = 0; l < 4; l++) {
            uint64_t lo = lo0 + (uint64_t)(h + l);
            lo_w[l] = (uint32_t)lo, hi_w[l] = (uint32_t)(lo >> 32);
        }
        __m128i c0 = _mm_loadu_si128((const __m128i *)lo_w);
        __m128i c1 = _mm_loadu_si128((const __m128i *)hi_w);
        __m128i c2 = _mm_set1_epi32((int)(uint32_t)hi), c3 = _mm_set1_epi32((int)(hi >> 32));
        uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
        for (int r = 0; r < 10; r++) {
            __m128i h0, l0, h1, l1;
            mulhilo4(c0, m0, &h0, &l0);
            mulhilo4(c2, m1, &h1, &l1);
            c0 = _mm_xor_si128(_mm_xor_si128(h1, c1), _mm_set1_epi32((int)k0));
            c2 = _mm_xor_si128(_mm_xor_si128(h0, c3), _mm_set1_epi32((int)k1));
            c1 = l1, c3 = l0;
            k0 += PHILOX_W0, k1 += PHILOX_W1;
        }
        _mm_storeu_si128((__m128i *)(w[0] + h), c0), _mm_storeu_si128((__m128i *)(w[1] + h), c1);
        _mm_storeu_si128((__m128i *)(w[2] + h), c2), _mm_storeu_si128((__m128i *)(w[3] + h), c3);
    }
}
#else
static void philox_lanes(uint64_t key, uint64_t hi, uint64_t lo0, uint32_t w[4][PHILOX_LANES])
{
    for (int l = 0; l < PHILOX_LANES; l++) {
        uint32_t b[4];
        rng_philox(key, hi, lo0 + (uint64_t)l, b);
        for (int t = 0; t < 4; t++) w[t][l] = b[t];
    }
}
#endif

/* m[4 l + t] = rng_u01(w[t][l]) >= p ? scale : 0: the multipliers of the
 * groups of PHILOX_LANES blocks, in group order. With SSE2 four at a time
 * and transposed into place (written as scalar selects, GCC 12 made 32
 * branches on random data of them: ~20 cycles per value). */
static void dropout_multipliers(uint32_t w[4][PHILOX_LANES], float p, float scale,
                                float m[4 * PHILOX_LANES])
{
#if defined(__SSE2__)
    const __m128 vp = _mm_set1_ps(p), vs = _mm_set1_ps(scale);
    const __m128 unit = _mm_set1_ps(1.0f / 16777216.0f);
    for (int h = 0; h < PHILOX_LANES; h += 4) {
        __m128 r[4]; /* r[t]: the multipliers of word t of blocks h .. h + 3 */
        for (int t = 0; t < 4; t++) {
            __m128i top = _mm_srli_epi32(_mm_loadu_si128((const __m128i *)(w[t] + h)), 8);
            __m128 u = _mm_mul_ps(_mm_cvtepi32_ps(top), unit); /* rng_u01, exactly */
            r[t] = _mm_and_ps(_mm_cmpge_ps(u, vp), vs);
        }
        _MM_TRANSPOSE4_PS(r[0], r[1], r[2], r[3]);
        for (int l = 0; l < 4; l++) _mm_storeu_ps(m + 4 * (h + l), r[l]);
    }
#else
    for (int t = 0; t < 4; t++)
        for (int l = 0; l < PHILOX_LANES; l++) m[4 * l + t] = rng_u01(w[t][l]) >= p ? scale : 0.0f;
#endif
}

/* Blocks of four groups: one Philox draw gives the uniforms of four
 * consecutive groups (rng_uniform_at's words); PHILOX_LANES blocks are
 * drawn together. */
static void dropout_item(void *ctx, int item, int slot)
{
    (void)slot;
    const DropoutJob *j = ctx;
    size_t b0 = (size_t)item * j->blocks_per_item;
    size_t b1 = b0 + j->blocks_per_item < j->n_blocks ? b0 + j->blocks_per_item : j->n_blocks;
    for (size_t blk0 = b0; blk0 < b1; blk0 += PHILOX_LANES) {
        uint32_t words[4][PHILOX_LANES];
        float m[4 * PHILOX_LANES]; /* the multipliers of groups g0.. */
        philox_lanes(j->seed, j->hi, blk0, words);
        dropout_multipliers(words, j->p, j->scale, m);
        size_t g0 = blk0 * 4, g1 = b1 * 4 < g0 + 4 * PHILOX_LANES ? b1 * 4 : g0 + 4 * PHILOX_LANES;
        if (g1 > j->n_groups) g1 = j->n_groups;
        if (j->G == 1) { /* dropout: one value per group */
            for (size_t g = g0; g < g1; g++) {
                j->mask[g] = m[g - g0];
                j->y[g] = j->x[g] * m[g - g0];
            }
            continue;
        }
        for (size_t g = g0; g < g1; g++) {
            size_t i0 = g * j->G, i1 = i0 + j->G < j->n ? i0 + j->G : j->n;
            float mg = m[g - g0];
            for (size_t i = i0; i < i1; i++) {
                j->mask[i] = mg;
                j->y[i] = j->x[i] * mg;
            }
        }
    }
}

/* As dropout_forward_ref; items of about CPU_CHUNK_MATH draws or
 * CPU_CHUNK values, whichever comes first. */
void dropout_forward_cpu(const float *x, float *y, float *mask, size_t n, int group, float p,
                         uint64_t seed, uint64_t hi)
{
    NN_CHECK(group >= 1, "dropout: group %d < 1", group);
    size_t G = (size_t)group, n_groups = (n + G - 1) / G;
    size_t per_item = CPU_CHUNK / (4 * G);
    if (per_item > CPU_CHUNK_MATH / 4) per_item = CPU_CHUNK_MATH / 4;
    if (per_item < 1) per_item = 1;
    DropoutJob j = {x, y, mask, n, G, n_groups, (n_groups + 3) / 4, per_item, p,
                    p < 1.0f ? 1.0f / (1.0f - p) : 0.0f, seed, hi};
    cpu_parallel(dropout_item, &j, (int)((j.n_blocks + per_item - 1) / per_item), 0);
}

typedef struct MulJob {
    const float *a, *b;
    float *y;
    size_t n;
} MulJob;

static void mul_item(void *ctx, int item, int slot)
{
    (void)slot;
    const MulJob *j = ctx;
    size_t lo, hi;
    chunk_range(j->n, CPU_CHUNK, item, &lo, &hi);
    const float *a = j->a, *b = j->b;
    float *y = j->y;
    for (size_t i = lo; i < hi; i++) y[i] = a[i] * b[i];
}

/* y = a * b */
void mul_cpu(const float *a, const float *b, float *y, size_t n)
{
    MulJob j = {a, b, y, n};
    cpu_parallel(mul_item, &j, n_chunks(n, CPU_CHUNK), 0);
}

/* ---- optimizers -------------------------------------------------------------------- */

typedef struct OptJob {
    float *w, *buf, *m, *v;
    const float *g;
    size_t n;
    float lr, momentum, wd;
    int nesterov, first;
    /* adam */
    float beta1, beta2, eps, step_size, bc2_sqrt, l2, wmul;
} OptJob;

/* As sgd_step_ref, one loop per variant (no test inside the loop). */
static void sgd_item(void *ctx, int item, int slot)
{
    (void)slot;
    const OptJob *j = ctx;
    size_t lo, hi;
    chunk_range(j->n, CPU_CHUNK, item, &lo, &hi);
    float *restrict w = j->w, *restrict buf = j->buf;
    const float *restrict g = j->g;
    float lr = j->lr, mom = j->momentum, wd = j->wd;
    if (mom == 0.0f) {
        if (wd == 0.0f)
            for (size_t i = lo; i < hi; i++) w[i] = w[i] - lr * g[i];
        else
            for (size_t i = lo; i < hi; i++) w[i] = w[i] - lr * (g[i] + wd * w[i]);
        return;
    }
    const int first = j->first, nesterov = j->nesterov;
    for (size_t i = lo; i < hi; i++) {
        float gi = wd != 0.0f ? g[i] + wd * w[i] : g[i];
        float bi = first ? gi : mom * buf[i] + gi;
        buf[i] = bi;
        float d = nesterov ? gi + mom * bi : bi;
        w[i] = w[i] - lr * d;
    }
}

void sgd_step_cpu(float *w, const float *g, float *buf, size_t n, float lr, float momentum,
                  float wd, int nesterov, int first)
{
    OptJob j = {.w = w, .buf = buf, .g = g, .n = n, .lr = lr, .momentum = momentum, .wd = wd,
                .nesterov = nesterov, .first = first};
    cpu_parallel(sgd_item, &j, n_chunks(n, CPU_CHUNK), 0);
}

/* As adam_step_ref. */
static void adam_item(void *ctx, int item, int slot)
{
    (void)slot;
    const OptJob *j = ctx;
    size_t lo, hi;
    chunk_range(j->n, CPU_CHUNK, item, &lo, &hi);
    float *restrict w = j->w, *restrict m = j->m, *restrict v = j->v;
    const float *restrict g = j->g;
    const float b1 = j->beta1, b2 = j->beta2, wmul = j->wmul, l2 = j->l2;
    const float step_size = j->step_size, bc2_sqrt = j->bc2_sqrt, eps = j->eps;
    for (size_t i = lo; i < hi; i++)
        adam_update(&w[i], g[i], &m[i], &v[i], b1, b2, eps, step_size, bc2_sqrt, wmul, l2);
}

void adam_step_cpu(float *w, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                   float beta2, float eps, float wd, int decoupled, int step)
{
    NN_CHECK(step >= 1, "adam_step: step %d, counts from 1", step);
    double bc1 = 1.0 - pow(beta1, step), bc2 = 1.0 - pow(beta2, step);
    float decay = (float)(1.0 - (double)lr * wd);
    OptJob j = {.w = w, .m = m, .v = v, .g = g, .n = n, .beta1 = beta1, .beta2 = beta2, .eps = eps,
                .step_size = (float)(lr / bc1), .bc2_sqrt = (float)sqrt(bc2),
                .l2 = decoupled ? 0.0f : wd, .wmul = decoupled && wd != 0.0f ? decay : 1.0f};
    cpu_parallel(adam_item, &j, n_chunks(n, CPU_CHUNK), 0);
}
