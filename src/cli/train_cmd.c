/* train_cmd.c - `nnsweep train`: one run from flags or a run config file,
 * one line per epoch, a final summary. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "nnsweep/data.h"
#include "nnsweep/sched.h"

/* What the table printer needs across the run's epochs. */
typedef struct TrainCtx {
    int quiet;
    int has_val;
    RunSummary summary; /* the run's, once it ended */
    int ended;
} TrainCtx;

static void print_acc(double v)
{
    if (isnan(v))
        printf("  %8s", "-");
    else
        printf("  %8.4f", v);
}

static void on_epoch(const EpochMetrics *m, void *user)
{
    const TrainCtx *ctx = user;
    if (ctx->quiet) return;
    printf("%5d", m->epoch);
    print_acc(m->train_loss);
    print_acc(m->train_accuracy);
    if (ctx->has_val) {
        print_acc(m->val_loss);
        print_acc(m->val_accuracy);
    }
    print_acc(m->test_loss);
    print_acc(m->test_accuracy);
    print_acc(m->top_accuracy);
    printf("  %9.3g  %7.1f\n", m->learning_rate, m->seconds);
    fflush(stdout);
}

static void on_result(const SweepRun *r, const RunSummary *s, void *user)
{
    (void)r;
    TrainCtx *ctx = user;
    ctx->summary = *s;
    ctx->ended = 1;
}

/* The run config keys given as options, applied over the config file (so
 * that flags win wherever they are). */
typedef struct KeyFlag {
    char key[64];   /* the run config key */
    char where[80]; /* the option as typed, for messages */
    const char *value;
} KeyFlag;
typedef struct KeyFlags {
    KeyFlag *items; /* room for argc */
    int n;
} KeyFlags;

static NnStatus defer_key(void *dest, const char *option, const char *value, NnError *err)
{
    (void)err;
    KeyFlags *f = dest;
    KeyFlag *k = &f->items[f->n++];
    snprintf(k->where, sizeof k->where, "%s", option);
    snprintf(k->key, sizeof k->key, "%s", option + 2);
    for (char *p = k->key; *p; p++)
        if (*p == '-') *p = '_';
    k->value = value ? value : "true"; /* a bool key alone: --batchnorm */
    return NN_OK;
}

/* Options into the arguments; the run config (file, then flags) into *c.
 * Returns -1 to go on, else the exit code. */
static int parse(int argc, char **argv, RunConfig *c, const char **data_dir,
                 const char **out_path, int *threads, int *quiet)
{
    const char *config_path = NULL;
    const CliOption opts[] = {
        {.name = "config", .kind = CLI_PATH, .dest = &config_path, .metavar = "FILE",
         .help = "run config YAML (a mapping of the keys below)"},
        {.name = "data", .kind = CLI_PATH, .dest = data_dir, .metavar = "DIR",
         .help = "CIFAR-10 binary directory (default $CIFAR10_DIR, else "
                 "data/cifar-10-batches-bin; scripts/get-cifar10.sh fetches it)"},
        {.name = "threads", .kind = CLI_INT, .dest = threads, .lo = 1, .hi = 1024,
         .metavar = "N", .help = "CPU threads (default: all cores of this process)"},
        {.name = "out", .kind = CLI_PATH, .dest = out_path, .metavar = "FILE",
         .help = "also record the run in a results file (schema of `nnsweep sweep`, sweep "
                 "name \"train\"), created when missing"},
        {.name = "quiet", .kind = CLI_FLAG, .dest = quiet, .help = "only the final summary"},
    };
    /* every run config key is an option too, with its default */
    int n_keys = config_n_keys();
    CliOption *keys = nn_calloc((size_t)n_keys, sizeof *keys);
    NnBuf *help = nn_calloc((size_t)n_keys, sizeof *help);
    KeyFlags flags = {.items = nn_calloc((size_t)argc, sizeof *flags.items)};
    RunConfig d;
    config_defaults(&d);
    for (int i = 0; i < n_keys; i++) {
        const ConfigKeyInfo *k = config_key(i);
        nn_buf_printf(&help[i], "%s [", k->help);
        config_value_json(&d, i, &help[i]);
        nn_buf_printf(&help[i], "]");
        keys[i] = (CliOption){.name = k->name, .kind = CLI_CALL, .dest = &flags,
                              .call = defer_key, .help = help[i].data,
                              .bool_value = k->type == CT_BOOL};
    }
    keys[0].section = "run config keys (default in brackets):";
    const CliCommand cmd = {
        .name = "train", .args = "", .max_args = 0, .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof opts[0]), .more = keys, .n_more = n_keys,
        .about = "\n"
                 "Trains one MLP or CNN on CIFAR-10 and prints one line per epoch. Every run\n"
                 "config key can be given as a flag (underscores or dashes) or in a YAML file\n"
                 "(--config; flags win). Lists are comma-separated: --hidden-layers "
                 "256,256,256.\n"};
    int n_args = 0;
    int code = cli_parse(&cmd, argc, argv, NULL, &n_args, 0);
    NnError err = {{0}};
    NnStatus st = NN_OK;
    if (code < 0 && config_path) st = config_load_file(c, config_path, &err);
    for (int i = 0; i < flags.n && code < 0 && st == NN_OK; i++)
        st = config_set_text(c, flags.items[i].key, flags.items[i].value, flags.items[i].where,
                             &err);
    if (code < 0 && st != NN_OK) code = cli_fail("train", st, &err);
    for (int i = 0; i < n_keys; i++) nn_buf_free(&help[i]);
    free(help);
    free(keys);
    free(flags.items);
    return code;
}

/* `nnsweep train` is a sweep of one run (sweep "train", open: its runs
 * accumulate in a results file), run by the in-process driver: the same run
 * path, device policy, signal handling and results session as every sweep. */
int cli_train(int argc, char **argv)
{
    RunConfig c;
    NnError err = {{0}};
    const char *data_dir = NULL, *out_path = NULL;
    int threads = 0, quiet = 0;
    config_defaults(&c);
    int code = parse(argc, argv, &c, &data_dir, &out_path, &threads, &quiet);
    if (code >= 0) return code;

    SweepSet set = {0};
    NnBuf desc = {0};
    NnStatus st = sweep_set_add_one(&set, "train", "# runs of `nnsweep train --out`\n", &c,
                                    &desc, &err);
    if (st != NN_OK) {
        nn_buf_free(&desc);
        return cli_fail("train", st, &err);
    }
    const SweepRun *run = &set.sweeps[0].runs[0];
    if (!quiet) {
        DeviceKind dev = backend_resolve_device(c.device, backend_gpu_usable());
        printf("nnsweep train: %s on %s (%d threads), data %s\nconfig %s\n%s",
               c.model == MODEL_MLP ? "mlp" : "cnn", dev == DEVICE_CUDA ? "cuda" : "cpu",
               threads ? threads : backend_cpu_cores(), cifar10_default_dir(data_dir), run->json,
               desc.data);
        printf("%5s  %8s  %8s", "epoch", "trn_loss", "trn_acc");
        if (c.val_split) printf("  %8s  %8s", "val_loss", "val_acc");
        printf("  %8s  %8s  %8s  %9s  %7s\n", "tst_loss", "tst_acc", "top_acc", "lr", "seconds");
        fflush(stdout);
    }
    nn_buf_free(&desc);

    TrainCtx ctx = {.quiet = quiet, .has_val = c.val_split > 0};
    SweepJob job = {.command = "train", .set = &set, .out_path = out_path,
                    .data_dir = data_dir, .threads = threads, .quiet = 1,
                    .on_epoch = on_epoch, .on_result = on_result, .user = &ctx};
    code = sched_run_job(&job);
    if (ctx.ended && out_path && code == 0)
        printf("recorded as run %s of sweep train in %s\n", run->id, out_path);
    sweep_set_free(&set);
    if (!ctx.ended) return code ? code : 1;
    const RunSummary *r = &ctx.summary;
    printf("status %s: best epoch %d, test accuracy %.4f", run_status_name(r->status), r->best_epoch,
           r->best_test_accuracy);
    if (c.val_split) printf(", val accuracy %.4f", r->best_val_accuracy);
    printf(", %d epochs in %.1f s, %lld parameters\n", r->epochs_done, r->wall_seconds,
           (long long)r->n_params);
    if (r->message[0]) printf("  %s\n", r->message);
    if (code) return code;
    return r->status == RUN_DONE ? 0 : 1;
}
