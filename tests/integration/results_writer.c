/* results_writer.c - a stand-in for rank 0 that test_results_crash.sh kills
 * with -9 at chosen moments (results.h, "Crash guarantees"), and the
 * results file's benchmark.
 *
 *   results_writer create PATH N_RUNS EPOCHS HIDDEN
 *       new file: sweep "crash", runs r00.. of an MLP with one hidden layer
 *   results_writer work PATH DELAY_US [PAUSE_AFTER]
 *       opens for writing (repairing a killed writer's file), then for each
 *       train run in order: done -> skip; running -> append from its row
 *       count; pending -> start. Appends epochs 0..EPOCHS, then finishes the
 *       run with weights. Prints "flushed RUN EPOCH" after each append and
 *       "finished RUN" after each finish (stdout flushed at once). With
 *       PAUSE_AFTER > 0 it prints "paused" after that many appends and
 *       sleeps until killed.
 *   results_writer grow PATH N_TOTAL STEPS DELAY_US [KIND:N]
 *       SWMR phase only: runs of kind program ("g0000" ..., sweep "grow",
 *       added when missing) are added in SWMR mode until there are N_TOTAL,
 *       each started and given STEPS logged rows (names that keep appearing,
 *       see log_row), then finished; every fifth run is reset after its
 *       second row (attempt + 1) and logged again from step 0. A run found
 *       running (a killed writer's) goes on after its last logged step.
 *       Prints "added RUN INDEX", "logged RUN STEP", "reset RUN INDEX",
 *       "finished RUN INDEX" after each flushed update; with KIND:N it
 *       prints "paused" after the N-th update of that kind and sleeps until
 *       killed.
 *   results_writer bench PATH N_RUNS EPOCHS WEIGHTS [LOG_NAMES]
 *       N_RUNS runs added up front, then each run's EPOCHS + 1 rows (and,
 *       with LOG_NAMES > 0, one logged row of that many names per epoch)
 *       appended and flushed and the run finished (weights when WEIGHTS);
 *       times per call and file size per run (the seed study's MLP)
 *   results_writer addbench PATH N_RUNS N_SWMR
 *       time to add N_RUNS runs up front (and commit), then N_SWMR more one
 *       by one in SWMR mode
 *
 * Every stored value is a function of (run index, epoch or step, field)
 * that results_check.py recomputes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nnsweep/config.h"
#include "nnsweep/results.h"
#include "nnsweep/train.h"

static void die(NnStatus st, const NnError *e)
{
    if (st == NN_OK) return;
    fprintf(stderr, "results_writer: %s\n", e->msg);
    exit(1);
}

/* grow's pause: after the pause_n-th update of kind pause_kind ("added",
 * "logged", "reset", "finished") it prints "paused" and sleeps until
 * killed. */
static const char *pause_kind = "";
static long pause_n;

/* Prints "KIND ID K" (an update flushed) and pauses there when asked. */
static void say(const char *kind, const char *id, long k)
{
    printf("%s %s %ld\n", kind, id, k);
    fflush(stdout);
    if (strcmp(kind, pause_kind) == 0 && --pause_n == 0) {
        printf("paused\n");
        fflush(stdout);
        for (;;) pause();
    }
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

/* The train run spec of config c (its plan's tensor table, kept in *p:
 * run_plan_free); json is c's canonical JSON (nn_buf_free). */
static ResultsRunSpec train_spec(const char *id, const char *sweep, const RunConfig *c,
                                 RunPlan *p, NnBuf *json)
{
    NnError e;
    die(run_plan_create(c, p, &e), &e);
    memset(json, 0, sizeof *json);
    config_to_json(c, json);
    ResultsRunSpec s = {id, sweep, RESULTS_KIND_TRAIN, json->data, c->epochs,
                        p->mplan->n_params, p->mplan->tensors, p->mplan->n_tensors};
    return s;
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
        char id[16];
        snprintf(id, sizeof id, "r%02d", r);
        RunPlan p;
        NnBuf json;
        ResultsRunSpec s = train_spec(id, "crash", &c, &p, &json);
        die(results_add_run(rf, &s, &e), &e);
        run_plan_free(&p);
        nn_buf_free(&json);
    }
    die(results_close(rf, &e), &e);
    return 0;
}

static void finish(ResultsFile *rf, const ResultsRow *row, int r, int with_weights)
{
    NnError e;
    RunSummary res;
    run_summary_init(&res, RUN_DONE);
    res.epochs_done = res.best_epoch = row->epochs;
    res.best_val_accuracy = 0.5;
    res.best_test_accuracy = value(r, row->epochs, 6);
    res.best_step = row->epochs;
    res.best_value = res.best_test_accuracy;
    res.wall_seconds = 1;
    res.n_params = row->n_params;
    res.n_state = row->n_state;
    float *best = with_weights ? weights_of(r, (size_t)row->n_state) : NULL;
    die(results_finish_run(rf, row->run_id, &res, best, &e), &e);
    free(best);
}

static int work(const char *path, int delay_us, int pause_after)
{
    ResultsFile *rf;
    NnError e;
    die(results_open_write(path, 0, &rf, &e), &e);
    if (results_was_repaired(rf)) printf("repaired\n");
    if (results_was_converted(rf)) printf("converted\n");
    die(results_start_swmr(rf, &e), &e);
    fflush(stdout);
    ResultsRow *rows;
    size_t n;
    die(results_read_summary(rf, &rows, &n, &e), &e);
    int appended = 0;
    for (size_t r = 0; r < n; r++) {
        if (rows[r].status == RUN_DONE || strcmp(rows[r].kind, RESULTS_KIND_TRAIN) != 0) continue;
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
        finish(rf, &rows[r], (int)r, 1);
        printf("finished %zu\n", r);
        fflush(stdout);
    }
    free(rows);
    die(results_close(rf, &e), &e);
    printf("closed\n");
    return 0;
}

/* ---- grow: runs added and logged in SWMR mode ------------------------------------ */

/* The names logged at step s (results_check.py: log_names) and the value of
 * name k of run r at step s. */
static int log_row(int s, char names[3][16], double v[3], int r)
{
    int n = 0;
    snprintf(names[n++], 16, "loss");
    snprintf(names[n++], 16, "acc/top-1");
    if (s % 3 == 0) snprintf(names[n++], 16, "n%d", s / 3);
    for (int k = 0; k < n; k++) v[k] = (double)(r * 1000 + s) + k / 100.0;
    return n;
}

static void log_step(ResultsFile *rf, const char *id, int r, int s)
{
    NnError e;
    char names[3][16];
    double v[3];
    int n = log_row(s, names, v, r);
    const char *p[3] = {names[0], names[1], names[2]};
    die(results_append_log(rf, id, s, n, p, v, &e), &e);
    say("logged", id, s);
}

static int grow(const char *path, int n_total, int steps, int delay_us)
{
    ResultsFile *rf;
    NnError e;
    die(results_open_write(path, 1, &rf, &e), &e);
    if (results_was_repaired(rf)) printf("repaired\n");
    ResultsSweep *sw;
    int n_sw, have = 0;
    die(results_list_sweeps(rf, &sw, &n_sw, &e), &e);
    for (int i = 0; i < n_sw; i++) have |= strcmp(sw[i].name, "grow") == 0;
    results_sweeps_free(sw, n_sw);
    if (!have)
        die(results_add_sweep(rf, "grow", "name: grow\n", "random", "loss", "minimize", &e), &e);
    die(results_start_swmr(rf, &e), &e);
    for (int r = 0; r < n_total; r++) {
        char id[16], json[64];
        snprintf(id, sizeof id, "g%04d", r);
        snprintf(json, sizeof json, "{\"program\":\"grow\",\"index\":%d}", r);
        ResultsRow row;
        int from = 0;
        if (results_get_row(rf, id, &row, &e) != NN_OK) {
            ResultsRunSpec s = {id, "grow", RESULTS_KIND_PROGRAM, json, -1, 0, NULL, 0};
            die(results_add_run(rf, &s, &e), &e);
            say("added", id, r);
            die(results_get_row(rf, id, &row, &e), &e);
        }
        if (row.status == RUN_DONE) continue;
        if (row.status == RUN_PENDING)
            die(results_set_running(rf, id, "growhost", 2, "cpu", &e), &e);
        else
            from = (int)row.last_step + 1;
        for (int s = from; s < steps; s++) {
            log_step(rf, id, r, s);
            if (s == 1 && r % 5 == 0 && row.attempt == 0) { /* a search hands it out again */
                die(results_reset_run(rf, id, &e), &e);
                say("reset", id, r);
                die(results_set_running(rf, id, "growhost", 2, "cpu", &e), &e);
                row.attempt = 1;
                s = -1;
            }
            if (delay_us) usleep((useconds_t)delay_us);
        }
        die(results_set_outputs(rf, id, "{\"artifacts\":[\"ckpt.pt\"]}", &e), &e);
        RunSummary res;
        run_summary_init(&res, RUN_DONE);
        res.best_step = steps - 1;
        res.best_value = (double)(r * 1000 + steps - 1);
        die(results_finish_run(rf, id, &res, NULL, &e), &e);
        say("finished", id, r);
    }
    die(results_close(rf, &e), &e);
    printf("closed\n");
    return 0;
}

/* ---- benchmarks ---------------------------------------------------------------------- */

static double file_kib(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (double)sb.st_size / 1024.0 : -1;
}

static int bench(const char *path, int n_runs, int epochs, int with_weights, int log_names)
{
    unlink(path);
    ResultsFile *rf;
    NnError e;
    die(results_open_write(path, 1, &rf, &e), &e);
    die(results_add_sweep(rf, "bench", "", "grid", "test_accuracy", "maximize", &e), &e);
    RunConfig c;
    config_defaults(&c); /* the seed study's MLP: 3072-256-256-256-10 */
    c.epochs = epochs;
    double t0 = nn_now();
    for (int r = 0; r < n_runs; r++) {
        char id[16];
        snprintf(id, sizeof id, "b%05d", r);
        c.seed = r;
        RunPlan p;
        NnBuf json;
        ResultsRunSpec s = train_spec(id, "bench", &c, &p, &json);
        die(results_add_run(rf, &s, &e), &e);
        run_plan_free(&p);
        nn_buf_free(&json);
    }
    die(results_start_swmr(rf, &e), &e);
    double t_struct = nn_now() - t0;
    char names[64][16];
    const char *pn[64];
    double vals[64];
    for (int k = 0; k < log_names && k < 64; k++) {
        snprintf(names[k], sizeof names[k], "metric_%d", k);
        pn[k] = names[k];
    }
    double t_append = 0, t_log = 0, t_finish = 0;
    for (int r = 0; r < n_runs; r++) {
        char id[16];
        snprintf(id, sizeof id, "b%05d", r);
        die(results_set_running(rf, id, "benchhost", 1, "cpu", &e), &e);
        for (int ep = 0; ep <= epochs; ep++) {
            EpochMetrics m = row_of(r, ep);
            double a = nn_now();
            die(results_append_epoch(rf, id, &m, &e), &e);
            t_append += nn_now() - a;
            if (log_names > 0) {
                for (int k = 0; k < log_names && k < 64; k++) vals[k] = value(r, ep, k);
                a = nn_now();
                die(results_append_log(rf, id, ep, log_names, pn, vals, &e), &e);
                t_log += nn_now() - a;
            }
        }
        ResultsRow row;
        die(results_get_row(rf, id, &row, &e), &e);
        double a = nn_now();
        finish(rf, &row, r, with_weights);
        t_finish += nn_now() - a;
    }
    die(results_close(rf, &e), &e);
    double rows = (double)n_runs * (epochs + 1);
    printf("bench: %d runs x %d rows, weights %s, %d logged names a row\n", n_runs, epochs + 1,
           with_weights ? "yes" : "no", log_names);
    printf("bench: add_run %.3f ms/run (up front, with the commit), append_epoch %.1f us/row, "
           "append_log %.1f us/row, finish_run %.2f ms/run\n",
           1e3 * t_struct / n_runs, 1e6 * t_append / rows, log_names ? 1e6 * t_log / rows : 0.0,
           1e3 * t_finish / n_runs);
    printf("bench: file %.0f KiB, %.1f KiB/run\n", file_kib(path), file_kib(path) / n_runs);
    return 0;
}

static int addbench(const char *path, int n_runs, int n_swmr)
{
    unlink(path);
    ResultsFile *rf;
    NnError e;
    RunConfig c;
    config_defaults(&c);
    RunPlan p;
    NnBuf json;
    ResultsRunSpec s = train_spec("x", "bench", &c, &p, &json); /* one layout, one config text */
    double t0 = nn_now();
    die(results_open_write(path, 1, &rf, &e), &e);
    die(results_add_sweep(rf, "bench", "", "grid", "test_accuracy", "maximize", &e), &e);
    char id[16];
    for (int r = 0; r < n_runs; r++) {
        snprintf(id, sizeof id, "a%06d", r);
        s.run_id = id;
        die(results_add_run(rf, &s, &e), &e);
    }
    double t_mem = nn_now() - t0;
    die(results_start_swmr(rf, &e), &e);
    double t_up = nn_now() - t0;
    double t1 = nn_now();
    for (int r = 0; r < n_swmr; r++) {
        snprintf(id, sizeof id, "s%06d", r);
        s.run_id = id;
        die(results_add_run(rf, &s, &e), &e);
    }
    double t_swmr = nn_now() - t1;
    die(results_close(rf, &e), &e);
    size_t config_len = strlen(s.config_json);
    run_plan_free(&p);
    nn_buf_free(&json);
    printf("addbench: %d runs up front: %.2f s (%.2f s collecting, then written and committed), "
           "%.1f us/run; %d runs in SWMR mode: %.1f us/run; file %.1f KiB/run (%zu-byte "
           "config)\n",
           n_runs, t_up, t_mem, 1e6 * t_up / n_runs, n_swmr,
           n_swmr ? 1e6 * t_swmr / n_swmr : 0.0, file_kib(path) / (n_runs + n_swmr), config_len);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 6 && strcmp(argv[1], "create") == 0)
        return create(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if (argc >= 4 && strcmp(argv[1], "work") == 0)
        return work(argv[2], atoi(argv[3]), argc >= 5 ? atoi(argv[4]) : 0);
    if (argc >= 6 && strcmp(argv[1], "grow") == 0) {
        static char kind[16];
        if (argc >= 7 && sscanf(argv[6], "%15[a-z]:%ld", kind, &pause_n) == 2) pause_kind = kind;
        return grow(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    }
    if (argc >= 6 && strcmp(argv[1], "bench") == 0)
        return bench(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]),
                     argc >= 7 ? atoi(argv[6]) : 0);
    if (argc >= 5 && strcmp(argv[1], "addbench") == 0)
        return addbench(argv[2], atoi(argv[3]), atoi(argv[4]));
    fprintf(stderr, "usage: results_writer create|work|grow|bench|addbench ... (see the source)\n");
    return 2;
}
