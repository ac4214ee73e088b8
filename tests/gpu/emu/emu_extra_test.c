/* emu_extra_test.c - checks of the cuda backend beyond test_backend_ops, for
 * the host emulation (cuda_emu.h; run_emu_checks.sh builds and runs it):
 * gather_batch and dropout bit-identical to ref (memcmp, not a tolerance),
 * convolution with the workspace the query asked for, with none and with
 * too little (fallback algorithms), tf32 and bf16 convolution and dense
 * layers against ref with loose tolerances, alloc returning NULL under out of
 * memory and working again after. Links the emulation (emu_fail_after). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend/backend_impl.h"
#include "backend/cuda/cuda_backend.h"
#include "check.h"
#include "nnsweep/rng.h"
extern size_t emu_fail_after;

static const Backend *R, *T;
static uint64_t ctr;
static float ur(float lo, float hi) { return lo + (hi - lo) * rng_uniform_at(5, 77, ctr++); }
static float *hr(size_t n, float lo, float hi)
{
    float *p = malloc(n * 4 + 4);
    for (size_t i = 0; i < n; i++) p[i] = ur(lo, hi);
    return p;
}
static void *up(const void *h, size_t b)
{
    void *d = T->alloc(b);
    T->upload(d, h, b);
    return d;
}
static float *down(const void *d, size_t n)
{
    float *h = malloc(n * 4 + 4);
    T->download(h, d, n * 4);
    return h;
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
        BatchSpec sp = {{0.49f, 0.48f, 0.45f},
                        {0.25f, 0.24f, 0.26f},
                        (Augment)a,
                        123,
                        rng_stream(RNG_STREAM_AUGMENT, 9)};
        float *x = malloc(B * 3072 * 4);
        int32_t y[B];
        R->gather_batch(img, lab, idx, B, &sp, x, y);
        void *di = up(img, N * 3072), *dl = up(lab, N), *dx_ = T->alloc(B * 3072 * 4),
             *dy_ = T->alloc(B * 4), *didx = up(idx, sizeof idx);
        T->gather_batch(di, dl, didx, B, &sp, dx_, dy_);
        float *gx = down(dx_, B * 3072);
        int32_t gy[B];
        T->download(gy, dy_, sizeof gy);
        CHECK(memcmp(gx, x, B * 3072 * 4) == 0, "gather augment %d: not bit-identical", a);
        CHECK(memcmp(gy, y, sizeof y) == 0, "gather labels differ");
        T->free(di);
        T->free(dl);
        T->free(dx_);
        T->free(dy_);
        T->free(didx);
        free(x);
        free(gx);
    }
    size_t ns[] = {1, 5, 1003, 64 * 9};
    int groups[] = {1, 1, 1, 9};
    for (int k = 0; k < 4; k++) {
        size_t n = ns[k];
        float *x = hr(n, -1, 1), *y = malloc(n * 4), *m = malloc(n * 4);
        R->dropout_forward(x, y, m, n, groups[k], 0.3f, 42, rng_stream(RNG_STREAM_DROPOUT, 3));
        float *dx_ = up(x, n * 4), *dy_ = T->alloc(n * 4), *dm = T->alloc(n * 4);
        T->dropout_forward(dx_, dy_, dm, n, groups[k], 0.3f, 42, rng_stream(RNG_STREAM_DROPOUT, 3));
        float *gy = down(dy_, n), *gm = down(dm, n);
        CHECK(memcmp(gy, y, n * 4) == 0 && memcmp(gm, m, n * 4) == 0,
              "dropout n %zu group %d: not bit-identical", n, groups[k]);
        T->free(dx_);
        T->free(dy_);
        T->free(dm);
        free(x);
        free(y);
        free(m);
        free(gy);
        free(gm);
    }
}

/* conv and linear of T (precision prec, workspace ws_bytes or the query's) against ref */
static void conv_linear(int prec, double tol, long ws_bytes)
{
    set_precision_cuda(prec);
    ConvShape s = {3, 4, 9, 8, 5, 3, 1, 0, 0};
    s.OH = s.H + 2 * s.pad - s.K + 1;
    s.OW = s.W + 2 * s.pad - s.K + 1;
    size_t nx = 3 * 4 * 9 * 8, nw = 5 * 4 * 9, ny = 3 * 5 * s.OH * s.OW;
    float *x = hr(nx, -1, 1), *w = hr(nw, -0.3f, 0.3f), *b = hr(5, -0.3f, 0.3f),
          *dy = hr(ny, -1, 1);
    float *y = malloc(ny * 4), *dx = malloc(nx * 4), *dw = malloc(nw * 4), *db = malloc(20);
    R->conv2d_forward(x, w, b, y, &s, NULL);
    R->conv2d_backward(dy, x, w, dx, dw, db, &s, NULL);
    size_t q = T->conv2d_workspace_floats(&s);
    size_t wsb = ws_bytes >= 0 ? (size_t)ws_bytes : q * 4;
    float *dws = wsb ? T->alloc(wsb) : NULL;
    float *d_x = up(x, nx * 4), *d_w = up(w, nw * 4), *d_b = up(b, 20), *d_dy = up(dy, ny * 4);
    float *d_y = T->alloc(ny * 4), *d_dx = T->alloc(nx * 4), *d_dw = T->alloc(nw * 4),
          *d_db = T->alloc(20);
    T->conv2d_forward(d_x, d_w, d_b, d_y, &s, dws);
    T->conv2d_backward(d_dy, d_x, d_w, d_dx, d_dw, d_db, &s, dws);
    char what[64];
    snprintf(what, sizeof what, "conv y prec %d ws %ld (query %zu floats)", prec, ws_bytes, q);
    check_close(what, down(d_y, ny), y, ny, tol, tol);
    check_close("conv dx", down(d_dx, nx), dx, nx, tol, tol);
    check_close("conv dw", down(d_dw, nw), dw, nw, tol, tol);
    check_close("conv db", down(d_db, 5), db, 5, 1e-5, 1e-5);
    int Bn = 7, C = 33, OC = 12;
    float *lx = hr(Bn * C, -1, 1), *lw = hr(OC * C, -0.2f, 0.2f), *lb = hr(OC, -0.2f, 0.2f),
          *ldy = hr(Bn * OC, -1, 1);
    float *ly = malloc(Bn * OC * 4), *ldx = malloc(Bn * C * 4), *ldw = malloc(OC * C * 4),
          *ldb = malloc(OC * 4);
    R->linear_forward(lx, lw, lb, ly, Bn, C, OC);
    R->linear_backward(ldy, lx, lw, ldx, ldw, ldb, Bn, C, OC);
    float *a = up(lx, Bn * C * 4), *bw = up(lw, OC * C * 4), *bb = up(lb, OC * 4),
          *bdy = up(ldy, Bn * OC * 4);
    float *by = T->alloc(Bn * OC * 4), *bdx = T->alloc(Bn * C * 4), *bdw = T->alloc(OC * C * 4),
          *bdb = T->alloc(OC * 4);
    T->linear_forward(a, bw, bb, by, Bn, C, OC);
    T->linear_backward(bdy, a, bw, bdx, bdw, bdb, Bn, C, OC);
    check_close("linear y", down(by, Bn * OC), ly, Bn * OC, tol, tol);
    check_close("linear dx", down(bdx, Bn * C), ldx, Bn * C, tol, tol);
    check_close("linear dw", down(bdw, OC * C), ldw, OC * C, tol, tol);
    check_close("linear db", down(bdb, OC), ldb, OC, 1e-5, 1e-5);
    set_precision_cuda(0);
}

int main(void)
{
    R = backend_get(BACKEND_REF);
    T = backend_get(BACKEND_CUDA);
    CHECK(backend_available(BACKEND_CUDA), "emulated GPU visible");
    exact_gather_dropout();
    conv_linear(0, 1e-5, -1);  /* fp32, workspace from the query: deterministic algo */
    conv_linear(0, 1e-5, 0);   /* no workspace: falls back to the zero-workspace algo */
    conv_linear(0, 1e-5, 100); /* too small for algo 1 */
    conv_linear(1, 3e-3, -1);  /* tf32 */
    conv_linear(2, 3e-2, -1);  /* bf16: bf16 copies + workspace */
    /* out of memory: alloc returns NULL, the next one works again */
    emu_fail_after = 0;
    void *p = T->alloc(100);
    CHECK(p == NULL, "alloc under OOM returns NULL");
    emu_fail_after = (size_t)-1;
    p = T->alloc(100);
    CHECK(p != NULL, "alloc after OOM works");
    T->free(p);
    return check_exit_code();
}
