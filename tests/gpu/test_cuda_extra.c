/* test_cuda_extra.c - checks of the cuda backend beyond test_backend_ops,
 * through its table only, so that the same binary runs on a GPU (CTest
 * test_cuda_extra, label gpu; exit 77 without one) and on the host
 * emulation (tests/gpu/emu/run_emu_checks.sh):
 *  - gather_batch and dropout bit-identical to ref (memcmp, not a
 *    tolerance: the same Philox draws and the same float expressions);
 *  - convolution with the workspace the query asked for, with none and
 *    with 100 bytes (algorithms needing less), and dense layers, in fp32
 *    (1e-5), tf32 (3e-3) and bf16 (3e-2) against ref;
 *  - conv weights and weight gradients at addresses 4 bytes off alignment
 *    (where the packed state layout puts them for some widths: the backend
 *    stages them), in every precision;
 *  - an activation 4 bytes off alignment: a failed run with a message that
 *    names it (backend_take_failure), not a cuDNN call, and the next call
 *    works.
 * Tolerances: tf32 rounds inputs to 10 mantissa bits (2^-11 relative), bf16
 * to 7 (2^-8); the sums here have at most 108 terms of magnitude <= 0.3. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nnsweep/backend.h"
#include "nnsweep/rng.h"

static const Backend *R, *T;
static uint64_t ctr;

static float ur(float lo, float hi) { return lo + (hi - lo) * rng_uniform_at(5, 77, ctr++); }

static float *hr(size_t n, float lo, float hi)
{
    float *p = malloc(n * sizeof(float) + 4);
    for (size_t i = 0; i < n; i++) p[i] = ur(lo, hi);
    return p;
}

/* Backend memory holding n bytes of h, at `skew` bytes past an aligned
 * start (the allocation is returned in *base for freeing). */
static void *up_at(const void *h, size_t n, size_t skew, void **base)
{
    char *d = T->alloc(n + skew);
    CHECK(d != NULL, "alloc of %zu bytes", n + skew);
    T->upload(d + skew, h, n);
    *base = d;
    return d + skew;
}

static void *up(const void *h, size_t n, void **base) { return up_at(h, n, 0, base); }

static float *down(const void *d, size_t n)
{
    float *h = malloc(n * sizeof(float) + 4);
    T->download(h, d, n * sizeof(float));
    return h;
}

/* No failure recorded by the ops since the last check. */
static void no_failure(const char *what)
{
    NnError e;
    CHECK(backend_take_failure(T, &e) == NN_OK, "%s: the backend failed the run: %s", what, e.msg);
}

static void exact_gather_dropout(void)
{
    enum { N = 40, B = 33 };
    uint8_t *img = malloc(N * 3072), lab[N];
    for (int i = 0; i < N * 3072; i++) img[i] = (uint8_t)(ur(0, 256));
    for (int i = 0; i < N; i++) lab[i] = (uint8_t)(i % 10);
    int32_t idx[B];
    for (int i = 0; i < B; i++) idx[i] = (i * 7) % N;
    for (int a = 0; a < 3; a++) {
        BatchSpec sp = {{0.49f, 0.48f, 0.45f}, {0.25f, 0.24f, 0.26f}, (Augment)a, 123,
                        rng_stream(RNG_STREAM_AUGMENT, 9)};
        float *x = malloc(B * 3072 * sizeof(float));
        int32_t y[B], gy[B];
        R->gather_batch(img, lab, idx, B, &sp, x, y);
        void *b1, *b2, *b3, *b4, *b5;
        void *di = up(img, N * 3072, &b1), *dl = up(lab, N, &b2), *didx = up(idx, sizeof idx, &b3);
        void *dx = up(x, B * 3072 * sizeof(float), &b4), *dy = up(y, sizeof y, &b5);
        T->gather_batch(di, dl, didx, B, &sp, dx, dy);
        float *gx = down(dx, B * 3072);
        T->download(gy, dy, sizeof gy);
        CHECK(memcmp(gx, x, B * 3072 * sizeof(float)) == 0, "gather augment %d: not bit-identical",
              a);
        CHECK(memcmp(gy, y, sizeof y) == 0, "gather labels differ");
        void *bases[] = {b1, b2, b3, b4, b5};
        for (int i = 0; i < 5; i++) T->free(bases[i]);
        free(x);
        free(gx);
    }
    free(img);
    size_t ns[] = {1, 5, 1003, 64 * 9};
    int groups[] = {1, 1, 1, 9};
    for (int k = 0; k < 4; k++) {
        size_t n = ns[k];
        float *x = hr(n, -1, 1), *y = malloc(n * sizeof(float)), *m = malloc(n * sizeof(float));
        uint64_t hi = rng_stream(RNG_STREAM_DROPOUT, 3);
        R->dropout_forward(x, y, m, n, groups[k], 0.3f, 42, hi);
        void *b1, *b2, *b3;
        float *dx = up(x, n * sizeof(float), &b1), *dy = up(x, n * sizeof(float), &b2),
              *dm = up(x, n * sizeof(float), &b3);
        T->dropout_forward(dx, dy, dm, n, groups[k], 0.3f, 42, hi);
        float *gy = down(dy, n), *gm = down(dm, n);
        CHECK(memcmp(gy, y, n * sizeof(float)) == 0 && memcmp(gm, m, n * sizeof(float)) == 0,
              "dropout n %zu group %d: not bit-identical", n, groups[k]);
        T->free(b1);
        T->free(b2);
        T->free(b3);
        free(x);
        free(y);
        free(m);
        free(gy);
        free(gm);
    }
    no_failure("gather and dropout");
}

/* Conv forward + backward of T in precision prec against ref, with a
 * workspace of ws_bytes (< 0: what the query asks for) and w, dw placed
 * param_skew bytes past an aligned address. */
static void conv_case(int prec, double tol, long ws_bytes, size_t param_skew)
{
    if (T->set_precision) T->set_precision(prec);
    ConvShape s = {3, 4, 9, 8, 5, 3, 1, 0, 0};
    s.OH = s.H + 2 * s.pad - s.K + 1;
    s.OW = s.W + 2 * s.pad - s.K + 1;
    size_t nx = 3 * 4 * 9 * 8, nw = 5 * 4 * 9, ny = (size_t)3 * 5 * s.OH * s.OW;
    float *x = hr(nx, -1, 1), *w = hr(nw, -0.3f, 0.3f), *b = hr(5, -0.3f, 0.3f),
          *dy = hr(ny, -1, 1);
    float *y = malloc(ny * 4), *dx = malloc(nx * 4), *dw = malloc(nw * 4), *db = malloc(5 * 4);
    R->conv2d_forward(x, w, b, y, &s, NULL);
    R->conv2d_backward(dy, x, w, dx, dw, db, &s, NULL);
    size_t q = T->conv2d_workspace_floats(&s);
    size_t wsb = ws_bytes >= 0 ? (size_t)ws_bytes : q * 4;
    float *dws = wsb ? T->alloc(wsb) : NULL;
    void *bx, *bw, *bb, *bdy, *by, *bdx, *bdw, *bdb;
    float *d_x = up(x, nx * 4, &bx), *d_w = up_at(w, nw * 4, param_skew, &bw),
          *d_b = up(b, 5 * 4, &bb), *d_dy = up(dy, ny * 4, &bdy);
    float *d_y = up(y, ny * 4, &by), *d_dx = up(dx, nx * 4, &bdx),
          *d_dw = up_at(dw, nw * 4, param_skew, &bdw), *d_db = up(db, 5 * 4, &bdb);
    T->zero(d_y, ny * 4);
    T->zero(d_dx, nx * 4);
    T->zero(d_dw, nw * 4);
    T->conv2d_forward(d_x, d_w, d_b, d_y, &s, dws);
    T->conv2d_backward(d_dy, d_x, d_w, d_dx, d_dw, d_db, &s, dws);
    char what[96];
    snprintf(what, sizeof what, "conv prec %d ws %ld (query %zu floats) weights +%zu B", prec,
             ws_bytes, q, param_skew);
    no_failure(what);
    float *gy = down(d_y, ny), *gdx = down(d_dx, nx), *gdw = down(d_dw, nw), *gdb = down(d_db, 5);
    check_close(what, gy, y, ny, tol, tol);
    check_close("conv dx", gdx, dx, nx, tol, tol);
    check_close("conv dw", gdw, dw, nw, tol, tol);
    check_close("conv db", gdb, db, 5, 1e-5, 1e-5);
    void *bases[] = {dws, bx, bw, bb, bdy, by, bdx, bdw, bdb};
    for (int i = 0; i < 9; i++) T->free(bases[i]);
    float *hs[] = {x, w, b, dy, y, dx, dw, db, gy, gdx, gdw, gdb};
    for (int i = 0; i < 12; i++) free(hs[i]);
    if (T->set_precision) T->set_precision(0);
}

static void linear_case(int prec, double tol)
{
    if (T->set_precision) T->set_precision(prec);
    int B = 7, C = 33, OC = 12;
    float *x = hr(B * C, -1, 1), *w = hr(OC * C, -0.2f, 0.2f), *b = hr(OC, -0.2f, 0.2f),
          *dy = hr(B * OC, -1, 1);
    float *y = malloc(B * OC * 4), *dx = malloc(B * C * 4), *dw = malloc(OC * C * 4),
          *db = malloc(OC * 4);
    R->linear_forward(x, w, b, y, B, C, OC);
    R->linear_backward(dy, x, w, dx, dw, db, B, C, OC);
    void *b1, *b2, *b3, *b4, *b5, *b6, *b7, *b8;
    float *d_x = up(x, B * C * 4, &b1), *d_w = up(w, OC * C * 4, &b2), *d_b = up(b, OC * 4, &b3),
          *d_dy = up(dy, B * OC * 4, &b4);
    float *d_y = up(y, B * OC * 4, &b5), *d_dx = up(dx, B * C * 4, &b6),
          *d_dw = up(dw, OC * C * 4, &b7), *d_db = up(db, OC * 4, &b8);
    T->linear_forward(d_x, d_w, d_b, d_y, B, C, OC);
    T->linear_backward(d_dy, d_x, d_w, d_dx, d_dw, d_db, B, C, OC);
    no_failure("linear");
    char what[32];
    snprintf(what, sizeof what, "linear y prec %d", prec);
    float *g[4] = {down(d_y, B * OC), down(d_dx, B * C), down(d_dw, OC * C), down(d_db, OC)};
    check_close(what, g[0], y, B * OC, tol, tol);
    check_close("linear dx", g[1], dx, B * C, tol, tol);
    check_close("linear dw", g[2], dw, OC * C, tol, tol);
    check_close("linear db", g[3], db, OC, 1e-5, 1e-5);
    void *bases[] = {b1, b2, b3, b4, b5, b6, b7, b8};
    for (int i = 0; i < 8; i++) T->free(bases[i]);
    float *hs[] = {x, w, b, dy, y, dx, dw, db, g[0], g[1], g[2], g[3]};
    for (int i = 0; i < 12; i++) free(hs[i]);
    if (T->set_precision) T->set_precision(0);
}

/* An input 4 bytes off alignment: the backend fails the run, names the
 * operand, and the next (aligned) call works. */
static void misaligned_activation(void)
{
    ConvShape s = {2, 3, 6, 6, 4, 3, 1, 6, 6};
    size_t nx = 2 * 3 * 6 * 6, nw = 4 * 3 * 9, ny = 2 * 4 * 6 * 6;
    float *x = hr(nx, -1, 1), *w = hr(nw, -0.3f, 0.3f), *y = malloc(ny * 4), *gy;
    R->conv2d_forward(x, w, NULL, y, &s, NULL);
    size_t q = T->conv2d_workspace_floats(&s);
    float *ws = q ? T->alloc(q * 4) : NULL;
    void *bx, *bw, *by;
    float *d_x = up_at(x, nx * 4, 4, &bx), *d_w = up(w, nw * 4, &bw), *d_y = up(y, ny * 4, &by);
    T->conv2d_forward(d_x, d_w, NULL, d_y, &s, ws);
    NnError e;
    NnStatus st = backend_take_failure(T, &e);
    CHECK(st == NN_ERR_RUN && strstr(e.msg, "x at ") && strstr(e.msg, "16-byte aligned"),
          "a misaligned x fails the run with a message naming it: status %d, \"%s\"", (int)st,
          st == NN_OK ? "" : e.msg);
    T->upload(d_x - 1, x, nx * 4); /* now aligned (one float before) */
    T->conv2d_forward(d_x - 1, d_w, NULL, d_y, &s, ws);
    no_failure("conv after a failed one");
    check_close("conv after a failed one", gy = down(d_y, ny), y, ny, 1e-5, 1e-5);
    T->free(bx);
    T->free(bw);
    T->free(by);
    T->free(ws);
    free(x);
    free(w);
    free(y);
    free(gy);
}

int main(void)
{
    R = backend_get(BACKEND_REF);
    T = backend_get(BACKEND_CUDA);
    if (!T || !backend_available(BACKEND_CUDA)) {
        printf("SKIP: the cuda backend is %s\n", T ? "compiled in but no GPU is usable here"
                                                   : "not compiled into this build");
        return CHECK_SKIP;
    }
    exact_gather_dropout();
    static const double tol[3] = {1e-5, 3e-3, 3e-2}; /* fp32, tf32, bf16: see the header */
    for (int prec = 0; prec < 3; prec++) {
        conv_case(prec, tol[prec], -1, 0);
        conv_case(prec, tol[prec], -1, 4); /* staged weights */
        linear_case(prec, tol[prec]);
    }
    conv_case(0, 1e-5, 0, 0);   /* no workspace: algorithms that need none */
    conv_case(0, 1e-5, 100, 0); /* too small for most */
    misaligned_activation();
    return check_exit_code();
}
