/* cpu_conv_direct.c - the cpu backend's direct convolution products for
 * x86-64 with AVX2 + FMA (checked at run time): cpu_conv.c's forward, dw and
 * dx without unfolding the image and without OpenBLAS packing operands.
 *
 * Why: at batch 32 on cnn5x32 (profile, 1 thread) OpenBLAS's kernel ran
 * near this CPU's peak but was 48% of the step; unfolding (im2col) took 13%
 * and OpenBLAS's copies of both operands into its panels 14%: with M = 32
 * output channels, every packed column is used by two register tiles only.
 *
 * The images are read in place from a zero-padded channel-last copy (Hp,
 * Wp, C), where the K*C terms of one kernel row of one pixel are
 * contiguous. Every register tile is 6 x 16 (12 of the 16 vector registers;
 * per term two vector loads, six broadcasts, 12 FMAs):
 * - forward: 6 output pixels x 16 output channels, summing the C*K*K terms;
 *   weights packed once per op into (OC/16, K, K, C, 16); the tile is
 *   transposed in registers into the (OC, pixels) output (through memory,
 *   96 scalar copies per tile, it was 3.5% of a cnn2x32 step);
 * - dw: 6 output channels x 16 terms of a kernel row, summing over the
 *   pixels of a group of images;
 * - dx (where cpu_conv.c would use col2im): 6 pixels x 16 terms of a kernel
 *   row, summing over the OC output channels, then added into the padded
 *   channel-last dx; weights packed into (K, ceil(K*C/16), OC, 16).
 * The sums run in (ky, kx, c) order where the unfolded products run in (c,
 * ky, kx) order: the same values to rounding, not the same bits.
 */
#include <string.h>
#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

#include "backend/cpu/cpu_conv.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include "backend/cpu/cpu_avx2.h"

#define TILE_PX 6
#define TILE_OC CPU_CONV_DIRECT_OC

/* The 6 x 16 register tile: row i in c<i>0 (floats 0-7) and c<i>1 (8-15).
 * TILE_FMA6 adds (a0, a1) x the float at p<i> + off to row i. */
#define TILE_ZERO                                                                         \
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, \
           c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00
#define TILE_FMA(i, p)                                                                    \
    do {                                                                                  \
        __m256 x_ = _mm256_broadcast_ss(p);                                               \
        c##i##0 = _mm256_fmadd_ps(a0, x_, c##i##0), c##i##1 = _mm256_fmadd_ps(a1, x_, c##i##1); \
    } while (0)
#define TILE_FMA6(p0, p1, p2, p3, p4, p5, off)                                           \
    do {                                                                                  \
        TILE_FMA(0, p0 + off); TILE_FMA(1, p1 + off); TILE_FMA(2, p2 + off);              \
        TILE_FMA(3, p3 + off); TILE_FMA(4, p4 + off); TILE_FMA(5, p5 + off);              \
    } while (0)
#define TILE_ROWS {c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}
#define TILE_STORE(t)                                                                     \
    do {                                                                                  \
        __m256 rows_[TILE_PX][2] = {TILE_ROWS};                                           \
        for (int i_ = 0; i_ < TILE_PX; i_++)                                              \
            _mm256_storeu_ps(t[i_], rows_[i_][0]), _mm256_storeu_ps(t[i_] + 8, rows_[i_][1]); \
    } while (0)

/* at[i] = qy * Wp + qx for the pixels q = p0 + i of an (OH, OW) plane in a
 * plane of width Wp (past the end of the plane: its last pixel again); one
 * division per tile instead of one per pixel. */
static void tile_pixels(int p0, int P, int OW, int Wp, size_t at[TILE_PX])
{
    int qy = p0 / OW, qx = p0 % OW;
    for (int i = 0; i < TILE_PX; i++) {
        at[i] = p0 + i < P ? (size_t)qy * Wp + qx : at[i - 1];
        if (++qx == OW) qx = 0, qy++;
    }
}

/* One tile: out[o ld + i] for 16 channels o from w16 (K, K, C, 16) and the
 * six pixels whose patches start at r0..r5, the first np of them (a pixel
 * repeated past the end of the plane is computed and not stored). */
CPU_AVX2 static void
tile_6x16(const float *w16, const float *const r[TILE_PX], int K, int KC, size_t row,
          float *out, size_t ld, int np)
{
    TILE_ZERO;
    for (int ky = 0; ky < K; ky++) {
        const float *r0 = r[0] + ky * row, *r1 = r[1] + ky * row, *r2 = r[2] + ky * row;
        const float *r3 = r[3] + ky * row, *r4 = r[4] + ky * row, *r5 = r[5] + ky * row;
        const float *w = w16 + (size_t)ky * KC * TILE_OC;
        for (int k = 0; k < KC; k++, w += TILE_OC) {
            __m256 a0 = _mm256_loadu_ps(w), a1 = _mm256_loadu_ps(w + 8);
            TILE_FMA6(r0, r1, r2, r3, r4, r5, k);
        }
    }
    if (np == TILE_PX) {
        cpu_store_6x8_transposed(c00, c10, c20, c30, c40, c50, out, ld, 0);
        cpu_store_6x8_transposed(c01, c11, c21, c31, c41, c51, out + 8 * ld, ld, 0);
        return;
    }
    float t[TILE_PX][TILE_OC];
    TILE_STORE(t);
    for (int o = 0; o < TILE_OC; o++)
        for (int i = 0; i < np; i++) out[(size_t)o * ld + i] = t[i][o];
}

void cpu_conv_direct(const float *in, const float *wpk, const ConvShape *s, float *out, size_t ld)
{
    const int K = s->K, C = s->C, OW = s->OW, KC = K * C;
    const int P = s->OH * s->OW;
    const size_t row = (size_t)(s->W + 2 * s->pad) * C;
    const size_t block = (size_t)C * K * K * TILE_OC;
    for (int ob = 0; ob < s->OC; ob += TILE_OC) {
        const float *w16 = wpk + (size_t)(ob / TILE_OC) * block;
        for (int p0 = 0; p0 < P; p0 += TILE_PX) {
            const float *r[TILE_PX];
            size_t at[TILE_PX];
            tile_pixels(p0, P, OW, s->W + 2 * s->pad, at);
            for (int i = 0; i < TILE_PX; i++) r[i] = in + at[i] * C;
            tile_6x16(w16, r, K, KC, row, out + (size_t)ob * ld + p0, ld,
                      P - p0 < TILE_PX ? P - p0 : TILE_PX);
        }
    }
}

/* dw tile: acc[i][l] = sum over the n images' pixels t of d_i[t] x the
 * value at offset l of pixel t's kernel row (from `in`, image k at in + k
 * is, its output gradients at d_i + k P) (a channel repeated past OC is
 * computed and not stored). */
CPU_AVX2 static void
dw_tile_6x16(const float *const d[TILE_PX], const float *in, int n, size_t is, int OH, int OW,
             size_t C, size_t row, float t[TILE_PX][TILE_OC])
{
    TILE_ZERO;
    for (int r = 0; r < n * OH; r++) {
        int k = r / OH, oy = r % OH;
        const float *a = in + k * is + (size_t)oy * row;
        size_t at = (size_t)r * OW;
        const float *d0 = d[0] + at, *d1 = d[1] + at, *d2 = d[2] + at;
        const float *d3 = d[3] + at, *d4 = d[4] + at, *d5 = d[5] + at;
        for (int ox = 0; ox < OW; ox++, a += C) {
            __m256 a0 = _mm256_loadu_ps(a), a1 = _mm256_loadu_ps(a + 8);
            TILE_FMA6(d0, d1, d2, d3, d4, d5, ox);
        }
    }
    TILE_STORE(t);
}

void cpu_conv_direct_dw(const float *in, int n, const float *d, size_t ld, const ConvShape *s,
                        int add, float *dwk)
{
    const int K = s->K, KC = K * s->C, OC = s->OC;
    const size_t row = (size_t)(s->W + 2 * s->pad) * s->C, CKK = (size_t)K * KC;
    const size_t is = cpu_conv_direct_image_floats(s);
    float t[TILE_PX][TILE_OC];
    for (int ky = 0; ky < K; ky++)
        for (int j0 = 0; j0 < KC; j0 += TILE_OC)
            for (int o0 = 0; o0 < OC; o0 += TILE_PX) {
                const float *dp[TILE_PX];
                for (int i = 0; i < TILE_PX; i++)
                    dp[i] = d + (size_t)(o0 + i < OC ? o0 + i : OC - 1) * ld;
                int no = OC - o0 < TILE_PX ? OC - o0 : TILE_PX;
                dw_tile_6x16(dp, in + (size_t)ky * row + j0, n, is, s->OH, s->OW, (size_t)s->C,
                             row, t);
                int nl = KC - j0 < TILE_OC ? KC - j0 : TILE_OC;
                for (int i = 0; i < no; i++) {
                    float *to = dwk + (size_t)(o0 + i) * CKK + (size_t)ky * KC + j0;
                    if (add)
                        for (int l = 0; l < nl; l++) to[l] += t[i][l];
                    else
                        for (int l = 0; l < nl; l++) to[l] = t[i][l];
                }
            }
}
/* dx tile: to_i[l] += sum over o of d_i[o ld] x w16[o][l], for the six
 * pixels whose output gradients are at d_i, the first np of them (a pixel
 * repeated past the end of the plane is computed and not added). */
CPU_AVX2 static void
dx_tile_6x16(const float *w16, const float *const d[TILE_PX], size_t ld, int OC,
             float *const to[TILE_PX], int np)
{
    TILE_ZERO;
    const float *d0 = d[0], *d1 = d[1], *d2 = d[2], *d3 = d[3], *d4 = d[4], *d5 = d[5];
    for (int o = 0; o < OC; o++, w16 += TILE_OC) {
        size_t at = (size_t)o * ld;
        __m256 a0 = _mm256_loadu_ps(w16), a1 = _mm256_loadu_ps(w16 + 8);
        TILE_FMA6(d0, d1, d2, d3, d4, d5, at);
    }
    __m256 c[TILE_PX][2] = {TILE_ROWS};
    for (int i = 0; i < np; i++) {
        _mm256_storeu_ps(to[i], _mm256_add_ps(_mm256_loadu_ps(to[i]), c[i][0]));
        _mm256_storeu_ps(to[i] + 8, _mm256_add_ps(_mm256_loadu_ps(to[i] + 8), c[i][1]));
    }
}

void cpu_conv_direct_dx(const float *d, size_t ld, const float *wdx, const ConvShape *s,
                        float *dxim)
{
    const int K = s->K, C = s->C, OC = s->OC, OW = s->OW, KC = K * C;
    const int P = s->OH * s->OW, Wp = s->W + 2 * s->pad, nb = (KC + TILE_OC - 1) / TILE_OC;
    memset(dxim, 0, sizeof(float) * cpu_conv_direct_image_floats(s));
    for (int ky = 0; ky < K; ky++)
        for (int jb = 0; jb < nb; jb++) {
            const float *w16 = wdx + ((size_t)ky * nb + jb) * OC * TILE_OC;
            for (int p0 = 0; p0 < P; p0 += TILE_PX) {
                /* pixel q's terms of kernel row ky, block jb; those past
                 * K*C have zero weights: adding their 0 to the next
                 * pixel's values (or the tail) is exact */
                const float *dp[TILE_PX];
                float *to[TILE_PX];
                size_t at[TILE_PX];
                tile_pixels(p0, P, OW, Wp, at);
                for (int i = 0; i < TILE_PX; i++) {
                    dp[i] = d + (p0 + i < P ? p0 + i : P - 1);
                    to[i] = dxim + (at[i] + (size_t)ky * Wp) * C + jb * TILE_OC;
                }
                dx_tile_6x16(w16, dp, ld, OC, to, P - p0 < TILE_PX ? P - p0 : TILE_PX);
            }
        }
}
#else
void cpu_conv_direct(const float *in, const float *wpk, const ConvShape *s, float *out, size_t ld)
{
    (void)in, (void)wpk, (void)s, (void)out, (void)ld;
    NN_CHECK(0, "cpu_conv_direct: not built for this CPU");
}

void cpu_conv_direct_dw(const float *in, int n, const float *d, size_t ld, const ConvShape *s,
                        int add, float *dwk)
{
    (void)in, (void)n, (void)d, (void)ld, (void)s, (void)add, (void)dwk;
    NN_CHECK(0, "cpu_conv_direct_dw: not built for this CPU");
}

void cpu_conv_direct_dx(const float *d, size_t ld, const float *wdx, const ConvShape *s,
                        float *dxim)
{
    (void)d, (void)ld, (void)wdx, (void)s, (void)dxim;
    NN_CHECK(0, "cpu_conv_direct_dx: not built for this CPU");
}
#endif

/* Block `block` of wpk (OC/16, K, K, C, 16) from w (OC, C, K, K). */
void cpu_conv_direct_pack(const float *w, const ConvShape *s, int block, float *wpk)
{
    const int C = s->C, KK = s->K * s->K;
    float *to = wpk + (size_t)block * KK * C * CPU_CONV_DIRECT_OC;
    for (int o = 0; o < CPU_CONV_DIRECT_OC; o++) {
        const float *from = w + (size_t)(block * CPU_CONV_DIRECT_OC + o) * C * KK;
        for (int c = 0; c < C; c++)
            for (int k = 0; k < KK; k++)
                to[((size_t)k * C + c) * CPU_CONV_DIRECT_OC + o] = from[(size_t)c * KK + k];
    }
}

/* Kernel row ky of wdx (K, ceil(K*C/16), OC, 16) from w (OC, C, K, K): the
 * terms j = kx C + c of the row in blocks of 16, zero past K*C. */
void cpu_conv_direct_pack_dx(const float *w, const ConvShape *s, int ky, float *wdx)
{
    const int K = s->K, C = s->C, OC = s->OC, KC = K * C;
    const int nb = (KC + CPU_CONV_DIRECT_OC - 1) / CPU_CONV_DIRECT_OC;
    float *to = wdx + (size_t)ky * nb * OC * CPU_CONV_DIRECT_OC;
    for (int jb = 0; jb < nb; jb++)
        for (int o = 0; o < OC; o++)
            for (int l = 0; l < CPU_CONV_DIRECT_OC; l++) {
                int j = jb * CPU_CONV_DIRECT_OC + l, kx = j / C, c = j % C;
                *to++ = j < KC ? w[(((size_t)o * C + c) * K + ky) * K + kx] : 0.0f;
            }
}

size_t cpu_conv_direct_pack_dx_floats(const ConvShape *s)
{
    int KC = s->K * s->C;
    return (size_t)s->K * s->OC * ((KC + CPU_CONV_DIRECT_OC - 1) / CPU_CONV_DIRECT_OC) *
           CPU_CONV_DIRECT_OC;
}

size_t cpu_conv_direct_image_floats(const ConvShape *s)
{
    return (size_t)(s->H + 2 * s->pad) * (s->W + 2 * s->pad) * s->C + CPU_CONV_DIRECT_OC;
}

/* in (H + 2 pad, W + 2 pad, C) = x (C, H, W) with zero borders, then
 * CPU_CONV_DIRECT_OC zeros (the dw tiles' last vectors read past the end). */
void cpu_conv_direct_image(const float *x, const ConvShape *s, float *in)
{
    const int C = s->C, Wp = s->W + 2 * s->pad, Hp = s->H + 2 * s->pad;
    memset(in, 0, sizeof(float) * ((size_t)Hp * Wp * C + CPU_CONV_DIRECT_OC));
    cpu_conv_hwc(x, C, s->H, s->W, in + ((size_t)s->pad * Wp + s->pad) * C, (size_t)Wp * C);
}

void cpu_conv_hwc(const float *x, int C, int H, int W, float *dst, size_t row)
{
    const size_t HW = (size_t)H * W;
    int c = 0;
#if defined(__SSE2__)
    /* 4 channels x 4 pixels at a time, transposed in registers: one store
     * per pixel instead of one per value, each to another cache line */
    for (; c + 4 <= C; c += 4)
        for (int h = 0; h < H; h++) {
            const float *src = x + (size_t)c * HW + (size_t)h * W;
            float *to = dst + (size_t)h * row + c;
            int q = 0;
            for (; q + 4 <= W; q += 4) {
                __m128 r0 = _mm_loadu_ps(src + q), r1 = _mm_loadu_ps(src + HW + q);
                __m128 r2 = _mm_loadu_ps(src + 2 * HW + q), r3 = _mm_loadu_ps(src + 3 * HW + q);
                _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
                _mm_storeu_ps(to + (size_t)q * C, r0);
                _mm_storeu_ps(to + (size_t)(q + 1) * C, r1);
                _mm_storeu_ps(to + (size_t)(q + 2) * C, r2);
                _mm_storeu_ps(to + (size_t)(q + 3) * C, r3);
            }
            for (; q < W; q++)
                for (int i = 0; i < 4; i++) to[(size_t)q * C + i] = src[i * HW + q];
        }
#endif
    for (; c < C; c++)
        for (int h = 0; h < H; h++) {
            const float *src = x + (size_t)c * HW + (size_t)h * W;
            float *to = dst + (size_t)h * row + c;
            for (int q = 0; q < W; q++) to[(size_t)q * C] = src[q];
        }
}

/* x (C, H, W) = the middle of in (H + 2 pad, W + 2 pad, C). */
void cpu_conv_direct_unimage(const float *in, const ConvShape *s, float *x)
{
    const int C = s->C, Wp = s->W + 2 * s->pad;
    for (int c = 0; c < C; c++)
        for (int h = 0; h < s->H; h++) {
            float *dst = x + ((size_t)c * s->H + h) * s->W;
            const float *src = in + ((size_t)(h + s->pad) * Wp + s->pad) * C + c;
            for (int q = 0; q < s->W; q++) dst[q] = src[(size_t)q * C];
        }
}
