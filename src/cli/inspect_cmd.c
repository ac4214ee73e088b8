/* inspect_cmd.c - `nnsweep inspect`: progress and leaderboard per sweep
 * (top N by the sweep's metric, with the hyperparameters that vary), or one
 * run's epoch table and logged values. Works while a sweep writes the file
 * (SWMR read), on files of either results schema version. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "nnsweep/program.h"
#include "nnsweep/results.h"
#include "nnsweep/sweep.h"

/* A row of a sweep's board: the run and its value of the sweep metric. */
typedef struct BoardRow {
    ResultsRow *row;
    double value;
} BoardRow;

/* Per sweep: the canonical value text of every key for each of its runs,
 * to find the keys that vary. */
typedef struct Board {
    BoardRow *rows; /* the sweep's rows, sorted best first */
    int n;
    NnBuf *values;  /* (n * n_keys) value text of key k for row i */
    int *varies;    /* (n_keys) */
} Board;

static int inspect_maximize; /* for the sort */

static int cmp_rows(const void *a, const void *b)
{
    double x = ((const BoardRow *)a)->value, y = ((const BoardRow *)b)->value;
    if (isnan(x) || isnan(y)) return isnan(x) - isnan(y);
    if (x == y) return 0;
    return (x > y) == inspect_maximize ? -1 : 1;
}

static void board_free(Board *b, int n_keys)
{
    for (int i = 0; i < b->n * n_keys; i++) nn_buf_free(&b->values[i]);
    free(b->values);
    free(b->varies);
    free(b->rows);
}

/* Prints one sweep's progress and top rows. */
static NnStatus print_sweep(ResultsFile *rf, const char *path, const ResultsSweep *sw,
                            ResultsRow *rows, size_t n, int top, FILE *out, NnError *err)
{
    int n_keys = config_n_keys();
    Board b = {0};
    b.rows = nn_malloc((n ? n : 1) * sizeof *b.rows);
    int counts[RUN_STATUS_COUNT] = {0};
    NnStatus st = NN_OK;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].sweep, sw->name) != 0) continue;
        /* the sweep metric at the run's best step (results.h: best_value,
         * NaN until it ends; schema 1 readers derive it) */
        b.rows[b.n].row = &rows[i];
        b.rows[b.n].value = rows[i].best_value;
        b.n++;
        counts[rows[i].status]++;
    }
    inspect_maximize = strcmp(sw->goal, "minimize") != 0;
    qsort(b.rows, (size_t)b.n, sizeof *b.rows, cmp_rows);

    b.values = nn_calloc((size_t)(b.n * n_keys + 1), sizeof *b.values);
    b.varies = nn_calloc((size_t)n_keys, sizeof *b.varies);
    for (int i = 0; i < b.n && st == NN_OK; i++) {
        char *json = NULL;
        RunConfig c;
        config_defaults(&c);
        st = results_read_config(rf, b.rows[i].row->run_id, &json, err);
        /* a program's config is its own: its keys are not shown */
        int train = strcmp(b.rows[i].row->kind, RESULTS_KIND_TRAIN) == 0;
        if (st == NN_OK && train && config_from_json(&c, json, err) != NN_OK) {
            NnError why = *err;
            st = nn_error_set(err, NN_ERR_IO, "%s: run %s: damaged config attribute (%.300s)",
                              path, b.rows[i].row->run_id, why.msg);
        }
        free(json);
        for (int k = 0; k < n_keys && st == NN_OK; k++) {
            config_value_json(&c, k, &b.values[i * n_keys + k]);
            if (strcmp(b.values[i * n_keys + k].data, b.values[k].data) != 0) b.varies[k] = 1;
        }
    }
    if (st != NN_OK) {
        board_free(&b, n_keys);
        return st;
    }

    fprintf(out, "\nsweep %s (%s, %s %s): %d runs: %d done, %d running, %d pending, %d diverged, "
                 "%d failed, %d interrupted",
            sw->name, sw->method, sw->goal, sw->metric, b.n, counts[RUN_DONE],
            counts[RUN_RUNNING], counts[RUN_PENDING], counts[RUN_DIVERGED], counts[RUN_FAILED],
            counts[RUN_INTERRUPTED]);
    if (counts[RUN_STOPPED]) fprintf(out, ", %d stopped early", counts[RUN_STOPPED]);
    fputc('\n', out);
    fprintf(out, "  %4s  %-12s  %-11s  %14.14s  %5s  %7s  %8s", "rank", "run", "status", sw->metric,
            "best", "epochs", "seconds");
    for (int k = 0; k < n_keys; k++)
        if (b.varies[k]) fprintf(out, "  %s", config_key(k)->name);
    fputc('\n', out);
    for (int i = 0; i < b.n && i < top; i++) {
        const ResultsRow *r = b.rows[i].row;
        double v = b.rows[i].value;
        char acc[16] = "-", best[24] = "-", epochs[24] = "-"; /* a program's epochs: unknown */
        if (!isnan(v)) snprintf(acc, sizeof acc, "%.4f", v);
        if (r->best_step >= 0) snprintf(best, sizeof best, "%lld", (long long)r->best_step);
        if (r->epochs >= 0) snprintf(epochs, sizeof epochs, "%3d/%-3d", r->epochs_done, r->epochs);
        fprintf(out, "  %4d  %-12s  %-11s  %14s  %5s  %7s  %8.1f", i + 1, r->run_id,
                run_status_name(r->status), acc, best, epochs, r->wall_seconds);
        for (int k = 0; k < n_keys; k++)
            if (b.varies[k]) fprintf(out, "  %s", b.values[i * n_keys + k].data);
        fputc('\n', out);
    }
    if (b.n > top) fprintf(out, "  ... %d more (--top N)\n", b.n - top);
    board_free(&b, n_keys);
    return NN_OK;
}

NnStatus cli_print_leaderboard(const char *path, const char *only_sweep, int top, FILE *out,
                               NnError *err)
{
    ResultsFile *rf;
    NnStatus st = results_open_read(path, &rf, err);
    if (st != NN_OK) return st;
    ResultsSweep *sweeps = NULL;
    int n_sweeps = 0;
    ResultsRow *rows = NULL;
    size_t n = 0;
    st = results_list_sweeps(rf, &sweeps, &n_sweeps, err);
    if (st == NN_OK) st = results_read_summary(rf, &rows, &n, err);
    int shown = 0;
    for (int i = 0; i < n_sweeps && st == NN_OK; i++) {
        if (only_sweep && strcmp(only_sweep, sweeps[i].name) != 0) continue;
        st = print_sweep(rf, path, &sweeps[i], rows, n, top, out, err);
        shown++;
    }
    if (st == NN_OK && only_sweep && !shown)
        st = nn_error_set(err, NN_ERR_INPUT, "%s: no sweep named '%s'", path, only_sweep);
    free(rows);
    results_sweeps_free(sweeps, n_sweeps);
    results_close(rf, NULL);
    return st;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* A run's logged values as a table: one line per step, one column per
 * name (first logged first); a name logged twice at a step shows the later
 * value, one not logged there "-". */
static void print_logs(const ResultsLog *l, size_t n, FILE *out)
{
    const char **names = nn_malloc(n * sizeof *names);
    int64_t *steps = nn_malloc(n * sizeof *steps);
    size_t n_names = 0, n_steps = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < n_names && strcmp(names[k], l[i].name) != 0) k++;
        if (k == n_names) names[n_names++] = l[i].name;
        steps[i] = l[i].step;
    }
    qsort(steps, n, sizeof *steps, cmp_i64);
    for (size_t i = 0; i < n; i++)
        if (i == 0 || steps[i] != steps[n_steps - 1]) steps[n_steps++] = steps[i];
    double *v = nn_malloc(n_steps * n_names * sizeof *v);
    for (size_t i = 0; i < n_steps * n_names; i++) v[i] = NAN;
    char *set = nn_calloc(n_steps * n_names, 1);
    for (size_t i = 0; i < n; i++) {
        int64_t *at = bsearch(&l[i].step, steps, n_steps, sizeof *steps, cmp_i64);
        size_t k = 0;
        while (strcmp(names[k], l[i].name) != 0) k++;
        size_t cell = (size_t)(at - steps) * n_names + k;
        v[cell] = l[i].value;
        set[cell] = 1;
    }
    fprintf(out, "logged values:\n%8s", "step");
    for (size_t k = 0; k < n_names; k++) fprintf(out, "  %12.12s", names[k]);
    fputc('\n', out);
    for (size_t s = 0; s < n_steps; s++) {
        fprintf(out, "%8lld", (long long)steps[s]);
        for (size_t k = 0; k < n_names; k++) {
            if (set[s * n_names + k])
                fprintf(out, "  %12.6g", v[s * n_names + k]);
            else
                fprintf(out, "  %12s", "-");
        }
        fputc('\n', out);
    }
    free(names), free(steps), free(v), free(set);
}

/* A program's run: what it did, and where its output and outputs are. */
static NnStatus print_program_run(ResultsFile *rf, const char *path, const ResultsRow *row,
                                  FILE *out, NnError *err)
{
    fprintf(out, "run %s of sweep %s (program): %s, %d rows", row->run_id, row->sweep,
            run_status_name(row->status), row->epochs_done);
    if (row->best_step >= 0)
        fprintf(out, ", best %.6g at step %lld", row->best_value, (long long)row->best_step);
    fprintf(out, ", %.1f s", row->wall_seconds);
    if (row->host[0])
        fprintf(out, " on %s (rank %d, %s)", row->host, row->worker_rank, row->device);
    fputc('\n', out);
    if (row->message[0]) fprintf(out, "  %s\n", row->message);
    char *dirs = program_run_dirs(path);
    if (row->host[0])
        fprintf(out, "stdout: %s/%s/stdout\nstderr: %s/%s/stderr\n  (written on %s, at this "
                "path there)\n", dirs, row->run_id, dirs, row->run_id, row->host);
    free(dirs);
    char *outputs = NULL;
    NnStatus st = results_read_outputs(rf, row->run_id, &outputs, err);
    if (st == NN_OK && outputs) fprintf(out, "outputs %s\n", outputs);
    free(outputs);
    return st;
}

static NnStatus print_run(const char *path, const char *run_id, FILE *out, NnError *err)
{
    ResultsFile *rf;
    NnStatus st = results_open_read(path, &rf, err);
    if (st != NN_OK) return st;
    ResultsRow row;
    char *json = NULL;
    EpochMetrics *m = NULL;
    ResultsLog *logs = NULL;
    size_t n = 0, n_logs = 0;
    st = results_get_row(rf, run_id, &row, err);
    if (st == NN_OK) st = results_read_config(rf, run_id, &json, err);
    if (st == NN_OK) st = results_read_metrics(rf, run_id, &m, &n, err);
    if (st == NN_OK) st = results_read_logs(rf, run_id, &logs, &n_logs, err);
    if (st == NN_OK && !strcmp(row.kind, RESULTS_KIND_PROGRAM)) {
        st = print_program_run(rf, path, &row, out, err);
    } else if (st == NN_OK) {
        fprintf(out, "run %s of sweep %s (%s): %s, %d/%d epochs, best epoch %d, %zu parameters\n",
                row.run_id, row.sweep, row.kind, run_status_name(row.status), row.epochs_done,
                row.epochs, row.best_epoch, (size_t)row.n_params);
        if (row.message[0]) fprintf(out, "  %s\n", row.message);
    }
    if (st == NN_OK) {
        fprintf(out, "config %s\n", json);
        if (n || !n_logs) /* a program's run may log values only */
            fprintf(out, "%5s  %8s  %8s  %8s  %8s  %8s  %8s  %8s  %9s  %7s\n", "epoch",
                    "trn_loss", "trn_acc", "val_loss", "val_acc", "tst_loss", "tst_acc",
                    "top_acc", "lr", "seconds");
        for (size_t i = 0; i < n; i++) {
            const EpochMetrics *e = &m[i];
            double v[7] = {e->train_loss, e->train_accuracy, e->val_loss, e->val_accuracy,
                           e->test_loss, e->test_accuracy, e->top_accuracy};
            fprintf(out, "%5d", e->epoch);
            for (int k = 0; k < 7; k++) {
                if (isnan(v[k]))
                    fprintf(out, "  %8s", "-");
                else
                    fprintf(out, "  %8.4f", v[k]);
            }
            fprintf(out, "  %9.3g  %7.1f\n", e->learning_rate, e->seconds);
        }
        if (n_logs) print_logs(logs, n_logs, out);
    }
    free(json);
    free(m);
    free(logs);
    results_close(rf, NULL);
    return st;
}

int cli_inspect(int argc, char **argv)
{
    const char *sweep = NULL, *run = NULL, *path = NULL;
    int top = 10;
    const CliOption opts[] = {
        {.name = "sweep", .kind = CLI_STRING, .dest = &sweep, .metavar = "NAME",
         .help = "only this sweep"},
        {.name = "top", .kind = CLI_INT, .dest = &top, .lo = 1, .hi = 1000000, .metavar = "N",
         .help = "rows per leaderboard"},
        {.name = "run", .kind = CLI_STRING, .dest = &run, .metavar = "ID",
         .help = "one run's config and per-epoch metrics (a program's run: its logged rows, "
                 "where its stdout and stderr are, what it reported)"},
    };
    const CliCommand cmd = {
        .name = "inspect", .args = "RESULTS.h5", .args_what = "a results file", .min_args = 1,
        .max_args = 1, .opts = opts, .n_opts = (int)(sizeof opts / sizeof opts[0]),
        .about = "\n"
                 "Shows each sweep's progress and leaderboard (the top N runs by the sweep's\n"
                 "metric, with the hyperparameters that vary), or with --run one run's epoch\n"
                 "table. Safe while a sweep is writing the file.\n"};
    int n_args = 0;
    int code = cli_parse(&cmd, argc, argv, &path, &n_args, 0);
    if (code >= 0) return code;
    NnError err = {{0}};
    NnStatus st = run ? print_run(path, run, stdout, &err)
                      : cli_print_leaderboard(path, sweep, top, stdout, &err);
    if (st != NN_OK) return cli_fail("inspect", st, &err);
    return 0;
}
