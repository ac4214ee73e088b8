/* record.c - rank 0's session of a job: the results file prepared for the
 * sweeps (resume reconciled by the core, the structural work done), the
 * core's records written into it (the SchedSink), and the end of the
 * session (unfinished runs marked, the file closed, what happened said).
 * The one place where the scheduler meets the results file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnsweep/program.h"
#include "nnsweep/results.h"
#include "session.h"

/* ---- the sink ------------------------------------------------------------------ */

static NnStatus rec_started(void *self, const Sweep *sw, const SweepRun *r,
                            const SchedWorkerInfo *w, const char *device, NnError *err)
{
    (void)sw;
    Session *s = self;
    return results_set_running(s->rf, r->id, w->host, w->rank, device, err);
}

static NnStatus rec_epoch(void *self, const Sweep *sw, const SweepRun *r, const EpochMetrics *m,
                          NnError *err)
{
    (void)sw;
    Session *s = self;
    double t0 = nn_now();
    NnStatus st = results_append_epoch(s->rf, r->id, m, err);
    s->n_epoch_rows++;
    s->t_epoch_rows += nn_now() - t0;
    return st;
}

static NnStatus rec_finished(void *self, const Sweep *sw, const SweepRun *r, const RunSummary *sum,
                             const float *best_state, NnError *err)
{
    Session *s = self;
    if (sum->status == RUN_FAILED && !s->job->quiet)
        fprintf(stderr, "nnsweep %s: run %s/%s failed: %s\n", job_command(s->job), sw->name, r->id,
                sum->message);
    if (!s->rf) return NN_OK;
    return results_finish_run(s->rf, r->id, sum, best_state, err); /* best_step: the core's */
}

/* A program's rows (sched.h): one append and flush; the cost counts for
 * --stats. */
static NnStatus rec_rows(void *self, const Sweep *sw, const SweepRun *r, const RunRow *rows, int n,
                         NnError *err)
{
    (void)sw;
    Session *s = self;
    double t0 = nn_now();
    NnStatus st = results_append_logs(s->rf, r->id, rows, n, err);
    s->n_log_rows += n;
    s->n_log_batches++;
    s->t_log_rows += nn_now() - t0;
    return st;
}

static NnStatus rec_outputs(void *self, const Sweep *sw, const SweepRun *r, const char *json,
                            NnError *err)
{
    (void)sw;
    Session *s = self;
    return results_set_outputs(s->rf, r->id, json, err);
}

/* Adds run r of sweep sw to the file (either phase of the file: results.h
 * schema 2 appends a run as rows of shared tables). */
static NnStatus add_run(ResultsFile *rf, const Sweep *sw, const SweepRun *r, NnError *err)
{
    ResultsRunSpec spec = {.run_id = r->id,
                           .sweep = sw->name,
                           .kind = sw->program ? RESULTS_KIND_PROGRAM : RESULTS_KIND_TRAIN,
                           .config_json = r->json,
                           .epochs = sw->program ? -1 : r->config.epochs,
                           .n_params = r->n_params,
                           .tensors = r->tensors,
                           .n_tensors = r->n_tensors};
    return results_add_run(rf, &spec, err);
}

/* A search strategy's new run, while the sweep runs (SWMR mode). */
static NnStatus rec_added(void *self, const Sweep *sw, const SweepRun *r, NnError *err)
{
    Session *s = self;
    return add_run(s->rf, sw, r, err);
}

/* ---- opening ---------------------------------------------------------------------- */

/* The structural work of the plan: new sweeps with all their runs, new
 * runs of open sweeps, unfinished runs reset. */
static NnStatus apply_plan(ResultsFile *rf, const SweepSet *set, const SchedPlan *p, NnError *err)
{
    NnStatus st = NN_OK;
    for (int i = 0; i < p->n_new_sweeps && st == NN_OK; i++) {
        const Sweep *sw = &set->sweeps[p->new_sweeps[i]];
        st = results_add_sweep(rf, sw->name, sw->spec, sweep_method_name(sw->method),
                               sweep_metric_label(sw), sweep_goal_name(sw->goal), err);
        if (st == NN_OK && sw->overrides)
            st = results_set_sweep_overrides(rf, sw->name, sw->overrides, err);
        for (int j = 0; j < sw->n_runs && st == NN_OK; j++) st = add_run(rf, sw, &sw->runs[j], err);
    }
    for (int i = 0; i < p->n_new_runs && st == NN_OK; i++) {
        const Sweep *sw = &set->sweeps[p->new_runs[i][0]];
        st = add_run(rf, sw, &sw->runs[p->new_runs[i][1]], err);
    }
    for (int i = 0; i < p->n_reset && st == NN_OK; i++)
        st = results_reset_run(rf, set->sweeps[p->reset[i][0]].runs[p->reset[i][1]].id, err);
    return st;
}

/* The sweep of the set named `name`, or NULL. */
static const Sweep *set_sweep(const SweepSet *set, const char *name)
{
    for (int k = 0; k < set->n_sweeps; k++)
        if (!strcmp(set->sweeps[k].name, name)) return &set->sweeps[k];
    return NULL;
}

/* What the core needs of a file's run beyond its summary row: the config of
 * a search sweep's run (its strategy adopts it) and the metrics rows of a
 * finished run of a sweep that needs its history (sweep_needs_history). */
/* A program run's history of the sweep metric: its finite values in the
 * order logged (what the core counts as its metric rows). */
static NnStatus read_history(ResultsFile *rf, const Sweep *sw, const char *run_id, SchedPrior *p,
                             NnError *err)
{
    ResultsLog *logs = NULL;
    size_t n = 0;
    NnStatus st = results_read_logs(rf, run_id, &logs, &n, err);
    double *h = nn_malloc((n + 1) * sizeof *h);
    size_t k = 0;
    for (size_t i = 0; i < n && st == NN_OK; i++)
        if (sw->metric_name && !strcmp(logs[i].name, sw->metric_name) && isfinite(logs[i].value))
            h[k++] = logs[i].value;
    free(logs);
    p->history = h;
    p->n_history = k;
    return st;
}

static NnStatus read_prior(ResultsFile *rf, const SweepSet *set, const ResultsRow *row,
                           SchedPrior *p, NnError *err)
{
    const Sweep *sw = set_sweep(set, row->sweep);
    if (!sw) return NN_OK;
    char *json = NULL;
    EpochMetrics *m = NULL;
    size_t n = 0;
    NnStatus st = NN_OK;
    if (sw->strategy->adopt) {
        st = results_read_config(rf, row->run_id, &json, err);
        p->config_json = json;
    }
    if (st == NN_OK && sweep_needs_history(sw) && run_status_is_final(row->status)) {
        if (sw->program) return read_history(rf, sw, row->run_id, p, err);
        st = results_read_metrics(rf, row->run_id, &m, &n, err);
        p->metrics = m;
        p->n_metrics = n;
    }
    return st;
}

/* What the file holds, for the core's reconcile, then the structural work
 * and the switch to SWMR. */
static NnStatus prepare_file(Session *s, NnError *err)
{
    ResultsSweep *have = NULL;
    int n_have = 0;
    ResultsRow *rows = NULL;
    size_t n_rows = 0;
    NnStatus st = results_list_sweeps(s->rf, &have, &n_have, err);
    if (st == NN_OK) st = results_read_summary(s->rf, &rows, &n_rows, err);
    SchedFileSweep *names = nn_calloc((size_t)n_have + 1, sizeof *names);
    SchedPrior *prior = nn_calloc(n_rows + 1, sizeof *prior);
    for (int i = 0; i < n_have; i++)
        names[i] = (SchedFileSweep){have[i].name, have[i].metric, have[i].goal};
    for (size_t i = 0; i < n_rows && st == NN_OK; i++) {
        const ResultsRow *r = &rows[i];
        prior[i].run_id = r->run_id;
        prior[i].sweep = r->sweep;
        RunSummary *p = &prior[i].summary;
        run_summary_init(p, r->status);
        p->epochs_done = r->epochs_done;
        p->best_epoch = r->best_epoch;
        p->best_val_accuracy = r->best_val_accuracy;
        p->best_test_accuracy = r->best_test_accuracy;
        p->best_step = r->best_step;
        p->best_value = r->best_value;
        p->wall_seconds = r->wall_seconds;
        p->n_params = r->n_params;
        st = read_prior(s->rf, s->set, r, &prior[i], err);
    }
    SchedPlan plan = {0};
    if (st == NN_OK)
        st = sched_core_reconcile(s->core, names, n_have, prior, n_rows, s->job->resume,
                                  s->job->out_path, &plan, err);
    if (st == NN_OK) st = apply_plan(s->rf, s->set, &plan, err);
    if (st == NN_OK) st = results_start_swmr(s->rf, err);
    sched_plan_free(&plan);
    for (size_t i = 0; i < n_rows; i++) {
        free((char *)prior[i].config_json);
        free((EpochMetrics *)prior[i].metrics);
        free((double *)prior[i].history);
    }
    free(prior);
    free(names);
    free(rows);
    results_sweeps_free(have, n_have);
    return st;
}

NnStatus session_open(Session *s, const SweepJob *job, SweepSet *set, int n_workers, NnError *err)
{
    memset(s, 0, sizeof *s);
    s->job = job;
    s->set = set;
    s->t0 = nn_now();
    s->run_dirs = program_run_dirs(job->out_path);
    SchedSink sink = {.self = s, .finished = rec_finished};
    if (job->out_path) {
        sink.started = rec_started;
        sink.epoch = rec_epoch;
        sink.rows = rec_rows;
        sink.outputs = rec_outputs;
        sink.added = rec_added;
    }
    SchedOptions opt = {.n_workers = n_workers,
                        .progress = job->quiet ? NULL : stdout,
                        .progress_seconds = job->progress_seconds};
    s->core = sched_core_create(set, &sink, &opt);
    if (!job->out_path) {
        /* nothing recorded: every run is new */
        SchedPlan plan;
        NnStatus st = sched_core_reconcile(s->core, NULL, 0, NULL, 0, 0, "", &plan, err);
        sched_plan_free(&plan);
        return st;
    }
    NnStatus st = results_open_write(job->out_path, 1, &s->rf, err);
    if (st == NN_OK && results_was_repaired(s->rf) && !job->quiet)
        printf("[nnsweep] %s was not closed cleanly (a writer was killed): repaired\n",
               job->out_path);
    if (st == NN_OK && results_was_converted(s->rf) && !job->quiet)
        printf("[nnsweep] %s has results schema version %d: converted to version %d (the file "
               "is replaced when the sweep starts)\n",
               job->out_path, results_was_converted(s->rf), RESULTS_SCHEMA_VERSION);
    if (st == NN_OK) st = prepare_file(s, err);
    if (st != NN_OK) {
        results_discard(s->rf); /* the file stays as it was */
        s->rf = NULL;
        sched_core_free(s->core);
        s->core = NULL;
        free(s->run_dirs);
        s->run_dirs = NULL;
    }
    return st;
}

void session_banner(const Session *s, int n_workers)
{
    if (s->job->quiet || !s->job->out_path) return;
    SchedCounts n;
    sched_core_counts(s->core, &n);
    printf("[nnsweep] %d sweep%s, %d runs: %d to run, %d already finished; %d worker%s; results "
           "in %s\n",
           s->set->n_sweeps, s->set->n_sweeps == 1 ? "" : "s", n.n_runs, n.n_todo, n.n_skipped,
           n_workers, n_workers == 1 ? "" : "s", s->job->out_path);
    fflush(stdout);
}

/* ---- closing ------------------------------------------------------------------------ */

int session_close(Session *s, int abandoned)
{
    const SweepJob *job = s->job;
    NnError err;
    if (s->rf) {
        NnStatus st = NN_OK;
        if (sched_core_error(s->core, NULL) == NN_OK)
            st = results_mark_unfinished(s->rf, RUN_INTERRUPTED,
                                         "the sweep was stopped before this run ended; --resume "
                                         "reruns it", NULL, &err);
        NnStatus cst = results_close(s->rf, st == NN_OK ? &err : NULL);
        if (st == NN_OK) st = cst;
        if (st != NN_OK && sched_core_error(s->core, NULL) == NN_OK)
            fprintf(stderr, "nnsweep %s: %s\n", job_command(job), err.msg);
        if (st != NN_OK) s->close_failed = 1;
        s->rf = NULL;
    }
    sched_core_progress(s->core, 1);
    NnStatus sink_st = sched_core_error(s->core, &err);
    if (sink_st != NN_OK) fprintf(stderr, "nnsweep %s: %s: the sweep was stopped\n", job_command(job), err.msg);
    int sig = sched_core_stop_signal(s->core);
    if (sched_core_stopping(s->core) && job->out_path && !job->quiet) {
        SchedCounts n;
        sched_core_counts(s->core, &n);
        int left = n.n_todo - n.n_finished + n.by_status[RUN_INTERRUPTED];
        printf("[nnsweep] stopped%s: %d run%s left for --resume; %s %s\n",
               sig ? " by a signal" : "", left, left == 1 ? "" : "s", job->out_path,
               s->close_failed ? "may lack the last updates" : "closed cleanly");
    }
    if (job->stats) {
        SchedCounts n;
        sched_core_counts(s->core, &n);
        double t = nn_now() - s->t0;
        printf("[nnsweep] rank 0: %ld messages, %.1f us each (receive, record, answer); %ld epoch "
               "rows, %.1f us each (append + flush); %.2f runs/s over %.1f s\n",
               s->n_messages, s->n_messages ? 1e6 * s->t_messages / s->n_messages : 0.0,
               s->n_epoch_rows, s->n_epoch_rows ? 1e6 * s->t_epoch_rows / s->n_epoch_rows : 0.0,
               (n.n_finished - n.by_status[RUN_INTERRUPTED]) / t, t);
        if (s->n_log_rows)
            printf("[nnsweep] rank 0: %ld logged rows in %ld appends (%.1f rows each), %.1f us "
                   "per row (append + flush), %.0f rows/s over the session\n",
                   s->n_log_rows, s->n_log_batches, (double)s->n_log_rows / s->n_log_batches,
                   1e6 * s->t_log_rows / s->n_log_rows, s->n_log_rows / t);
    }
    if (abandoned) {
        fflush(stdout);
        fprintf(stderr, "nnsweep %s: %d worker%s did not stop within %.0f s\n", job_command(job), abandoned,
                abandoned == 1 ? "" : "s", job->grace_seconds);
    }
    int code = (sink_st != NN_OK || s->close_failed || abandoned) ? 1 : 0;
    sched_core_free(s->core);
    s->core = NULL;
    free(s->run_dirs);
    s->run_dirs = NULL;
    return code;
}
