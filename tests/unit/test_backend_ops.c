/* test_backend_ops.c - every op of one backend (argv[1]: cpu, cuda or ref)
 * against the reference backend on random inputs of several shapes, odd
 * sizes and B = 1 included, plus checks of ref itself against the documented
 * semantics where a hand-computed or independently written answer exists
 * (gather_batch draws, pooling ties and NaN, dropout draws, loss values,
 * optimizer algorithms).
 *
 * The fused ops (backend.h) are tested in backend_ops_fused.c, the cpu
 * backend's thread invariance in backend_ops_threads.c, on this file's
 * harness (backend_ops.h).
 *
 * Outputs and workspaces are filled with NaN before each op, so an op that
 * leaves an element unwritten or reads its workspace before writing it
 * fails. Tolerance: atol = rtol = 1e-5 for cpu (STYLE.md), 1e-4 for cuda.
 * Exits 77 (skipped) when the backend is not compiled in or cannot run.
 *
 * NNSWEEP_TEST_PRECISION=1 (tf32) or 2 (bf16) runs the same tests with
 * that precision set (backends with set_precision only; others skip): the
 * GEMMs and convolutions round their inputs to 10 (tf32) or 7 (bf16)
 * mantissa bits, a product's error is then up to 2^-10 or 2^-7 of its
 * magnitude (2^-11 or 2^-8 per input, bf16 outputs rounded too), so TOL
 * becomes 5e-3 or 3e-2 and CANCEL_TOL 2^-10 or 2^-7. The other ops stay
 * fp32 and pass at those tolerances a fortiori (the fp32 run holds them
 * to 1e-4).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "backend_ops.h"
#include "check.h"
#include "cpu_kernels.h"
#include "nnsweep/backend.h"
#include "nnsweep/rng.h"

const Backend *R; /* ref, host memory */
const Backend *T; /* the backend under test */
double TOL;       /* atol and rtol */

/* ---- random inputs (RNG_STREAM_TEST) ------------------------------------------ */

uint64_t rand_counter;

float urand(float lo, float hi)
{
    float u = rng_uniform_at(2024, rng_stream(RNG_STREAM_TEST, 1), rand_counter++);
    return lo + (hi - lo) * u;
}

static int irand(int n) { return (int)(urand(0.0f, 1.0f) * n) % n; }

static void fill(float *a, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++) a[i] = urand(lo, hi);
}

/* ---- buffers: host (tracked) and backend memory (tracked), freed per case ---- */

#define MAX_BUFS 512
static void *host_bufs[MAX_BUFS], *dev_bufs[MAX_BUFS];
static int n_host_bufs, n_dev_bufs;

void *hbuf(size_t bytes)
{
    NN_CHECK(n_host_bufs < MAX_BUFS, "test: too many host buffers");
    void *p = nn_calloc(bytes ? bytes : 1, 1);
    host_bufs[n_host_bufs++] = p;
    return p;
}

float *hfloats(size_t n) { return hbuf(n * sizeof(float)); }

float *hnan(size_t n)
{
    float *p = hfloats(n);
    for (size_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}

float *hrand(size_t n, float lo, float hi)
{
    float *p = hfloats(n);
    fill(p, n, lo, hi);
    return p;
}

static void *dbuf(size_t bytes)
{
    NN_CHECK(n_dev_bufs < MAX_BUFS, "test: too many device buffers");
    void *p = T->alloc(bytes ? bytes : 1);
    NN_CHECK(p, "test: %s alloc of %zu bytes failed", T->name, bytes);
    dev_bufs[n_dev_bufs++] = p;
    return p;
}

/* A backend copy of n bytes of host memory. */
void *dcopy(const void *h, size_t bytes)
{
    void *d = dbuf(bytes);
    T->upload(d, h, bytes);
    return d;
}

float *dfloats(const float *h, size_t n) { return dcopy(h, n * sizeof(float)); }

float *dnan(size_t n) { return dfloats(hnan(n), n); }

static float *fetch(const void *d, size_t n)
{
    float *h = hfloats(n);
    T->sync();
    T->download(h, d, n * sizeof(float));
    return h;
}

/* Frees the case's buffers; an op that failed the run in it (the cuda
 * backend's backend_take_failure: e.g. no cuDNN algorithm that runs) is a
 * failed check with the backend's message, and the next case goes on. */
void release_all(void)
{
    NnError e;
    CHECK(backend_take_failure(T, &e) == NN_OK, "%s: an op failed the run: %s", T->name, e.msg);
    for (int i = 0; i < n_dev_bufs; i++) T->free(dev_bufs[i]);
    for (int i = 0; i < n_host_bufs; i++) free(host_bufs[i]);
    n_dev_bufs = n_host_bufs = 0;
}

ConvShape conv_shape(const int *v)
{
    ConvShape s = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], 0, 0};
    s.OH = s.H + 2 * s.pad - s.K + 1;
    s.OW = s.W + 2 * s.pad - s.K + 1;
    return s;
}

/* Backend result (device d) against ref result (host r). check_close
 * computes |got - ref|, which is NaN for two equal infinities: those are
 * compared here and zeroed in copies first. */
void cmp(const char *what, const void *d, const float *r, size_t n)
{
    float *got = fetch(d, n), *want = hfloats(n);
    memcpy(want, r, n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        if (isinf(want[i]) && got[i] == want[i]) got[i] = want[i] = 0.0f;
    check_close(what, got, want, n, TOL, TOL);
}

/* Sums of many terms: a float sum's rounding error scales with the sum of
 * the terms' magnitudes, mag (ref's op on |inputs|), not with the result.
 * A convolution's dw adds B*OH*OW products (1,024 in test_conv, whose
 * magnitudes add to ~250: a correct cpu dw was seen 1.5e-5 off a 0.39
 * result), and where terms cancel (the batch norm's dx sums to zero over
 * each channel, so the conv's db under it is ~0 and its dw loses most
 * digits) only that error is left. Backend d against ref r with
 * |d - r| <= atol + TOL |r| + CANCEL_TOL mag, CANCEL_TOL being 2^-20, eight
 * float roundings of the magnitude (direct sums: at most 1.6e-7 mag on the
 * shapes of test_conv_bn_fused), for cpu 2^-17: its Winograd dw
 * (cpu_conv_winograd.c: 5 x 5 kernels, 16 to 64 channels) was seen up to
 * 3.0e-6 mag off, as its output transform multiplies sums by up to 256
 * before they cancel; atol is TOL or, for sums near zero, 0. A term
 * missing or counted twice is off by one term's magnitude, ~1/1000 of mag
 * or more here. */
double CANCEL_TOL;
void cmp_mag(const char *what, const void *d, const float *r, const float *mag, size_t n,
             double atol)
{
    const float *got = fetch(d, n);
    size_t bad = 0;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - r[i]);
        double lim = atol + TOL * fabs(r[i]) + CANCEL_TOL * mag[i];
        if (mag[i] > 0 && e / mag[i] > worst) worst = e / mag[i];
        if (!(e <= lim) && bad++ < 5)
            fprintf(stderr, "%s[%zu]: got %.9g, expected %.9g, terms' magnitude %.3g\n", what, i,
                    got[i], r[i], mag[i]);
    }
    CHECK(bad == 0, "%s: %zu of %zu values differ; max error / magnitude %.2e", what, bad, n,
          worst);
}

/* mdw (OC, C, K, K) and mdb (OC): the magnitudes of the terms of a conv's
 * dw and db, ref's conv2d_backward of |dy| (B, OC, OH, OW) and |x|; mdx (B,
 * C, H, W), if not NULL, those of its dx, from |dy| and |w|. */
void conv_term_magnitudes(const float *dy, const float *x, const float *w,
                          const ConvShape *s, float *mdx, float *mdw, float *mdb)
{
    size_t ny = (size_t)s->B * s->OC * s->OH * s->OW, nx = (size_t)s->B * s->C * s->H * s->W;
    size_t nw = (size_t)s->OC * s->C * s->K * s->K;
    float *ady = hfloats(ny), *ax = hfloats(nx), *aw = hfloats(nw);
    for (size_t i = 0; i < ny; i++) ady[i] = fabsf(dy[i]);
    for (size_t i = 0; i < nx; i++) ax[i] = fabsf(x[i]);
    for (size_t i = 0; i < nw; i++) aw[i] = fabsf(w[i]);
    R->conv2d_backward(ady, ax, aw, mdx, mdw, mdb, s, NULL);
}

void cmp_ints(const char *what, const void *d, const int32_t *r, size_t n)
{
    int32_t *h = hbuf(n * sizeof(int32_t));
    T->download(h, d, n * sizeof(int32_t));
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (h[i] != r[i] && bad++ < 5)
            fprintf(stderr, "%s[%zu]: got %d, expected %d\n", what, i, (int)h[i], (int)r[i]);
    }
    CHECK(bad == 0, "%s: %zu of %zu ints differ", what, bad, n);
}

/* ---- memory ------------------------------------------------------------------------ */

static void test_memory(void)
{
    size_t n = 1001;
    float *d = dbuf(n * sizeof(float));
    float *h = fetch(d, n);
    size_t nonzero = 0;
    for (size_t i = 0; i < n; i++) nonzero += h[i] != 0.0f;
    CHECK(nonzero == 0, "alloc: %zu of %zu floats not zero", nonzero, n);
    float *src = hrand(n, -1, 1);
    float *a = dfloats(src, n), *b = dbuf(n * sizeof(float));
    T->copy(b, a, n * sizeof(float));
    check_close("copy", fetch(b, n), src, n, 0, 0);
    T->zero(b, n * sizeof(float));
    check_close("zero", fetch(b, n), hfloats(n), n, 0, 0);
    T->free(NULL);
    T->sync();
    release_all();
}

/* ---- batches ------------------------------------------------------------------------ */

/* The documented transformation written out independently of ref.c: pad to
 * 40x40 with black, cut the 32x32 window at (row0, col0), mirror. */
static void gather_expected(const uint8_t *img, uint32_t draw, const BatchSpec *sp, float *out)
{
    static uint8_t padded[NN_IMG_CH][40][40];
    memset(padded, 0, sizeof padded);
    for (int c = 0; c < 3; c++)
        for (int h = 0; h < 32; h++)
            for (int w = 0; w < 32; w++) padded[c][h + 4][w + 4] = img[(c * 32 + h) * 32 + w];
    int row0 = 4, col0 = 4, flip = sp->augment != AUG_NONE && (draw & 1);
    if (sp->augment == AUG_CROP_FLIP) {
        row0 = (int)((draw >> 1) % 9);
        col0 = (int)((draw >> 5) % 9);
    }
    for (int c = 0; c < 3; c++)
        for (int h = 0; h < 32; h++)
            for (int w = 0; w < 32; w++) {
                uint8_t v = padded[c][row0 + h][col0 + (flip ? 31 - w : w)];
                out[(c * 32 + h) * 32 + w] = ((float)v / 255.0f - sp->mean[c]) / sp->std[c];
            }
}

static void test_gather(void)
{
    enum { N = 23 };
    static const int batch[] = {1, 7, 64};
    uint8_t *images = hbuf((size_t)N * NN_IMG_PIXELS), labels[N];
    for (size_t i = 0; i < (size_t)N * NN_IMG_PIXELS; i++) images[i] = (uint8_t)irand(256);
    for (int i = 0; i < N; i++) labels[i] = (uint8_t)irand(10);
    uint8_t *d_images = dcopy(images, (size_t)N * NN_IMG_PIXELS), *d_labels = dcopy(labels, N);
    for (int a = AUG_NONE; a <= AUG_CROP_FLIP; a++) {
        for (size_t bi = 0; bi < sizeof batch / sizeof *batch; bi++) {
            int B = batch[bi];
            BatchSpec sp = {{0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}, (Augment)a,
                            7 + (uint64_t)a, rng_stream(RNG_STREAM_AUGMENT, 3ull << 32 | 5)};
            int32_t *idx = hbuf(sizeof(int32_t) * B), *y = hbuf(sizeof(int32_t) * B);
            for (int i = 0; i < B; i++) idx[i] = irand(N);
            float *x = hnan((size_t)B * NN_IMG_PIXELS);
            R->gather_batch(images, labels, idx, B, &sp, x, y);
            /* ref against the documented draws */
            float *want = hfloats(NN_IMG_PIXELS);
            int n_flip = 0, n_bad = 0, offsets[81] = {0};
            for (int i = 0; i < B; i++) {
                uint32_t draw = rng_u32_at(sp.seed, sp.hi, (uint64_t)i);
                gather_expected(images + (size_t)idx[i] * NN_IMG_PIXELS, draw, &sp, want);
                n_bad += memcmp(want, x + (size_t)i * NN_IMG_PIXELS, sizeof(float) * NN_IMG_PIXELS) != 0;
                n_bad += y[i] != labels[idx[i]];
                n_flip += draw & 1;
                offsets[(draw >> 1) % 9 * 9 + (draw >> 5) % 9] = 1;
            }
            CHECK(n_bad == 0, "gather_batch ref, augment %d, B %d: %d images differ from the "
                  "documented transformation", a, B, n_bad);
            if (B == 64) {
                int n_offsets = 0;
                for (int k = 0; k < 81; k++) n_offsets += offsets[k];
                CHECK(n_flip > 16 && n_flip < 48, "flip draws: %d of 64 set", n_flip);
                CHECK(n_offsets > 20, "crop draws: only %d distinct windows in 64", n_offsets);
            }
            /* the backend against ref */
            float *dx = dnan((size_t)B * NN_IMG_PIXELS);
            int32_t *dy = dcopy(hnan(B), sizeof(int32_t) * B);
            int32_t *d_idx = dcopy(idx, sizeof(int32_t) * B);
            T->gather_batch(d_images, d_labels, d_idx, B, &sp, dx, dy);
            cmp("gather_batch x", dx, x, (size_t)B * NN_IMG_PIXELS);
            cmp_ints("gather_batch y", dy, y, B);
        }
    }
    release_all();
}

/* ---- dense layer ---------------------------------------------------------------------- */

static void test_linear(void)
{
    /* the cpu backend's forward below 65 rows (cpu_dense.c): tiles of 6
     * outputs x 16 rows, x copied in chunks of 4096 / (B rounded up to 16)
     * terms, 8 at a time then one by one: {17, 203, 7} in chunks of 128
     * and 75 terms, {33, 257, 10} 80, 80, 80 and 17, {64, 1000, 13} 15 of
     * 64 and one of 40 */
    static const int shapes[][3] = {{1, 1, 1},      {1, 7, 3},      {5, 13, 11},
                                    {33, 257, 10},  {2, 64, 65},    {32, 3072, 256},
                                    {17, 203, 7},   {64, 1000, 13}, {128, 256, 10},
                                    {64, 40, 600}}; /* last: dw split by rows */
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
        int B = shapes[k][0], C = shapes[k][1], OC = shapes[k][2];
        float r = 1.0f / sqrtf((float)C); /* PyTorch's init range: outputs of order 1 */
        float *x = hrand((size_t)B * C, -1, 1), *w = hrand((size_t)OC * C, -r, r);
        float *b = hrand(OC, -r, r), *dy = hrand((size_t)B * OC, -1, 1);
        float *y = hnan((size_t)B * OC), *dx = hnan((size_t)B * C), *dw = hnan((size_t)OC * C),
              *db = hnan(OC);
        R->linear_forward(x, w, b, y, B, C, OC);
        R->linear_backward(dy, x, w, dx, dw, db, B, C, OC);
        float *d_x = dfloats(x, (size_t)B * C), *d_w = dfloats(w, (size_t)OC * C);
        float *d_b = dfloats(b, OC), *d_dy = dfloats(dy, (size_t)B * OC);
        float *d_y = dnan((size_t)B * OC), *d_dx = dnan((size_t)B * C);
        float *d_dw = dnan((size_t)OC * C), *d_db = dnan(OC);
        T->linear_forward(d_x, d_w, d_b, d_y, B, C, OC);
        T->linear_backward(d_dy, d_x, d_w, d_dx, d_dw, d_db, B, C, OC);
        char what[64];
        snprintf(what, sizeof what, "linear y (%d,%d,%d)", B, C, OC);
        cmp(what, d_y, y, (size_t)B * OC);
        snprintf(what, sizeof what, "linear dx (%d,%d,%d)", B, C, OC);
        cmp(what, d_dx, dx, (size_t)B * C);
        snprintf(what, sizeof what, "linear dw (%d,%d,%d)", B, C, OC);
        cmp(what, d_dw, dw, (size_t)OC * C);
        snprintf(what, sizeof what, "linear db (%d,%d,%d)", B, C, OC);
        cmp(what, d_db, db, OC);
        /* first layer: dx NULL, the rest unchanged */
        float *d_dw2 = dnan((size_t)OC * C), *d_db2 = dnan(OC);
        T->linear_backward(d_dy, d_x, d_w, NULL, d_dw2, d_db2, B, C, OC);
        cmp("linear dw (dx NULL)", d_dw2, dw, (size_t)OC * C);
        cmp("linear db (dx NULL)", d_db2, db, OC);
        release_all();
    }
}

/* ---- convolution -------------------------------------------------------------------- */

static void test_conv(void)
{
    static const int shapes[][7] = {
        /* B, C, H, W, OC, K, pad */
        {1, 1, 5, 5, 1, 3, 0}, {2, 3, 7, 9, 4, 3, 1},    {3, 5, 8, 6, 7, 5, 2},
        {1, 3, 32, 32, 16, 3, 1}, {4, 16, 16, 16, 32, 3, 1}, {5, 4, 6, 6, 3, 1, 0},
        {2, 2, 3, 3, 2, 5, 2}, {3, 6, 9, 7, 5, 2, 1},    {7, 3, 11, 10, 8, 3, 0},
        {2, 8, 5, 5, 4, 1, 1},
        /* the cpu backend's direct products (x86-64 with AVX2 + FMA):
         * forward in tiles of 16 output channels x 6 pixels (OC 48: three
         * tiles; 195 pixels: the last tile has 3), dw in tiles of 6
         * channels x 16 terms of a kernel row (C*K = 15 and 60: partial
         * last tiles), several images per dw product (B 20: chunks of 2
         * and 3), C 40: forward direct, dw by sgemm; without padding
         * (dx by col2im's direct product, tiles of 6 pixels x 16 terms:
         * 100 and 56 pixels, C*K = 160 and 21) */
        {3, 3, 13, 11, 48, 5, 3}, {4, 20, 9, 8, 16, 3, 1}, {20, 3, 8, 8, 16, 3, 1},
        {2, 40, 6, 7, 32, 3, 1}, {3, 32, 14, 14, 32, 5, 0}, {4, 7, 9, 10, 24, 3, 0},
        /* and its Winograd products (K 5, C and OC 16 to 256): forward, dw
         * (C 16 to 128, a multiple of 16) and the dx convolution (padding
         * 3: OC 32 and C 32 as the dx's channels); odd planes (partial
         * tiles), OC 48 (three weight blocks), C 24 (forward only, dw
         * direct), C 64 x OC 128, C 144 x OC 160 (dw by sgemm), a 1 x 1
         * plane (one tile, three of its four outputs outside) */
        {4, 32, 9, 9, 32, 5, 3}, {3, 16, 7, 6, 48, 5, 2}, {2, 24, 8, 8, 16, 5, 1},
        {2, 64, 5, 5, 128, 5, 2}, {2, 144, 4, 4, 160, 5, 2}, {2, 16, 1, 1, 16, 5, 2},
        /* B = 1: images in order, each product split over the threads
         * (the last one by rows: C*K*K > OH*OW) */
        {1, 16, 16, 16, 64, 3, 1}, {1, 128, 6, 6, 64, 3, 1},
    };
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
        ConvShape s = conv_shape(shapes[k]);
        size_t nx = (size_t)s.B * s.C * s.H * s.W, nw = (size_t)s.OC * s.C * s.K * s.K;
        size_t ny = (size_t)s.B * s.OC * s.OH * s.OW;
        float r = 1.0f / sqrtf((float)(s.C * s.K * s.K));
        float *x = hrand(nx, -1, 1), *w = hrand(nw, -r, r), *b = hrand(s.OC, -r, r);
        float *dy = hrand(ny, -1, 1);
        float *y = hnan(ny), *dx = hnan(nx), *dw = hnan(nw), *db = hnan(s.OC);
        R->conv2d_forward(x, w, b, y, &s, NULL);
        R->conv2d_backward(dy, x, w, dx, dw, db, &s, NULL);
        size_t nws = T->conv2d_workspace_floats(&s);
        float *d_ws = dnan(nws ? nws : 1);
        float *d_x = dfloats(x, nx), *d_w = dfloats(w, nw), *d_b = dfloats(b, s.OC);
        float *d_dy = dfloats(dy, ny), *d_y = dnan(ny), *d_dx = dnan(nx), *d_dw = dnan(nw);
        float *d_db = dnan(s.OC);
        T->conv2d_forward(d_x, d_w, d_b, d_y, &s, d_ws);
        T->conv2d_backward(d_dy, d_x, d_w, d_dx, d_dw, d_db, &s, d_ws);
        char what[96];
        const char *names[] = {"y", "dx", "dw", "db"};
        const void *got[] = {d_y, d_dx, d_dw, d_db};
        const float *want[] = {y, dx, dw, db};
        size_t n[] = {ny, nx, nw, (size_t)s.OC};
        /* dw and db add B*OH*OW terms, y C*K*K and dx OC*K*K: at the terms'
         * magnitudes (the cpu backend's Winograd y and dx of 5 x 5 layers
         * were seen 1.09e-5 off a 0.07 dx of 1,200 terms, 7e-7 of their
         * magnitude; the direct sums' error is 10-20 times smaller) */
        float *my = hnan(ny), *mdx = hnan(nx), *mdw = hnan(nw), *mdb = hnan(s.OC);
        conv_term_magnitudes(dy, x, w, &s, mdx, mdw, mdb);
        float *ax = hfloats(nx), *aw = hfloats(nw), *ab = hfloats(s.OC);
        for (size_t i = 0; i < nx; i++) ax[i] = fabsf(x[i]);
        for (size_t i = 0; i < nw; i++) aw[i] = fabsf(w[i]);
        for (int i = 0; i < s.OC; i++) ab[i] = fabsf(b[i]);
        R->conv2d_forward(ax, aw, ab, my, &s, NULL);
        const float *mag[] = {my, mdx, mdw, mdb};
        for (int i = 0; i < 4; i++) {
            snprintf(what, sizeof what, "conv2d %s (B%d C%d H%d W%d OC%d K%d pad%d)", names[i], s.B,
                     s.C, s.H, s.W, s.OC, s.K, s.pad);
            if (mag[i])
                cmp_mag(what, got[i], want[i], mag[i], n[i], TOL);
            else
                cmp(what, got[i], want[i], n[i]);
        }
        float *d_dw2 = dnan(nw), *d_db2 = dnan(s.OC);
        T->conv2d_backward(d_dy, d_x, d_w, NULL, d_dw2, d_db2, &s, dnan(nws ? nws : 1));
        cmp_mag("conv2d dw (dx NULL)", d_dw2, dw, mdw, nw, TOL);
        cmp_mag("conv2d db (dx NULL)", d_db2, db, mdb, s.OC, TOL);
        release_all();
    }
}

/* ---- max pooling ------------------------------------------------------------------------ */

static void maxpool_shape(PoolShape *s, int B, int C, int H, int W, int P)
{
    *s = (PoolShape){B, C, H, W, P, H / P, W / P};
}

/* ref on a hand-made plane: ties take the first index, a NaN wins (the last
 * NaN, as PyTorch's `if (v > max || isnan(v))`), the floor-mode remainder
 * is never taken and gets zero gradient. */
static void test_maxpool_spec(void)
{
    PoolShape s;
    maxpool_shape(&s, 1, 1, 3, 5, 2);
    const float x[15] = {1, 1, 5, NAN, 9, 1, 1, NAN, 2, 9, 9, 9, 9, 9, 9};
    float y[2], dy[2] = {10, 20}, dx[15];
    int32_t idx[2];
    R->maxpool2d_forward(x, y, idx, &s);
    CHECK(y[0] == 1 && idx[0] == 0, "tie: y %g idx %d, expected 1 at 0", y[0], idx[0]);
    CHECK(isnan(y[1]) && idx[1] == 7, "NaN: y %g idx %d, expected NaN at 7", y[1], idx[1]);
    R->maxpool2d_backward(dy, idx, dx, &s);
    float want[15] = {10, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0};
    check_close("maxpool dx (hand)", dx, want, 15, 0, 0);
}

static void test_maxpool(void)
{
    static const int shapes[][5] = {{1, 1, 4, 4, 2}, {2, 3, 5, 7, 2}, {3, 2, 9, 8, 3},
                                    {1, 1, 1, 1, 1}, {4, 8, 32, 32, 2}, {1, 3, 7, 7, 4},
                                    {2, 2, 6, 6, 1}, {2, 3, 10, 13, 2}};
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
        for (int special = 0; special < 2; special++) {
            PoolShape s;
            maxpool_shape(&s, shapes[k][0], shapes[k][1], shapes[k][2], shapes[k][3], shapes[k][4]);
            size_t nx = (size_t)s.B * s.C * s.H * s.W, ny = (size_t)s.B * s.C * s.OH * s.OW;
            float *x = hfloats(nx);
            /* few distinct values: many ties; special: some NaN and -inf too */
            for (size_t i = 0; i < nx; i++) {
                x[i] = (float)(irand(4) - 1);
                if (special && irand(7) == 0) x[i] = irand(2) ? NAN : -INFINITY;
            }
            float *y = hnan(ny), *dy = hrand(ny, -1, 1), *dx = hnan(nx);
            int32_t *idx = hbuf(sizeof(int32_t) * ny);
            R->maxpool2d_forward(x, y, idx, &s);
            R->maxpool2d_backward(dy, idx, dx, &s);
            float *d_x = dfloats(x, nx), *d_y = dnan(ny), *d_dy = dfloats(dy, ny), *d_dx = dnan(nx);
            int32_t *d_idx = dcopy(hnan(ny), sizeof(int32_t) * ny);
            T->maxpool2d_forward(d_x, d_y, d_idx, &s);
            char what[96];
            snprintf(what, sizeof what, "maxpool y (B%d C%d H%d W%d P%d%s)", s.B, s.C, s.H, s.W, s.P,
                     special ? " NaN" : "");
            cmp(what, d_y, y, ny);
            cmp_ints("maxpool idx", d_idx, idx, ny);
            T->maxpool2d_backward(d_dy, d_idx, d_dx, &s);
            cmp("maxpool dx", d_dx, dx, nx);
            float *d_y2 = dnan(ny); /* evaluation: no indices */
            T->maxpool2d_forward(d_x, d_y2, NULL, &s);
            cmp("maxpool y (idx NULL)", d_y2, y, ny);
            release_all();
        }
    }
}

/* ---- batch norm ------------------------------------------------------------------------- */

static void test_batchnorm(void)
{
    static const int shapes[][3] = {{2, 3, 1},   {1, 4, 9},   {5, 7, 9},     {32, 256, 1},
                                    {8, 16, 64}, {3, 5, 1},   {1, 3, 1},     {128, 512, 1},
                                    {16, 32, 256}};
    const float momentum = 0.1f, eps = 1e-5f;
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
        int B = shapes[k][0], C = shapes[k][1], HW = shapes[k][2];
        size_t n = (size_t)B * C * HW;
        float *x = hfloats(n);
        for (int b = 0; b < B; b++)
            for (int c = 0; c < C; c++)
                for (int i = 0; i < HW; i++)
                    x[((size_t)b * C + c) * HW + i] = urand(-2, 2) * (1 + c % 3) + 0.5f * (c % 5);
        float *gamma = hrand(C, 0.5f, 1.5f), *beta = hrand(C, -0.5f, 0.5f);
        float *rm0 = hrand(C, -0.1f, 0.1f), *rv0 = hrand(C, 0.5f, 1.5f), *dy = hrand(n, -1, 1);
        float *rm = hfloats(C), *rv = hfloats(C);
        memcpy(rm, rm0, sizeof(float) * C);
        memcpy(rv, rv0, sizeof(float) * C);
        float *y = hnan(n), *mean = hnan(C), *invstd = hnan(C), *ye = hnan(n), *dx = hnan(n);
        float *dgamma = hnan(C), *dbeta = hnan(C);
        R->batchnorm_forward_train(x, gamma, beta, y, mean, invstd, rm, rv, B, C, HW, momentum, eps);
        R->batchnorm_forward_eval(x, gamma, beta, rm, rv, ye, B, C, HW, eps);
        R->batchnorm_backward(dy, x, gamma, mean, invstd, dx, dgamma, dbeta, B, C, HW);

        float *d_x = dfloats(x, n), *d_g = dfloats(gamma, C), *d_b = dfloats(beta, C);
        float *d_rm = dfloats(rm0, C), *d_rv = dfloats(rv0, C), *d_dy = dfloats(dy, n);
        float *d_y = dnan(n), *d_mean = dnan(C), *d_invstd = dnan(C), *d_ye = dnan(n);
        float *d_dx = dnan(n), *d_dg = dnan(C), *d_db = dnan(C);
        T->batchnorm_forward_train(d_x, d_g, d_b, d_y, d_mean, d_invstd, d_rm, d_rv, B, C, HW,
                                   momentum, eps);
        char what[96];
#define BN_CMP(name, d, h, cnt)                                                             \
    snprintf(what, sizeof what, "batchnorm %s (B%d C%d HW%d)", name, B, C, HW);            \
    cmp(what, d, h, cnt)
        BN_CMP("y", d_y, y, n);
        BN_CMP("save_mean", d_mean, mean, C);
        BN_CMP("save_invstd", d_invstd, invstd, C);
        BN_CMP("running_mean", d_rm, rm, C);
        BN_CMP("running_var", d_rv, rv, C);
        /* eval and backward from ref's statistics, so each op is checked alone */
        float *d_rm1 = dfloats(rm, C), *d_rv1 = dfloats(rv, C);
        float *d_mean1 = dfloats(mean, C), *d_invstd1 = dfloats(invstd, C);
        T->batchnorm_forward_eval(d_x, d_g, d_b, d_rm1, d_rv1, d_ye, B, C, HW, eps);
        BN_CMP("eval y", d_ye, ye, n);
        T->batchnorm_backward(d_dy, d_x, d_g, d_mean1, d_invstd1, d_dx, d_dg, d_db, B, C, HW);
        BN_CMP("dx", d_dx, dx, n);
        BN_CMP("dgamma", d_dg, dgamma, C);
        BN_CMP("dbeta", d_db, dbeta, C);
#undef BN_CMP
        release_all();
    }
}

/* ---- activations ------------------------------------------------------------------------ */

static void test_act(void)
{
    static const size_t sizes[] = {1, 7, 1000, 100003};
    static const float specials[] = {0.0f, -0.0f, 1e-8f, -1e-8f, 20, -20, 100, -100, 0.75f};
    static const char *names[] = {"relu", "tanh", "sigmoid", "gelu", "leaky_relu"};
    for (int k = 0; k < ACT_COUNT; k++) {
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
            size_t n = sizes[si];
            float *x = hrand(n, -6, 6), *dy = hrand(n, -1, 1), *y = hnan(n), *dx = hnan(n);
            for (size_t i = 0; i < n && i < sizeof specials / sizeof *specials; i++) x[i] = specials[i];
            R->act_forward((ActKind)k, x, y, n);
            R->act_backward((ActKind)k, x, y, dy, dx, n);
            float *d_x = dfloats(x, n), *d_y = dnan(n), *d_dx = dnan(n);
            T->act_forward((ActKind)k, d_x, d_y, n);
            char what[64];
            snprintf(what, sizeof what, "%s forward (n %zu)", names[k], n);
            cmp(what, d_y, y, n);
            /* backward from ref's y, so the two ops are checked separately */
            T->act_backward((ActKind)k, d_x, dfloats(y, n), dfloats(dy, n), d_dx, n);
            snprintf(what, sizeof what, "%s backward (n %zu)", names[k], n);
            cmp(what, d_dx, dx, n);
            release_all();
        }
    }
}

/* ---- dropout and mul --------------------------------------------------------------------- */

static void test_dropout(void)
{
    static const struct { size_t n; int group; float p; } cases[] = {
        {1000, 1, 0.0f}, {1000, 1, 0.5f}, {12345, 1, 0.3f}, {4 * 3 * 64, 64, 0.2f},
        {105, 7, 0.5f},  {1, 1, 0.9f},   {50, 1, 1.0f},    {100003, 1, 0.1f}, {6 * 1024, 1024, 0.5f}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        size_t n = cases[k].n;
        int group = cases[k].group;
        float p = cases[k].p;
        uint64_t seed = 99, hi = rng_stream(RNG_STREAM_DROPOUT, (uint64_t)k << 40 | 17);
        float *x = hrand(n, -2, 2), *y = hnan(n), *mask = hnan(n);
        R->dropout_forward(x, y, mask, n, group, p, seed, hi);
        /* ref against the documented draws */
        float scale = p < 1 ? 1.0f / (1.0f - p) : 0.0f;
        size_t bad = 0, kept = 0;
        for (size_t i = 0; i < n; i++) {
            int keep = rng_uniform_at(seed, hi, i / (size_t)group) >= p;
            kept += keep;
            bad += mask[i] != (keep ? scale : 0.0f) || y[i] != x[i] * mask[i];
        }
        CHECK(bad == 0, "dropout ref (n %zu, group %d, p %g): %zu elements off the documented "
              "draws", n, group, p, bad);
        if (p == 0.0f) check_close("dropout p=0 y == x", y, x, n, 0, 0);
        if (n >= 10000) {
            double frac = (double)kept / n, sd = sqrt(p * (1 - p) / (n / (double)group));
            CHECK(fabs(frac - (1 - p)) < 5 * sd + 1e-9, "dropout kept %.4f, expected %.4f", frac,
                  1 - p);
        }
        float *d_x = dfloats(x, n), *d_y = dnan(n), *d_mask = dnan(n);
        T->dropout_forward(d_x, d_y, d_mask, n, group, p, seed, hi);
        char what[96];
        snprintf(what, sizeof what, "dropout y (n %zu, group %d, p %g)", n, group, p);
        cmp(what, d_y, y, n);
        snprintf(what, sizeof what, "dropout mask (n %zu, group %d, p %g)", n, group, p);
        cmp(what, d_mask, mask, n);
        /* backward: dx = dy * mask */
        float *dy = hrand(n, -1, 1), *dx = hnan(n), *d_dx = dnan(n);
        R->mul(dy, mask, dx, n);
        T->mul(dfloats(dy, n), d_mask, d_dx, n);
        cmp("mul", d_dx, dx, n);
        release_all();
    }
}

/* ---- loss -------------------------------------------------------------------------------- */

/* ref on values known by hand: equal logits give log K whatever the
 * smoothing; K = 2, logits (0, ln 3): p = (1/4, 3/4). */
static void test_softmax_spec(void)
{
    float l[6] = {0.5f, 0.5f, 0.5f, 0, (float)log(3.0), 0}, d[6];
    int32_t lab[2] = {2, 1};
    double acc[2] = {0, 0};
    R->softmax_xent(l, lab, 1, 3, 0.3f, d, acc);
    CHECK(fabs(acc[0] - log(3.0)) < 1e-6, "equal logits: loss %.9g, expected ln 3", acc[0]);
    CHECK(acc[1] == 0, "equal logits: argmax must be the first (0), counted %g", acc[1]);
    /* p = 1/3, target = 0.7 onehot + 0.3 / 3 */
    float want[3] = {1.0f / 3 - 0.1f, 1.0f / 3 - 0.1f, 1.0f / 3 - 0.8f};
    check_close("softmax_xent equal logits dlogits", d, want, 3, 1e-7, 1e-6);
    acc[0] = acc[1] = 0;
    R->softmax_xent(l + 3, lab + 1, 1, 2, 0.2f, d, acc);
    double loss = -(0.1 * log(0.25) + 0.9 * log(0.75));
    CHECK(fabs(acc[0] - loss) < 1e-6, "K=2: loss %.9g, expected %.9g", acc[0], loss);
    CHECK(acc[1] == 1, "K=2: argmax is the label, counted %g", acc[1]);
    float want2[2] = {0.25f - 0.1f, 0.75f - 0.9f};
    check_close("softmax_xent K=2 dlogits", d, want2, 2, 1e-7, 1e-6);
}

static void test_softmax(void)
{
    static const int shapes[][2] = {{1, 10}, {7, 10}, {64, 10}, {3, 1000}, {5, 1}, {512, 10}};
    static const float scales[] = {5, 1e4f, 0}; /* 0: integer logits, ties */
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++)
        for (size_t si = 0; si < 3; si++)
            for (int smooth = 0; smooth < 2; smooth++) {
                int B = shapes[k][0], K = shapes[k][1];
                float ls = smooth ? 0.1f : 0.0f;
                size_t n = (size_t)B * K;
                float *l = hfloats(n);
                for (size_t i = 0; i < n; i++)
                    l[i] = scales[si] ? urand(-scales[si], scales[si]) : (float)(irand(3) - 1);
                int32_t *lab = hbuf(sizeof(int32_t) * B);
                for (int b = 0; b < B; b++) lab[b] = irand(K);
                double acc[2] = {1.5, 2.0};
                float *dl = hnan(n);
                R->softmax_xent(l, lab, B, K, ls, dl, acc);
                CHECK(isfinite(acc[0]), "softmax_xent ref: loss not finite (scale %g)", scales[si]);
                double d_acc0[2] = {1.5, 2.0};
                double *d_acc = dcopy(d_acc0, sizeof d_acc0);
                float *d_l = dfloats(l, n), *d_dl = dnan(n);
                int32_t *d_lab = dcopy(lab, sizeof(int32_t) * B);
                T->softmax_xent(d_l, d_lab, B, K, ls, d_dl, d_acc);
                char what[96];
                snprintf(what, sizeof what, "softmax_xent dlogits (B%d K%d scale %g ls %g)", B, K,
                         scales[si], ls);
                cmp(what, d_dl, dl, n);
                /* dlogits NULL: the loss only, added again */
                T->softmax_xent(d_l, d_lab, B, K, ls, NULL, d_acc);
                double got[2];
                T->sync();
                T->download(got, d_acc, sizeof got);
                double want0 = 2 * acc[0] - 1.5, want1 = 2 * acc[1] - 2.0;
                CHECK(fabs(got[0] - want0) <= TOL * (1 + fabs(want0)),
                      "%s: loss sum %.9g, expected %.9g", what, got[0], want0);
                CHECK(got[1] == want1, "%s: correct %g, expected %g", what, got[1], want1);
                release_all();
            }
}

/* ---- optimizers ----------------------------------------------------------------------------- */

/* torch.optim.SGD's documented algorithm in double (dampening 0). */
static void sgd_double(double *w, const float *g, double *buf, size_t n, double lr, double mom,
                       double wd, int nesterov, int first)
{
    for (size_t i = 0; i < n; i++) {
        double gi = g[i] + wd * w[i], d = gi;
        if (mom != 0) {
            buf[i] = first ? gi : mom * buf[i] + gi;
            d = nesterov ? gi + mom * buf[i] : buf[i];
        }
        w[i] -= lr * d;
    }
}

/* torch.optim.Adam / AdamW's documented algorithm in double. */
static void adam_double(double *w, const float *g, double *m, double *v, size_t n, double lr,
                        double b1, double b2, double eps, double wd, int decoupled, int t)
{
    for (size_t i = 0; i < n; i++) {
        double gi = g[i];
        if (decoupled)
            w[i] *= 1 - lr * wd;
        else
            gi += wd * w[i];
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        double mhat = m[i] / (1 - pow(b1, t)), vhat = v[i] / (1 - pow(b2, t));
        w[i] -= lr * mhat / (sqrt(vhat) + eps);
    }
}

static float *to_floats(const double *a, size_t n)
{
    float *f = hfloats(n);
    for (size_t i = 0; i < n; i++) f[i] = (float)a[i];
    return f;
}

static void test_sgd(void)
{
    static const size_t sizes[] = {1, 1001, 100003};
    for (size_t si = 0; si < 3; si++)
        for (int variant = 0; variant < 8; variant++) {
            size_t n = sizes[si];
            float mom = variant & 1 ? 0.9f : 0.0f, wd = variant & 2 ? 5e-4f : 0.0f, lr = 0.1f;
            int nesterov = (variant & 4) && mom != 0;
            float *w = hrand(n, -1, 1), *buf = hnan(n);
            double *wd64 = hbuf(n * sizeof(double)), *buf64 = hbuf(n * sizeof(double));
            for (size_t i = 0; i < n; i++) wd64[i] = w[i];
            float *d_w = dfloats(w, n), *d_buf = dnan(n);
            char what[96];
            for (int step = 0; step < 4; step++) {
                float *g = hrand(n, -1, 1);
                R->sgd_step(w, g, buf, n, lr, mom, wd, nesterov, step == 0);
                sgd_double(wd64, g, buf64, n, lr, mom, wd, nesterov, step == 0);
                T->sgd_step(d_w, dfloats(g, n), d_buf, n, lr, mom, wd, nesterov, step == 0);
                snprintf(what, sizeof what, "sgd w (n %zu mom %g wd %g nesterov %d step %d)", n, mom,
                         wd, nesterov, step);
                cmp(what, d_w, w, n);
                if (mom != 0) cmp("sgd momentum buffer", d_buf, buf, n);
                /* ref against the documented algorithm (float vs double: 1e-6) */
                check_close("sgd ref vs algorithm", w, to_floats(wd64, n), n, 1e-6, 1e-6);
            }
            release_all();
        }
}

static void test_adam(void)
{
    static const size_t sizes[] = {1, 1001, 100003};
    const float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    for (size_t si = 0; si < 3; si++)
        for (int variant = 0; variant < 4; variant++) {
            size_t n = sizes[si];
            int decoupled = variant & 1;
            float wd = variant & 2 ? 0.01f : 0.0f;
            float *w = hrand(n, -1, 1), *m = hfloats(n), *v = hfloats(n);
            double *w64 = hbuf(n * sizeof(double)), *m64 = hbuf(n * sizeof(double));
            double *v64 = hbuf(n * sizeof(double));
            for (size_t i = 0; i < n; i++) w64[i] = w[i];
            float *d_w = dfloats(w, n), *d_m = dfloats(m, n), *d_v = dfloats(v, n);
            char what[96];
            for (int t = 1; t <= 5; t++) {
                float *g = hrand(n, -1, 1);
                R->adam_step(w, g, m, v, n, lr, b1, b2, eps, wd, decoupled, t);
                adam_double(w64, g, m64, v64, n, lr, b1, b2, eps, wd, decoupled, t);
                T->adam_step(d_w, dfloats(g, n), d_m, d_v, n, lr, b1, b2, eps, wd, decoupled, t);
                snprintf(what, sizeof what, "adam w (n %zu decoupled %d wd %g step %d)", n, decoupled,
                         wd, t);
                cmp(what, d_w, w, n);
                cmp("adam m", d_m, m, n);
                cmp("adam v", d_v, v, n);
                /* ref against the documented algorithm: w moves by about lr per
                 * step, so 1e-6 absolute is 0.1% of a step */
                check_close("adam ref vs algorithm", w, to_floats(w64, n), n, 1e-6, 1e-6);
            }
            release_all();
        }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s ref|cpu|cuda\n", argv[0]);
        return 2;
    }
    const char *name = argv[1];
    BackendKind kind;
    if (strcmp(name, "ref") == 0)
        kind = BACKEND_REF;
    else if (strcmp(name, "cpu") == 0)
        kind = BACKEND_CPU;
    else if (strcmp(name, "cuda") == 0)
        kind = BACKEND_CUDA;
    else {
        fprintf(stderr, "%s: unknown backend '%s' (ref, cpu, cuda)\n", argv[0], name);
        return 2;
    }
    R = backend_get(BACKEND_REF);
    T = backend_by_name(name);
    if (!T) {
        printf("SKIP: backend '%s' is not compiled into this build\n", name);
        return CHECK_SKIP;
    }
    if (!backend_available(kind)) {
        printf("SKIP: backend '%s' is compiled in but cannot run here (no usable device)\n", name);
        return CHECK_SKIP;
    }
    TOL = kind == BACKEND_CUDA ? 1e-4 : 1e-5;
    CANCEL_TOL = kind == BACKEND_CPU ? 1.0 / 131072 : 1.0 / 1048576;
    const char *prec_env = getenv("NNSWEEP_TEST_PRECISION");
    int prec = prec_env && prec_env[0] ? atoi(prec_env) : 0;
    if (prec < 0 || prec > 2) {
        fprintf(stderr, "%s: NNSWEEP_TEST_PRECISION=%s: expected 0 (fp32), 1 (tf32) or 2 (bf16)\n",
                argv[0], prec_env);
        return 2;
    }
    if (prec) {
        if (!T->set_precision) {
            printf("SKIP: backend '%s' computes in fp32 only (NNSWEEP_TEST_PRECISION=%d)\n", name,
                   prec);
            return CHECK_SKIP;
        }
        T->set_precision(prec);
        TOL = prec == 1 ? 5e-3 : 3e-2;
        CANCEL_TOL = prec == 1 ? 1.0 / 1024 : 1.0 / 128;
        printf("%s backend in %s\n", name, prec == 1 ? "tf32" : "bf16");
    }
    CHECK(R && backend_get(kind) == T, "backend_get and backend_by_name disagree");
    CHECK(backend_by_name("nonsense") == NULL, "unknown names give NULL");
    if (kind == BACKEND_CPU) check_cpu_kernels();

    test_maxpool_spec();
    test_softmax_spec();
    /* cpu: once serial, once with more threads than this machine has cores
     * (uneven splits of every parallel loop) */
    int threads[] = {1, 3};
    int n_passes = kind == BACKEND_CPU ? 2 : 1;
    for (int pass = 0; pass < n_passes; pass++) {
        if (kind == BACKEND_CPU) {
            int got = backend_cpu_set_threads(threads[pass]);
            CHECK(got == threads[pass], "backend_cpu_set_threads(%d) returned %d", threads[pass], got);
            printf("%s backend, %d thread(s)\n", name, got);
        }
        test_memory();
        test_gather();
        test_linear();
        test_conv();
        test_maxpool();
        test_batchnorm();
        test_act();
        test_dropout();
        test_softmax();
        test_sgd();
        test_adam();
        test_linear_fused();
        test_conv_fused();
        test_batchnorm_fused();
        test_conv_bn_fused();
    }
    if (kind == BACKEND_CPU) test_thread_determinism();
    if (kind == BACKEND_CPU) CHECK(backend_cpu_set_threads(0) >= 1, "backend_cpu_set_threads(0)");
    return check_exit_code();
}
