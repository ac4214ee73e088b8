/* train_compare.c - the same short training on the cpu backend and on the
 * GPU, from the same weights (tests/gpu/run_gpu_checks.sh). For an MLP and
 * a CNN, each with batch norm and dropout so that every op runs:
 *   cpu (fp32, all cores) once, then the other backend in fp32, tf32 and
 *   bf16 (run_execute, the code path of every sweep and of `nnsweep
 *   train`), every epoch's metrics printed at full precision.
 * Checks against the cpu run:
 *   epoch 0 (the initialized model, evaluation only: the same weights on
 *   both) train and test loss within 1e-4 in every precision, accuracies
 *   within 0.002 (fp32) or 0.01 (tf32, bf16: a near-tie's argmax may flip);
 *   the last epoch (trajectories drift apart by rounding, more with fewer
 *   mantissa bits) train loss within 5% (fp32, tf32) or 10% (bf16) plus
 *   0.01, test accuracy within 0.03 or 0.05.
 *
 *   train_compare [--data DIR] [--other cuda|cpu] [--train-images N]
 *                 [--test-images N] [--epochs E] [--batch B] [--small]
 * Models: MLP 256-256 with dropout 0.2, CNN 32-64 (kernel 5, padding 2,
 * pool 2) + 128 with dropout 0.1, both with batch norm; --small divides
 * the widths by 8 (the host emulation's naive convolutions).
 * --other cpu compares the cpu backend at all cores with itself at one
 * thread, fp32 only: the script's CPU mode, which checks everything but
 * the GPU. Exit 0 all checks pass, 1 otherwise, 2 bad usage or data, 77
 * the other backend cannot run here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nnsweep/data.h"
#include "nnsweep/config.h"
#include "nnsweep/run.h"

#define MAX_EPOCHS 8

typedef struct Curve {
    int n;
    EpochMetrics m[MAX_EPOCHS + 1];
} Curve;

static RunVerdict on_epoch(const EpochMetrics *m, void *user)
{
    Curve *c = user;
    if (c->n <= MAX_EPOCHS) c->m[c->n++] = *m;
    return RUN_GO_ON;
}

static const char *const prec_names[] = {"fp32", "tf32", "bf16"};

/* One run of c through run_execute (run.h: the path of every sweep and of
 * `nnsweep train`; c's device key picks the backend); its curve, or n = 0
 * when it did not finish. */
static Curve train(const RunConfig *c, RunHost *host, const char *label)
{
    Curve curve = {0};
    RunHooks hooks = {.on_epoch = on_epoch, .user = &curve};
    NnBuf json = {0};
    config_to_json(c, &json);
    RunRequest req = {RUN_KIND_TRAIN, label, json.data};
    RunOutcome o;
    double t0 = nn_now();
    run_execute(host, &req, &hooks, &o);
    nn_buf_free(&json);
    CHECK(o.s.status == RUN_DONE, "%s: %s (%s)", label, run_status_name(o.s.status), o.s.message);
    if (o.s.status != RUN_DONE) curve.n = 0;
    for (int e = 0; e < curve.n; e++)
        printf("%-16s epoch %d  train loss %.6f acc %.4f  test loss %.6f acc %.4f\n", label, e,
               curve.m[e].train_loss, curve.m[e].train_accuracy, curve.m[e].test_loss,
               curve.m[e].test_accuracy);
    printf("%-16s %.1f s on %s\n", label, nn_now() - t0, o.s.device);
    fflush(stdout);
    run_outcome_free(&o);
    return curve;
}

/* The checks of the header: other (precision prec) against cpu. */
static void compare(const Curve *cpu, const Curve *other, int prec, const char *label)
{
    if (!cpu->n || other->n != cpu->n) {
        CHECK(0, "%s: no curve to compare (%d and %d epochs)", label, cpu->n, other->n);
        return;
    }
    const EpochMetrics *a = &cpu->m[0], *b = &other->m[0];
    double dl = fmax(fabs(a->train_loss - b->train_loss), fabs(a->test_loss - b->test_loss));
    double da = fmax(fabs(a->train_accuracy - b->train_accuracy),
                     fabs(a->test_accuracy - b->test_accuracy));
    double acc_tol = prec ? 0.01 : 0.002;
    int ok0 = dl <= 1e-4 && da <= acc_tol;
    CHECK(ok0, "%s epoch 0: loss differs by %.3g (1e-4), accuracy by %.3g (%g)", label, dl, da,
          acc_tol);
    int e = cpu->n - 1;
    a = &cpu->m[e];
    b = &other->m[e];
    double rel = prec == 2 ? 0.10 : 0.05, acc_end = prec == 2 ? 0.05 : 0.03;
    int ok_end = fabs(a->train_loss - b->train_loss) <= rel * fabs(a->train_loss) + 0.01 &&
                 fabs(a->test_accuracy - b->test_accuracy) <= acc_end;
    CHECK(ok_end, "%s epoch %d: train loss %.6f vs %.6f, test accuracy %.4f vs %.4f", label, e,
          a->train_loss, b->train_loss, a->test_accuracy, b->test_accuracy);
    printf("%s %s: epoch 0 loss diff %.3g, accuracy diff %.3g; epoch %d train loss %.4f vs %.4f, "
           "test accuracy %.4f vs %.4f\n",
           ok0 && ok_end ? "PASS" : "FAIL", label, dl, da, e, a->train_loss, b->train_loss,
           a->test_accuracy, b->test_accuracy);
    fflush(stdout);
}

static int parse_int(const char *flag, const char *v, int lo, int hi)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < lo || x > hi) {
        fprintf(stderr, "train_compare: %s: expected an integer in %d..%d, found \"%s\"\n", flag,
                lo, hi, v);
        exit(2);
    }
    return (int)x;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *other_name = "cuda";
    int n_train = 5000, n_test = 1000, epochs = 2, batch = 64, width = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--small")) {
            width = 8;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "usage: %s [--data DIR] [--other cuda|cpu] [--train-images N] "
                            "[--test-images N] [--epochs E] [--batch B] [--small]\n", argv[0]);
            return 2;
        }
        if (!strcmp(argv[i], "--data")) dir = v;
        else if (!strcmp(argv[i], "--other")) other_name = v;
        else if (!strcmp(argv[i], "--train-images")) n_train = parse_int(argv[i], v, 100, 50000);
        else if (!strcmp(argv[i], "--test-images")) n_test = parse_int(argv[i], v, 100, 10000);
        else if (!strcmp(argv[i], "--epochs")) epochs = parse_int(argv[i], v, 1, MAX_EPOCHS);
        else if (!strcmp(argv[i], "--batch")) batch = parse_int(argv[i], v, 2, 1000);
        else {
            fprintf(stderr, "%s: unknown option %s\n", argv[0], argv[i]);
            return 2;
        }
        i++;
    }
    int vs_cpu = !strcmp(other_name, "cpu");
    if (!vs_cpu && strcmp(other_name, "cuda")) {
        fprintf(stderr, "%s: --other %s: expected cuda or cpu\n", argv[0], other_name);
        return 2;
    }
    if (!vs_cpu && !backend_gpu_usable()) {
        printf("SKIP: backend %s cannot run here%s%s\n", other_name,
               backend_cuda_unusable_reason()[0] ? ": " : "", backend_cuda_unusable_reason());
        return CHECK_SKIP;
    }
    RunHost host;
    NnError err;
    if (run_host_init(&host, dir, vs_cpu ? -1 : 0, &err) != NN_OK) {
        fprintf(stderr, "%s: %s\n", argv[0], err.msg);
        return 2;
    }
    RunConfig base;
    config_defaults(&base);
    base.train_images = n_train;
    base.test_images = n_test;
    base.epochs = epochs;
    base.batch_size = batch;
    base.patience = 0;
    base.seed = 3;
    base.learning_rate = 0.02;
    base.batchnorm = 1;
    for (int model = 0; model < 2; model++) {
        RunConfig c = base;
        const char *name = model ? "cnn" : "mlp";
        if (model) { /* 32-64 channels, kernel 5, padding 2, pool 2, hidden 128 */
            c.model = MODEL_CNN;
            c.n_conv = 2;
            c.conv_layers[0] = 32 / width;
            c.conv_layers[1] = 64 / width;
            c.kernel_size = 5;
            c.padding = 2;
            c.pool_size = 2;
            c.n_hidden = 1;
            c.hidden_layers[0] = 128 / width;
            c.dropout = 0.1;
        } else {
            c.model = MODEL_MLP;
            c.n_hidden = 2;
            c.hidden_layers[0] = c.hidden_layers[1] = 256 / width;
            c.dropout = 0.2;
        }
        char label[64];
        backend_cpu_set_threads(0);
        snprintf(label, sizeof label, "%s cpu", name);
        c.device = DEVICE_CPU;
        Curve ref = train(&c, &host, label);
        c.device = vs_cpu ? DEVICE_CPU : DEVICE_CUDA;
        for (int prec = 0; prec < (vs_cpu ? 1 : 3); prec++) {
            c.precision = (Precision)prec;
            if (vs_cpu) backend_cpu_set_threads(1);
            snprintf(label, sizeof label, "%s %s%s %s", name, other_name, vs_cpu ? "/1" : "",
                     prec_names[prec]);
            Curve got = train(&c, &host, label);
            compare(&ref, &got, prec, label);
        }
    }
    run_host_free(&host);
    return check_exit_code();
}
