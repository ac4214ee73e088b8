/* bench_sweep.c - runs sweep files end to end in this process (the
 * in-process driver of sched.h: one worker, the real trainer and data),
 * without a results file, and prints one TSV row per run as it ends
 * (bench/README.md, "Search on CIFAR-10"):
 *
 *   sweep  n  run_id  status  epochs_done  best_epoch  metric  test_accuracy
 *   epoch_seconds  wall_seconds
 *
 * n: the run's place among its sweep's runs in the order they ended (one
 * worker: the order they were handed out); metric: the sweep metric at the
 * run's best epoch (sweep.h, Metric); epoch_seconds: the sum of its epochs'
 * seconds (training and evaluation, epoch 0's evaluation included), the
 * compute the run cost.
 *
 *   bench_sweep [--data DIR] [--threads N] [--set KEY=VALUE]... FILE...
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnsweep/sched.h"

typedef struct Bench {
    SweepSet *set;
    EpochMetrics *rows; /* the run in progress (one at a time here) */
    int n_rows, cap_rows;
    int *ended;         /* per sweep: runs ended so far */
} Bench;

static void on_epoch(const EpochMetrics *m, void *user)
{
    Bench *b = user;
    if (m->epoch == 0) b->n_rows = 0;
    if (b->n_rows == b->cap_rows) {
        b->cap_rows = b->cap_rows ? 2 * b->cap_rows : 64;
        b->rows = realloc(b->rows, (size_t)b->cap_rows * sizeof *b->rows);
    }
    b->rows[b->n_rows++] = *m;
}

static void on_result(const SweepRun *r, const RunSummary *s, void *user)
{
    Bench *b = user;
    const Sweep *sw = NULL;
    sweep_set_find_run(b->set, r->id, &sw);
    double seconds = 0, at_best = NAN;
    for (int i = 0; i < b->n_rows; i++) {
        seconds += b->rows[i].seconds;
        if (sw && b->rows[i].epoch == s->best_epoch) at_best = sweep_epoch_metric(sw, &b->rows[i]);
    }
    int k = sw ? (int)(sw - b->set->sweeps) : 0;
    printf("%s\t%d\t%s\t%s\t%d\t%d\t%.6g\t%.6g\t%.3f\t%.3f\n", sw ? sw->name : "?",
           ++b->ended[k], r->id, run_status_name(s->status), s->epochs_done, s->best_epoch,
           sw ? sweep_run_metric(sw, s, at_best) : NAN, s->best_test_accuracy, seconds,
           s->wall_seconds);
    fflush(stdout);
    b->n_rows = 0;
}

int main(int argc, char **argv)
{
    const char **files = calloc((size_t)argc, sizeof *files);
    int n_files = 0, threads = 1;
    const char *data = NULL;
    SweepOverrides over = {0};
    NnError err = {{0}};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc) data = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--set") && i + 1 < argc) {
            if (sweep_overrides_set(&over, argv[++i], &err) != NN_OK) {
                fprintf(stderr, "bench_sweep: %s\n", err.msg);
                return 2;
            }
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: bench_sweep [--data DIR] [--threads N] [--set KEY=VALUE]... "
                            "FILE...\n");
            return 2;
        } else files[n_files++] = argv[i];
    }
    SweepSet set;
    if (sweep_load_files(&set, files, n_files, &over, stderr, &err) != NN_OK) {
        fprintf(stderr, "bench_sweep: %s\n", err.msg);
        return 2;
    }
    Bench b = {.set = &set, .ended = calloc((size_t)set.n_sweeps + 1, sizeof(int))};
    SweepJob job = {.command = "bench_sweep", .set = &set, .data_dir = data, .threads = threads,
                    .quiet = 1, .on_epoch = on_epoch, .on_result = on_result, .user = &b};
    printf("sweep\tn\trun_id\tstatus\tepochs_done\tbest_epoch\tmetric\ttest_accuracy\t"
           "epoch_seconds\twall_seconds\n");
    int code = sched_run_job(&job);
    free(b.rows);
    free(b.ended);
    free(files);
    sweep_set_free(&set);
    sweep_overrides_free(&over);
    return code;
}
