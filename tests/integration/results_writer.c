/* results_writer.c - a stand-in for rank 0 that test_results_crash.sh kills
 * with -9 at chosen moments (results.h, "Crash guarantees").
 *
 *   results_writer create PATH N_RUNS EPOCHS HIDDEN
 *       new file: sweep "crash", runs r00.. of an MLP with one hidden layer
 *   results_writer work PATH DELAY_US [PAUSE_AFTER]
 *       opens for writing (repairing a killed writer's file), then for each
 *       run in order: done -> skip; running -> append from its row count;
 *       pending -> start. Appends epochs 0..EPOCHS, then finishes the run
 *       with weights. Prints "flushed RUN EPOCH" after each append and
 *       "finished RUN" after each finish (stdout flushed at once). With
 *       PAUSE_AFTER > 0 it prints "paused" after that many appends and
 *       sleeps until killed.
 *   results_writer bench PATH N_RUNS EPOCHS WEIGHTS
 *       time per appended + flushed row and file size per run (default MLP)
 *
 * Every stored value is a function of (run index, epoch) that
 * results_check.py recomputes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nnsweep/results.h"
#include "nnsweep/train.h"

static void die(NnStatus st, const NnError *e)
{
    if (st == NN_OK) return;
    fprintf(stderr, "results_writer: %s\n", e->msg);
    exit(1);
}

/* field f (1..9) of epoch e of run r */
static double value(int r, int e, int f) { return (double)(r * 1000 + e) + f / 10.0; }

static EpochMetrics row_of(int r, int e)
{
    EpochMetrics m = {.epoch = e};
    double *f[9] = {&m.train_loss, &m.train_accuracy, &m.val_loss, &m.val_accuracy, &m.test_loss,
                    &m.test_accuracy, &m.top_accuracy, &m.learning_rate, &m.seconds};
    for (int k = 0; k < 9; k++) *f[k] = value(r, e, k + 1);
    return m;
}

static float *weights_of(int r, size_t n)
{
    float *w = malloc(n * sizeof *w);
    for (size_t i = 0; i < n; i++) w[i] = (float)(r * 7 + (int)(i % 1000)) * 0.5f;
    return w;
}

/* The plan of c's run (its state layout); run_plan_free. */
static void plan(const RunConfig *c, RunPlan *p)
{
    NnError e;
    die(run_plan_create(c, p, &e), &e);
}

static int create(const char *path, int n_runs, int epochs, int hidden)
{
    ResultsFile *rf;
    NnError e;
    die(results_open_write(path, 1, &rf, &e), &e);
    die(results_add_sweep(rf, "crash", "name: crash\n", "grid", "test_accuracy", "maximize", &e),
        &e);
    for (int r = 0; r < n_runs; r++) {
        RunConfig c;
        config_defaults(&c);
        c.n_hidden = hidden > 0;
        c.hidden_layers[0] = hidden;
        c.epochs = epochs;
        c.seed = r;
        RunPlan p;
        plan(&c, &p);
        char id[16];
        snprintf(id, sizeof id, "r%02d", r);
        const ModelPlan *mp = p.mplan;
        die(results_add_run(rf, id, "crash", &c, mp->n_params, mp->tensors, mp->n_tensors, &e),
            &e);
        run_plan_free(&p);
    }
    die(results_close(rf, &e), &e);
    return 0;
}

static int work(const char *path, int delay_us, int pause_after)
{
    ResultsFile *rf;
    NnError e;
    die(results_open_write(path, 0, &rf, &e), &e);
    if (results_was_repaired(rf)) printf("repaired\n");
    die(results_start_swmr(rf, &e), &e);
    fflush(stdout);
    ResultsRow *rows;
    size_t n;
    die(results_read_summary(rf, &rows, &n, &e), &e);
    int appended = 0;
    for (size_t r = 0; r < n; r++) {
        if (rows[r].status == RUN_DONE) continue;
        if (rows[r].status == RUN_PENDING)
            die(results_set_running(rf, rows[r].run_id, "testhost", 1, "cpu", &e), &e);
        size_t have;
        die(results_run_rows(rf, rows[r].run_id, &have, &e), &e);
        for (int ep = (int)have; ep <= rows[r].epochs; ep++) {
            EpochMetrics m = row_of((int)r, ep);
            die(results_append_epoch(rf, rows[r].run_id, &m, &e), &e);
            printf("flushed %zu %d\n", r, ep);
            fflush(stdout);
            if (pause_after > 0 && ++appended == pause_after) {
                printf("paused\n");
                fflush(stdout);
                for (;;) pause();
            }
            if (delay_us) usleep((useconds_t)delay_us);
        }
        RunConfig c;
        char *json;
        die(results_read_config(rf, rows[r].run_id, &json, &e), &e);
        config_defaults(&c);
        die(config_from_json(&c, json, &e), &e);
        free(json);
        RunPlan p;
        plan(&c, &p);
        size_t np = p.mplan->n_params, ns = p.mplan->n_state;
        run_plan_free(&p);
        RunSummary res;
        run_summary_init(&res, RUN_DONE);
        res.epochs_done = res.best_epoch = rows[r].epochs;
        res.best_val_accuracy = 0.5;
        res.best_test_accuracy = value((int)r, rows[r].epochs, 6);
        res.wall_seconds = 1;
        res.n_params = (int64_t)np;
        res.n_state = (int64_t)ns;
        float *best = weights_of((int)r, ns);
        die(results_finish_run(rf, rows[r].run_id, &res, best, &e), &e);
        free(best);
        printf("finished %zu\n", r);
        fflush(stdout);
    }
    free(rows);
    die(results_close(rf, &e), &e);
    printf("closed\n");
    return 0;
}

static int bench(const char *path, int n_runs, int epochs, int with_weights)
{
    unlink(path);
    ResultsFile *rf;
    NnError e;
    die(results_open_write(path, 1, &rf, &e), &e);
    die(results_add_sweep(rf, "bench", "", "grid", "test_accuracy", "maximize", &e), &e);
    RunConfig c;
    config_defaults(&c); /* the seed study's MLP: 3072-256-256-256-10 */
    c.epochs = epochs;
    RunPlan p; /* the layout does not depend on the seed */
    plan(&c, &p);
    const ModelPlan *mp = p.mplan;
    size_t np = mp->n_params, ns = mp->n_state;
    double t0 = nn_now();
    for (int r = 0; r < n_runs; r++) {
        char id[16];
        snprintf(id, sizeof id, "b%03d", r);
        c.seed = r;
        die(results_add_run(rf, id, "bench", &c, np, mp->tensors, mp->n_tensors, &e), &e);
    }
    double t_struct = nn_now() - t0;
    die(results_start_swmr(rf, &e), &e);
    double t_append = 0, t_finish = 0;
    for (int r = 0; r < n_runs; r++) {
        char id[16];
        snprintf(id, sizeof id, "b%03d", r);
        die(results_set_running(rf, id, "benchhost", 1, "cpu", &e), &e);
        for (int ep = 0; ep <= epochs; ep++) {
            EpochMetrics m = row_of(r, ep);
            double a = nn_now();
            die(results_append_epoch(rf, id, &m, &e), &e);
            t_append += nn_now() - a;
        }
        RunSummary res;
        run_summary_init(&res, RUN_DONE);
        res.epochs_done = res.best_epoch = epochs;
        res.n_params = (int64_t)np;
        res.n_state = (int64_t)ns;
        float *best = with_weights ? weights_of(r, ns) : NULL;
        double a = nn_now();
        die(results_finish_run(rf, id, &res, best, &e), &e);
        t_finish += nn_now() - a;
        free(best);
    }
    die(results_close(rf, &e), &e);
    run_plan_free(&p);
    struct stat sb;
    stat(path, &sb);
    printf("bench: %d runs x %d rows, weights %s (%zu floats/run)\n", n_runs, epochs + 1,
           with_weights ? "yes" : "no", ns);
    printf("bench: add_run %.2f ms/run, append+flush %.1f us/row, finish_run %.2f ms/run\n",
           1e3 * t_struct / n_runs, 1e6 * t_append / ((double)n_runs * (epochs + 1)),
           1e3 * t_finish / n_runs);
    printf("bench: file %lld bytes, %.1f KiB/run\n", (long long)sb.st_size,
           (double)sb.st_size / 1024.0 / n_runs);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 6 && strcmp(argv[1], "create") == 0)
        return create(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if (argc >= 4 && strcmp(argv[1], "work") == 0)
        return work(argv[2], atoi(argv[3]), argc >= 5 ? atoi(argv[4]) : 0);
    if (argc >= 6 && strcmp(argv[1], "bench") == 0)
        return bench(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    fprintf(stderr, "usage: results_writer create|work|bench ... (see the source)\n");
    return 2;
}
