/* cpu_maxpool.c - max pooling of the cpu backend; the specification is
 * ref.c (maxpool2d_*_ref). Planes in parallel, in items of about
 * CPU_CHUNK input values. The comparisons are selects, not branches: on
 * random data a branch per comparison mispredicted about every other time
 * (the 2x2 forward took 4.6 ms per CNN step at B = 32 before, 0.4 ms now).
 */
#include <math.h>
#include <string.h>

#include "backend/backend_impl.h"

/* ---- max pooling --------------------------------------------------------------------- */

typedef struct PoolJob {
    const float *x, *dy;
    float *y, *dx;
    int32_t *idx;
    const int32_t *cidx;
    const PoolShape *s;
    int planes_per_item;
} PoolJob;

static int pool_items(const PoolShape *s, int *per_item)
{
    size_t in_plane = (size_t)s->H * s->W, planes = (size_t)s->B * s->C;
    size_t per = CPU_CHUNK / (in_plane ? in_plane : 1);
    if (per < 1) per = 1;
    *per_item = (int)per;
    return (int)((planes + per - 1) / per);
}

/* One output: the max of the window at (row0, col0) of plane, scanned in
 * order; a NaN replaces the running max, ties keep the first (as ref).
 * Selects rather than branches: the comparisons of random data are
 * unpredictable. */
static inline float pool_window(const float *plane, int W, int P, int at0, int32_t *best_at)
{
    float best = -INFINITY;
    int at = at0;
    for (int p = 0; p < P; p++) {
        const float *r = plane + at0 + p * W;
        for (int q = 0; q < P; q++) {
            float v = r[q];
            int take = (v > best) | (v != v);
            best = take ? v : best;
            at = take ? at0 + p * W + q : at;
        }
    }
    *best_at = at;
    return best;
}

/* The 2x2 case, the common one, with its four candidates in scan order
 * (a, b on the first row, c, d on the second) written out: row i of the
 * output, OW values. Same selects as pool_window. */
static void pool_row2(const float *plane, int W, int i, int OW, float *y, int32_t *idx)
{
    const float *r0 = plane + (size_t)(2 * i) * W, *r1 = r0 + W;
    int at0 = 2 * i * W;
    for (int jj = 0; jj < OW; jj++) {
        float a = r0[2 * jj], b = r0[2 * jj + 1], c = r1[2 * jj], d = r1[2 * jj + 1];
        int at = at0 + 2 * jj;
        float best = a; /* -inf < a unless a is -inf (then best stays -inf = a) or NaN (taken) */
        int take = (b > best) | (b != b);
        best = take ? b : best;
        at = take ? at0 + 2 * jj + 1 : at;
        take = (c > best) | (c != c);
        best = take ? c : best;
        at = take ? at0 + W + 2 * jj : at;
        take = (d > best) | (d != d);
        best = take ? d : best;
        at = take ? at0 + W + 2 * jj + 1 : at;
        y[jj] = best;
        if (idx) idx[jj] = at;
    }
}

void cpu_maxpool_plane(const float *plane, int H, int W, int P, float *y, int32_t *idx)
{
    int OH = H / P, OW = W / P;
    if (P == 2) {
        for (int i = 0; i < OH; i++)
            pool_row2(plane, W, i, OW, y + (size_t)i * OW, idx ? idx + (size_t)i * OW : NULL);
        return;
    }
    for (int i = 0; i < OH; i++)
        for (int jj = 0; jj < OW; jj++) {
            int32_t at;
            y[i * OW + jj] = pool_window(plane, W, P, i * P * W + jj * P, &at);
            if (idx) idx[i * OW + jj] = at;
        }
}

/* Planes [*n0, *n1) of item `item`. */
static void pool_planes(const PoolJob *j, int item, int *n0, int *n1)
{
    *n0 = item * j->planes_per_item;
    *n1 = *n0 + j->planes_per_item;
    if (*n1 > j->s->B * j->s->C) *n1 = j->s->B * j->s->C;
}

static void maxpool_forward_item(void *ctx, int item, int slot)
{
    (void)slot;
    const PoolJob *j = ctx;
    const PoolShape *s = j->s;
    size_t in_plane = (size_t)s->H * s->W, out_plane = (size_t)s->OH * s->OW;
    int n0, n1;
    pool_planes(j, item, &n0, &n1);
    for (int n = n0; n < n1; n++)
        cpu_maxpool_plane(j->x + (size_t)n * in_plane, s->H, s->W, s->P,
                          j->y + (size_t)n * out_plane,
                          j->idx ? j->idx + (size_t)n * out_plane : NULL);
}

/* As maxpool2d_forward_ref, planes in parallel. */
void maxpool2d_forward_cpu(const float *x, float *y, int32_t *idx, const PoolShape *s)
{
    PoolJob j = {.x = x, .y = y, .idx = idx, .s = s};
    cpu_parallel(maxpool_forward_item, &j, pool_items(s, &j.planes_per_item), 0);
}

static void maxpool_backward_item(void *ctx, int item, int slot)
{
    (void)slot;
    const PoolJob *j = ctx;
    const PoolShape *s = j->s;
    size_t in_plane = (size_t)s->H * s->W, out_plane = (size_t)s->OH * s->OW;
    int n0, n1;
    pool_planes(j, item, &n0, &n1);
    for (int n = n0; n < n1; n++) {
        float *d = j->dx + (size_t)n * in_plane;
        const float *g = j->dy + (size_t)n * out_plane;
        const int32_t *k = j->cidx + (size_t)n * out_plane;
        memset(d, 0, sizeof(float) * in_plane);
        for (size_t o = 0; o < out_plane; o++) d[k[o]] += g[o];
    }
}

/* As maxpool2d_backward_ref, planes in parallel. */
void maxpool2d_backward_cpu(const float *dy, const int32_t *idx, float *dx, const PoolShape *s)
{
    PoolJob j = {.dy = dy, .dx = dx, .cidx = idx, .s = s};
    cpu_parallel(maxpool_backward_item, &j, pool_items(s, &j.planes_per_item), 0);
}
