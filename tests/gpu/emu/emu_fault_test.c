/* emu_fault_test.c - the cuda backend under the faults a real GPU can
 * produce, injected by the host emulation (emu_faults.h; run_emu_checks.sh
 * builds and runs it, with NNSWEEP_CUDA_VERBOSE=1 and its stderr checked
 * for the plan and algorithm lines):
 *  - a driver too old for the CUDA runtime: no GPU, and a reason naming
 *    both versions;
 *  - cuDNN out of device memory when it starts, inside a convolution, and
 *    cuBLAS out of memory: failed runs with their message, the next call
 *    works;
 *  - candidate algorithms that cuDNN refuses to execute (not supported,
 *    misaligned pointer): the next candidate runs, the refused one is never
 *    tried again for that shape; every candidate refused: a failed run, and
 *    the shape is planned afresh once cuDNN would run it; bf16 refused: the
 *    layer runs fp32;
 *  - tf32 and bf16 never execute a TENSOR_OP_MATH_ALLOW_CONVERSION
 *    candidate, although the heuristics rank one first;
 *  - whole runs (train_run, on the dataset uploaded once) that fail with out of memory at model creation,
 *    in epoch 0, in the middle of training, or because no algorithm runs,
 *    each followed in the same process by a good run whose metrics equal
 *    those of the first good run (the failure leaves no state behind);
 *  - a run with odd widths and batch, whose activation views the model
 *    must still align for cuDNN (the backend checks every operand).
 * Prints "ok: N checks" and exits 0, or 1. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "emu_faults.h"
#include "nnsweep/backend.h"
#include "nnsweep/rng.h"
#include "nnsweep/train.h"

static const Backend *T;

/* The failure the ops recorded: its message in msg, or "" (none). */
static const char *failure(void)
{
    static NnError e;
    if (backend_take_failure(T, &e) == NN_OK) e.msg[0] = '\0';
    return e.msg;
}

#define EXPECT_FAILURE(text, what)                                                                 \
    do {                                                                                           \
        const char *m_ = failure();                                                                \
        CHECK(strstr(m_, text) != NULL, "%s: a failure saying \"%s\", got \"%s\"", what, text,   \
              m_);                                                                                 \
    } while (0)
#define EXPECT_NO_FAILURE(what)                                                                    \
    do {                                                                                           \
        const char *m_ = failure();                                                                \
        CHECK(m_[0] == '\0', "%s: no failure expected, got \"%s\"", what, m_);                     \
    } while (0)

/* ---- op level: one convolution shape and one dense layer ------------------------- */

typedef struct Conv {
    ConvShape s;
    float *x, *w, *b, *y, *dy, *dx, *dw, *db, *ws;
} Conv;

static float *dev_random(size_t n, uint64_t k)
{
    float *h = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) h[i] = rng_uniform_at(9, k, i) - 0.5f;
    float *d = T->alloc(n * sizeof(float));
    T->upload(d, h, n * sizeof(float));
    free(h);
    return d;
}

static void conv_make(Conv *c, int B)
{
    c->s = (ConvShape){B, 3, 8, 8, 4, 3, 1, 8, 8};
    size_t nx = (size_t)B * 3 * 64, ny = (size_t)B * 4 * 64, nw = 4 * 3 * 9;
    c->x = dev_random(nx, 1);
    c->w = dev_random(nw, 2);
    c->b = dev_random(4, 3);
    c->dy = dev_random(ny, 4);
    c->y = T->alloc(ny * 4);
    c->dx = T->alloc(nx * 4);
    c->dw = T->alloc(nw * 4);
    c->db = T->alloc(16);
    size_t q = T->conv2d_workspace_floats(&c->s);
    c->ws = q < ((size_t)1 << 40) ? T->alloc(q * 4) : NULL;
}

static void conv_free(Conv *c)
{
    float *p[] = {c->x, c->w, c->b, c->y, c->dy, c->dx, c->dw, c->db, c->ws};
    for (int i = 0; i < 9; i++) T->free(p[i]);
}

static void conv_step(Conv *c)
{
    T->conv2d_forward(c->x, c->w, c->b, c->y, &c->s, c->ws);
    T->conv2d_backward(c->dy, c->x, c->w, c->dx, c->dw, c->db, &c->s, c->ws);
    T->sync();
}

static long execs(int algo) { return emu_dnn_execs[algo]; }

static void driver_too_old(void)
{
    emu_driver_version = 12040;
    CHECK(!backend_available(BACKEND_CUDA), "a driver for CUDA 12.4 runs no CUDA 13 GPU");
    const char *why = backend_cuda_unusable_reason();
    CHECK(strstr(why, "CUDA 12.4") && strstr(why, "CUDA 13.0") && strstr(why, "R580"),
          "the reason names the driver's and the runtime's CUDA and the driver needed: \"%s\"",
          why);
    emu_driver_version = 0; /* a machine without a driver: quiet */
    CHECK(!backend_available(BACKEND_CUDA), "no driver, no GPU");
    emu_driver_version = 13000;
    CHECK(backend_available(BACKEND_CUDA), "the GPU is back with a CUDA 13 driver");
}

static void start_failures(void)
{
    /* cuDNN's handle is made with the first plan, after conv_make's 8
     * buffers: the next device allocation fails */
    void *p = T->alloc(16);
    emu_fail_after = 8;
    Conv c;
    conv_make(&c, 2);
    emu_fail_after = (size_t)-1;
    CHECK(c.ws == NULL, "no workspace can be had when cuDNN cannot start");
    EXPECT_FAILURE("cuDNN could not start", "cudnnCreate out of device memory");
    conv_free(&c);
    conv_make(&c, 2);
    conv_step(&c);
    EXPECT_NO_FAILURE("cuDNN starts at the next attempt");
    conv_free(&c);
    T->free(p);
}

static void refusals(void)
{
    Conv c;
    conv_make(&c, 3);
    long before = execs(1);
    emu_dnn_refuse = 1u << 1; /* the first choice (deterministic, 5 KiB) */
    conv_step(&c);
    conv_step(&c);
    EXPECT_NO_FAILURE("algorithm 1 refused: algorithm 0 runs");
    CHECK(execs(1) - before == 3, "the refused algorithm was tried once per direction (%ld)",
          execs(1) - before);
    emu_dnn_refuse = 0;
    conv_step(&c);
    CHECK(execs(1) - before == 3, "and never again for that shape (%ld)", execs(1) - before);
    conv_free(&c);

    /* misaligned for algorithm 1 (it wants 64 bytes, the backend gives 16) */
    conv_make(&c, 5);
    emu_dnn_align1 = 64;
    T->free(c.w);
    float *w = dev_random(4 * 3 * 9 + 4, 2);
    c.w = w + 4; /* 16 bytes past the allocation's start */
    conv_step(&c);
    EXPECT_NO_FAILURE("misaligned for algorithm 1: algorithm 0 runs");
    emu_dnn_align1 = 16;
    c.w = w;
    conv_free(&c);

    /* every algorithm refused: a failed run; the plan is made again later */
    conv_make(&c, 6);
    emu_dnn_refuse = 3;
    conv_step(&c);
    EXPECT_FAILURE("refused every algorithm", "every algorithm refused");
    emu_dnn_refuse = 0;
    T->free(c.ws);
    c.ws = T->alloc(T->conv2d_workspace_floats(&c.s) * 4);
    before = execs(1);
    conv_step(&c);
    EXPECT_NO_FAILURE("the shape runs again once cuDNN does");
    CHECK(execs(1) - before == 3, "planned afresh: algorithm 1 is first again (%ld)",
          execs(1) - before);

    /* bf16 refused, fp32 not: the layer runs fp32 */
    T->set_precision(2);
    emu_dnn_refuse_bf16 = 3;
    T->free(c.ws);
    c.ws = T->alloc(T->conv2d_workspace_floats(&c.s) * 4);
    conv_step(&c);
    EXPECT_NO_FAILURE("bf16 refused: fp32 runs");
    emu_dnn_refuse_bf16 = 0;

    /* no ALLOW_CONVERSION in tf32 and bf16 */
    long conv_before = emu_dnn_conversion_execs;
    for (int prec = 1; prec <= 2; prec++) {
        T->set_precision(prec);
        Conv d;
        conv_make(&d, 7);
        conv_step(&d);
        EXPECT_NO_FAILURE("tf32/bf16 convolution");
        conv_free(&d);
    }
    CHECK(emu_dnn_conversion_execs == conv_before,
          "%ld executions with TENSOR_OP_MATH_ALLOW_CONVERSION",
          emu_dnn_conversion_execs - conv_before);
    T->set_precision(0);
    conv_free(&c);
}

static void out_of_memory_ops(void)
{
    Conv c;
    conv_make(&c, 2);
    emu_dnn_oom_after = 1; /* the forward runs, the backward does not */
    conv_step(&c);
    EXPECT_FAILURE("out of GPU memory inside cuDNN", "device OOM in a convolution");
    emu_dnn_oom_after = -1;
    long before = execs(1);
    conv_step(&c);
    EXPECT_NO_FAILURE("the next step after an OOM");
    CHECK(execs(1) - before == 3, "an OOM drops no algorithm (%ld)", execs(1) - before);
    conv_free(&c);

    float *x = dev_random(6 * 5, 1), *w = dev_random(4 * 5, 2), *y = T->alloc(6 * 4 * 4);
    emu_blas_oom = 1;
    T->linear_forward(x, w, NULL, y, 6, 5, 4);
    EXPECT_FAILURE("out of GPU memory inside cuBLAS", "cuBLAS out of memory");
    T->linear_forward(x, w, NULL, y, 6, 5, 4);
    EXPECT_NO_FAILURE("the next GEMM");
    T->free(x);
    T->free(w);
    T->free(y);
}

/* ---- run level ----------------------------------------------------------------------- */

typedef struct Seen {
    int n;
    EpochMetrics m[4];
} Seen;

static RunVerdict on_epoch(const EpochMetrics *m, void *user)
{
    Seen *s = user;
    if (s->n < 4) s->m[s->n] = *m;
    s->n++;
    return RUN_GO_ON;
}

/* The dataset as a worker holds it: uploaded once, borrowed by every run. */
static TrainData dev_data;

static RunOutcome run(const RunConfig *c, Seen *seen)
{
    memset(seen, 0, sizeof *seen);
    RunHooks hooks = {.on_epoch = on_epoch, .user = seen};
    RunPlan plan;
    NnError err;
    RunOutcome r;
    memset(&r, 0, sizeof r);
    CHECK(run_plan_create(c, &plan, &err) == NN_OK, "run_plan_create: %s", err.msg);
    train_run(&plan, &dev_data, T, &hooks, 32, &r);
    run_plan_free(&plan);
    return r;
}

static void expect_failed(RunOutcome *r, const char *text, const char *what)
{
    CHECK(r->s.status == RUN_FAILED && strstr(r->s.message, text),
          "%s: status %s, message \"%s\" (expected failed, \"%s\")", what,
          run_status_name(r->s.status), r->s.message, text);
    EXPECT_NO_FAILURE("nothing left behind by a failed run");
    run_outcome_free(r);
}

/* A good run, the same as the first one to the last bit. */
static void expect_good(const RunConfig *c, const Seen *first, const char *after)
{
    Seen seen;
    RunOutcome r = run(c, &seen);
    CHECK(r.s.status == RUN_DONE && seen.n == first->n, "good run after %s: %s, %d epochs: %s",
          after, run_status_name(r.s.status), seen.n, r.s.message);
    for (int e = 0; e < seen.n && e < 4; e++)
        CHECK(seen.m[e].train_loss == first->m[e].train_loss &&
                  seen.m[e].test_loss == first->m[e].test_loss,
              "good run after %s, epoch %d: losses %.9g %.9g, first run %.9g %.9g", after, e,
              seen.m[e].train_loss, seen.m[e].test_loss, first->m[e].train_loss,
              first->m[e].test_loss);
    run_outcome_free(&r);
}

static void runs(void)
{
    enum { N_TRAIN = 64, N_TEST = 32, N = N_TRAIN + N_TEST };
    Cifar10 data;
    memset(&data, 0, sizeof data);
    data.n_train = N_TRAIN;
    data.n_test = N_TEST;
    data.images = malloc((size_t)N * CIFAR10_IMAGE_BYTES);
    data.labels = malloc(N);
    for (size_t i = 0; i < (size_t)N * CIFAR10_IMAGE_BYTES; i++)
        data.images[i] = (uint8_t)rng_u32_at(3, 1, i);
    for (int i = 0; i < N; i++) data.labels[i] = (uint8_t)(i % 10);
    uint8_t *images = T->alloc((size_t)N * CIFAR10_IMAGE_BYTES), *labels = T->alloc(N);
    CHECK(images && labels, "the dataset on the emulated GPU");
    T->upload(images, data.images, (size_t)N * CIFAR10_IMAGE_BYTES);
    T->upload(labels, data.labels, N);
    dev_data = (TrainData){.host = &data, .images = images, .labels = labels};
    RunConfig c;
    config_defaults(&c);
    c.model = MODEL_CNN;
    c.n_conv = 1;
    c.conv_layers[0] = 4;
    c.kernel_size = 3;
    c.padding = 1;
    c.pool_size = 4;
    c.n_hidden = 1;
    c.hidden_layers[0] = 8;
    c.batchnorm = 1;
    c.epochs = 2;
    c.patience = 0;
    c.batch_size = 16;
    c.train_images = N_TRAIN;
    c.test_images = N_TEST;
    c.device = DEVICE_CUDA;

    Seen first;
    RunOutcome r = run(&c, &first);
    CHECK(r.s.status == RUN_DONE && first.n == 3 && isfinite(first.m[2].train_loss),
          "the first good run: %s, %d epochs", run_status_name(r.s.status), first.n);
    run_outcome_free(&r);

    Seen seen;
    emu_fail_after = 3; /* the epoch order (2 arrays) and the state get memory, the rest not */
    r = run(&c, &seen);
    emu_fail_after = (size_t)-1;
    expect_failed(&r, "the model needs", "OOM at model creation");
    expect_good(&c, &first, "OOM at model creation");

    emu_dnn_oom_after = 0; /* every convolution, from epoch 0's evaluation on */
    r = run(&c, &seen);
    emu_dnn_oom_after = -1;
    CHECK(seen.n == 0, "no epoch reported when epoch 0 failed (%d)", seen.n);
    expect_failed(&r, "out of GPU memory inside cuDNN", "OOM in epoch 0");
    expect_good(&c, &first, "OOM in epoch 0");

    /* epoch 0 evaluates 64 + 32 images in 3 batches: OOM in epoch 1's training */
    emu_dnn_oom_after = 5;
    r = run(&c, &seen);
    emu_dnn_oom_after = -1;
    CHECK(seen.n == 1 && r.s.epochs_done == 0, "epoch 0 reported, no later one (%d, done %d)",
          seen.n, r.s.epochs_done);
    expect_failed(&r, "out of GPU memory inside cuDNN", "OOM while training");
    expect_good(&c, &first, "OOM while training");

    emu_dnn_refuse = 3;
    r = run(&c, &seen);
    emu_dnn_refuse = 0;
    expect_failed(&r, "refused every algorithm", "no algorithm runs");
    expect_good(&c, &first, "no algorithm ran");

    /* odd widths: 2 x 5 batch-norm statistics before the next views, whose
     * sizes are no multiples of 4 floats: every view the second conv reads
     * or writes must still be aligned (model.c), or the backend fails the
     * run */
    RunConfig odd = c;
    odd.n_conv = 2;
    odd.conv_layers[0] = 5;
    odd.conv_layers[1] = 7;
    odd.pool_size = 3;
    odd.dropout = 0.1;
    odd.batch_size = 13;
    r = run(&odd, &seen);
    CHECK(r.s.status == RUN_DONE, "odd widths: %s: %s", run_status_name(r.s.status),
          r.s.message);
    run_outcome_free(&r);

    T->free(images);
    T->free(labels);
    free(data.images);
    free(data.labels);
}

int main(void)
{
    T = backend_get(BACKEND_CUDA);
    CHECK(T && backend_available(BACKEND_CUDA), "the emulated GPU is visible");
    if (!T) return check_exit_code();
    driver_too_old();
    start_failures();
    refusals();
    out_of_memory_ops();
    runs();
    return check_exit_code();
}
