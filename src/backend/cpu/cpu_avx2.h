/* cpu_avx2.h - the target attribute and register transposes shared by the
 * cpu backend's AVX2 + FMA kernels (cpu_conv_direct.c, cpu_conv_winograd.c,
 * cpu_dense.c). Include only where
 * __x86_64__ and __GNUC__ are defined; the functions carry their own target
 * attribute, so the files need no -mavx2, and run only where
 * cpu_avx2_fma_available() says so. */
#ifndef NNSWEEP_CPU_AVX2_H
#define NNSWEEP_CPU_AVX2_H

#include <stddef.h>

#include <immintrin.h>

#define CPU_AVX2 __attribute__((target("avx2,fma")))

/* out[j ld + i] = (add: +=) lane j of r_i, for the 8 lanes of six rows
 * r0..r5: transposed in registers (rows 6 and 7 as zeros), then per lane
 * the rows 0-3 in one access and 4-5 in another. */
CPU_AVX2 static inline void cpu_store_6x8_transposed(__m256 r0, __m256 r1, __m256 r2, __m256 r3,
                                                     __m256 r4, __m256 r5, float *out, size_t ld,
                                                     int add)
{
    const __m256 z = _mm256_setzero_ps();
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    /* u[j]: lanes j (low half) and j + 4 (high half), rows 0-3; v[j]: the
     * same lanes, rows 4-5 in the first two floats */
    __m256 u[4] = {_mm256_shuffle_ps(t0, t2, 0x44), _mm256_shuffle_ps(t0, t2, 0xEE),
                   _mm256_shuffle_ps(t1, t3, 0x44), _mm256_shuffle_ps(t1, t3, 0xEE)};
    __m256 v[4] = {_mm256_shuffle_ps(t4, z, 0x44), _mm256_shuffle_ps(t4, z, 0xEE),
                   _mm256_shuffle_ps(t5, z, 0x44), _mm256_shuffle_ps(t5, z, 0xEE)};
    for (int j = 0; j < 4; j++) {
        float *at[2] = {out + (size_t)j * ld, out + (size_t)(j + 4) * ld};
        __m128 a[2] = {_mm256_castps256_ps128(u[j]), _mm256_extractf128_ps(u[j], 1)};
        __m128 b[2] = {_mm256_castps256_ps128(v[j]), _mm256_extractf128_ps(v[j], 1)};
        for (int h = 0; h < 2; h++) {
            if (add) {
                a[h] = _mm_add_ps(a[h], _mm_loadu_ps(at[h]));
                b[h] = _mm_add_ps(b[h], _mm_loadl_pi(_mm_setzero_ps(), (const __m64 *)(at[h] + 4)));
            }
            _mm_storeu_ps(at[h], a[h]);
            _mm_storel_pi((__m64 *)(at[h] + 4), b[h]);
        }
    }
}

/* r = r^T for an 8 x 8 block of floats, one row per register. */
CPU_AVX2 static inline void cpu_transpose_8x8(__m256 r[8])
{
    __m256 t[8], s[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) { /* s[4 i + m]: column m (and m + 4) of rows 4i..4i+3 */
        s[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        s[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        s[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        s[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int m = 0; m < 4; m++) {
        r[m] = _mm256_permute2f128_ps(s[m], s[4 + m], 0x20);
        r[m + 4] = _mm256_permute2f128_ps(s[m], s[4 + m], 0x31);
    }
}

#endif
