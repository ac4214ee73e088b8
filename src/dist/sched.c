/* sched.c - rank 0: loads the sweeps, prepares the results file, hands out
 * runs most expensive first, records what the workers stream back, and
 * stops cleanly on a signal (the protocol is in dist.h). */
#define _GNU_SOURCE /* qsort_r */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nnsweep/data.h"
#include "nnsweep/dist.h"
#include "nnsweep/results.h"
#include "nnsweep/sweep.h"
#include "proto.h"
#include "sched.h"

/* ---- handlers shared by the MPI loop and the one-rank path ------------- */

/* Stops handing out work after a results-file error; the first error is
 * kept for the final message. */
static void sched_io_error(Sched *s, const NnError *err)
{
    if (!s->io_error) {
        s->io_error = 1;
        s->io_err = *err;
        fprintf(stderr, "nnsweep sweep: %s: stopping the sweep\n", err->msg);
    }
    s->stopping = 1;
}

void sched_on_epoch(Sched *s, int run, const EpochMetrics *m)
{
    NnError err;
    if (s->io_error) return;
    double t0 = nn_now();
    SRun *sr = &s->runs[run];
    if (results_append_epoch(s->rf, sr->sr->id, m, &err) != NN_OK) sched_io_error(s, &err);
    s->n_epoch_rows++;
    s->t_epoch_rows += nn_now() - t0;
    /* the ETA counts finished epochs, not only finished runs: a sweep of a
     * few long runs gets one from its first epochs */
    if (m->epoch > 0 && sr->sr->config.epochs > 0) {
        double c = sr->sr->cost / sr->sr->config.epochs;
        sr->credited += c;
        s->done_cost += c;
    }
}

/* Value of a run's sweep metric at its best epoch (for "best so far"). */
static double metric_value(const Sched *s, const SRun *r, const RunResult *res)
{
    (void)s;
    return r->sweep->metric == SWEEP_VAL_ACCURACY ? res->best_val_accuracy
                                                   : res->best_test_accuracy;
}

void sched_on_result(Sched *s, int run, const RunResult *r)
{
    SRun *sr = &s->runs[run];
    NnError err;
    sr->state = SRUN_FINISHED;
    s->n_running--;
    if (!s->io_error && results_finish_run(s->rf, sr->sr->id, r, &err) != NN_OK)
        sched_io_error(s, &err);
    switch (r->status) {
    case RUN_DONE: s->n_done++; break;
    case RUN_DIVERGED: s->n_diverged++; break;
    case RUN_FAILED: s->n_failed++; break;
    default: s->n_interrupted++; break;
    }
    if (r->status == RUN_FAILED && !s->job->quiet)
        fprintf(stderr, "nnsweep sweep: run %s/%s failed: %s\n", sr->sweep->name, sr->sr->id,
                r->message);
    /* a finished run is done whole (early stopping included); an
     * interrupted one is not done at all */
    s->done_cost += (r->status != RUN_INTERRUPTED ? sr->sr->cost : 0.0) - sr->credited;
    sr->credited = 0.0;
    double v = metric_value(s, sr, r);
    int better = sr->sweep->goal == SWEEP_MINIMIZE ? v < s->best_value : v > s->best_value;
    if (!isnan(v) && (s->best < 0 || better)) {
        s->best = run;
        s->best_value = v;
    }
}

/* "1h02m", "3m12s", "42s" */
static void format_duration(char *buf, size_t size, double sec)
{
    if (!(sec >= 0) || sec > 1e8) {
        snprintf(buf, size, "?");
        return;
    }
    long t = (long)sec;
    if (t >= 3600)
        snprintf(buf, size, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60)
        snprintf(buf, size, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(buf, size, "%lds", t);
}

void sched_progress(Sched *s, int force)
{
    double now = nn_now();
    if (s->job->quiet || (!force && now - s->last_progress < s->job->progress_seconds)) return;
    s->last_progress = now;
    int finished = s->n_done + s->n_diverged + s->n_failed + s->n_interrupted;
    char elapsed[32], eta[32];
    format_duration(elapsed, sizeof elapsed, now - s->t0);
    double rate = s->done_cost / (now - s->t0);
    format_duration(eta, sizeof eta, rate > 0 ? (s->todo_cost - s->done_cost) / rate : -1);
    printf("[nnsweep] %d/%d runs done (%d diverged, %d failed), %d running", finished,
           s->n_todo, s->n_diverged, s->n_failed, s->n_running);
    if (s->best >= 0)
        printf(" | best %s %.4f (%s/%s)", sweep_metric_name(s->runs[s->best].sweep->metric),
               s->best_value,
               s->runs[s->best].sweep->name, s->runs[s->best].sr->id);
    printf(" | elapsed %s, ETA %s\n", elapsed, finished == s->n_todo ? "0s" : eta);
    fflush(stdout);
}

/* Next pending run (most expensive first), or -1. */
int sched_next_run(Sched *s)
{
    if (s->stopping || dist_stop_signal) return -1;
    while (s->next < s->n_queue) {
        int i = s->queue[s->next++];
        if (s->runs[i].state == SRUN_PENDING) return i;
    }
    return -1;
}

/* Marks run i started on a worker. 0 on success. */
int sched_start_run(Sched *s, int i, const char *host, int rank, const char *device)
{
    NnError err;
    s->runs[i].state = SRUN_RUNNING;
    s->n_running++;
    if (results_set_running(s->rf, s->runs[i].sr->id, host, rank, device, &err) != NN_OK) {
        sched_io_error(s, &err);
        return -1;
    }
    return 0;
}

/* ---- preparing the results file ------------------------------------------ */

static int cmp_cost_desc(const void *a, const void *b, void *ctx)
{
    const Sched *s = ctx;
    double ca = s->runs[*(const int *)a].sr->cost, cb = s->runs[*(const int *)b].sr->cost;
    return ca < cb ? 1 : ca > cb ? -1 : *(const int *)a - *(const int *)b;
}

static const ResultsRow *find_row(const ResultsRow *rows, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].run_id, id) == 0) return &rows[i];
    return NULL;
}

/* "(learning_rate=0.3 hidden_layers=[64])": the parameters of run j that
 * vary in its sweep. */
static void run_label(const Sweep *sw, int j, NnBuf *out)
{
    nn_buf_append(out, "(", 1);
    int first = 1;
    for (int p = 0; p < sw->n_params; p++) {
        if (!sw->params[p].varies) continue;
        nn_buf_printf(out, "%s%s=", first ? "" : " ", sw->params[p].key);
        config_value_json(&sw->runs[j].config, config_key_index(sw->params[p].key), out);
        first = 0;
    }
    nn_buf_append(out, ")", 1);
}

/* Compares a sweep already in the file (its group have, its rows) with its
 * expansion: NN_ERR_INPUT naming the first difference. */
static NnStatus compare_sweep(const Sweep *sw, const ResultsSweep *have, const ResultsRow *rows,
                              size_t n_rows, const char *path, NnError *err)
{
    const char *metric = sweep_metric_name(sw->metric), *goal = sweep_goal_name(sw->goal);
    if (strcmp(have->metric, metric) != 0 || strcmp(have->goal, goal) != 0)
        return nn_error_set(err, NN_ERR_INPUT,
                            "%s: sweep '%s' differs from the one in %s: its metric is %s (%s) "
                            "there, %s (%s) here; resume with the sweep file and options "
                            "(--metric) that made it",
                            sw->file, sw->name, path, have->metric, have->goal, metric, goal);
    size_t in_file = 0;
    for (size_t i = 0; i < n_rows; i++) in_file += !strcmp(rows[i].sweep, sw->name);
    for (size_t i = 0; i < n_rows; i++) {
        if (strcmp(rows[i].sweep, sw->name) != 0) continue;
        int found = 0;
        for (int j = 0; j < sw->n_runs && !found; j++) found = !strcmp(sw->runs[j].id, rows[i].run_id);
        if (!found)
            return nn_error_set(err, NN_ERR_INPUT,
                                "%s: sweep '%s' differs from the one in %s: its run %s is not in "
                                "the sweep file (%zu runs in the file, %d in the sweep file); "
                                "resume with the sweep file that made it, or use another --out "
                                "or sweep name",
                                sw->file, sw->name, path, rows[i].run_id, in_file, sw->n_runs);
    }
    for (int j = 0; j < sw->n_runs; j++) {
        const ResultsRow *r = find_row(rows, n_rows, sw->runs[j].id);
        if (!r || strcmp(r->sweep, sw->name) != 0) {
            NnBuf label = {0};
            run_label(sw, j, &label);
            nn_error_set(err, NN_ERR_INPUT,
                         "%s: sweep '%s' differs from the one in %s: run %s %.300s is not in the "
                         "file (%zu runs in the file, %d in the sweep file); resume with the "
                         "sweep file that made it, or use another --out or sweep name",
                         sw->file, sw->name, path, sw->runs[j].id, label.data, in_file,
                         sw->n_runs);
            nn_buf_free(&label);
            return NN_ERR_INPUT;
        }
    }
    return NN_OK;
}

static int is_final(const char *status)
{
    return !strcmp(status, "done") || !strcmp(status, "diverged") || !strcmp(status, "failed");
}

/* Structural phase: sweeps and runs added or checked, unfinished runs
 * reset; then SWMR starts. Fills the run table and the queue. */
static NnStatus sched_prepare(Sched *s, NnError *err)
{
    const SweepJob *job = s->job;
    ResultsSweep *have = NULL;
    int n_have = 0;
    ResultsRow *rows = NULL;
    size_t n_rows = 0;
    NnStatus st = results_list_sweeps(s->rf, &have, &n_have, err);
    if (st == NN_OK) st = results_read_summary(s->rf, &rows, &n_rows, err);

    for (int k = 0; k < s->set.n_sweeps && st == NN_OK; k++) {
        const Sweep *sw = &s->set.sweeps[k];
        const ResultsSweep *exists = NULL;
        for (int i = 0; i < n_have; i++)
            if (!strcmp(have[i].name, sw->name)) exists = &have[i];
        if (exists && !job->resume) {
            st = nn_error_set(err, NN_ERR_INPUT,
                              "%s: sweep '%s' is already in %s: use --resume to continue it, or "
                              "give the sweep another name",
                              sw->file, sw->name, job->out_path);
            break;
        }
        if (exists) {
            st = compare_sweep(sw, exists, rows, n_rows, job->out_path, err);
            for (int j = 0; j < sw->n_runs && st == NN_OK; j++) {
                const ResultsRow *r = find_row(rows, n_rows, sw->runs[j].id);
                if (!is_final(r->status)) st = results_reset_run(s->rf, sw->runs[j].id, err);
            }
            continue;
        }
        st = results_add_sweep(s->rf, sw->name, sw->spec, sweep_method_name(sw->method),
                               sweep_metric_name(sw->metric), sweep_goal_name(sw->goal), err);
        if (st == NN_OK && sw->overrides)
            st = results_set_sweep_overrides(s->rf, sw->name, sw->overrides, err);
        for (int j = 0; j < sw->n_runs && st == NN_OK; j++) {
            ModelTensor *t;
            int n_t;
            size_t n_params, n_state;
            st = model_layout(&sw->runs[j].config, &t, &n_t, &n_params, &n_state, err);
            if (st != NN_OK) break;
            st = results_add_run(s->rf, sw->runs[j].id, sw->name, &sw->runs[j].config, n_params, t,
                                 n_t, err);
            free(t);
        }
    }

    /* the run table: every run of every sweep; finished ones stay finished */
    for (int k = 0; k < s->set.n_sweeps && st == NN_OK; k++) s->n_runs += s->set.sweeps[k].n_runs;
    s->runs = nn_calloc((size_t)(s->n_runs ? s->n_runs : 1), sizeof *s->runs);
    s->queue = nn_malloc((size_t)(s->n_runs ? s->n_runs : 1) * sizeof *s->queue);
    int i = 0;
    for (int k = 0; k < s->set.n_sweeps && st == NN_OK; k++) {
        for (int j = 0; j < s->set.sweeps[k].n_runs; j++, i++) {
            SRun *r = &s->runs[i];
            r->sweep = &s->set.sweeps[k];
            r->sr = &s->set.sweeps[k].runs[j];
            const ResultsRow *row = find_row(rows, n_rows, r->sr->id);
            if (row && is_final(row->status)) {
                r->state = SRUN_FINISHED;
                s->n_skipped++;
                continue;
            }
            s->queue[s->n_queue++] = i;
            s->n_todo++;
            s->todo_cost += r->sr->cost;
        }
    }
    qsort_r(s->queue, (size_t)s->n_queue, sizeof *s->queue, cmp_cost_desc, s);
    free(rows);
    results_sweeps_free(have, n_have);
    if (st == NN_OK) st = results_start_swmr(s->rf, err);
    return st;
}

/* ---- the one-rank path: rank 0 trains every run itself ------------------- */

typedef struct LocalRun {
    Sched *s;
    int run;
} LocalRun;

static int local_on_epoch(const EpochMetrics *m, void *user)
{
    LocalRun *l = user;
    sched_on_epoch(l->s, l->run, m);
    sched_progress(l->s, 0); /* every --progress seconds, as under MPI */
    return l->s->stopping;
}

static int local_should_stop(void *user)
{
    LocalRun *l = user;
    return dist_stop_signal || l->s->stopping;
}

static void sched_local(Sched *s, const Cifar10 *data)
{
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    for (int i; (i = sched_next_run(s)) >= 0;) {
        if (sched_start_run(s, i, host, 0, "cpu") != 0) break;
        const RunConfig *c = &s->runs[i].sr->config;
        RunResult r;
        NnError err = {{0}};
        LocalRun l = {s, i};
        const Backend *be = backend_get(BACKEND_CPU);
        if (c->device != DEVICE_CPU && backend_get(BACKEND_CUDA) &&
            backend_available(BACKEND_CUDA))
            be = backend_get(BACKEND_CUDA);
        TrainOptions opt = {.backend = be,
                            .on_epoch = local_on_epoch,
                            .should_stop = local_should_stop,
                            .user = &l};
        if (train_run(c, data, &opt, &r, &err) != NN_OK) {
            r.status = RUN_FAILED;
            snprintf(r.message, sizeof r.message, "%.500s", err.msg);
        }
        sched_on_result(s, i, &r);
        run_result_free(&r);
        sched_progress(s, 0);
    }
}

/* ---- entry --------------------------------------------------------------- */

static void stop_workers(int size)
{
    for (int w = 1; w < size; w++) MPI_Send(NULL, 0, MPI_BYTE, w, TAG_STOP, MPI_COMM_WORLD);
}

int sched_main(const SweepJob *job, int size)
{
    Sched s = {.job = job, .best = -1, .t0 = nn_now()};
    NnError err = {{0}};
    Cifar10 data = {0};
    int code = 0;

    NnStatus st = sweep_load_files(&s.set, job->files, job->n_files, job->overrides,
                                   job->quiet ? NULL : stderr, &err);
    if (st != NN_OK) {
        fprintf(stderr, "nnsweep sweep: %s\n", err.msg);
        stop_workers(size);
        return nn_status_exit_code(st);
    }
    /* the dataset: loaded here with one rank; with workers, their hellos
     * say whether they can read it - before the results file is touched */
    if (size == 1) {
        st = cifar10_load(cifar10_default_dir(job->data_dir), &data, &err);
        if (st != NN_OK) {
            fprintf(stderr, "nnsweep sweep: %s\n", err.msg);
            sweep_set_free(&s.set);
            return nn_status_exit_code(st);
        }
        backend_cpu_set_threads(dist_cpu_threads(job->threads, 1));
    } else if (sched_hellos(&s, size) != 0) {
        stop_workers(size);
        sweep_set_free(&s.set);
        return 2;
    }

    st = results_open_write(job->out_path, 1, &s.rf, &err);
    if (st == NN_OK && results_was_repaired(s.rf) && !job->quiet)
        printf("[nnsweep] %s was not closed cleanly (a writer was killed): repaired\n",
               job->out_path);
    if (st == NN_OK) st = sched_prepare(&s, &err);
    if (st != NN_OK) {
        fprintf(stderr, "nnsweep sweep: %s\n", err.msg);
        results_close(s.rf, NULL);
        if (size > 1) stop_workers(size);
        cifar10_free(&data);
        sched_free(&s);
        return nn_status_exit_code(st);
    }
    if (!job->quiet) {
        printf("[nnsweep] %d sweep%s, %d runs: %d to run, %d already finished; %d worker%s; "
               "results in %s\n",
               s.set.n_sweeps, s.set.n_sweeps == 1 ? "" : "s", s.n_runs, s.n_todo, s.n_skipped,
               size > 1 ? s.n_ok_workers : 1, (size > 1 ? s.n_ok_workers : 1) == 1 ? "" : "s",
               job->out_path);
        fflush(stdout);
    }

    int abandoned = 0;
    if (size == 1)
        sched_local(&s, &data);
    else
        abandoned = sched_loop(&s, size);

    int n_marked = 0;
    if (!s.io_error &&
        results_mark_unfinished(s.rf, RUN_INTERRUPTED, "the sweep was stopped before this run "
                                "ended; --resume reruns it", &n_marked, &err) != NN_OK)
        sched_io_error(&s, &err);
    st = results_close(s.rf, &err);
    if (st != NN_OK) sched_io_error(&s, &err);
    sched_progress(&s, 1);
    if (dist_stop_signal || s.stopping) {
        int left = s.n_todo - s.n_done - s.n_diverged - s.n_failed;
        printf("[nnsweep] stopped%s: %d run%s left for --resume; %s closed cleanly\n",
               dist_stop_signal ? " by a signal" : "", left, left == 1 ? "" : "s",
               job->out_path);
    }
    if (job->stats)
        printf("[nnsweep] rank 0: %ld messages, %.1f us each (receive, record, answer); %ld epoch "
               "rows, %.1f us each (append + flush); %.2f runs/s over %.1f s\n",
               s.n_messages, s.n_messages ? 1e6 * s.t_messages / s.n_messages : 0.0,
               s.n_epoch_rows, s.n_epoch_rows ? 1e6 * s.t_epoch_rows / s.n_epoch_rows : 0.0,
               (s.n_done + s.n_diverged + s.n_failed) / (nn_now() - s.t0), nn_now() - s.t0);
    code = s.io_error ? 1 : 0;
    cifar10_free(&data);
    sched_free(&s);
    if (abandoned) {
        fflush(stdout);
        fprintf(stderr, "nnsweep sweep: %d worker%s did not stop within %.0f s: aborting them\n",
                abandoned, abandoned == 1 ? "" : "s", job->grace_seconds);
        MPI_Abort(MPI_COMM_WORLD, code);
    }
    return code;
}

void sched_free(Sched *s)
{
    sweep_set_free(&s->set);
    free(s->runs);
    free(s->queue);
    free(s->workers);
}

int dist_run_sweep(const SweepJob *job)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    dist_install_signals();
    /* collective over every rank: rank 0 is not among the workers */
    MPI_Comm workers;
    MPI_Comm_split(MPI_COMM_WORLD, rank == 0 ? MPI_UNDEFINED : 1, rank, &workers);
    if (rank == 0) return sched_main(job, size);
    int code = dist_worker(workers, job->data_dir, job->threads);
    MPI_Comm_free(&workers);
    return code;
}
