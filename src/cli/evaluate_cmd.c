/* evaluate_cmd.c - `nnsweep evaluate results.h5 RUN_ID`: the stored best
 * weights of a run on its test images: accuracy (equal to the recorded best
 * test accuracy), per-class accuracy and the confusion matrix; and
 * `nnsweep repair results.h5`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "nnsweep/data.h"
#include "nnsweep/results.h"
#include "nnsweep/train.h"

static void evaluate_help(void)
{
    printf("usage: nnsweep evaluate RESULTS.h5 RUN_ID [--data DIR] [--json] [--threads N]\n"
           "\n"
           "Loads the best weights stored for a run and evaluates them on the run's test\n"
           "images: test accuracy (equal to the run's recorded best test accuracy), loss,\n"
           "per-class accuracy and the confusion matrix (rows: true class, columns:\n"
           "predicted). --json prints one JSON object instead of tables.\n");
}

static void print_json(const ResultsRow *row, const EvalResult *e)
{
    printf("{\"run_id\":\"%s\",\"sweep\":\"%s\",\"best_epoch\":%d,", row->run_id, row->sweep,
           row->best_epoch);
    printf("\"recorded_test_accuracy\":%.17g,\"test_accuracy\":%.17g,\"test_loss\":%.17g,",
           row->best_test_accuracy, e->accuracy, e->loss);
    printf("\"n\":%d,\"classes\":[", e->n);
    for (int i = 0; i < 10; i++) printf("%s\"%s\"", i ? "," : "", cifar10_class_names[i]);
    printf("],\"per_class_accuracy\":[");
    for (int i = 0; i < 10; i++) {
        long total = 0;
        for (int j = 0; j < 10; j++) total += e->confusion[i][j];
        if (total)
            printf("%s%.17g", i ? "," : "", (double)e->confusion[i][i] / (double)total);
        else
            printf("%snull", i ? "," : "");
    }
    printf("],\"confusion\":[");
    for (int i = 0; i < 10; i++) {
        printf("%s[", i ? "," : "");
        for (int j = 0; j < 10; j++) printf("%s%ld", j ? "," : "", e->confusion[i][j]);
        printf("]");
    }
    printf("]}\n");
}

static void print_tables(const ResultsRow *row, const EvalResult *e)
{
    printf("run %s of sweep %s, best epoch %d: test accuracy %.4f (recorded %.4f), loss %.4f, "
           "%d images\n\n",
           row->run_id, row->sweep, row->best_epoch, e->accuracy, row->best_test_accuracy,
           e->loss, e->n);
    /* the seed notebook's short names for the columns */
    static const char *const short_names[10] = {"plane", "car",   "bird",  "cat",  "deer",
                                                "dog",   "frog",  "horse", "ship", "truck"};
    printf("%-11s %8s  ", "true", "accuracy");
    for (int j = 0; j < 10; j++) printf("%6s", short_names[j]);
    printf("   <- predicted\n");
    for (int i = 0; i < 10; i++) {
        long total = 0;
        for (int j = 0; j < 10; j++) total += e->confusion[i][j];
        printf("%-11s %8.4f  ", cifar10_class_names[i],
               total ? (double)e->confusion[i][i] / (double)total : NAN);
        for (int j = 0; j < 10; j++) printf("%6ld", e->confusion[i][j]);
        printf("\n");
    }
}

int cli_evaluate(int argc, char **argv)
{
    const char *path = NULL, *run_id = NULL, *data_dir = NULL;
    int json = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            evaluate_help();
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strncmp(a, "--data", 6)) {
            if (!(data_dir = cli_option_value("evaluate", argc, argv, &i))) return 2;
        } else if (!strncmp(a, "--threads", 9)) {
            const char *v = cli_option_value("evaluate", argc, argv, &i);
            threads = v ? atoi(v) : 0;
            if (threads < 1) {
                fprintf(stderr, "nnsweep evaluate: --threads: expected an integer >= 1\n");
                return 2;
            }
        } else if (a[0] == '-') {
            fprintf(stderr, "nnsweep evaluate: unknown option '%s' (see --help)\n", a);
            return 2;
        } else if (!path) {
            path = a;
        } else if (!run_id) {
            run_id = a;
        } else {
            fprintf(stderr, "nnsweep evaluate: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    if (!path || !run_id) {
        fprintf(stderr, "nnsweep evaluate: expected RESULTS.h5 RUN_ID (see --help)\n");
        return 2;
    }

    NnError err = {{0}};
    ResultsFile *rf = NULL;
    ResultsRow row;
    char *config_json = NULL;
    float *state = NULL;
    size_t n_state = 0;
    RunConfig c;
    config_defaults(&c);
    NnStatus st = results_open_read(path, &rf, &err);
    if (st == NN_OK) st = results_get_row(rf, run_id, &row, &err);
    if (st == NN_OK) st = results_read_config(rf, run_id, &config_json, &err);
    if (st == NN_OK) st = config_from_json(&c, config_json, &err);
    if (st == NN_OK) st = results_read_weights(rf, run_id, &state, &n_state, NULL, NULL, &err);
    results_close(rf, NULL);
    free(config_json);
    if (st != NN_OK) {
        free(state);
        return cli_fail("evaluate", st, &err);
    }

    const Backend *be = cli_backend_for(&c, &err);
    if (!be) be = backend_get(BACKEND_CPU); /* weights from a GPU run evaluate on the CPU */
    backend_cpu_set_threads(threads ? threads : cli_cores());
    Cifar10 data;
    st = cifar10_load(cifar10_default_dir(data_dir), &data, &err);
    EvalResult e;
    RunPlan plan = {0};
    if (st == NN_OK) {
        st = run_plan_create(&c, &plan, &err);
        if (st == NN_OK) st = train_evaluate(&plan, state, n_state, &data, be, &e, &err);
        run_plan_free(&plan);
        cifar10_free(&data);
    }
    free(state);
    if (st != NN_OK) return cli_fail("evaluate", st, &err);
    if (json)
        print_json(&row, &e);
    else
        print_tables(&row, &e);
    return 0;
}

int cli_repair(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        printf("usage: nnsweep repair RESULTS.h5\n\n"
               "Makes a results file whose writer was killed (kill -9, node crash) open\n"
               "plainly again, as `h5clear -s --increment` would; `nnsweep sweep --resume`\n"
               "does this by itself. A file that was closed cleanly is left as it is.\n");
        return argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? 0 : 2;
    }
    NnError err = {{0}};
    int repaired = 0;
    NnStatus st = results_repair(argv[1], &repaired, &err);
    if (st != NN_OK) return cli_fail("repair", st, &err);
    printf("%s: %s\n", argv[1], repaired ? "repaired" : "closed cleanly: nothing to repair");
    return 0;
}
