/* cpu_conv.c - convolution (im2col + OpenBLAS sgemm, col2im for dx) and max
 * pooling of the cpu backend; the specification is ref.c.
 *
 * Convolution works image by image: x_b (C, H, W) is unfolded into
 * col (C*K*K, OH*OW), then y_b (OC, OH*OW) = w (OC, C*K*K) . col. With more
 * than one thread the images are split between OpenMP threads, each with its
 * own slot of the workspace and single-threaded sgemms (OpenBLAS is kept at
 * one thread, cpu.c). Measured on 2 cores for CIFAR-sized layers (B = 128,
 * 3->32 at 32x32, 32->64 at 16x16, 64->128 at 8x8, K = 3): 1.3-1.5x as fast
 * as images in order with each product split over the threads, ~2x one
 * thread, because the unfolding is parallel too. With one thread, or one
 * image, the images run in order and cpu_sgemm splits each product.
 *
 * Workspace (conv2d_workspace_floats_cpu): slots = min(B, cpu_ws_slots()),
 * each slot [col (C*K*K, OH*OW) | dw partial (OC, C*K*K)]. The backward
 * pass sums the per-thread dw partials at the end.
 */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "backend/backend_impl.h"

static size_t conv_col_floats(const ConvShape *s)
{
    return (size_t)s->C * s->K * s->K * s->OH * s->OW;
}

static size_t conv_dw_floats(const ConvShape *s) { return (size_t)s->OC * s->C * s->K * s->K; }

static size_t conv_slot_floats(const ConvShape *s) { return conv_col_floats(s) + conv_dw_floats(s); }

/* 1x1 without padding: x_b itself is the unfolded matrix. */
static int conv_is_pointwise(const ConvShape *s) { return s->K == 1 && s->pad == 0; }

static int conv_slots(const ConvShape *s)
{
    int n = cpu_ws_slots();
    return n < s->B ? n : s->B;
}

/* Threads for the image loop: never more than the workspace has slots. */
static int conv_threads(const ConvShape *s)
{
    int t = omp_get_max_threads(), n = conv_slots(s);
    return t < n ? t : n;
}

size_t conv2d_workspace_floats_cpu(const ConvShape *s)
{
    return (size_t)conv_slots(s) * conv_slot_floats(s);
}

/* Valid output columns [*lo, *hi) for kernel column q: 0 <= j + q - pad < W. */
static void conv_col_range(const ConvShape *s, int q, int *lo, int *hi)
{
    int a = s->pad - q, b = s->W + s->pad - q;
    *lo = a > 0 ? a : 0;
    *hi = b < s->OW ? b : s->OW;
    if (*hi < *lo) *hi = *lo;
}

/* col[(c, p, q)][i, j] = x[c][i + p - pad][j + q - pad], 0 outside. */
static void im2col(const float *x /* (C, H, W) */, const ConvShape *s,
                   float *col /* (C*K*K, OH*OW) */)
{
    for (int c = 0; c < s->C; c++)
        for (int p = 0; p < s->K; p++)
            for (int q = 0; q < s->K; q++) {
                float *row = col + ((size_t)(c * s->K + p) * s->K + q) * s->OH * s->OW;
                int lo, hi;
                conv_col_range(s, q, &lo, &hi);
                for (int i = 0; i < s->OH; i++) {
                    float *dst = row + (size_t)i * s->OW;
                    int h = i + p - s->pad;
                    if (h < 0 || h >= s->H) {
                        memset(dst, 0, sizeof(float) * (size_t)s->OW);
                        continue;
                    }
                    const float *src = x + ((size_t)c * s->H + h) * s->W + (q - s->pad);
                    for (int j = 0; j < lo; j++) dst[j] = 0.0f;
                    for (int j = lo; j < hi; j++) dst[j] = src[j];
                    for (int j = hi; j < s->OW; j++) dst[j] = 0.0f;
                }
            }
}

/* dx = the transpose of im2col applied to col: every col entry added back
 * to the x element it was copied from. Writes all of dx. */
static void col2im(const float *col /* (C*K*K, OH*OW) */, const ConvShape *s,
                   float *dx /* (C, H, W) */)
{
    memset(dx, 0, sizeof(float) * (size_t)s->C * s->H * s->W);
    for (int c = 0; c < s->C; c++)
        for (int p = 0; p < s->K; p++)
            for (int q = 0; q < s->K; q++) {
                const float *row = col + ((size_t)(c * s->K + p) * s->K + q) * s->OH * s->OW;
                int lo, hi;
                conv_col_range(s, q, &lo, &hi);
                for (int i = 0; i < s->OH; i++) {
                    int h = i + p - s->pad;
                    if (h < 0 || h >= s->H) continue;
                    const float *src = row + (size_t)i * s->OW;
                    float *dst = dx + ((size_t)c * s->H + h) * s->W + (q - s->pad);
                    for (int j = lo; j < hi; j++) dst[j] += src[j];
                }
            }
}

/* y_b (OC, OH*OW) = w (OC, CKK) . col (CKK, OH*OW) + bias */
static void conv_forward_image(const float *x, const float *w, const float *bias, float *y,
                               const ConvShape *s, float *col)
{
    int CKK = s->C * s->K * s->K, P = s->OH * s->OW;
    const float *src = x;
    if (!conv_is_pointwise(s)) {
        im2col(x, s, col);
        src = col;
    }
    float beta = 0.0f;
    if (bias) {
        for (int o = 0; o < s->OC; o++)
            for (int k = 0; k < P; k++) y[(size_t)o * P + k] = bias[o];
        beta = 1.0f;
    }
    cpu_sgemm(0, 0, s->OC, P, CKK, 1.0f, w, CKK, src, P, beta, y, P);
}

void conv2d_forward_cpu(const float *x, const float *w, const float *b, float *y,
                        const ConvShape *s, float *ws)
{
    size_t xs = (size_t)s->C * s->H * s->W, ys = (size_t)s->OC * s->OH * s->OW;
    size_t slot = conv_slot_floats(s);
    int T = conv_threads(s);
    if (T <= 1) {
        for (int i = 0; i < s->B; i++) conv_forward_image(x + i * xs, w, b, y + i * ys, s, ws);
        return;
    }
#pragma omp parallel num_threads(T)
    {
        float *col = ws + (size_t)omp_get_thread_num() * slot;
#pragma omp for schedule(static)
        for (int i = 0; i < s->B; i++) conv_forward_image(x + i * xs, w, b, y + i * ys, s, col);
    }
}

/* dwp (OC, CKK) (+)= dy_b (OC, P) . col^T; dx_b = col2im(w^T . dy_b) */
static void conv_backward_image(const float *dy, const float *x, const float *w, float *dx,
                                float *dwp, int accumulate, const ConvShape *s, float *col)
{
    int CKK = s->C * s->K * s->K, P = s->OH * s->OW;
    const float *src = x;
    if (!conv_is_pointwise(s)) {
        im2col(x, s, col);
        src = col;
    }
    cpu_sgemm(0, 1, s->OC, CKK, P, 1.0f, dy, P, src, P, accumulate ? 1.0f : 0.0f, dwp, CKK);
    if (!dx) return;
    if (conv_is_pointwise(s)) {
        cpu_sgemm(1, 0, CKK, P, s->OC, 1.0f, w, CKK, dy, P, 0.0f, dx, P);
    } else {
        cpu_sgemm(1, 0, CKK, P, s->OC, 1.0f, w, CKK, dy, P, 0.0f, col, P);
        col2im(col, s, dx);
    }
}

/* db[o] = sum over images and positions of dy[b][o] */
static void conv_bias_grad(const float *dy, float *db, const ConvShape *s)
{
    size_t P = (size_t)s->OH * s->OW;
#pragma omp parallel for schedule(static) if ((size_t)s->B * s->OC * P >= CPU_PAR_MIN)
    for (int o = 0; o < s->OC; o++) {
        double acc = 0.0;
        for (int b = 0; b < s->B; b++) {
            const float *r = dy + ((size_t)b * s->OC + o) * P;
            float part = 0.0f;
#pragma omp simd reduction(+ : part)
            for (size_t k = 0; k < P; k++) part += r[k];
            acc += part;
        }
        db[o] = (float)acc;
    }
}

void conv2d_backward_cpu(const float *dy, const float *x, const float *w, float *dx, float *dw,
                         float *db, const ConvShape *s, float *ws)
{
    size_t xs = (size_t)s->C * s->H * s->W, ys = (size_t)s->OC * s->OH * s->OW;
    size_t slot = conv_slot_floats(s), colf = conv_col_floats(s), dwf = conv_dw_floats(s);
    int T = conv_threads(s);
    if (T <= 1) {
        for (int i = 0; i < s->B; i++)
            conv_backward_image(dy + i * ys, x + i * xs, w, dx ? dx + i * xs : NULL, dw, i > 0, s,
                                ws);
    } else {
#pragma omp parallel num_threads(T)
        {
            int t = omp_get_thread_num(), nt = omp_get_num_threads();
            float *col = ws + (size_t)t * slot, *dwp = col + colf;
            int b0 = (int)((long)s->B * t / nt), b1 = (int)((long)s->B * (t + 1) / nt);
            for (int i = b0; i < b1; i++)
                conv_backward_image(dy + i * ys, x + i * xs, w, dx ? dx + i * xs : NULL, dwp,
                                    i > b0, s, col);
            if (b0 == b1) memset(dwp, 0, sizeof(float) * dwf);
#pragma omp barrier
            /* dw = sum of the partials, each thread a contiguous range of dw */
            size_t i0 = dwf * t / nt, i1 = dwf * (t + 1) / nt;
            memcpy(dw + i0, ws + colf + i0, sizeof(float) * (i1 - i0));
            for (int u = 1; u < nt; u++) {
                const float *part = ws + (size_t)u * slot + colf;
                for (size_t i = i0; i < i1; i++) dw[i] += part[i];
            }
        }
    }
    if (db) conv_bias_grad(dy, db, s);
}

/* ---- max pooling --------------------------------------------------------------------- */

/* As maxpool2d_forward_ref, planes in parallel. */
void maxpool2d_forward_cpu(const float *x, float *y, int32_t *idx, const PoolShape *s)
{
    int P = s->P, W = s->W;
    size_t in_plane = (size_t)s->H * W, out_plane = (size_t)s->OH * s->OW;
#pragma omp parallel for schedule(static) if ((size_t)s->B * s->C * in_plane >= CPU_PAR_MIN)
    for (int n = 0; n < s->B * s->C; n++) {
        const float *plane = x + (size_t)n * in_plane;
        for (int i = 0; i < s->OH; i++) {
            float *yr = y + (size_t)n * out_plane + (size_t)i * s->OW;
            int32_t *ir = idx ? idx + (size_t)n * out_plane + (size_t)i * s->OW : NULL;
            for (int j = 0; j < s->OW; j++) {
                int at0 = i * P * W + j * P, best_at = at0;
                float best = -INFINITY;
                for (int p = 0; p < P; p++) {
                    const float *r = plane + at0 + p * W;
                    for (int q = 0; q < P; q++) {
                        float v = r[q];
                        if (v > best || isnan(v)) {
                            best = v;
                            best_at = at0 + p * W + q;
                        }
                    }
                }
                yr[j] = best;
                if (ir) ir[j] = best_at;
            }
        }
    }
}

/* As maxpool2d_backward_ref, planes in parallel. */
void maxpool2d_backward_cpu(const float *dy, const int32_t *idx, float *dx, const PoolShape *s)
{
    size_t in_plane = (size_t)s->H * s->W, out_plane = (size_t)s->OH * s->OW;
#pragma omp parallel for schedule(static) if ((size_t)s->B * s->C * in_plane >= CPU_PAR_MIN)
    for (int n = 0; n < s->B * s->C; n++) {
        float *d = dx + (size_t)n * in_plane;
        const float *g = dy + (size_t)n * out_plane;
        const int32_t *k = idx + (size_t)n * out_plane;
        memset(d, 0, sizeof(float) * in_plane);
        for (size_t o = 0; o < out_plane; o++) d[k[o]] += g[o];
    }
}
