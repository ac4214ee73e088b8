/* record.c - rank 0's session of a job: the results file prepared for the
 * sweeps (resume reconciled by the core, the structural work done), the
 * core's records written into it (the SchedSink), and the end of the
 * session (unfinished runs marked, the file closed, what happened said).
 * The one place where the scheduler meets the results file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    return results_finish_run(s->rf, r->id, sum, best_state, err);
}

/* A search strategy's new run, while the sweep runs: the results file is in
 * SWMR mode then, so this needs a schema in which a run is rows appended to
 * shared tables (schema 2, results.h); a schema-1 file refuses it, and the
 * core stops the sweep with that error. */
static NnStatus rec_added(void *self, const Sweep *sw, const SweepRun *r, NnError *err)
{
    Session *s = self;
    return results_add_run(s->rf, r->id, sw->name, &r->config, r->n_params, r->tensors,
                           r->n_tensors, err);
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
                               sweep_metric_name(sw->metric), sweep_goal_name(sw->goal), err);
        if (st == NN_OK && sw->overrides)
            st = results_set_sweep_overrides(rf, sw->name, sw->overrides, err);
        for (int j = 0; j < sw->n_runs && st == NN_OK; j++) {
            const SweepRun *r = &sw->runs[j];
            st = results_add_run(rf, r->id, sw->name, &r->config, r->n_params, r->tensors,
                                 r->n_tensors, err);
        }
    }
    for (int i = 0; i < p->n_new_runs && st == NN_OK; i++) {
        const Sweep *sw = &set->sweeps[p->new_runs[i][0]];
        const SweepRun *r = &sw->runs[p->new_runs[i][1]];
        st = results_add_run(rf, r->id, sw->name, &r->config, r->n_params, r->tensors,
                             r->n_tensors, err);
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
    }
    free(prior);
    free(names);
    free(rows);
    results_sweeps_free(have, n_have);
    return st;
}

#if RESULTS_SCHEMA_VERSION < 2
/* A schema-1 results file creates a run's objects before SWMR: a search
 * sweep (bayes, random without run_cap), which adds runs while it runs,
 * cannot be recorded there (schema 2 appends them as rows). */
static NnStatus check_recordable(const SweepSet *set, NnError *err)
{
    for (int k = 0; k < set->n_sweeps; k++) {
        const Sweep *sw = &set->sweeps[k];
        if (sw->strategy->adopt)
            return nn_error_set(err, NN_ERR_INPUT,
                                "%s:%d: sweep '%s' (%s%s) adds runs while it runs, which this "
                                "build's results file (schema %d) cannot record: it needs schema 2",
                                sw->file, sw->line, sw->name, sweep_method_name(sw->method),
                                sw->run_cap ? "" : " without run_cap", RESULTS_SCHEMA_VERSION);
    }
    return NN_OK;
}
#endif

NnStatus session_open(Session *s, const SweepJob *job, SweepSet *set, int n_workers, NnError *err)
{
    memset(s, 0, sizeof *s);
    s->job = job;
    s->set = set;
    s->t0 = nn_now();
    SchedSink sink = {.self = s, .finished = rec_finished};
    if (job->out_path) {
        sink.started = rec_started;
        sink.epoch = rec_epoch;
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
#if RESULTS_SCHEMA_VERSION < 2
    if (check_recordable(set, err) != NN_OK) {
        sched_core_free(s->core);
        s->core = NULL;
        return NN_ERR_INPUT;
    }
#endif
    NnStatus st = results_open_write(job->out_path, 1, &s->rf, err);
    if (st == NN_OK && results_was_repaired(s->rf) && !job->quiet)
        printf("[nnsweep] %s was not closed cleanly (a writer was killed): repaired\n",
               job->out_path);
    if (st == NN_OK) st = prepare_file(s, err);
    if (st != NN_OK) {
        results_close(s->rf, NULL); /* a failed structural phase leaves the file as it was */
        s->rf = NULL;
        sched_core_free(s->core);
        s->core = NULL;
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
    }
    if (abandoned) {
        fflush(stdout);
        fprintf(stderr, "nnsweep %s: %d worker%s did not stop within %.0f s\n", job_command(job), abandoned,
                abandoned == 1 ? "" : "s", job->grace_seconds);
    }
    int code = (sink_st != NN_OK || s->close_failed || abandoned) ? 1 : 0;
    sched_core_free(s->core);
    s->core = NULL;
    return code;
}
