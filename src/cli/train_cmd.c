/* train_cmd.c - `nnsweep train`: one run from flags or a run config file,
 * one line per epoch, a final summary. */
#include <math.h>
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "nnsweep/data.h"
#include "nnsweep/model.h"
#include "nnsweep/results.h"
#include "nnsweep/train.h"

typedef struct TrainCtx {
    int quiet;
    ResultsFile *rf;   /* --out, or NULL */
    const char *id;    /* the run's id in rf */
    int io_failed;
    int has_val;
} TrainCtx;

static void print_acc(double v)
{
    if (isnan(v))
        printf("  %8s", "-");
    else
        printf("  %8.4f", v);
}

static int on_epoch(const EpochMetrics *m, void *user)
{
    TrainCtx *ctx = user;
    NnError err;
    if (ctx->rf && !ctx->io_failed && results_append_epoch(ctx->rf, ctx->id, m, &err) != NN_OK) {
        fprintf(stderr, "nnsweep train: %s\n", err.msg);
        ctx->io_failed = 1;
    }
    if (ctx->quiet) return ctx->io_failed;
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
    return ctx->io_failed;
}

static volatile sig_atomic_t train_stop_signal;
static void on_stop_signal(int sig) { train_stop_signal = sig; }
static int should_stop(void *user)
{
    (void)user;
    return train_stop_signal != 0;
}

/* --out: adds the run to sweep "train" of the results file (creating both
 * when missing) and starts SWMR, so that the epochs stream in. */
static NnStatus open_out(const char *path, const RunConfig *c, const char *id, const Backend *be,
                         ResultsFile **out, NnError *err)
{
    ResultsFile *rf;
    NnStatus st = results_open_write(path, 1, &rf, err);
    if (st != NN_OK) return st;
    ResultsSweep *sweeps = NULL;
    int n = 0, have = 0;
    st = results_list_sweeps(rf, &sweeps, &n, err);
    for (int i = 0; i < n; i++) have |= !strcmp(sweeps[i].name, "train");
    results_sweeps_free(sweeps, n);
    if (st == NN_OK && !have)
        st = results_add_sweep(rf, "train", "# runs of `nnsweep train --out`\n", "grid",
                               c->select_on == SELECT_VAL_ACCURACY ? "val_accuracy"
                                                                   : "test_accuracy",
                               "maximize", err);
    ModelTensor *t = NULL;
    int n_t = 0;
    size_t n_params = 0, n_state = 0;
    if (st == NN_OK) st = model_layout(c, &t, &n_t, &n_params, &n_state, err);
    if (st == NN_OK) st = results_add_run(rf, id, "train", c, n_params, t, n_t, err);
    free(t);
    if (st == NN_OK) st = results_start_swmr(rf, err);
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    if (st == NN_OK) st = results_set_running(rf, id, host, 0, be->name, err);
    if (st != NN_OK) {
        results_close(rf, NULL);
        return st;
    }
    *out = rf;
    return NN_OK;
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

int cli_train(int argc, char **argv)
{
    RunConfig c;
    NnError err = {{0}};
    const char *data_dir = NULL, *out_path = NULL;
    int threads = 0, quiet = 0;
    config_defaults(&c);
    int code = parse(argc, argv, &c, &data_dir, &out_path, &threads, &quiet);
    if (code >= 0) return code;
    NnStatus st = config_validate(&c, &err);
    if (st != NN_OK) return cli_fail("train", st, &err);
    const Backend *be = cli_backend_for(&c, &err);
    if (!be) return cli_fail("train", NN_ERR_INPUT, &err);
    int used_threads = backend_cpu_set_threads(threads ? threads : cli_cores());

    Cifar10 data;
    st = cifar10_load(cifar10_default_dir(data_dir), &data, &err);
    if (st != NN_OK) return cli_fail("train", st, &err);

    NnBuf json = {0};
    config_to_json(&c, &json);
    Model *probe;
    st = model_create(&c, backend_get(BACKEND_REF), 1, &probe, &err);
    if (st != NN_OK) {
        cifar10_free(&data);
        nn_buf_free(&json);
        return cli_fail("train", st, &err);
    }
    if (!quiet) {
        NnBuf desc = {0};
        model_describe(probe, &desc);
        printf("nnsweep train: %s on %s (%d threads), data %s\nconfig %s\n%s", 
               c.model == MODEL_MLP ? "mlp" : "cnn", be->name, used_threads, data.dir, json.data,
               desc.data);
        printf("%5s  %8s  %8s", "epoch", "trn_loss", "trn_acc");
        if (c.val_split) printf("  %8s  %8s", "val_loss", "val_acc");
        printf("  %8s  %8s  %8s  %9s  %7s\n", "tst_loss", "tst_acc", "top_acc", "lr", "seconds");
        nn_buf_free(&desc);
    }
    model_free(probe);
    nn_buf_free(&json);

    TrainCtx ctx = {.quiet = quiet, .has_val = c.val_split > 0};
    char id[13];
    config_run_id(&c, "train", id);
    ctx.id = id;
    if (out_path) {
        st = open_out(out_path, &c, id, be, &ctx.rf, &err);
        if (st != NN_OK) {
            cifar10_free(&data);
            return cli_fail("train", st, &err);
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    TrainOptions opt = {.backend = be, .on_epoch = on_epoch, .should_stop = should_stop,
                        .user = &ctx};
    RunResult r;
    st = train_run(&c, &data, &opt, &r, &err);
    cifar10_free(&data);
    if (ctx.rf) {
        NnError werr;
        NnStatus wst = results_finish_run(ctx.rf, id, &r, &werr);
        if (wst == NN_OK) wst = results_close(ctx.rf, &werr);
        else results_close(ctx.rf, NULL);
        if (wst != NN_OK) {
            run_result_free(&r);
            return cli_fail("train", wst, &werr);
        }
        printf("recorded as run %s of sweep train in %s\n", id, out_path);
    }
    if (st != NN_OK) return cli_fail("train", st, &err);

    printf("status %s: best epoch %d, test accuracy %.4f", run_status_name(r.status), r.best_epoch,
           r.best_test_accuracy);
    if (c.val_split) printf(", val accuracy %.4f", r.best_val_accuracy);
    printf(", %d epochs in %.1f s, %zu parameters\n", r.epochs_done, r.wall_seconds, r.n_params);
    if (r.message[0]) printf("  %s\n", r.message);
    RunStatus status = r.status;
    run_result_free(&r);
    return status == RUN_DONE ? 0 : 1;
}
