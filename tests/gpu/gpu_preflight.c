/* gpu_preflight.c - the first minute on a GPU: what is there, and does
 * every convolution nnsweep's checks and the seed study use run there, in
 * every precision (tests/gpu/run_gpu_checks.sh runs it first).
 *
 *   gpu_preflight [--small]
 *
 * 1. The driver's and the runtime's CUDA versions (a driver too old for
 *    CUDA 13 is named as such, not as "no GPU"), the GPU, cuDNN, cuBLAS.
 * 2. With NNSWEEP_CUDA_VERBOSE=1 (set here), forward and backward of each
 *    shape below through the cuda backend, in fp32, tf32 and bf16, with
 *    the workspace its query asks for: the log records each plan's
 *    candidates and the algorithm, math type and workspace that ran, and
 *    every candidate cuDNN refused (the backend then runs the next). A
 *    shape and precision with no output (the backend failed the run: no
 *    algorithm runs, out of memory) or a non-finite one is a failure.
 *    Correctness is test_backend_ops' and test_parity's business.
 * Shapes: the seed study's CNN 5x256 (kernel 5, padding 3, pool 2) layer by
 * layer and CNN 2x32 (padding 0) at batch 32 and 512, and test_conv's odd
 * ones (1x1 kernel with padding, even kernel, kernel larger than the
 * image); --small keeps the odd ones at batch 2 (the host emulation).
 * Exit: 0 every shape runs; 1 one does not; 77 no usable GPU or no cuda
 * backend in this build (the reason printed). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_backend.h"
#include "check.h"
#include "nnsweep/backend.h"

typedef struct Shape {
    int C, H, OC, K, pad; /* square images */
} Shape;

static const Backend *T;

/* Forward + backward of one shape at batch B in precision prec: 1 when it
 * ran and gave finite values. */
static int run_shape(const Shape *sh, int B, int prec)
{
    static const char *const names[] = {"fp32", "tf32", "bf16"};
    int OH = sh->H + 2 * sh->pad - sh->K + 1;
    ConvShape s = {B, sh->C, sh->H, sh->H, sh->OC, sh->K, sh->pad, OH, OH};
    size_t nx = (size_t)B * sh->C * sh->H * sh->H, ny = (size_t)B * sh->OC * OH * OH;
    size_t nw = (size_t)sh->OC * sh->C * sh->K * sh->K;
    T->set_precision(prec);
    size_t q = T->conv2d_workspace_floats(&s);
    float *ws = q ? T->alloc(q * sizeof(float)) : NULL;
    float *x = T->alloc(nx * 4), *w = T->alloc(nw * 4), *b = T->alloc(sh->OC * 4);
    float *y = T->alloc(ny * 4), *dy = T->alloc(ny * 4), *dx = T->alloc(nx * 4);
    float *dw = T->alloc(nw * 4), *db = T->alloc(sh->OC * 4);
    int ok = (ws || !q) && x && w && b && y && dy && dx && dw && db;
    NnError e = {{0}};
    if (ok) {
        /* small finite values: alloc zeroes, a constant makes every output
         * a multiple of it */
        size_t n = nx > ny ? nx : ny;
        if (nw > n) n = nw;
        float *h = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++) h[i] = (float)((i % 7) + 1) / 64.0f;
        T->upload(x, h, nx * 4);
        T->upload(dy, h, ny * 4);
        T->upload(w, h, nw * 4);
        T->conv2d_forward(x, w, b, y, &s, ws);
        T->conv2d_backward(dy, x, w, dx, dw, db, &s, ws);
        T->download(h, y, 4 * sizeof(float));
        ok = isfinite(h[0]) && isfinite(h[3]);
        T->download(h, dw, sizeof(float));
        ok = ok && isfinite(h[0]);
        free(h);
    }
    if (backend_take_failure(T, &e) != NN_OK) ok = 0;
    printf("%s B%d C%d H%d OC%d K%d pad%d %s%s%s\n", ok ? "ok  " : "FAIL", B, sh->C, sh->H,
           sh->OC, sh->K, sh->pad, names[prec], e.msg[0] ? ": " : "", e.msg);
    fflush(stdout);
    float *bufs[] = {ws, x, w, b, y, dy, dx, dw, db};
    for (int i = 0; i < 9; i++) T->free(bufs[i]);
    T->set_precision(0);
    return ok;
}

int main(int argc, char **argv)
{
    int small = argc > 1 && strcmp(argv[1], "--small") == 0;
    if (argc > 2 || (argc == 2 && !small)) {
        fprintf(stderr, "usage: %s [--small]\n", argv[0]);
        return 2;
    }
    setenv("NNSWEEP_CUDA_VERBOSE", "1", 0);
    T = backend_get(BACKEND_CUDA);
    if (!T) {
        printf("SKIP: this build has no cuda backend (configure with -DNNSWEEP_CUDA=ON)\n");
        return CHECK_SKIP;
    }
    NnBuf env = {0};
    nn_cuda_describe(&env);
    if (backend_available(BACKEND_CUDA)) nn_cuda_dnn_describe(&env);
    fputs(env.data, stdout);
    nn_buf_free(&env);
    if (!backend_available(BACKEND_CUDA)) {
        printf("SKIP: no usable GPU\n");
        return CHECK_SKIP;
    }
    static const Shape study[] = {
        {3, 32, 256, 5, 3}, {256, 17, 256, 5, 3}, {256, 9, 256, 5, 3}, /* CNN 5x256 */
        {256, 5, 256, 5, 3}, {256, 3, 256, 5, 3},
        {3, 32, 32, 5, 0},  {32, 14, 32, 5, 0}, /* CNN 2x32 */
    };
    static const Shape odd[] = {
        {8, 5, 4, 1, 1}, {6, 9, 5, 2, 1}, {2, 3, 2, 5, 2}, {144, 4, 160, 5, 2}};
    static const int batches[] = {32, 512};
    int failed = 0, n = 0;
    for (int prec = 0; prec < 3; prec++) {
        for (size_t i = 0; !small && i < sizeof study / sizeof *study; i++)
            for (int b = 0; b < 2; b++, n++) failed += !run_shape(&study[i], batches[b], prec);
        for (size_t i = 0; i < sizeof odd / sizeof *odd; i++, n++)
            failed += !run_shape(&odd[i], small ? 2 : 32, prec);
    }
    printf("%s: %d of %d shape x precision cases ran\n", failed ? "FAILED" : "ok", n - failed, n);
    return failed ? 1 : 0;
}
