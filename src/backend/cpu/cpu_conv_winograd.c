/* cpu_conv_winograd.c - the cpu backend's Winograd convolution for x86-64
 * with AVX2 + FMA: cpu_conv.c's forward (and so its dx convolution) and dw
 * of the 5 x 5 layers with 16 to 256 channels (cpu_conv.c says which).
 *
 * Why: cnn5x32's direct products ran at 88-98% of this CPU's FMA peak (a
 * profile at 1 thread: conv1's forward at 103 GFLOP/s, 105 the sgemm peak),
 * so only fewer multiply-adds make them faster.
 * - Forward, F(2x2, 5x5): a 2 x 2 block of outputs from a 6 x 6 patch d
 *   with 36 products per input channel instead of 100:
 *       Y (2, 2) = A^T [ U (.) V ] A,  U = G g G^T (6, 6),  V = B^T d B,
 *   U and V summed over the input channels first: for each of the 36
 *   points x, M_x (tiles, OC) = V_x (tiles, C) . U_x (C, OC), in register
 *   tiles of 6 tiles x 16 output channels as the direct products'.
 * - dw, F(5x5, 2x2): the 5 x 5 dw of one (o, c) from the same patches and
 *   the 2 x 2 output gradients g of each tile, dw = A'^T [ sum over tiles
 *   (G' g G'^T) (.) V ] A', the sums dW_x (OC, C) = D_x^T (OC, tiles) .
 *   V_x (tiles, C) in register tiles of 4 x 16, the output transform once
 *   per op (after cpu_conv.c adds the chunks' sums).
 *
 * The transforms are Toom-Cook's at the points 0, 1, -1, 2, -2 and infinity
 * (tests/winograd_matrices.py derives them, F(5, 2)'s A'^T and G' too, and
 * checks them against the correlation). In float32 the forward's error is
 * ~10x the direct sum's, 0.2x test_backend_ops' tolerance at C = 32; dw's
 * up to 3e-6 of its terms' magnitude (wino_dw_products):
 *   A^T = [1 1  1 1  1 0]   G = [ 1/4     0     0    0    0 ]
 *         [0 1 -1 2 -2 1]       [-1/6  -1/6  -1/6 -1/6 -1/6 ]
 *                               [-1/6   1/6  -1/6  1/6 -1/6 ]
 *   B^T = [4  0 -5  0 1 0]      [1/24  1/12   1/6  1/3  2/3 ]
 *         [0 -4 -4  1 1 0]      [1/24 -1/12   1/6 -1/3  2/3 ]
 *         [0  4 -4 -1 1 0]      [ 0     0     0    0    1   ]
 *         [0 -2 -1  2 1 0]
 *         [0  2 -1 -2 1 0]
 *         [0  4  0 -5 0 1]
 *
 * Per image: a zero-padded channel-last copy (2 TH + 4, 2 TW + 4, C) of
 * its (TH, TW) tiles' patches, then blocks of NB tiles: V (36, NB, C) by the
 * input transform (8 channels per vector), M (36, NB, OC) by the 36
 * products, and each tile's 2 x 2 outputs per channel into out. Weights: U
 * (36, OC/16, C, 16), transformed from w once per op.
 */
#include <string.h>

#include "backend/cpu/cpu_conv.h"

#define WG_A 6             /* points per side */
#define WG_N (WG_A * WG_A) /* points of a tile */
#define WG_OC 16           /* output channels per register tile */
#define WG_TP 6            /* tiles per register tile */
/* Floats of V and M of one block (384 KiB, in L2 with U's slices). */
#define WG_BLOCK_FLOATS ((size_t)96 * 1024)

int cpu_conv_wino_fits(const ConvShape *s)
{
    return cpu_avx2_fma_available() && s->B >= 2 && s->K == 5 && s->C >= 16 &&
           s->C % 8 == 0 && s->OC % WG_OC == 0 && s->C <= 256 && s->OC <= 256;
}

typedef struct WinoPlan {
    int TH, TW, T; /* tiles per column, per row, in all */
    int Hw, Ww;    /* the image copy's plane */
    int NB;        /* tiles per block, a multiple of WG_TP */
} WinoPlan;

static void wino_plan(const ConvShape *s, WinoPlan *p)
{
    p->TH = (s->OH + 1) / 2;
    p->TW = (s->OW + 1) / 2;
    p->T = p->TH * p->TW;
    p->Hw = 2 * p->TH + 4;
    p->Ww = 2 * p->TW + 4;
    int nb = (int)(WG_BLOCK_FLOATS / ((size_t)WG_N * (s->C + s->OC)));
    int all = (p->T + WG_TP - 1) / WG_TP * WG_TP;
    nb -= nb % WG_TP;
    p->NB = nb < WG_TP ? WG_TP : nb > all ? all : nb;
}

size_t cpu_conv_wino_pack_floats(const ConvShape *s)
{
    return (size_t)WG_N * s->C * s->OC;
}

size_t cpu_conv_wino_work_floats(const ConvShape *s)
{
    WinoPlan p;
    wino_plan(s, &p);
    return (size_t)p.Hw * p.Ww * s->C + (size_t)WG_N * p.NB * (s->C + s->OC);
}

size_t cpu_conv_wino_dw_doubles(const ConvShape *s)
{
    return (size_t)WG_N * s->OC * s->C;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include "backend/cpu/cpu_avx2.h"

/* v = B^T d for six vectors (one column or row of a tile). */
CPU_AVX2 static inline void wino_bt(const __m256 d[WG_A], __m256 v[WG_A])
{
    const __m256 two = _mm256_set1_ps(2.0f), four = _mm256_set1_ps(4.0f);
    const __m256 five = _mm256_set1_ps(5.0f);
    __m256 a = _mm256_sub_ps(d[4], d[2]), b = _mm256_sub_ps(d[3], d[1]);
    v[0] = _mm256_fmadd_ps(four, d[0], _mm256_fnmadd_ps(five, d[2], d[4]));
    v[1] = _mm256_fnmadd_ps(four, _mm256_add_ps(d[1], d[2]), _mm256_add_ps(d[3], d[4]));
    v[2] = _mm256_fmadd_ps(four, _mm256_sub_ps(d[1], d[2]), _mm256_sub_ps(d[4], d[3]));
    v[3] = _mm256_fmadd_ps(two, b, a);
    v[4] = _mm256_fnmadd_ps(two, b, a);
    v[5] = _mm256_fmadd_ps(four, d[1], _mm256_fnmadd_ps(five, d[3], d[5]));
}

/* (y0, y1) = A^T m for six vectors. */
CPU_AVX2 static inline void wino_at(const __m256 m[WG_A], __m256 *y0, __m256 *y1)
{
    const __m256 two = _mm256_set1_ps(2.0f);
    __m256 p = _mm256_add_ps(m[1], m[2]), q = _mm256_sub_ps(m[1], m[2]);
    *y0 = _mm256_add_ps(_mm256_add_ps(m[0], p), _mm256_add_ps(m[3], m[4]));
    *y1 = _mm256_add_ps(_mm256_fmadd_ps(two, _mm256_sub_ps(m[3], m[4]), q), m[5]);
}

/* y (6) = G g for five vectors g0..g4 (the weights' transform). */
CPU_AVX2 static inline void wino_g(__m256 g0, __m256 g1, __m256 g2, __m256 g3, __m256 g4,
                                   __m256 y[WG_A])
{
    const __m256 two = _mm256_set1_ps(2.0f), four = _mm256_set1_ps(4.0f);
    const __m256 eight = _mm256_set1_ps(8.0f), sixteen = _mm256_set1_ps(16.0f);
    const __m256 sixth = _mm256_set1_ps(1.0f / 6), r24 = _mm256_set1_ps(1.0f / 24);
    __m256 e = _mm256_add_ps(_mm256_add_ps(g0, g2), g4), o = _mm256_add_ps(g1, g3);
    __m256 e4 = _mm256_fmadd_ps(sixteen, g4, _mm256_fmadd_ps(four, g2, g0));
    __m256 o4 = _mm256_fmadd_ps(eight, g3, _mm256_mul_ps(two, g1));
    y[0] = _mm256_mul_ps(g0, _mm256_set1_ps(0.25f));
    y[1] = _mm256_mul_ps(_mm256_add_ps(e, o), _mm256_sub_ps(_mm256_setzero_ps(), sixth));
    y[2] = _mm256_mul_ps(_mm256_sub_ps(o, e), sixth);
    y[3] = _mm256_mul_ps(_mm256_add_ps(e4, o4), r24);
    y[4] = _mm256_mul_ps(_mm256_sub_ps(e4, o4), r24);
    y[5] = g4;
}

/* Block `block` of u (36, OC/16, C, 16): output channels [16 block, 16
 * block + 16), U = G g G^T of each (o, c) kernel g = w[o][c] (5, 5), eight
 * output channels per vector. */
CPU_AVX2 void cpu_conv_wino_pack(const float *w /* (OC, C, 5, 5) */, const ConvShape *s,
                                  int block, float *u)
{
    const int C = s->C, nob = s->OC / WG_OC;
    const __m256i lanes = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                             _mm256_set1_epi32(C * 25));
    for (int c = 0; c < C; c++)
        for (int h = 0; h < WG_OC; h += 8) {
            const float *g = w + ((size_t)(block * WG_OC + h) * C + c) * 25;
            __m256 t[5][WG_A], v[WG_A];
            for (int q = 0; q < 5; q++) { /* t = G g, column q (as row q) */
                __m256 r[5];
                for (int k = 0; k < 5; k++) r[k] = _mm256_i32gather_ps(g + 5 * k + q, lanes, 4);
                wino_g(r[0], r[1], r[2], r[3], r[4], t[q]);
            }
            for (int i = 0; i < WG_A; i++) { /* U = t G^T, row i */
                wino_g(t[0][i], t[1][i], t[2][i], t[3][i], t[4][i], v);
                for (int k = 0; k < WG_A; k++) {
                    size_t x = (size_t)i * WG_A + k;
                    _mm256_storeu_ps(u + ((x * nob + block) * C + c) * WG_OC + h, v[k]);
                }
            }
        }
}

/* y (5) = A'^T m for six vectors of doubles (dw's output transform, F(5, 2)
 * at the same points). */
CPU_AVX2 static inline void wino_at5(const __m256d m[WG_A], __m256d y[5])
{
    const __m256d two = _mm256_set1_pd(2), four = _mm256_set1_pd(4);
    const __m256d eight = _mm256_set1_pd(8), sixteen = _mm256_set1_pd(16);
    __m256d p = _mm256_add_pd(m[1], m[2]), q = _mm256_sub_pd(m[1], m[2]);
    __m256d r = _mm256_add_pd(m[3], m[4]), d = _mm256_sub_pd(m[3], m[4]);
    y[0] = _mm256_add_pd(_mm256_add_pd(m[0], p), r);
    y[1] = _mm256_fmadd_pd(two, d, q);
    y[2] = _mm256_fmadd_pd(four, r, p);
    y[3] = _mm256_fmadd_pd(eight, d, q);
    y[4] = _mm256_add_pd(_mm256_fmadd_pd(sixteen, r, p), m[5]);
}

/* dw (OC, C, 5, 5) = A'^T M A' of each (o, c) with o0 <= o < o1, M from
 * dwt (36, OC, C), four (o, c) pairs per vector. */
CPU_AVX2 void cpu_conv_wino_dw_out(const double *dwt, const ConvShape *s, int o0, int o1,
                                    float *dw)
{
    const size_t n = (size_t)s->OC * s->C;
    for (size_t k = (size_t)o0 * s->C; k < (size_t)o1 * s->C; k += 4) {
        __m256d z[5][WG_A], m[WG_A], y[5];
        for (int j = 0; j < WG_A; j++) { /* z = A'^T M, column j */
            for (int i = 0; i < WG_A; i++) m[i] = _mm256_loadu_pd(dwt + (i * WG_A + j) * n + k);
            wino_at5(m, y);
            for (int i = 0; i < 5; i++) z[i][j] = y[i];
        }
        float f[25][4];
        for (int i = 0; i < 5; i++) { /* dw = z A', row i */
            wino_at5(z[i], y);
            for (int l = 0; l < 5; l++) _mm_storeu_ps(f[i * 5 + l], _mm256_cvtpd_ps(y[l]));
        }
        for (int a = 0; a < 4; a++)
            for (int e = 0; e < 25; e++) dw[(k + a) * 25 + e] = f[e][a];
    }
}

/* img (Hw, Ww, C) = x (C, H, W) at (pad, pad), zeros elsewhere. */
static void wino_image(const float *x, const ConvShape *s, const WinoPlan *p, float *img)
{
    const size_t C = (size_t)s->C, row = (size_t)p->Ww * C;
    const size_t left = (size_t)s->pad * C, right = (size_t)(p->Ww - s->W - s->pad) * C;
    memset(img, 0, sizeof(float) * s->pad * row);
    for (int h = 0; h < s->H; h++) {
        float *r = img + (size_t)(h + s->pad) * row;
        memset(r, 0, sizeof(float) * left);
        memset(r + row - right, 0, sizeof(float) * right);
    }
    memset(img + (size_t)(s->H + s->pad) * row, 0, sizeof(float) * (p->Hw - s->H - s->pad) * row);
    cpu_conv_hwc(x, s->C, s->H, s->W, img + (size_t)s->pad * row + left, row);
}

/* V (36, NB, C) of tiles [t0, t0 + nt). */
CPU_AVX2 static void wino_input(const float *img, const ConvShape *s, const WinoPlan *p, int t0,
                                 int nt, float *v)
{
    const int C = s->C, NB = p->NB;
    const size_t row = (size_t)p->Ww * C;
    for (int t = 0; t < nt; t++) {
        int ty = (t0 + t) / p->TW, tx = (t0 + t) % p->TW;
        const float *at = img + (size_t)2 * ty * row + (size_t)2 * tx * C;
        for (int c = 0; c < C; c += 8) {
            __m256 d[WG_A][WG_A], e[WG_A][WG_A], col[WG_A], out[WG_A];
            for (int i = 0; i < WG_A; i++)
                for (int k = 0; k < WG_A; k++)
                    d[i][k] = _mm256_loadu_ps(at + i * row + (size_t)k * C + c);
            for (int k = 0; k < WG_A; k++) { /* e = B^T d, column k */
                for (int i = 0; i < WG_A; i++) col[i] = d[i][k];
                wino_bt(col, out);
                for (int i = 0; i < WG_A; i++) e[i][k] = out[i];
            }
            for (int i = 0; i < WG_A; i++) { /* V = e B, row i */
                wino_bt(e[i], out);
                for (int k = 0; k < WG_A; k++)
                    _mm256_storeu_ps(v + ((size_t)(i * WG_A + k) * NB + t) * C + c, out[k]);
            }
        }
    }
}

/* m_x (NB, OC) = v_x (NB, C) . u_x (C, OC) for the 36 points x, over the
 * first nt tiles rounded up to WG_TP (rows past nt: whatever v holds there,
 * computed and never read). */
CPU_AVX2 static void wino_products(const float *v, const float *u, const ConvShape *s,
                                    const WinoPlan *p, int nt, float *m)
{
    const int C = s->C, OC = s->OC, nob = OC / WG_OC, NB = p->NB;
    for (int x = 0; x < WG_N; x++)
        for (int ob = 0; ob < nob; ob++) {
            const float *u16 = u + ((size_t)x * nob + ob) * C * WG_OC;
            for (int t0 = 0; t0 < nt; t0 += WG_TP) {
                const float *r = v + ((size_t)x * NB + t0) * C;
                __m256 acc[WG_TP][2];
                for (int i = 0; i < WG_TP; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
                for (int c = 0; c < C; c++) {
                    __m256 a0 = _mm256_loadu_ps(u16 + (size_t)c * WG_OC);
                    __m256 a1 = _mm256_loadu_ps(u16 + (size_t)c * WG_OC + 8);
                    for (int i = 0; i < WG_TP; i++) {
                        __m256 b = _mm256_broadcast_ss(r + (size_t)i * C + c);
                        acc[i][0] = _mm256_fmadd_ps(a0, b, acc[i][0]);
                        acc[i][1] = _mm256_fmadd_ps(a1, b, acc[i][1]);
                    }
                }
                float *o = m + ((size_t)x * NB + t0) * OC + ob * WG_OC;
                for (int i = 0; i < WG_TP; i++) {
                    _mm256_storeu_ps(o + (size_t)i * OC, acc[i][0]);
                    _mm256_storeu_ps(o + (size_t)i * OC + 8, acc[i][1]);
                }
            }
        }
}

/* out[o ld + (2 ty + a) OW + 2 tx + b] = Y[a][b] = (A^T M A)[a][b] of
 * tiles [t0, t0 + nt), the outputs inside the plane. */
CPU_AVX2 static void wino_output(const float *m, const ConvShape *s, const WinoPlan *p, int t0,
                                  int nt, float *out, size_t ld)
{
    const int OC = s->OC, NB = p->NB, OH = s->OH, OW = s->OW;
    for (int t = 0; t < nt; t++) {
        int ty = (t0 + t) / p->TW, tx = (t0 + t) % p->TW;
        int na = 2 * ty + 1 < OH ? 2 : 1, nb = 2 * tx + 1 < OW ? 2 : 1;
        float *at = out + (size_t)2 * ty * OW + 2 * tx;
        for (int o = 0; o < OC; o += 8) {
            __m256 col[WG_A], z0[WG_A], z1[WG_A], y[2][2];
            for (int k = 0; k < WG_A; k++) { /* z = A^T M, column k */
                for (int i = 0; i < WG_A; i++)
                    col[i] = _mm256_loadu_ps(m + ((size_t)(i * WG_A + k) * NB + t) * OC + o);
                wino_at(col, &z0[k], &z1[k]);
            }
            wino_at(z0, &y[0][0], &y[0][1]); /* Y = z A */
            wino_at(z1, &y[1][0], &y[1][1]);
            float f[2][2][8];
            for (int a = 0; a < 2; a++)
                for (int b = 0; b < 2; b++) _mm256_storeu_ps(f[a][b], y[a][b]);
            for (int l = 0; l < 8; l++)
                for (int a = 0; a < na; a++)
                    for (int b = 0; b < nb; b++)
                        at[(size_t)(o + l) * ld + (size_t)a * OW + b] = f[a][b][l];
        }
    }
}

/* One image's start: p, and in work the image copy (returned, made here
 * from x), then V (36, NB, C) at *v and the second block buffer (M or D,
 * (36, NB, OC)) at *m. */
static float *wino_begin(const float *x, const ConvShape *s, float *work, WinoPlan *p, float **v,
                         float **m)
{
    wino_plan(s, p);
    *v = work + (size_t)p->Hw * p->Ww * s->C;
    *m = *v + (size_t)WG_N * p->NB * s->C;
    wino_image(x, s, p, work);
    return work;
}

void cpu_conv_wino(const float *x, const float *u, const ConvShape *s, float *out, size_t ld,
                   float *work)
{
    WinoPlan p;
    float *v, *m, *img = wino_begin(x, s, work, &p, &v, &m);
    for (int t0 = 0; t0 < p.T; t0 += p.NB) {
        int nt = p.T - t0 < p.NB ? p.T - t0 : p.NB;
        wino_input(img, s, &p, t0, nt, v);
        wino_products(v, u, s, &p, nt, m);
        wino_output(m, s, &p, t0, nt, out, ld);
    }
}
/* y (6) = G' g for two vectors (dw's "kernel" transform, F(5, 2)). */
CPU_AVX2 static inline void wino_g2(__m256 g0, __m256 g1, __m256 y[WG_A])
{
    const __m256 two = _mm256_set1_ps(2.0f), quarter = _mm256_set1_ps(0.25f);
    const __m256 sixth = _mm256_set1_ps(1.0f / 6), r24 = _mm256_set1_ps(1.0f / 24);
    y[0] = _mm256_mul_ps(g0, quarter);
    y[1] = _mm256_mul_ps(_mm256_add_ps(g0, g1), _mm256_sub_ps(_mm256_setzero_ps(), sixth));
    y[2] = _mm256_mul_ps(_mm256_sub_ps(g1, g0), sixth);
    y[3] = _mm256_mul_ps(_mm256_fmadd_ps(two, g1, g0), r24);
    y[4] = _mm256_mul_ps(_mm256_fnmadd_ps(two, g1, g0), r24);
    y[5] = g1;
}

/* D (36, NB, OC) = G' g G'^T of the 2 x 2 output gradients g of tiles [t0,
 * t0 + nt), d[o ld + t] (zeros outside the plane), 8 channels per vector. */
CPU_AVX2 static void wino_grad(const float *d, size_t ld, const ConvShape *s, const WinoPlan *p,
                                int t0, int nt, float *dd)
{
    const int OC = s->OC, NB = p->NB, OH = s->OH, OW = s->OW;
    const __m256i lanes = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                             _mm256_set1_epi32((int)ld));
    const __m256 zero = _mm256_setzero_ps();
    for (int t = 0; t < nt; t++) {
        int ty = (t0 + t) / p->TW, tx = (t0 + t) % p->TW;
        int a1 = 2 * ty + 1 < OH, b1 = 2 * tx + 1 < OW;
        const float *at = d + (size_t)2 * ty * OW + 2 * tx;
        for (int o = 0; o < OC; o += 8) {
            const float *q = at + (size_t)o * ld;
            __m256 g00 = _mm256_i32gather_ps(q, lanes, 4);
            __m256 g01 = b1 ? _mm256_i32gather_ps(q + 1, lanes, 4) : zero;
            __m256 g10 = a1 ? _mm256_i32gather_ps(q + OW, lanes, 4) : zero;
            __m256 g11 = a1 && b1 ? _mm256_i32gather_ps(q + OW + 1, lanes, 4) : zero;
            __m256 e0[WG_A], e1[WG_A], y[WG_A];
            wino_g2(g00, g10, e0); /* e = G' g, columns 0 and 1 */
            wino_g2(g01, g11, e1);
            for (int i = 0; i < WG_A; i++) { /* D = e G'^T, row i */
                wino_g2(e0[i], e1[i], y);
                for (int k = 0; k < WG_A; k++)
                    _mm256_storeu_ps(dd + ((size_t)(i * WG_A + k) * NB + t) * OC + o, y[k]);
            }
        }
    }
}

/* dwt_x (OC, C) (+)= D_x^T (OC, nt) . V_x (nt, C) for the 36 points x, in
 * register tiles of 4 output x 16 input channels: a float sum over the
 * block's tiles, added to dwt in double. (All in float, dw was up to 2e-6
 * of its terms' magnitude off, twice test_backend_ops' bound; the output
 * transform multiplies the sums at the points +-2 by up to 256.) */
CPU_AVX2 static void wino_dw_products(const float *v, const float *dd, const ConvShape *s,
                                       const WinoPlan *p, int nt, int add, double *dwt)
{
    const int C = s->C, OC = s->OC, NB = p->NB;
    for (int x = 0; x < WG_N; x++)
        for (int o0 = 0; o0 < OC; o0 += 4)
            for (int c0 = 0; c0 < C; c0 += 16) {
                double *w = dwt + ((size_t)x * OC + o0) * C + c0;
                const float *vr = v + (size_t)x * NB * C + c0, *dr = dd + (size_t)x * NB * OC + o0;
                __m256 acc[4][2];
                for (int i = 0; i < 4; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
                for (int t = 0; t < nt; t++) {
                    __m256 a0 = _mm256_loadu_ps(vr + (size_t)t * C);
                    __m256 a1 = _mm256_loadu_ps(vr + (size_t)t * C + 8);
                    for (int i = 0; i < 4; i++) {
                        __m256 b = _mm256_broadcast_ss(dr + (size_t)t * OC + i);
                        acc[i][0] = _mm256_fmadd_ps(a0, b, acc[i][0]);
                        acc[i][1] = _mm256_fmadd_ps(a1, b, acc[i][1]);
                    }
                }
                for (int i = 0; i < 4; i++)
                    for (int h = 0; h < 2; h++) {
                        double *to = w + (size_t)i * C + 8 * h;
                        __m128 lo = _mm256_castps256_ps128(acc[i][h]);
                        __m128 hi = _mm256_extractf128_ps(acc[i][h], 1);
                        __m256d a = _mm256_cvtps_pd(lo), b = _mm256_cvtps_pd(hi);
                        if (add) {
                            a = _mm256_add_pd(_mm256_loadu_pd(to), a);
                            b = _mm256_add_pd(_mm256_loadu_pd(to + 4), b);
                        }
                        _mm256_storeu_pd(to, a);
                        _mm256_storeu_pd(to + 4, b);
                    }
            }
}

void cpu_conv_wino_dw(const float *x, const float *d, size_t ld, const ConvShape *s, int add,
                      double *dwt, float *work)
{
    WinoPlan p;
    float *v, *dd, *img = wino_begin(x, s, work, &p, &v, &dd);
    for (int t0 = 0; t0 < p.T; t0 += p.NB) {
        int nt = p.T - t0 < p.NB ? p.T - t0 : p.NB;
        wino_input(img, s, &p, t0, nt, v);
        wino_grad(d, ld, s, &p, t0, nt, dd);
        wino_dw_products(v, dd, s, &p, nt, add || t0 > 0, dwt);
    }
}
#else
void cpu_conv_wino(const float *x, const float *u, const ConvShape *s, float *out, size_t ld,
                   float *work)
{
    (void)x, (void)u, (void)s, (void)out, (void)ld, (void)work;
    NN_CHECK(0, "cpu_conv_wino: not built for this CPU");
}

void cpu_conv_wino_dw(const float *x, const float *d, size_t ld, const ConvShape *s, int add,
                      double *dwt, float *work)
{
    (void)x, (void)d, (void)ld, (void)s, (void)add, (void)dwt, (void)work;
    NN_CHECK(0, "cpu_conv_wino_dw: not built for this CPU");
}

void cpu_conv_wino_pack(const float *w, const ConvShape *s, int block, float *u)
{
    (void)w, (void)s, (void)block, (void)u;
    NN_CHECK(0, "cpu_conv_wino_pack: not built for this CPU");
}

void cpu_conv_wino_dw_out(const double *dwt, const ConvShape *s, int o0, int o1, float *dw)
{
    (void)dwt, (void)s, (void)o0, (void)o1, (void)dw;
    NN_CHECK(0, "cpu_conv_wino_dw_out: not built for this CPU");
}
#endif
