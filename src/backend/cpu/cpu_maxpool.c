/* cpu_maxpool.c - max pooling of the cpu backend; the specification is
 * ref.c (maxpool2d_*_ref). Planes in parallel, in items of about
 * CPU_CHUNK input values. The comparisons are selects, not branches: on
 * random data a branch per comparison mispredicted about every other time
 * (the 2x2 forward took 4.6 ms per CNN step at B = 32 before, 0.4 ms now).
 */
#include <math.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "backend/cpu/cpu.h"

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

#if defined(__SSE2__)
/* The even and odd columns of the 8 floats at p: the first and second
 * value of a window row, for four 2 x 2 windows. */
static inline void pool_pairs4(const float *p, __m128 *even, __m128 *odd)
{
    __m128 lo = _mm_loadu_ps(p), hi = _mm_loadu_ps(p + 4);
    *even = _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
    *odd = _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
}

/* m ? a : b, lane by lane (m all ones or all zeros) */
static inline __m128 pool_select4(__m128 m, __m128 a, __m128 b)
{
    return _mm_or_ps(_mm_and_ps(m, a), _mm_andnot_ps(m, b));
}

/* Outputs jj .. jj + 3 of pool_row2, with the same selects four at a
 * time (v[0..3]: a, b, c, d of four windows; sv: the same places of
 * src). */
static inline void pool4_row2(const float *r0, const float *s0, int W, int at0, int jj, float *y,
                              int32_t *idx, float *zs)
{
    __m128 v[4], sv[4] = {_mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps()};
    pool_pairs4(r0 + 2 * jj, &v[0], &v[1]);
    pool_pairs4(r0 + W + 2 * jj, &v[2], &v[3]);
    if (s0) {
        pool_pairs4(s0 + 2 * jj, &sv[0], &sv[1]);
        pool_pairs4(s0 + W + 2 * jj, &sv[2], &sv[3]);
    }
    __m128i a = _mm_add_epi32(_mm_set1_epi32(at0 + 2 * jj), _mm_setr_epi32(0, 2, 4, 6));
    __m128i at[4] = {a, _mm_add_epi32(a, _mm_set1_epi32(1)), _mm_add_epi32(a, _mm_set1_epi32(W)),
                     _mm_add_epi32(a, _mm_set1_epi32(W + 1))};
    __m128 best = v[0], bz = sv[0];
    __m128i bat = at[0];
    for (int k = 1; k < 4; k++) {
        __m128 take = _mm_or_ps(_mm_cmpgt_ps(v[k], best), _mm_cmpunord_ps(v[k], v[k]));
        best = pool_select4(take, v[k], best);
        bat = _mm_castps_si128(pool_select4(take, _mm_castsi128_ps(at[k]), _mm_castsi128_ps(bat)));
        if (s0) bz = pool_select4(take, sv[k], bz);
    }
    _mm_storeu_ps(y + jj, best);
    if (idx) _mm_storeu_si128((__m128i *)(idx + jj), bat);
    if (s0) _mm_storeu_ps(zs + jj, bz);
}
#endif

/* The 2x2 case, the common one, with its four candidates in scan order
 * (a, b on the first row, c, d on the second) written out: row i of the
 * output, OW values. Same selects as pool_window; with src, zs[jj] = src
 * at the winner's place. With SSE2, rows of at least four outputs go four
 * at a time (pool4_row2), the last four overlapping the ones before where
 * OW is not a multiple of 4 (a scalar tail of selects compiled to
 * branches, and 1-3 outputs of 5 or 14 per row, cost more than it saved). */
static void pool_row2(const float *plane, const float *src, int W, int i, int OW, float *y,
                      int32_t *idx, float *zs)
{
    size_t o0 = (size_t)(2 * i) * W;
    const float *r0 = plane + o0, *r1 = r0 + W;
    int at0 = 2 * i * W, jj = 0;
#if defined(__SSE2__)
    if (OW >= 4) {
        for (; jj + 4 <= OW; jj += 4) pool4_row2(r0, src ? src + o0 : NULL, W, at0, jj, y, idx, zs);
        if (jj < OW) pool4_row2(r0, src ? src + o0 : NULL, W, at0, OW - 4, y, idx, zs);
        return;
    }
#endif
    for (; jj < OW; jj++) {
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
        if (src) zs[jj] = src[at];
    }
}

void cpu_maxpool_plane(const float *plane, const float *src, int H, int W, int P, float *y,
                       int32_t *idx, float *zs)
{
    int OH = H / P, OW = W / P;
    if (P == 2) {
        for (int i = 0; i < OH; i++)
            pool_row2(plane, src, W, i, OW, y + (size_t)i * OW, idx ? idx + (size_t)i * OW : NULL,
                      src ? zs + (size_t)i * OW : NULL);
        return;
    }
    for (int i = 0; i < OH; i++)
        for (int jj = 0; jj < OW; jj++) {
            int32_t at;
            y[i * OW + jj] = pool_window(plane, W, P, i * P * W + jj * P, &at);
            if (idx) idx[i * OW + jj] = at;
            if (src) zs[i * OW + jj] = src[at];
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
        cpu_maxpool_plane(j->x + (size_t)n * in_plane, NULL, s->H, s->W, s->P,
                          j->y + (size_t)n * out_plane,
                          j->idx ? j->idx + (size_t)n * out_plane : NULL, NULL);
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
