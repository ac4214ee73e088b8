/* test_gradcheck.c - the backward of every layer op of the reference backend
 * against central finite differences.
 *
 * For an op with output y, the scalar loss is a random projection
 * L = sum_i r_i y_i (accumulated in double), so backward is called with
 * dy = r and every input gradient is compared with
 * (L(p + h) - L(p - h)) / (2h) per element. The ops are float, so h is
 * 1e-2 and the tolerance rtol 1e-2 (STYLE.md) plus atol 1e-3: the float
 * rounding of L is ~1e-6 here, i.e. ~1e-4 after dividing by 2h, and the
 * truncation error h^2 f''' / 6 is ~1e-5; a wrong gradient is off by O(1).
 * Inputs keep a margin from kinks: ReLU inputs |x| >= 0.05, max-pool inputs
 * all distinct by >= 0.05, so no perturbation crosses one.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nnsweep/backend.h"
#include "nnsweep/core.h"
#include "nnsweep/rng.h"

#define FD_H 1e-2f
#define FD_ATOL 1e-3
#define FD_RTOL 1e-2

static const Backend *R;

static uint64_t rand_counter;

static float urand(float lo, float hi)
{
    return lo + (hi - lo) * rng_uniform_at(77, rng_stream(RNG_STREAM_TEST, 2), rand_counter++);
}

static float *frand(size_t n, float lo, float hi)
{
    float *a = nn_malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) a[i] = urand(lo, hi);
    return a;
}

/* Uniform in +-[margin, hi]: away from the kink at 0. */
static float *frand_away(size_t n, float margin, float hi)
{
    float *a = frand(n, margin, hi);
    for (size_t i = 0; i < n; i++)
        if (urand(0, 1) < 0.5f) a[i] = -a[i];
    return a;
}

/* The op under test: runs the forward with the current inputs, returns L. */
typedef double (*LossFn)(void *ctx);

/* Checks grad (n) against central differences of loss(ctx) in p (n). */
static void fd_check_tol(const char *what, LossFn loss, void *ctx, float *p, const float *grad,
                         size_t n, double atol)
{
    float *num = nn_malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) {
        float saved = p[i];
        float up = saved + FD_H, down = saved - FD_H;
        p[i] = up;
        double lp = loss(ctx);
        p[i] = down;
        double lm = loss(ctx);
        p[i] = saved;
        num[i] = (float)((lp - lm) / ((double)up - (double)down));
    }
    check_close(what, grad, num, n, atol, FD_RTOL);
    free(num);
}

static void fd_check(const char *what, LossFn loss, void *ctx, float *p, const float *grad, size_t n)
{
    fd_check_tol(what, loss, ctx, p, grad, n, FD_ATOL);
}

static double project(const float *y, const float *r, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)r[i] * y[i];
    return s;
}

/* ---- linear ----------------------------------------------------------------------- */

typedef struct {
    int B, C, OC;
    float *x, *w, *b, *y, *r;
} LinearCase;

static double linear_loss(void *ctx)
{
    LinearCase *t = ctx;
    R->linear_forward(t->x, t->w, t->b, t->y, t->B, t->C, t->OC);
    return project(t->y, t->r, (size_t)t->B * t->OC);
}

static void test_linear(int B, int C, int OC)
{
    LinearCase t = {B, C, OC, frand((size_t)B * C, -1, 1), frand((size_t)OC * C, -1, 1),
                    frand(OC, -1, 1), frand((size_t)B * OC, 0, 0), frand((size_t)B * OC, -1, 1)};
    float *dx = frand((size_t)B * C, 0, 0), *dw = frand((size_t)OC * C, 0, 0), *db = frand(OC, 0, 0);
    R->linear_backward(t.r, t.x, t.w, dx, dw, db, B, C, OC);
    char what[64];
    snprintf(what, sizeof what, "linear dx (%d,%d,%d)", B, C, OC);
    fd_check(what, linear_loss, &t, t.x, dx, (size_t)B * C);
    snprintf(what, sizeof what, "linear dw (%d,%d,%d)", B, C, OC);
    fd_check(what, linear_loss, &t, t.w, dw, (size_t)OC * C);
    snprintf(what, sizeof what, "linear db (%d,%d,%d)", B, C, OC);
    fd_check(what, linear_loss, &t, t.b, db, OC);
    free(t.x), free(t.w), free(t.b), free(t.y), free(t.r), free(dx), free(dw), free(db);
}

/* ---- conv2d ---------------------------------------------------------------------------- */

typedef struct {
    ConvShape s;
    float *x, *w, *b, *y, *r;
} ConvCase;

static double conv_loss(void *ctx)
{
    ConvCase *t = ctx;
    R->conv2d_forward(t->x, t->w, t->b, t->y, &t->s, NULL);
    return project(t->y, t->r, (size_t)t->s.B * t->s.OC * t->s.OH * t->s.OW);
}

static void test_conv(int B, int C, int H, int W, int OC, int K, int pad)
{
    ConvShape s = {B, C, H, W, OC, K, pad, H + 2 * pad - K + 1, W + 2 * pad - K + 1};
    size_t nx = (size_t)B * C * H * W, nw = (size_t)OC * C * K * K, ny = (size_t)B * OC * s.OH * s.OW;
    ConvCase t = {s, frand(nx, -1, 1), frand(nw, -1, 1), frand(OC, -1, 1), frand(ny, 0, 0),
                  frand(ny, -1, 1)};
    float *dx = frand(nx, 0, 0), *dw = frand(nw, 0, 0), *db = frand(OC, 0, 0);
    R->conv2d_backward(t.r, t.x, t.w, dx, dw, db, &s, NULL);
    char what[96];
    snprintf(what, sizeof what, "conv2d dx (B%d C%d H%d W%d OC%d K%d pad%d)", B, C, H, W, OC, K, pad);
    fd_check(what, conv_loss, &t, t.x, dx, nx);
    snprintf(what, sizeof what, "conv2d dw (B%d C%d H%d W%d OC%d K%d pad%d)", B, C, H, W, OC, K, pad);
    fd_check(what, conv_loss, &t, t.w, dw, nw);
    snprintf(what, sizeof what, "conv2d db (B%d C%d H%d W%d OC%d K%d pad%d)", B, C, H, W, OC, K, pad);
    fd_check(what, conv_loss, &t, t.b, db, OC);
    free(t.x), free(t.w), free(t.b), free(t.y), free(t.r), free(dx), free(dw), free(db);
}

/* ---- maxpool ---------------------------------------------------------------------------- */

typedef struct {
    PoolShape s;
    float *x, *y, *r;
} PoolCase;

static double pool_loss(void *ctx)
{
    PoolCase *t = ctx;
    R->maxpool2d_forward(t->x, t->y, NULL, &t->s);
    return project(t->y, t->r, (size_t)t->s.B * t->s.C * t->s.OH * t->s.OW);
}

static void test_maxpool(int B, int C, int H, int W, int P)
{
    PoolShape s = {B, C, H, W, P, H / P, W / P};
    size_t nx = (size_t)B * C * H * W, ny = (size_t)B * C * s.OH * s.OW;
    PoolCase t = {s, nn_malloc(sizeof(float) * nx), frand(ny, 0, 0), frand(ny, -1, 1)};
    /* distinct values 0.05 apart, in random order: no window has a near tie */
    for (size_t i = 0; i < nx; i++) t.x[i] = 0.05f * (float)i - 1.0f;
    for (size_t i = nx - 1; i > 0; i--) {
        size_t j = (size_t)(urand(0, 1) * (float)(i + 1)) % (i + 1);
        float v = t.x[i];
        t.x[i] = t.x[j];
        t.x[j] = v;
    }
    int32_t *idx = nn_malloc(sizeof(int32_t) * ny);
    float *dx = frand(nx, 0, 0);
    R->maxpool2d_forward(t.x, t.y, idx, &s);
    R->maxpool2d_backward(t.r, idx, dx, &s);
    char what[96];
    snprintf(what, sizeof what, "maxpool dx (B%d C%d H%d W%d P%d)", B, C, H, W, P);
    fd_check(what, pool_loss, &t, t.x, dx, nx);
    free(t.x), free(t.y), free(t.r), free(idx), free(dx);
}

/* ---- batchnorm (train) --------------------------------------------------------------------- */

typedef struct {
    int B, C, HW;
    float *x, *gamma, *beta, *y, *r, *mean, *invstd, *rm, *rv;
} BnCase;

static double bn_loss(void *ctx)
{
    BnCase *t = ctx;
    R->batchnorm_forward_train(t->x, t->gamma, t->beta, t->y, t->mean, t->invstd, t->rm, t->rv,
                               t->B, t->C, t->HW, 0.1f, 1e-5f);
    return project(t->y, t->r, (size_t)t->B * t->C * t->HW);
}

static void test_batchnorm(int B, int C, int HW)
{
    size_t n = (size_t)B * C * HW;
    BnCase t = {B, C, HW, frand(n, -2, 2), frand(C, 0.5f, 1.5f), frand(C, -1, 1), frand(n, 0, 0),
                frand(n, -1, 1), frand(C, 0, 0), frand(C, 0, 0), frand(C, 0, 0), frand(C, 1, 1)};
    bn_loss(&t); /* save_mean, save_invstd for backward */
    float *dx = frand(n, 0, 0), *dg = frand(C, 0, 0), *db = frand(C, 0, 0);
    R->batchnorm_backward(t.r, t.x, t.gamma, t.mean, t.invstd, dx, dg, db, B, C, HW);
    char what[64];
    snprintf(what, sizeof what, "batchnorm dx (B%d C%d HW%d)", B, C, HW);
    fd_check(what, bn_loss, &t, t.x, dx, n);
    snprintf(what, sizeof what, "batchnorm dgamma (B%d C%d HW%d)", B, C, HW);
    fd_check(what, bn_loss, &t, t.gamma, dg, C);
    snprintf(what, sizeof what, "batchnorm dbeta (B%d C%d HW%d)", B, C, HW);
    fd_check(what, bn_loss, &t, t.beta, db, C);
    free(t.x), free(t.gamma), free(t.beta), free(t.y), free(t.r), free(t.mean), free(t.invstd);
    free(t.rm), free(t.rv), free(dx), free(dg), free(db);
}

/* ---- activations ------------------------------------------------------------------------------ */

typedef struct {
    ActKind k;
    size_t n;
    float *x, *y, *r;
} ActCase;

static double act_loss(void *ctx)
{
    ActCase *t = ctx;
    R->act_forward(t->k, t->x, t->y, t->n);
    return project(t->y, t->r, t->n);
}

static void test_act(ActKind k, const char *name)
{
    size_t n = 64;
    ActCase t = {k, n, frand_away(n, 0.05f, 3.0f), frand(n, 0, 0), frand(n, -1, 1)};
    act_loss(&t);
    float *dx = frand(n, 0, 0);
    R->act_backward(k, t.x, t.y, t.r, dx, n);
    char what[64];
    snprintf(what, sizeof what, "%s dx", name);
    fd_check(what, act_loss, &t, t.x, dx, n);
    free(t.x), free(t.y), free(t.r), free(dx);
}

/* ---- dropout: y = x * mask for a fixed (seed, hi), dx = dy * mask ------------------------------ */

typedef struct {
    size_t n;
    int group;
    float p;
    float *x, *y, *mask, *r;
} DropCase;

static double dropout_loss(void *ctx)
{
    DropCase *t = ctx;
    R->dropout_forward(t->x, t->y, t->mask, t->n, t->group, t->p, 5, rng_stream(RNG_STREAM_DROPOUT, 9));
    return project(t->y, t->r, t->n);
}

static void test_dropout(int group, float p)
{
    size_t n = 96;
    DropCase t = {n, group, p, frand(n, -1, 1), frand(n, 0, 0), frand(n, 0, 0), frand(n, -1, 1)};
    dropout_loss(&t);
    float *dx = frand(n, 0, 0);
    R->mul(t.r, t.mask, dx, n);
    char what[64];
    snprintf(what, sizeof what, "dropout dx (group %d, p %g)", group, p);
    fd_check(what, dropout_loss, &t, t.x, dx, n);
    free(t.x), free(t.y), free(t.mask), free(t.r), free(dx);
}

/* ---- softmax cross-entropy: L = mean loss ------------------------------------------------------ */

typedef struct {
    int B, K;
    float ls;
    float *logits;
    int32_t *labels;
} XentCase;

static double xent_loss(void *ctx)
{
    XentCase *t = ctx;
    double acc[2] = {0, 0};
    R->softmax_xent(t->logits, t->labels, t->B, t->K, t->ls, NULL, acc);
    return acc[0] / t->B;
}

static void test_xent(int B, int K, float ls)
{
    XentCase t = {B, K, ls, frand((size_t)B * K, -3, 3), nn_malloc(sizeof(int32_t) * B)};
    for (int b = 0; b < B; b++) t.labels[b] = (int32_t)(urand(0, 1) * K) % K;
    float *dl = frand((size_t)B * K, 0, 0);
    double acc[2] = {0, 0};
    R->softmax_xent(t.logits, t.labels, B, K, ls, dl, acc);
    char what[64];
    snprintf(what, sizeof what, "softmax_xent dlogits (B%d K%d ls %g)", B, K, ls);
    /* the loss is summed in double from float logits: L itself is exact to
     * ~1e-15, so only the truncation error (< 1e-5 here) remains */
    fd_check_tol(what, xent_loss, &t, t.logits, dl, (size_t)B * K, 1e-4);
    free(t.logits), free(t.labels), free(dl);
}

int main(void)
{
    R = backend_get(BACKEND_REF);
    CHECK(R != NULL, "ref backend missing");
    if (!R) return check_exit_code();

    test_linear(3, 5, 4);
    test_linear(1, 7, 2);
    test_conv(2, 3, 5, 6, 4, 3, 1);
    test_conv(1, 2, 6, 5, 3, 2, 0);
    test_conv(2, 3, 7, 5, 2, 3, 0);
    test_conv(1, 1, 4, 4, 2, 5, 2);
    test_maxpool(2, 2, 5, 7, 2);
    test_maxpool(1, 3, 6, 6, 3);
    test_batchnorm(4, 3, 5);
    test_batchnorm(6, 4, 1);
    test_batchnorm(1, 2, 7);
    test_act(ACT_RELU, "relu");
    test_act(ACT_TANH, "tanh");
    test_act(ACT_SIGMOID, "sigmoid");
    test_act(ACT_GELU, "gelu");
    test_act(ACT_LEAKY_RELU, "leaky_relu");
    test_dropout(1, 0.3f);
    test_dropout(4, 0.5f);
    test_dropout(1, 0.0f);
    test_xent(4, 5, 0.0f);
    test_xent(3, 10, 0.1f);
    test_xent(1, 2, 0.2f);
    return check_exit_code();
}
