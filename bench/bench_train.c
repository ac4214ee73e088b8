/* bench_train.c - training and evaluation throughput (images/s) of the
 * seed study's models on a backend, with data already in memory: the same
 * step as train_run (gather + normalize, forward, loss, backward, optimizer
 * update), timed after a warm-up. Not a test: bench/run.sh runs it next to
 * PyTorch (bench/torch_bench.py) and reports ratios.
 *
 *   bench_train [--backend cpu] [--threads N] [--seconds S] [--batch B]
 *               [--eval-batch B] [--steps N] [--train-only | --eval-only]
 *               [--precision fp32|tf32|bf16] [--profile] CASE...
 * Cases: mlp, mlp_bn, mlp_dropout, cnn2x32, cnn2x32_bn, cnn2x32_dropout,
 *        cnn5x32, cnn5x256, any cnnDxC (D <= 5 conv layers of C channels,
 *        padding 0 for D = 2 and 3 otherwise, as in the seed study; see
 *        case_config). One line per case:
 *   CASE train_ips eval_ips
 * (0 for a pass that was not measured). Each measurement follows a
 * warm-up of 5 steps or 0.5 s, whichever ends first. --steps N runs
 * exactly N timed steps instead of --seconds (for callgrind, whose counts
 * repeat exactly).
 * --profile adds, per case and pass, milliseconds per step of the batch
 * gather, every layer's forward and backward (the backward with the SGD
 * update of the layer's parameters: train_backward_update) and the loss (a
 * sync after each, so the total is a little above the plain step).
 * --precision sets the backend's (cuda only; backend.h set_precision). A
 * case whose ops fail (backend_take_failure, e.g. out of GPU memory) prints
 * its message instead of figures and makes the exit status 1. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnsweep/backend.h"
#include "nnsweep/config.h"
#include "nnsweep/model.h"
#include "nnsweep/optim.h"
#include "nnsweep/rng.h"
#include "nnsweep/train.h"

#define N_IMAGES 4096

static int case_config(const char *name, RunConfig *c)
{
    config_defaults(c);
    c->learning_rate = 0.05;
    int conv = 0, channels = 0, pad = 0;
    if (!strncmp(name, "mlp", 3)) {
        c->model = MODEL_MLP; /* 3 x 256 */
    } else if (sscanf(name, "cnn%dx%d", &conv, &channels) == 2 && conv >= 1 &&
               conv <= 5 && channels >= 1) {
        pad = conv == 2 ? 0 : 3; /* the seed study's ConvNet_2 and ConvNet_3/5 */
    } else {
        return 0;
    }
    if (conv) {
        c->model = MODEL_CNN;
        c->n_conv = conv;
        for (int i = 0; i < conv; i++) c->conv_layers[i] = channels;
        c->kernel_size = 5;
        c->padding = pad;
        c->pool_size = 2;
        c->n_hidden = 2;
        c->hidden_layers[0] = 128;
        c->hidden_layers[1] = 64;
    }
    if (strstr(name, "_bn")) c->batchnorm = 1;
    if (strstr(name, "_dropout")) c->dropout = 0.2;
    return 1;
}

typedef struct Bench {
    double seconds; /* at least this long per measurement ... */
    long steps;     /* ... or exactly this many steps when > 0 */
    int profile;
} Bench;

/* Profile of the parts of a step: gather, loss, and the whole backward +
 * update call (its layers are profiled by the model; the rest of it is the
 * optimizer's own pass where the update is not fused). */
typedef struct StepProfile {
    double gather, loss, backward;
} StepProfile;

static void lap(const Backend *be, double *acc_s, double *t)
{
    be->sync();
    double now = nn_now();
    *acc_s += now - *t;
    *t = now;
}

/* Images per second of training (train = 1) or evaluation steps of batch B
 * for at least `seconds` (or exactly `steps` steps), after a warm-up. */
static double measure(const Backend *be, Model *m, Optimizer *o, const RunConfig *c,
                      const uint8_t *images, const uint8_t *labels, const int32_t *order, int B,
                      int train, const Bench *bench)
{
    BatchSpec spec = {{0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}, AUG_NONE, (uint64_t)c->seed, 0};
    double *acc = be->alloc(2 * sizeof(double));
    long steps = 0, warm = -1; /* warm-up: 5 steps or 0.5 s, whichever ends first */
    double t0 = 0, t = 0, t_start = nn_now();
    StepProfile prof = {0, 0, 0};
    for (long s = 0;; s++) {
        if (warm < 0 && (s == 5 || (s >= 1 && nn_now() - t_start >= 0.5))) warm = s;
        if (s == warm) {
            be->sync();
            if (bench->profile) model_profile(m, 1);
            memset(&prof, 0, sizeof prof);
            t0 = nn_now();
        }
        t = nn_now();
        int start = (int)((s * B) % (N_IMAGES - B));
        be->gather_batch(images, labels, order + start, B, &spec, model_input(m),
                         model_labels(m));
        if (bench->profile) lap(be, &prof.gather, &t);
        model_forward(m, B, train, (uint64_t)s);
        if (bench->profile) t = nn_now();
        model_loss(m, B, 0.0f, train, acc);
        if (bench->profile) lap(be, &prof.loss, &t);
        if (train) {
            train_backward_update(m, o, B, (float)c->learning_rate); /* as train_run */
            if (bench->profile) lap(be, &prof.backward, &t);
        }
        if (warm >= 0 && s >= warm) {
            steps++;
            if (bench->steps > 0) {
                if (steps == bench->steps) break;
            } else if (steps % 4 == 0 || nn_now() - t0 >= bench->seconds) {
                be->sync(); /* a device backend is asynchronous */
                if (nn_now() - t0 >= bench->seconds) break;
            }
        }
    }
    be->sync();
    double dt = nn_now() - t0;
    if (bench->profile) {
        NnBuf out = {0};
        double k = 1e3 / (double)steps;
        nn_buf_printf(&out, "# profile %s, batch %d, %.3f ms per step:\n", train ? "train" : "eval",
                      B, dt * k);
        nn_buf_printf(&out, "  %-12s          %8.3f ms\n", "gather", prof.gather * k);
        model_profile_print(m, &out);
        nn_buf_printf(&out, "  %-12s          %8.3f ms\n", "loss", prof.loss * k);
        if (train)
            nn_buf_printf(&out, "  %-12s          %8.3f ms (all layers + optimizer)\n",
                          "backward", prof.backward * k);
        fputs(out.data, stdout);
        nn_buf_free(&out);
        model_profile(m, 0);
    }
    be->free(acc);
    return (double)steps * B / dt;
}

int main(int argc, char **argv)
{
    const char *backend = "cpu";
    int threads = 0, batch = 32, eval_batch = 500, passes = 3; /* bit 0 train, bit 1 eval */
    int precision = 0;
    static const char *const precisions[] = {"fp32", "tf32", "bf16"};
    Bench bench = {3.0, 0, 0};
    int first_case = argc;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--backend") && i + 1 < argc) {
            backend = argv[++i];
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            bench.seconds = atof(argv[++i]);
        } else if (!strcmp(argv[i], "--steps") && i + 1 < argc) {
            bench.steps = atol(argv[++i]);
        } else if (!strcmp(argv[i], "--profile")) {
            bench.profile = 1;
        } else if (!strcmp(argv[i], "--train-only")) {
            passes = 1;
        } else if (!strcmp(argv[i], "--eval-only")) {
            passes = 2;
        } else if (!strcmp(argv[i], "--batch") && i + 1 < argc) {
            batch = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--eval-batch") && i + 1 < argc) {
            eval_batch = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--precision") && i + 1 < argc) {
            i++;
            for (precision = 0; precision < 3 && strcmp(argv[i], precisions[precision]); precision++)
                ;
            if (precision == 3) {
                fprintf(stderr, "bench_train: --precision %s: expected fp32, tf32 or bf16\n",
                        argv[i]);
                return 2;
            }
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "bench_train: unknown option %s\n", argv[i]);
            return 2;
        } else {
            first_case = i;
            break;
        }
    }
    const Backend *be = backend_by_name(backend);
    if (!be) {
        fprintf(stderr, "bench_train: backend %s is not compiled in\n", backend);
        return 2;
    }
    if (precision && !be->set_precision) {
        fprintf(stderr, "bench_train: backend %s computes in fp32 only\n", be->name);
        return 2;
    }
    if (be->set_precision) be->set_precision(precision);
    int used = backend_cpu_set_threads(threads);
    printf("# backend %s, %s, %d threads, batch %d, eval batch %d, >= %.1f s per measurement\n",
           be->name, precisions[precision], used, batch, eval_batch, bench.seconds);

    /* random images and labels, in backend memory */
    uint8_t *h_img = nn_malloc((size_t)N_IMAGES * 3072), *h_lab = nn_malloc(N_IMAGES);
    int32_t *h_order = nn_malloc(N_IMAGES * sizeof(int32_t));
    for (size_t i = 0; i < (size_t)N_IMAGES * 3072; i++)
        h_img[i] = (uint8_t)(rng_u32_at(1, rng_stream(RNG_STREAM_TEST, 1), i) & 255);
    for (int i = 0; i < N_IMAGES; i++) {
        h_lab[i] = (uint8_t)(rng_u32_at(1, rng_stream(RNG_STREAM_TEST, 2), (uint64_t)i) % 10);
        h_order[i] = (int32_t)(rng_u32_at(1, rng_stream(RNG_STREAM_TEST, 3), (uint64_t)i) %
                               N_IMAGES);
    }
    uint8_t *img = be->alloc((size_t)N_IMAGES * 3072), *lab = be->alloc(N_IMAGES);
    int32_t *order = be->alloc(N_IMAGES * sizeof(int32_t));
    be->upload(img, h_img, (size_t)N_IMAGES * 3072);
    be->upload(lab, h_lab, N_IMAGES);
    be->upload(order, h_order, N_IMAGES * sizeof(int32_t));

    int code = 0;
    for (int i = first_case; i < argc; i++) {
        RunConfig c;
        RunPlan plan = {0};
        NnError err;
        Model *m = NULL;
        Optimizer *o = NULL;
        if (!case_config(argv[i], &c)) {
            fprintf(stderr, "bench_train: unknown case %s\n", argv[i]);
            code = 2;
            continue;
        }
        c.batch_size = batch;
        int max_batch = batch > eval_batch ? batch : eval_batch;
        if (run_plan_create(&c, &plan, &err) != NN_OK ||
            model_create(plan.mplan, be, max_batch, &m, &err) != NN_OK ||
            optim_create(&plan.optim, be, plan.mplan->n_params, &o, &err) != NN_OK) {
            backend_take_failure(be, &err); /* the backend's reason, when it has one */
            fprintf(stderr, "bench_train: %s: %s\n", argv[i], err.msg);
            model_free(m);
            run_plan_free(&plan);
            code = 1;
            continue;
        }
        double tr = passes & 1 ? measure(be, m, o, &c, img, lab, order, batch, 1, &bench) : 0;
        double ev = passes & 2 ? measure(be, m, o, &c, img, lab, order, eval_batch, 0, &bench) : 0;
        if (backend_take_failure(be, &err) != NN_OK) {
            fprintf(stderr, "bench_train: %s: %s\n", argv[i], err.msg);
            code = 1;
        } else {
            printf("%s %.1f %.1f\n", argv[i], tr, ev);
        }
        fflush(stdout);
        optim_free(o);
        model_free(m);
        run_plan_free(&plan);
    }
    be->free(img);
    be->free(lab);
    be->free(order);
    free(h_img);
    free(h_lab);
    free(h_order);
    return code;
}
