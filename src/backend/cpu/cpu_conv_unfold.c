/* cpu_conv_unfold.c - unfolding for the cpu backend's im2col convolution
 * (cpu_conv.c): images into columns (im2col) and columns back onto images
 * (col2im), through a zero-padded copy of the image when pad > 0.
 *
 * Unfolding: the input image is first copied into a zero-padded plane
 * (when pad > 0), so that every row of col is OH straight copies of OW
 * floats with no bounds tests; copy_row moves them four floats at a time.
 * It was ~40% of the forward time of cnn5x32's second layer (15k segments
 * of 19 floats per image, each with its own zero-fill tests and memcpy).
 */
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "backend/cpu/cpu_conv.h"

/* dst[0, n) = src[0, n), four floats at a time (the last four overlap the
 * previous ones when n is not a multiple of four: the same values again). */
static inline void copy_row(float *dst, const float *src, int n)
{
#if defined(__SSE2__)
    if (n >= 4) {
        int j = 0;
        for (; j + 4 <= n; j += 4) _mm_storeu_ps(dst + j, _mm_loadu_ps(src + j));
        if (j < n) _mm_storeu_ps(dst + n - 4, _mm_loadu_ps(src + n - 4));
        return;
    }
#endif
    for (int j = 0; j < n; j++) dst[j] = src[j];
}

/* dst[0, n) += src[0, n) */
static inline void add_row(float *dst, const float *src, int n)
{
    int j = 0;
#if defined(__SSE2__)
    for (; j + 4 <= n; j += 4)
        _mm_storeu_ps(dst + j, _mm_add_ps(_mm_loadu_ps(dst + j), _mm_loadu_ps(src + j)));
#endif
    for (; j < n; j++) dst[j] += src[j];
}

/* The plane the unfolding reads: x_b itself, or x_b copied into the middle
 * of `padded` (C, Hp, Wp) with zero borders. */
const float *cpu_conv_source(const float *x /* (C, H, W) */, const ConvShape *s,
                             const ConvPlan *p, float *padded)
{
    if (s->pad == 0) return x;
    const int pad = s->pad, Wp = p->Wp;
    for (int c = 0; c < s->C; c++) {
        float *plane = padded + (size_t)c * p->Hp * Wp;
        memset(plane, 0, sizeof(float) * (size_t)pad * Wp);
        for (int h = 0; h < s->H; h++) {
            float *row = plane + (size_t)(h + pad) * Wp;
            memset(row, 0, sizeof(float) * (size_t)pad);
            memcpy(row + pad, x + ((size_t)c * s->H + h) * s->W, sizeof(float) * (size_t)s->W);
            memset(row + pad + s->W, 0, sizeof(float) * (size_t)pad);
        }
        memset(plane + (size_t)(s->H + pad) * Wp, 0, sizeof(float) * (size_t)pad * Wp);
    }
    return padded;
}

/* col[(c, p, q)][i, j] = src[c][i + p][j + q] for image k of a group:
 * columns [k P, (k + 1) P) of col (C*K*K rows of ld floats). */
void cpu_im2col(const float *src, const ConvShape *s, const ConvPlan *p, float *col,
                size_t ld)
{
    const int K = s->K, OH = s->OH, OW = s->OW;
    const int Hs = s->pad ? p->Hp : s->H, Ws = s->pad ? p->Wp : s->W;
    for (int c = 0; c < s->C; c++)
        for (int kp = 0; kp < K; kp++)
            for (int kq = 0; kq < K; kq++) {
                float *row = col + ((size_t)(c * K + kp) * K + kq) * ld;
                const float *in = src + ((size_t)c * Hs + kp) * Ws + kq;
                for (int i = 0; i < OH; i++)
                    copy_row(row + (size_t)i * OW, in + (size_t)i * Ws, OW);
            }
}

/* The transpose of im2col: dx_b (C, H, W) = every col entry of image k
 * added back to the element it was copied from (through the padded plane
 * when pad > 0). Writes all of dx_b. */
void cpu_col2im(const float *col, size_t ld, const ConvShape *s, const ConvPlan *p,
                float *padded, float *dx)
{
    const int K = s->K, OH = s->OH, OW = s->OW;
    const int Hs = s->pad ? p->Hp : s->H, Ws = s->pad ? p->Wp : s->W;
    float *acc = s->pad ? padded : dx;
    memset(acc, 0, sizeof(float) * (size_t)s->C * Hs * Ws);
    for (int c = 0; c < s->C; c++)
        for (int kp = 0; kp < K; kp++)
            for (int kq = 0; kq < K; kq++) {
                const float *row = col + ((size_t)(c * K + kp) * K + kq) * ld;
                float *out = acc + ((size_t)c * Hs + kp) * Ws + kq;
                for (int i = 0; i < OH; i++)
                    add_row(out + (size_t)i * Ws, row + (size_t)i * OW, OW);
            }
    if (!s->pad) return;
    for (int c = 0; c < s->C; c++)
        for (int h = 0; h < s->H; h++)
            memcpy(dx + ((size_t)c * s->H + h) * s->W,
                   padded + ((size_t)c * Hs + h + s->pad) * Ws + s->pad,
                   sizeof(float) * (size_t)s->W);
}
