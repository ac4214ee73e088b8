/* backend_ops.h - test_backend_ops's harness (defined in
 * test_backend_ops.c), shared with its other files: backend_ops_fused.c
 * (the fused ops) and backend_ops_threads.c (the cpu backend's thread
 * invariance). */
#ifndef NNSWEEP_TEST_BACKEND_OPS_H
#define NNSWEEP_TEST_BACKEND_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "nnsweep/backend.h"

extern const Backend *R; /* ref, host memory */
extern const Backend *T; /* the backend under test */
extern double TOL;        /* atol and rtol */
extern double CANCEL_TOL; /* of a sum's terms' magnitude: cmp_mag */
extern uint64_t rand_counter;

/* A uniform draw in [lo, hi) (RNG_STREAM_TEST). */
float urand(float lo, float hi);

/* Host buffers (zeroed, NaN, uniform in [lo, hi)) and backend copies,
 * tracked: release_all frees the case's buffers (and turns a failure the
 * backend recorded into a failed check). */
void *hbuf(size_t bytes);
float *hfloats(size_t n);
float *hnan(size_t n);
float *hrand(size_t n, float lo, float hi);
void *dcopy(const void *h, size_t bytes);
float *dfloats(const float *h, size_t n);
float *dnan(size_t n);
void release_all(void);

/* Backend result d against ref's r: at TOL (cmp), with the terms'
 * magnitudes mag (cmp_mag), as ints (cmp_ints). */
void cmp(const char *what, const void *d, const float *r, size_t n);
void cmp_mag(const char *what, const void *d, const float *r, const float *mag, size_t n,
             double atol);
void cmp_ints(const char *what, const void *d, const int32_t *r, size_t n);
/* The magnitudes of a conv's dx (mdx, may be NULL), dw and db terms. */
void conv_term_magnitudes(const float *dy, const float *x, const float *w, const ConvShape *s,
                          float *mdx, float *mdw, float *mdb);

/* The stride-1 convolution of v = {B, C, H, W, OC, K, pad}, its output
 * planes derived. */
ConvShape conv_shape(const int *v);

/* The descriptor of a conv group over s, and of a batch norm group over
 * x (B, C, H, W) (backend.h, FusedGroup). */
static inline FusedGroup conv_group(const ConvShape *s, ActKind act, int pool)
{
    return (FusedGroup){*s, act, pool, 0.1f, 1e-5f};
}

static inline FusedGroup bn_group(int B, int C, int H, int W, ActKind act, int pool)
{
    return (FusedGroup){{B, C, H, W, C, 1, 0, H, W}, act, pool, 0.1f, 1e-5f};
}

/* backend_ops_fused.c */
void test_linear_fused(void);
void test_conv_fused(void);
void test_batchnorm_fused(void);
void test_conv_bn_fused(void);
/* backend_ops_threads.c (cpu backend only) */
void test_thread_determinism(void);

#endif
