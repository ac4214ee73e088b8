/* evaluate_cmd.c - `nnsweep evaluate results.h5 RUN_ID`: the stored best
 * weights of a run on its test images: accuracy (equal to the recorded best
 * test accuracy), per-class accuracy and the confusion matrix. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "nnsweep/data.h"
#include "nnsweep/results.h"
#include "nnsweep/train.h"

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
    const char *data_dir = NULL, *args[2];
    int json = 0, threads = 0, n_args = 0;
    const CliOption opts[] = {
        {.name = "data", .kind = CLI_PATH, .dest = &data_dir, .metavar = "DIR",
         .help = "CIFAR-10 directory (default $CIFAR10_DIR, else data/cifar-10-batches-bin)"},
        {.name = "json", .kind = CLI_FLAG, .dest = &json,
         .help = "print one JSON object instead of tables"},
        {.name = "threads", .kind = CLI_INT, .dest = &threads, .lo = 1, .hi = 100000,
         .metavar = "N", .help = "CPU threads (default: all cores of this process)"},
    };
    const CliCommand cmd = {
        .name = "evaluate", .args = "RESULTS.h5 RUN_ID", .args_what = "RESULTS.h5 RUN_ID",
        .min_args = 2, .max_args = 2, .opts = opts, .n_opts = (int)(sizeof opts / sizeof opts[0]),
        .about = "\n"
                 "Loads the best weights stored for a run and evaluates them on the run's test\n"
                 "images: test accuracy (equal to the run's recorded best test accuracy), loss,\n"
                 "per-class accuracy and the confusion matrix (rows: true class, columns:\n"
                 "predicted).\n"};
    int code = cli_parse(&cmd, argc, argv, args, &n_args, 0);
    if (code >= 0) return code;
    const char *path = args[0], *run_id = args[1];

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
    if (st == NN_OK && strcmp(row.kind, RESULTS_KIND_TRAIN) != 0)
        st = nn_error_set(&err, NN_ERR_INPUT, "%s: run %s is a run of kind %s: evaluate "
                                              "evaluates the built-in trainer's runs",
                          path, run_id, row.kind);
    if (st == NN_OK) st = results_read_config(rf, run_id, &config_json, &err);
    if (st == NN_OK) st = config_from_json(&c, config_json, &err);
    if (st == NN_OK) st = results_read_weights(rf, run_id, &state, &n_state, NULL, NULL, &err);
    results_close(rf, NULL);
    free(config_json);
    if (st != NN_OK) {
        free(state);
        return cli_fail("evaluate", st, &err);
    }

    /* the device policy; weights of a GPU run evaluate on the CPU where
     * there is no GPU */
    const Backend *be = backend_for_device(c.device, NULL);
    if (!be) be = backend_get(BACKEND_CPU);
    backend_cpu_set_threads(threads);
    RunHost host;
    st = run_host_init(&host, data_dir, -1, &err);
    EvalResult e;
    RunPlan plan = {0};
    if (st == NN_OK) {
        TrainData data;
        st = run_plan_create(&c, &plan, &err);
        if (st == NN_OK) st = run_host_data(&host, be, &data, &err);
        if (st == NN_OK) st = train_evaluate(&plan, state, n_state, &data, be, &e, &err);
        run_plan_free(&plan);
        run_host_free(&host);
    }
    free(state);
    if (st != NN_OK) return cli_fail("evaluate", st, &err);
    if (json)
        print_json(&row, &e);
    else
        print_tables(&row, &e);
    return 0;
}
