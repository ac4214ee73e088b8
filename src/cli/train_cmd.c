/* train_cmd.c - `nnsweep train`: one run from flags or a run config file,
 * one line per epoch, a final summary. */
#include <math.h>
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "nnsweep/data.h"
#include "nnsweep/results.h"
#include "nnsweep/train.h"

static void train_help(void)
{
    RunConfig d;
    config_defaults(&d);
    printf("usage: nnsweep train [--config run.yaml] [--KEY VALUE ...] [options]\n"
           "\n"
           "Trains one MLP or CNN on CIFAR-10 and prints one line per epoch. Every run\n"
           "config key can be given as a flag (underscores or dashes) or in a YAML file\n"
           "(--config; flags win). Lists are comma-separated: --hidden-layers 256,256,256.\n"
           "\n"
           "options:\n"
           "  --config FILE     run config YAML (a mapping of the keys below)\n"
           "  --data DIR        CIFAR-10 binary directory (default $CIFAR10_DIR, else\n"
           "                    data/cifar-10-batches-bin; scripts/get-cifar10.sh fetches it)\n"
           "  --threads N       CPU threads (default: all cores of this process)\n"
           "  --out FILE        also record the run in a results file (schema of `nnsweep\n"
           "                    sweep`, sweep name \"train\"), created when missing\n"
           "  --quiet           only the final summary\n"
           "  --help            this text\n"
           "\n"
           "run config keys (default in brackets):\n");
    for (int i = 0; i < config_n_keys(); i++) {
        const ConfigKeyInfo *k = config_key(i);
        NnBuf v = {0};
        config_value_json(&d, i, &v);
        char flag[64];
        snprintf(flag, sizeof flag, "--%s", k->name);
        for (char *p = flag + 2; *p; p++)
            if (*p == '_') *p = '-';
        printf("  %-28s %s [%s]\n", flag, k->help, v.data);
        nn_buf_free(&v);
    }
}

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
static NnStatus open_out(const char *path, const RunPlan *p, const char *id, const Backend *be,
                         ResultsFile **out, NnError *err)
{
    const RunConfig *c = p->config;
    const ModelPlan *mp = p->mplan;
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
    if (st == NN_OK)
        st = results_add_run(rf, id, "train", c, mp->n_params, mp->tensors, mp->n_tensors, err);
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

static int is_bool_word(const char *s)
{
    static const char *words[] = {"true", "false", "yes", "no", "on", "off"};
    for (int i = 0; i < 6; i++)
        if (strcasecmp(s, words[i]) == 0) return 1;
    return 0;
}

int cli_train(int argc, char **argv)
{
    RunConfig c;
    NnError err = {{0}};
    const char *data_dir = NULL, *config_path = NULL, *out_path = NULL;
    int threads = 0, quiet = 0;
    config_defaults(&c);

    /* the config file first, so that flags override it wherever they are */
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--config", 8) == 0 && (argv[i][8] == '\0' || argv[i][8] == '=')) {
            config_path = cli_option_value("train", argc, argv, &i);
            if (!config_path) return 2;
        }
    }
    if (config_path) {
        NnStatus st = config_load_file(&c, config_path, &err);
        if (st != NN_OK) return cli_fail("train", st, &err);
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            train_help();
            return 0;
        }
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "nnsweep train: unexpected argument '%s' (see --help)\n", arg);
            return 2;
        }
        char name[64];
        size_t len = strcspn(arg + 2, "=");
        if (len >= sizeof name) len = sizeof name - 1;
        memcpy(name, arg + 2, len);
        name[len] = '\0';
        for (char *p = name; *p; p++)
            if (*p == '-') *p = '_';
        if (strcmp(name, "quiet") == 0) {
            quiet = 1;
            continue;
        }
        int k = config_key_index(name);
        /* a bool key may stand alone: --batchnorm */
        if (k >= 0 && config_key(k)->type == CT_BOOL && !strchr(arg, '=') &&
            (i + 1 >= argc || !is_bool_word(argv[i + 1]))) {
            config_set_text(&c, name, "true", arg, &err);
            continue;
        }
        const char *value = cli_option_value("train", argc, argv, &i);
        if (!value) return 2;
        if (strcmp(name, "config") == 0) continue;
        if (strcmp(name, "data") == 0) {
            data_dir = value;
            continue;
        }
        if (strcmp(name, "out") == 0) {
            out_path = value;
            continue;
        }
        if (strcmp(name, "threads") == 0) {
            char *end;
            long t = strtol(value, &end, 10);
            if (*end || t < 1 || t > 1024) {
                fprintf(stderr, "nnsweep train: --threads: expected an integer in 1..1024, "
                                "found \"%s\"\n", value);
                return 2;
            }
            threads = (int)t;
            continue;
        }
        char where[80];
        snprintf(where, sizeof where, "--%.*s", (int)len, arg + 2);
        NnStatus st = config_set_text(&c, name, value, where, &err);
        if (st != NN_OK) return cli_fail("train", st, &err);
    }
    RunPlan plan;
    NnStatus st = run_plan_create(&c, &plan, &err);
    if (st != NN_OK) return cli_fail("train", st, &err);
    const Backend *be = cli_backend_for(&c, &err);
    if (!be) {
        run_plan_free(&plan);
        return cli_fail("train", NN_ERR_INPUT, &err);
    }
    int used_threads = backend_cpu_set_threads(threads ? threads : cli_cores());

    Cifar10 data;
    st = cifar10_load(cifar10_default_dir(data_dir), &data, &err);
    if (st != NN_OK) {
        run_plan_free(&plan);
        return cli_fail("train", st, &err);
    }

    if (!quiet) {
        NnBuf json = {0}, desc = {0};
        config_to_json(&c, &json);
        model_plan_describe(plan.mplan, &desc);
        printf("nnsweep train: %s on %s (%d threads), data %s\nconfig %s\n%s", 
               c.model == MODEL_MLP ? "mlp" : "cnn", be->name, used_threads, data.dir, json.data,
               desc.data);
        printf("%5s  %8s  %8s", "epoch", "trn_loss", "trn_acc");
        if (c.val_split) printf("  %8s  %8s", "val_loss", "val_acc");
        printf("  %8s  %8s  %8s  %9s  %7s\n", "tst_loss", "tst_acc", "top_acc", "lr", "seconds");
        nn_buf_free(&desc);
        nn_buf_free(&json);
    }

    TrainCtx ctx = {.quiet = quiet, .has_val = c.val_split > 0};
    char id[13];
    config_run_id(&c, "train", id);
    ctx.id = id;
    if (out_path) {
        st = open_out(out_path, &plan, id, be, &ctx.rf, &err);
        if (st != NN_OK) {
            cifar10_free(&data);
            run_plan_free(&plan);
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
    st = train_run(&plan, &data, &opt, &r, &err);
    cifar10_free(&data);
    run_plan_free(&plan);
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
