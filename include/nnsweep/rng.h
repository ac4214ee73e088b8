/* rng.h - counter-based random numbers (Philox4x32-10, Salmon et al., SC'11).
 *
 * Every random number nnsweep draws is a pure function of (key, counter):
 * no generator state is carried between calls, so the CPU and the CUDA
 * backend produce bit-identical dropout masks and augmentations, any thread
 * can draw any element, and a run is reproducible from its seed alone.
 *
 * Streams: the high 64 bits of the counter say what a draw is for (one
 * RNG_STREAM_* tag in the top byte plus a sub-stream such as an epoch or a
 * layer index and a step); the low 64 bits index the element. The key is the
 * run's seed.
 *
 * The functions are static inline and plain C so that .cu files can include
 * this header for their device code as well (NN_RNG_QUALIFIER).
 */
#ifndef NNSWEEP_RNG_H
#define NNSWEEP_RNG_H

#include <stdint.h>

#ifdef __CUDACC__
#define NN_RNG_QUALIFIER static inline __host__ __device__
#else
#define NN_RNG_QUALIFIER static inline
#endif

enum {
    RNG_STREAM_INIT = 1,    /* parameter initialization: hi = stream | layer */
    RNG_STREAM_SHUFFLE = 2, /* epoch order: hi = stream | epoch */
    RNG_STREAM_DROPOUT = 3, /* masks: hi = stream | layer << 40 | step */
    RNG_STREAM_AUGMENT = 4, /* flip/crop: hi = stream | epoch << 32 | batch */
    RNG_STREAM_SWEEP = 5,   /* random search: hi = stream | sweep hash */
    RNG_STREAM_TEST = 6,    /* tests and benchmarks */
    RNG_STREAM_BAYES = 7,   /* Bayesian search: hi = stream | purpose << 48 | state (bayes.c) */
};

/* Builds the high counter word: the stream tag in the top byte, sub in the
 * low 56 bits. */
NN_RNG_QUALIFIER uint64_t rng_stream(uint64_t tag, uint64_t sub)
{
    return (tag << 56) ^ (sub & 0x00FFFFFFFFFFFFFFull);
}

/* Philox4x32-10: four independent uniform 32-bit words for (key, hi, lo). */
NN_RNG_QUALIFIER void rng_philox(uint64_t key, uint64_t hi, uint64_t lo, uint32_t out[4])
{
    uint32_t c0 = (uint32_t)lo, c1 = (uint32_t)(lo >> 32);
    uint32_t c2 = (uint32_t)hi, c3 = (uint32_t)(hi >> 32);
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0;
        uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/* Uniform float in [0, 1) from the top 24 bits of a word (exact in fp32). */
NN_RNG_QUALIFIER float rng_u01(uint32_t word)
{
    return (float)(word >> 8) * (1.0f / 16777216.0f);
}

/* The i-th uniform [0, 1) float of stream (key, hi): word i % 4 of the
 * Philox block at counter i / 4. */
NN_RNG_QUALIFIER float rng_uniform_at(uint64_t key, uint64_t hi, uint64_t i)
{
    uint32_t w[4];
    rng_philox(key, hi, i >> 2, w);
    return rng_u01(w[i & 3]);
}

/* The i-th raw 32-bit word of stream (key, hi). */
NN_RNG_QUALIFIER uint32_t rng_u32_at(uint64_t key, uint64_t hi, uint64_t i)
{
    uint32_t w[4];
    rng_philox(key, hi, i >> 2, w);
    return w[i & 3];
}

/* Uniform integer in [0, n) from the i-th 64-bit draw of (key, hi), by
 * Lemire's multiply-shift on 64 bits (bias below 2^-32 for n < 2^32). */
NN_RNG_QUALIFIER uint32_t rng_below_at(uint64_t key, uint64_t hi, uint64_t i, uint32_t n)
{
    uint32_t w[4];
    rng_philox(key, hi, i >> 1, w);
    uint64_t x = (i & 1) ? ((uint64_t)w[2] << 32 | w[3]) : ((uint64_t)w[0] << 32 | w[1]);
    /* high 64 bits of x * n, exact for n < 2^32 */
    uint64_t lo = (x & 0xFFFFFFFFull) * n, hi2 = (x >> 32) * n;
    return (uint32_t)((hi2 + (lo >> 32)) >> 32);
}

#endif
