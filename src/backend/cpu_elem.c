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

#include "backend/backend_impl.h"
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

/* Blocks of four groups: one Philox draw gives the uniforms of four
 * consecutive groups (rng_uniform_at's words). */
static void dropout_item(void *ctx, int item, int slot)
{
    (void)slot;
    const DropoutJob *j = ctx;
    size_t b0 = (size_t)item * j->blocks_per_item;
    size_t b1 = b0 + j->blocks_per_item < j->n_blocks ? b0 + j->blocks_per_item : j->n_blocks;
    for (size_t blk = b0; blk < b1; blk++) {
        uint32_t words[4];
        rng_philox(j->seed, j->hi, blk, words);
        for (size_t t = 0; t < 4; t++) {
            size_t g = blk * 4 + t;
            if (g >= j->n_groups) break;
            float m = rng_u01(words[t]) >= j->p ? j->scale : 0.0f;
            size_t i0 = g * j->G, i1 = i0 + j->G < j->n ? i0 + j->G : j->n;
            for (size_t i = i0; i < i1; i++) {
                j->mask[i] = m;
                j->y[i] = j->x[i] * m;
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
    const float b1 = j->beta1, b2 = j->beta2, c1 = 1.0f - b1, c2 = 1.0f - b2, wmul = j->wmul;
    const float l2 = j->l2, step_size = j->step_size, bc2_sqrt = j->bc2_sqrt, eps = j->eps;
    for (size_t i = lo; i < hi; i++) {
        float wi = w[i] * wmul;
        float gi = l2 != 0.0f ? g[i] + l2 * wi : g[i];
        float mi = b1 * m[i] + c1 * gi;
        float vi = b2 * v[i] + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] = wi - step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
    }
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
