/* backend_ops_threads.c - test_backend_ops: the cpu backend gives the same
 * bits for any number of threads (backend.h, backend_cpu_set_threads;
 * cpu_pool.c), on test_backend_ops.c's harness (backend_ops.h).
 *
 * Every op that cuts its work into pieces or reduces over them runs on the
 * same inputs at 1, 2, 3 and 4 threads, then at 3 again: each output must
 * be the same bits as at 1 thread (and as the first run at 3). The shapes
 * make OpenBLAS's edge tiles differ between a product and its blocks: a
 * dense layer at the MLP's first shape, one with odd sizes (B = 33, 515 ->
 * 200), two past cpu_dense.c's batch limit (B = 70 and 300, so their
 * forward is OpenBLAS's on AVX2 CPUs too; at 300 cut into blocks of rows),
 * each forward, backward with dx and fused SGD update; convolutions with
 * B = 9 (chunks of the batch) and B = 1 (the products themselves cut, with
 * padding and without); batch norm.
 *
 * Not vacuous: outputs start as NaN and must all be written (finite) and
 * not all zero, and probe_blas_blocks reports whether this machine's
 * OpenBLAS rounds a column block differently from the whole product (it
 * does with Debian 0.3.21's Haswell and Zen kernels: then cutting products
 * by the thread count, as the cpu backend once did, fails here).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "backend_ops.h"
#include "check.h"
#include "nnsweep/backend.h"
#include "nnsweep/core.h"

/* ---- outputs of a run ----------------------------------------------------------------- */

#define SPLIT_MAX_OUTS 64 /* 57 used */

typedef struct SplitRun {
    float *v; /* every output, in order */
    size_t n, cap;
    int n_outs;
    const char *name[SPLIT_MAX_OUTS];
    size_t at[SPLIT_MAX_OUTS], len[SPLIT_MAX_OUTS];
} SplitRun;

/* Appends n floats of backend memory d to r as output `name`. */
static void grab(SplitRun *r, const char *name, const void *d, size_t n)
{
    NN_CHECK(r->n_outs < SPLIT_MAX_OUTS, "test: more than %d outputs", SPLIT_MAX_OUTS);
    if (r->n + n > r->cap) {
        r->cap = 2 * (r->n + n);
        r->v = nn_realloc(r->v, r->cap * sizeof(float));
    }
    T->sync();
    T->download(r->v + r->n, d, n * sizeof(float));
    r->name[r->n_outs] = name;
    r->at[r->n_outs] = r->n;
    r->len[r->n_outs] = n;
    r->n_outs++;
    r->n += n;
}

/* ---- the ops ---------------------------------------------------------------------------- */

/* A dense layer B x C -> OC: forward + act, backward with dx, backward with
 * dx and the fused SGD update (w, b updated in place). */
static void split_linear(SplitRun *r, int B, int C, int OC)
{
    size_t nx = (size_t)B * C, nw = (size_t)OC * C, ny = (size_t)B * OC;
    float *x = dfloats(hrand(nx, -1, 1), nx), *w = dfloats(hrand(nw, -0.05f, 0.05f), nw);
    float *b = dfloats(hrand(OC, -0.05f, 0.05f), OC), *dy = dfloats(hrand(ny, -1, 1), ny);
    float *y = dnan(ny), *ya = dnan(ny), *dx = dnan(nx), *dw = dnan(nw), *db = dnan(OC);
    T->linear_forward(x, w, b, y, B, C, OC);
    T->linear_forward_act(x, w, b, ya, B, C, OC, ACT_GELU);
    T->linear_backward(dy, x, w, dx, dw, db, B, C, OC);
    grab(r, "linear_forward y", y, ny);
    grab(r, "linear_forward_act y", ya, ny);
    grab(r, "linear_backward dx", dx, nx);
    grab(r, "linear_backward dw", dw, nw);
    grab(r, "linear_backward db", db, (size_t)OC);
    float *dx2 = dnan(nx);
    T->linear_backward_sgd(dy, x, w, b, dx2, B, C, OC, 0.05f, 5e-4f);
    grab(r, "linear_backward_sgd dx", dx2, nx);
    grab(r, "linear_backward_sgd w", w, nw);
    grab(r, "linear_backward_sgd b", b, (size_t)OC);
}

/* A convolution's forward and backward. */
static void split_conv(SplitRun *r, ConvShape s)
{
    size_t nx = (size_t)s.B * s.C * s.H * s.W, nw = (size_t)s.OC * s.C * s.K * s.K;
    size_t ny = (size_t)s.B * s.OC * s.OH * s.OW;
    float *x = dfloats(hrand(nx, -1, 1), nx), *w = dfloats(hrand(nw, -0.2f, 0.2f), nw);
    float *b = dfloats(hrand(s.OC, -0.2f, 0.2f), s.OC), *dy = dfloats(hrand(ny, -1, 1), ny);
    size_t nws = T->conv2d_workspace_floats(&s);
    float *ws = dnan(nws), *y = dnan(ny), *dx = dnan(nx), *dw = dnan(nw), *db = dnan(s.OC);
    T->conv2d_forward(x, w, b, y, &s, ws);
    T->conv2d_backward(dy, x, w, dx, dw, db, &s, ws);
    grab(r, "conv2d_forward y", y, ny);
    grab(r, "conv2d_backward dx", dx, nx);
    grab(r, "conv2d_backward dw", dw, nw);
    grab(r, "conv2d_backward db", db, (size_t)s.OC);
}

/* Conv + batch norm + ReLU + 2 x 2 max pool, both passes. */
static void split_conv_bn(SplitRun *r, ConvShape s)
{
    FusedGroup g = conv_group(&s, ACT_RELU, 2);
    size_t nx = (size_t)s.B * s.C * s.H * s.W, nw = (size_t)s.OC * s.C * s.K * s.K;
    size_t nz = (size_t)s.B * s.OC * s.OH * s.OW;
    size_t np = (size_t)s.B * s.OC * (s.OH / 2) * (s.OW / 2);
    size_t nbw = conv2d_bn_workspace_floats(T, &g);
    float *x = dfloats(hrand(nx, -1, 1), nx), *w = dfloats(hrand(nw, -0.2f, 0.2f), nw);
    float *b = dfloats(hrand(s.OC, -0.2f, 0.2f), s.OC), *z = dnan(nz);
    float *ga = dfloats(hrand(s.OC, 0.5f, 1.5f), s.OC), *be = dfloats(hrand(s.OC, -1, 1), s.OC);
    float *rm = dfloats(hfloats(s.OC), s.OC), *rv = dfloats(hrand(s.OC, 1, 1), s.OC);
    float *y = dnan(np), *zp = dnan(np), *mean = dnan(s.OC), *inv = dnan(s.OC);
    float *dg = dnan(s.OC), *dbe = dnan(s.OC), *dx = dnan(nx), *dw = dnan(nw), *db = dnan(s.OC);
    int32_t *idx = dcopy(hnan(np), sizeof(int32_t) * np);
    FusedTensors t = {.x = x, .w = w, .b = b, .gamma = ga, .beta = be, .running_mean = rm,
                      .running_var = rv, .save_mean = mean, .save_invstd = inv, .z = z, .y = y,
                      .idx = idx, .zp = zp, .dx = dx, .dw = dw, .db = db, .dgamma = dg,
                      .dbeta = dbe, .ws = dnan(nbw)};
    T->conv2d_forward_bn_act_pool(&g, &t);
    t.dy = dfloats(hrand(np, -1, 1), np);
    t.ws = dnan(nbw);
    T->conv2d_backward_bn_act_pool(&g, &t);
    grab(r, "conv2d_forward_bn_act_pool z", z, nz);
    grab(r, "conv2d_forward_bn_act_pool y", y, np);
    grab(r, "conv2d_forward_bn_act_pool zp", zp, np);
    grab(r, "conv2d_forward_bn_act_pool mean", mean, (size_t)s.OC);
    grab(r, "conv2d_forward_bn_act_pool invstd", inv, (size_t)s.OC);
    grab(r, "conv2d_backward_bn_act_pool dx", dx, nx);
    grab(r, "conv2d_backward_bn_act_pool dw", dw, nw);
    grab(r, "conv2d_backward_bn_act_pool dgamma", dg, (size_t)s.OC);
}

/* Batch norm over planes, both passes. */
static void split_batchnorm(SplitRun *r)
{
    int B = 16, C = 12, HW = 100;
    size_t n = (size_t)B * C * HW;
    float *x = dfloats(hrand(n, -2, 2), n), *g = dfloats(hrand(C, 0.5f, 1.5f), C);
    float *be = dfloats(hrand(C, -1, 1), C), *rm = dfloats(hfloats(C), C);
    float *rv = dfloats(hrand(C, 1, 1), C), *y = dnan(n), *mean = dnan(C), *inv = dnan(C);
    float *dx = dnan(n), *dg = dnan(C), *dbe = dnan(C);
    T->batchnorm_forward_train(x, g, be, y, mean, inv, rm, rv, B, C, HW, 0.1f, 1e-5f);
    T->batchnorm_backward(dfloats(hrand(n, -1, 1), n), x, g, mean, inv, dx, dg, dbe, B, C, HW);
    grab(r, "batchnorm_forward_train y", y, n);
    grab(r, "batchnorm_forward_train running_var", rv, (size_t)C);
    grab(r, "batchnorm_backward dx", dx, n);
    grab(r, "batchnorm_backward dgamma", dg, (size_t)C);
    grab(r, "batchnorm_backward dbeta", dbe, (size_t)C);
}

/* Every op above at `threads` threads on the same inputs. */
static void run_split_ops(int threads, SplitRun *r)
{
    int got = backend_cpu_set_threads(threads);
    CHECK(got == threads, "backend_cpu_set_threads(%d) returned %d", threads, got);
    rand_counter = 4242; /* the same inputs for every call */
    split_linear(r, 32, 3072, 256);
    split_linear(r, 33, 515, 200);
    split_linear(r, 70, 600, 300);
    split_linear(r, 300, 200, 50); /* forward cut into blocks of rows */
    split_conv(r, (ConvShape){9, 5, 12, 11, 7, 3, 1, 12, 11});
    split_conv(r, (ConvShape){1, 32, 32, 32, 32, 3, 1, 32, 32});
    split_conv(r, (ConvShape){1, 32, 34, 34, 32, 3, 0, 32, 32});
    split_conv_bn(r, (ConvShape){9, 5, 12, 11, 7, 3, 1, 12, 11});
    split_batchnorm(r);
    release_all();
}

/* ---- the checks ------------------------------------------------------------------------- */

/* Floats of a and b (n) whose bits differ. */
static size_t bits_differ(const float *a, const float *b, size_t n)
{
    size_t d = 0;
    for (size_t i = 0; i < n; i++) d += memcmp(&a[i], &b[i], sizeof(float)) != 0;
    return d;
}

/* Each output of r against base's (the same ops, so the same outputs). */
static void cmp_runs(const SplitRun *base, const SplitRun *r, const char *what)
{
    CHECK(base->n_outs == r->n_outs && base->n == r->n, "%s: %d outputs, %zu floats; %d, %zu",
          what, base->n_outs, base->n, r->n_outs, r->n);
    if (base->n_outs != r->n_outs || base->n != r->n) return;
    for (int i = 0; i < r->n_outs; i++) {
        size_t d = bits_differ(base->v + base->at[i], r->v + r->at[i], r->len[i]);
        CHECK(d == 0, "%s: %s: %zu of %zu values differ %s", T->name, r->name[i], d, r->len[i],
              what);
    }
}

/* Whether OpenBLAS here gives a column block other bits than the same
 * columns of the whole product: y (33, 200) = x (33, 515) . w^T, whole and
 * as blocks [0, 64), [64, 128), [128, 200), each one call (cpu_sgemm, split
 * 0). Printed only: the invariance test above must pass either way, but
 * only where this differs could a cut by the thread count be caught. */
static void probe_blas_blocks(void)
{
    enum { M = 33, K = 515, N = 200 };
    float *x = hrand((size_t)M * K, -1, 1), *w = hrand((size_t)N * K, -0.05f, 0.05f);
    float *whole = hnan((size_t)M * N), *blocks = hnan((size_t)M * N);
    cpu_sgemm(0, 0, 1, M, N, K, 1.0f, x, K, w, K, 0.0f, whole, N);
    static const int cut[] = {0, 64, 128, N};
    for (int i = 0; i < 3; i++)
        cpu_sgemm(0, 0, 1, M, cut[i + 1] - cut[i], K, 1.0f, x, K, w + (size_t)cut[i] * K, K, 0.0f,
                  blocks + cut[i], N);
    size_t d = bits_differ(whole, blocks, (size_t)M * N);
    const char *core = getenv("OPENBLAS_CORETYPE");
    printf("OpenBLAS (OPENBLAS_CORETYPE %s): column blocks of a product differ from the whole in "
           "%zu of %d values%s\n",
           core ? core : "unset", d, M * N,
           d ? "" : " (a cut by the thread count would not show here)");
    release_all();
}

void test_thread_determinism(void)
{
    static const int threads[] = {1, 2, 3, 4, 3};
    enum { N_RUNS = sizeof threads / sizeof threads[0] };
    SplitRun runs[N_RUNS];
    memset(runs, 0, sizeof runs);
    probe_blas_blocks();
    for (int i = 0; i < N_RUNS; i++) run_split_ops(threads[i], &runs[i]);
    const SplitRun *one = &runs[0];
    for (int i = 0; i < one->n_outs; i++) {
        size_t unwritten = 0, zero = 0;
        for (size_t k = 0; k < one->len[i]; k++) {
            float v = one->v[one->at[i] + k];
            unwritten += !isfinite(v);
            zero += v == 0.0f;
        }
        CHECK(unwritten == 0, "%s: %s: %zu of %zu values not finite", T->name, one->name[i],
              unwritten, one->len[i]);
        CHECK(zero < one->len[i], "%s: %s: all %zu values zero", T->name, one->name[i],
              one->len[i]);
    }
    char what[64];
    for (int i = 1; i < N_RUNS; i++) {
        snprintf(what, sizeof what, "between 1 and %d threads", threads[i]);
        cmp_runs(one, &runs[i], what);
    }
    cmp_runs(&runs[2], &runs[4], "between two runs at 3 threads");
    printf("thread invariance: %d outputs, %zu values, at 1, 2, 3, 4 and 3 threads\n", one->n_outs,
           one->n);
    for (int i = 0; i < N_RUNS; i++) free(runs[i].v);
}
