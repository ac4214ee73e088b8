/* cpu_dense.c - the dense layer's forward product for small batches (B <=
 * CPU_DENSE_MAX_B) on x86-64 with AVX2 + FMA: y = x . w^T + b without
 * OpenBLAS.
 *
 * Why: at B = 32 OpenBLAS ran the MLP's first layer (32 x 3072 . 3072 x
 * 256) at 49-53 GFLOP/s on one Zen 4 core, half the FMA peak, where its
 * dw product (256 x 32 . 32 x 3072) ran at 79; this runs it at 90-95. The
 * forward has few rows and a long sum, and OpenBLAS copies the whole 3 MB
 * weight matrix into its panels for 32 rows.
 *
 * Here the small operand moves instead: per chunk of kc terms, x's columns
 * are transposed into xt (kc, Bp) on the stack (Bp: B rounded up to 16, the
 * rows past B zero), and the weights are read in place, row by row. Every
 * register tile is 6 output channels x 16 images (12 of the 16 vector
 * registers; per term two aligned loads from xt, six broadcasts from the
 * weight rows, 12 FMAs), added into y through an in-register transpose. A
 * y value is the bias, then each chunk's sum in term order added in chunk
 * order: the same for any split of [lo, hi) between threads.
 */
#include <string.h>

#include "backend/cpu/cpu.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include "backend/cpu/cpu_avx2.h"

#define DENSE_TILE_O 6
#define DENSE_TILE_B 16
#define DENSE_XT_FLOATS 4096 /* xt: 16 KB, half of the L1 data cache */

/* xt[k Bp + r] = x[r][k0 + k] for k < n, r < B; 0 for B <= r < Bp. */
CPU_AVX2 static void dense_pack(const float *x /* (B, C) */, int B, int C, int k0, int n, int Bp,
                                float *xt)
{
    int k = 0;
    for (; k + 8 <= n; k += 8)
        for (int r0 = 0; r0 < Bp; r0 += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; i++)
                r[i] = r0 + i < B ? _mm256_loadu_ps(x + (size_t)(r0 + i) * C + k0 + k)
                                  : _mm256_setzero_ps();
            cpu_transpose_8x8(r);
            for (int i = 0; i < 8; i++) _mm256_store_ps(xt + (size_t)(k + i) * Bp + r0, r[i]);
        }
    for (; k < n; k++)
        for (int r = 0; r < Bp; r++) xt[(size_t)k * Bp + r] = r < B ? x[(size_t)r * C + k0 + k] : 0;
}

/* y[r0 + r][o0 + i] += sum over k < n of xt[k Bp + r] w_i[k], for images r
 * < nr (<= 16) and output channels i < no (<= 6; the rows w_i past no
 * repeat a valid row: computed and not added). */
CPU_AVX2 static void dense_tile(const float *xt, int Bp, int n, const float *const w[DENSE_TILE_O],
                                float *y, int OC, int nr, int no)
{
    __m256 acc[DENSE_TILE_O][2];
    for (int i = 0; i < DENSE_TILE_O; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int k = 0; k < n; k++, xt += Bp) {
        __m256 a0 = _mm256_load_ps(xt), a1 = _mm256_load_ps(xt + 8);
        for (int i = 0; i < DENSE_TILE_O; i++) {
            __m256 b = _mm256_broadcast_ss(w[i] + k);
            acc[i][0] = _mm256_fmadd_ps(a0, b, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(a1, b, acc[i][1]);
        }
    }
    if (no == DENSE_TILE_O && nr == DENSE_TILE_B) {
        for (int h = 0; h < 2; h++)
            cpu_store_6x8_transposed(acc[0][h], acc[1][h], acc[2][h], acc[3][h], acc[4][h],
                                     acc[5][h], y + (size_t)8 * h * OC, (size_t)OC, 1);
        return;
    }
    float t[DENSE_TILE_O][DENSE_TILE_B];
    for (int i = 0; i < DENSE_TILE_O; i++)
        _mm256_storeu_ps(t[i], acc[i][0]), _mm256_storeu_ps(t[i] + 8, acc[i][1]);
    for (int r = 0; r < nr; r++)
        for (int i = 0; i < no; i++) y[(size_t)r * OC + i] += t[i][r];
}

void cpu_dense_forward(const float *x /* (B, C) */, const float *w /* (OC, C) */,
                       const float *b /* (OC) or NULL */, float *y /* (B, OC) */, int B, int C,
                       int OC, int lo, int hi)
{
    NN_CHECK(B >= 1 && B <= CPU_DENSE_MAX_B, "cpu_dense_forward: B %d not in 1..%d", B,
             CPU_DENSE_MAX_B);
    const int Bp = (B + DENSE_TILE_B - 1) / DENSE_TILE_B * DENSE_TILE_B;
    const int kc = DENSE_XT_FLOATS / Bp / 8 * 8;
    float xt[DENSE_XT_FLOATS] __attribute__((aligned(32)));
    for (int r = 0; r < B; r++) {
        float *row = y + (size_t)r * OC + lo;
        if (b)
            memcpy(row, b + lo, sizeof(float) * (size_t)(hi - lo));
        else
            memset(row, 0, sizeof(float) * (size_t)(hi - lo));
    }
    for (int k0 = 0; k0 < C; k0 += kc) {
        int n = C - k0 < kc ? C - k0 : kc;
        dense_pack(x, B, C, k0, n, Bp, xt);
        for (int o0 = lo; o0 < hi; o0 += DENSE_TILE_O) {
            int no = hi - o0 < DENSE_TILE_O ? hi - o0 : DENSE_TILE_O;
            const float *wr[DENSE_TILE_O];
            for (int i = 0; i < DENSE_TILE_O; i++)
                wr[i] = w + (size_t)(o0 + (i < no ? i : no - 1)) * C + k0;
            for (int r0 = 0; r0 < B; r0 += DENSE_TILE_B)
                dense_tile(xt + r0, Bp, n, wr, y + (size_t)r0 * OC + o0, OC,
                           B - r0 < DENSE_TILE_B ? B - r0 : DENSE_TILE_B, no);
        }
    }
}
#else
void cpu_dense_forward(const float *x, const float *w, const float *b, float *y, int B, int C,
                       int OC, int lo, int hi)
{
    (void)x, (void)w, (void)b, (void)y, (void)B, (void)C, (void)OC, (void)lo, (void)hi;
    NN_CHECK(0, "cpu_dense_forward: not built for this CPU");
}
#endif
