/* core.c - the scheduler's state machine (sched.h): the run table, the
 * workers, hand-out across sweeps most expensive first, the sweeps'
 * strategies, stopping rules and targets, records through the sink, counts,
 * the best run and progress. No MPI, no files, no signals: drivers feed it
 * events. What a results file already holds is core_resume.c's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_impl.h"

static double clock_now(const SchedCore *c) { return c->opt.clock ? c->opt.clock() : nn_now(); }

int core_run_of(SchedCore *c, int k, int j)
{
    Sweep *sw = &c->set->sweeps[k];
    NN_CHECK(j >= 0 && j < sw->n_runs, "sweep %s: strategy gave run %d of %d", sw->name, j,
             sw->n_runs);
    while (c->n_index[k] <= j) {
        int jj = c->n_index[k];
        if ((jj & (jj - 1)) == 0) /* grow at powers of two */
            c->index[k] = nn_realloc(c->index[k], (size_t)(jj ? 2 * jj : 1) * sizeof(int));
        if (c->n_runs == c->cap_runs) {
            c->cap_runs = c->cap_runs ? 2 * c->cap_runs : 64;
            c->runs = nn_realloc(c->runs, (size_t)c->cap_runs * sizeof *c->runs);
        }
        c->runs[c->n_runs] = (CoreRun){.sweep = k, .idx = jj, .worker = -1,
                                       .m = {NAN, NAN, NAN, NAN}};
        c->index[k][jj] = c->n_runs++;
        c->n_index[k]++;
        c->counts.n_runs++;
        c->counts.n_todo++;
        c->todo_cost += sw->runs[jj].cost;
        if (c->reconciled && c->sink.added && c->err_status == NN_OK) {
            NnError err;
            NnStatus st = c->sink.added(c->sink.self, sw, &sw->runs[jj], &err);
            if (st != NN_OK) core_sink_failed(c, st, &err);
        }
    }
    return c->index[k][j];
}

SchedCore *sched_core_create(SweepSet *set, const SchedSink *sink, const SchedOptions *opt)
{
    NN_CHECK(opt->n_workers >= 1, "sched_core_create: %d workers", opt->n_workers);
    SchedCore *c = nn_calloc(1, sizeof *c);
    c->set = set;
    if (sink) c->sink = *sink;
    c->opt = *opt;
    int n_sweeps = set->n_sweeps;
    c->index = nn_calloc((size_t)(n_sweeps ? n_sweeps : 1), sizeof *c->index);
    c->n_index = nn_calloc((size_t)(n_sweeps ? n_sweeps : 1), sizeof *c->n_index);
    c->ended = nn_calloc((size_t)(n_sweeps ? n_sweeps : 1), sizeof *c->ended);
    for (int k = 0; k < n_sweeps; k++)
        if (set->sweeps[k].n_runs > 0) core_run_of(c, k, set->sweeps[k].n_runs - 1);
    c->workers = nn_calloc((size_t)opt->n_workers, sizeof *c->workers);
    c->free = nn_malloc((size_t)opt->n_workers * sizeof *c->free);
    for (int w = 0; w < opt->n_workers; w++) c->workers[w].run = -1;
    c->best = -1;
    c->t0 = c->last_progress = clock_now(c);
    return c;
}

void sched_core_free(SchedCore *c)
{
    if (!c) return;
    for (int k = 0; k < c->set->n_sweeps; k++) free(c->index[k]);
    free(c->index);
    free(c->n_index);
    free(c->ended);
    for (int r = 0; r < c->n_runs; r++) free(c->runs[r].vals);
    free(c->runs);
    free(c->workers);
    free(c->free);
    free(c);
}

void core_sink_failed(SchedCore *c, NnStatus st, const NnError *err)
{
    if (c->err_status == NN_OK) {
        c->err_status = st;
        c->err = *err;
    }
    c->stopping = 1;
}

/* ---- metrics, the best run, targets ---------------------------------------------- */

void core_metric_add(const Sweep *sw, SweepRunMetric *m, double value)
{
    if (isnan(value)) return;
    m->latest = value;
    if (sweep_metric_better(sw, value, m->best)) m->best = value;
    if (isnan(m->worst) || sweep_metric_better(sw, m->worst, value)) m->worst = value;
}

/* Sweep k reached its target with run r's value v: it hands out nothing
 * more (said once). */
static void check_target(SchedCore *c, int r, double v)
{
    const CoreRun *cr = &c->runs[r];
    const Sweep *sw = &c->set->sweeps[cr->sweep];
    if (c->ended[cr->sweep] || !sweep_target_reached(sw, v)) return;
    c->ended[cr->sweep] = 1;
    if (c->opt.progress) {
        fprintf(c->opt.progress, "[nnsweep] sweep %s: run %s reached the target %s %g (%s %g): "
                "no more runs\n", sw->name, sw->runs[cr->idx].id, sweep_metric_label(sw),
                v, sw->goal == SWEEP_MINIMIZE ? "<=" : ">=", sw->target);
        fflush(c->opt.progress);
    }
}

void core_run_finished(SchedCore *c, int r, const RunSummary *s, const SweepRunMetric *m)
{
    CoreRun *cr = &c->runs[r];
    Sweep *sw = &c->set->sweeps[cr->sweep];
    cr->state = CR_FINISHED;
    cr->status = s->status;
    cr->m = *m;
    free(cr->vals);
    cr->vals = NULL;
    if (!isnan(m->value) && (c->best < 0 || sweep_metric_better(sw, m->value, c->best_value))) {
        c->best = r;
        c->best_value = m->value;
    }
    check_target(c, r, m->value);
    sw->strategy->on_result(sw->strategy, sw, cr->idx, s, m);
}

/* ---- hand-out ------------------------------------------------------------------ */

void sched_core_worker(SchedCore *c, int worker, const SchedWorkerInfo *info)
{
    NN_CHECK(worker >= 0 && worker < c->opt.n_workers, "worker %d of %d", worker, c->opt.n_workers);
    CoreWorker *w = &c->workers[worker];
    NN_CHECK(!w->hello, "worker %d said hello twice", worker);
    w->hello = 1;
    w->info = *info;
    if (info->ok) {
        c->n_usable++;
        c->free[c->n_free++] = worker;
    }
}

/* The sweep whose next run is the most expensive (then the lowest core
 * index): its index, with *run the run in it; -1 when none has one now. */
static int pick_sweep(SchedCore *c, int *run)
{
    int best_k = -1, best_r = -1;
    double best_cost = 0;
    for (int k = 0; k < c->set->n_sweeps; k++) {
        Sweep *sw = &c->set->sweeps[k];
        int j;
        if (c->ended[k]) continue;
        SweepNext next = sw->strategy->peek(sw->strategy, sw, &j);
        if (next == SWEEP_NEXT_DONE) {
            const char *why = sw->strategy->why_done ? sw->strategy->why_done(sw->strategy) : NULL;
            if (why) {
                c->ended[k] = 1;
                if (c->opt.progress) {
                    fprintf(c->opt.progress, "[nnsweep] sweep %s: %s\n", sw->name, why);
                    fflush(c->opt.progress);
                }
            }
        }
        if (next != SWEEP_NEXT_RUN) continue;
        int r = core_run_of(c, k, j);
        NN_CHECK(c->runs[r].state == CR_PENDING, "sweep %s: strategy gave run %s, which is not "
                 "pending", sw->name, sw->runs[j].id);
        double cost = sw->runs[j].cost;
        if (best_k < 0 || cost > best_cost || (cost == best_cost && r < best_r)) {
            best_k = k;
            best_r = r;
            best_cost = cost;
        }
    }
    *run = best_r;
    return best_k;
}

/* The summary's device label of a run on worker w: the device policy
 * (backend.h) applied to the run's device key and the worker's GPU. */
static const char *device_label(const CoreWorker *w, const SweepRun *sr)
{
    if (backend_resolve_device(sr->config.device, w->info.gpu) == DEVICE_CPU) return "cpu";
    return w->info.gpu ? w->info.device : "cuda";
}

int sched_core_assign(SchedCore *c, SchedAssignment *out)
{
    if (c->stopping || c->n_free == 0) return 0;
    int r;
    int k = pick_sweep(c, &r);
    if (k < 0 || c->stopping) return 0; /* (the sink's `added` may have failed) */
    int worker = c->free[c->n_free - 1];
    CoreWorker *w = &c->workers[worker];
    CoreRun *cr = &c->runs[r];
    Sweep *sw = &c->set->sweeps[k];
    const SweepRun *sr = &sw->runs[cr->idx];
    const char *device = device_label(w, sr);
    if (c->sink.started) { /* recorded first: a run the file does not know never goes out */
        NnError err;
        NnStatus st = c->sink.started(c->sink.self, sw, sr, &w->info, device, &err);
        if (st != NN_OK) {
            core_sink_failed(c, st, &err);
            return 0;
        }
    }
    c->n_free--;
    sw->strategy->take(sw->strategy, sw, cr->idx);
    cr->state = CR_RUNNING;
    cr->worker = worker;
    cr->next_epoch = 0;
    cr->decide_next = 0;
    cr->n_metric = 0;
    w->run = r;
    c->counts.n_running++;
    *out = (SchedAssignment){.worker = worker, .run = r, .sweep = sw, .sr = sr, .device = device};
    if (sw->stop) {
        out->n_decide = sw->stop->n_epochs;
        out->decide = sw->stop->epochs;
    }
    return 1;
}

/* ---- events ---------------------------------------------------------------------- */

static CoreRun *worker_run(SchedCore *c, int worker, const char *what)
{
    NN_CHECK(worker >= 0 && worker < c->opt.n_workers, "%s from worker %d of %d", what, worker,
             c->opt.n_workers);
    int r = c->workers[worker].run;
    NN_CHECK(r >= 0, "%s from worker %d, which has no run", what, worker);
    return &c->runs[r];
}

/* Run cr's sweep metric v at point k of its history (an epoch, epoch 0
 * before training; a program's k-th row that carried the metric, from 1):
 * from k = 1 on folded into its metric, checked against the sweep's
 * target and told to the stopping rule; then the rule's verdict when k is
 * one of its decision points. */
static SchedVerdict metric_point(SchedCore *c, CoreRun *cr, int k, double v)
{
    Sweep *sw = &c->set->sweeps[cr->sweep];
    SweepStopRule *rule = sw->stop;
    if (k > 0) {
        core_metric_add(sw, &cr->m, v);
        check_target(c, (int)(cr - c->runs), v);
        if (rule && rule->observe) rule->observe(rule, sw, cr->idx, k, v);
    }
    if (!rule) return SCHED_NO_VERDICT;
    while (cr->decide_next < rule->n_epochs && rule->epochs[cr->decide_next] < k)
        cr->decide_next++;
    if (cr->decide_next == rule->n_epochs || rule->epochs[cr->decide_next] != k)
        return SCHED_NO_VERDICT;
    return rule->decide(rule, sw, cr->idx, k, v) ? SCHED_STOP_RUN : SCHED_GO_ON;
}

SchedVerdict sched_core_on_epoch(SchedCore *c, int worker, const EpochMetrics *m)
{
    CoreRun *cr = worker_run(c, worker, "an epoch");
    Sweep *sw = &c->set->sweeps[cr->sweep];
    const SweepRun *sr = &sw->runs[cr->idx];
    NN_CHECK(m->epoch == cr->next_epoch, "run %s: epoch %d arrived, %d was next", sr->id, m->epoch,
             cr->next_epoch);
    cr->next_epoch++;
    if (c->err_status == NN_OK && c->sink.epoch) {
        NnError err;
        NnStatus st = c->sink.epoch(c->sink.self, sw, sr, m, &err);
        if (st != NN_OK) core_sink_failed(c, st, &err);
    }
    /* the ETA counts finished epochs, not only finished runs: a sweep of a
     * few long runs gets one from its first epochs */
    if (m->epoch > 0 && sr->config.epochs > 0) {
        double part = sr->cost / sr->config.epochs;
        cr->credited += part;
        c->done_cost += part;
    }
    double v = sweep_epoch_metric(sw, m);
    if ((m->epoch & (m->epoch - 1)) == 0) /* grow at powers of two */
        cr->vals = nn_realloc(cr->vals, (size_t)(m->epoch ? 2 * m->epoch : 1) * sizeof *cr->vals);
    cr->vals[m->epoch] = v;
    return metric_point(c, cr, m->epoch, v);
}

SchedVerdict sched_core_on_rows(SchedCore *c, int worker, const RunRow *rows, int n)
{
    CoreRun *cr = worker_run(c, worker, "rows");
    Sweep *sw = &c->set->sweeps[cr->sweep];
    const SweepRun *sr = &sw->runs[cr->idx];
    NN_CHECK(sw->program, "run %s: rows from a run of the built-in trainer", sr->id);
    NN_CHECK(n >= 1, "run %s: %d rows", sr->id, n);
    if (c->err_status == NN_OK && c->sink.rows) {
        NnError err;
        NnStatus st = c->sink.rows(c->sink.self, sw, sr, rows, n, &err);
        if (st != NN_OK) core_sink_failed(c, st, &err);
    }
    SchedVerdict verdict = SCHED_NO_VERDICT;
    for (int i = 0; i < n && verdict != SCHED_STOP_RUN; i++) {
        double v = sweep_row_metric(sw, &rows[i]);
        if (!isfinite(v)) continue; /* not in the metric's history (W&B's filter) */
        SchedVerdict one = metric_point(c, cr, ++cr->n_metric, v);
        if (one != SCHED_NO_VERDICT) verdict = one;
    }
    return verdict;
}

/* Run r ended with s: recorded, counted, told to its strategy; its worker
 * is free again unless lost. */
static void finish_run(SchedCore *c, int r, const RunSummary *given, const float *best_state)
{
    CoreRun *cr = &c->runs[r];
    Sweep *sw = &c->set->sweeps[cr->sweep];
    const SweepRun *sr = &sw->runs[cr->idx];
    CoreWorker *w = &c->workers[cr->worker];
    NN_CHECK(given->status >= RUN_DONE && given->status < RUN_STATUS_COUNT,
             "run %s ended with status %d", sr->id, (int)given->status);
    RunSummary filled = *given, *s = &filled;
    double at_best = s->best_epoch >= 0 && s->best_epoch < cr->next_epoch ? cr->vals[s->best_epoch]
                                                                            : NAN;
    if (!sw->program && s->best_epoch >= 0) { /* the trainer's best epoch is its best step */
        s->best_step = s->best_epoch;
        s->best_value = sweep_run_metric(sw, s, at_best);
    }
    if (c->err_status == NN_OK && c->sink.finished) {
        NnError err;
        NnStatus st = c->sink.finished(c->sink.self, sw, sr, s, best_state, &err);
        if (st != NN_OK) core_sink_failed(c, st, &err);
    }
    c->counts.n_running--;
    c->counts.n_finished++;
    c->counts.by_status[s->status]++;
    /* a finished run is done whole (early stops included); an interrupted
     * one is not done at all */
    c->done_cost += (s->status != RUN_INTERRUPTED ? sr->cost : 0.0) - cr->credited;
    cr->credited = 0.0;
    /* the metric at its best epoch: from the summary, or the epoch's value */
    SweepRunMetric m = cr->m;
    m.value = sweep_run_metric(sw, s, at_best);
    w->run = -1;
    cr->worker = -1;
    core_run_finished(c, r, s, &m);
    if (!w->lost) c->free[c->n_free++] = (int)(w - c->workers);
}

void sched_core_on_outputs(SchedCore *c, int worker, const char *json)
{
    CoreRun *cr = worker_run(c, worker, "outputs");
    Sweep *sw = &c->set->sweeps[cr->sweep];
    if (c->err_status != NN_OK || !c->sink.outputs) return;
    NnError err;
    NnStatus st = c->sink.outputs(c->sink.self, sw, &sw->runs[cr->idx], json, &err);
    if (st != NN_OK) core_sink_failed(c, st, &err);
}

void sched_core_on_result(SchedCore *c, int worker, const RunSummary *s, const float *best_state)
{
    CoreRun *cr = worker_run(c, worker, "a result");
    finish_run(c, (int)(cr - c->runs), s, best_state);
}

void sched_core_worker_lost(SchedCore *c, int worker, const char *why)
{
    NN_CHECK(worker >= 0 && worker < c->opt.n_workers, "worker %d of %d", worker, c->opt.n_workers);
    CoreWorker *w = &c->workers[worker];
    if (w->lost) return;
    w->lost = 1;
    if (w->hello && w->info.ok) c->n_usable--;
    for (int i = 0; i < c->n_free; i++)
        if (c->free[i] == worker) c->free[i--] = c->free[--c->n_free];
    if (w->run < 0) return;
    RunSummary s;
    run_summary_init(&s, RUN_INTERRUPTED);
    run_summary_message(&s, "the worker (rank %d on %s) was lost: %s; --resume reruns it",
                        w->info.rank, w->info.host, why);
    finish_run(c, w->run, &s, NULL);
}

void sched_core_stop(SchedCore *c, int signal)
{
    c->stopping = 1;
    if (signal && !c->stop_signal) c->stop_signal = signal;
}

/* ---- state --------------------------------------------------------------------------- */

int sched_core_finished(const SchedCore *c)
{
    if (c->counts.n_running > 0) return 0;
    if (c->stopping || c->n_usable == 0) return 1;
    /* nothing runs: a sweep with a run to give would have given it (every
     * usable worker is free); one that waits for results now waits forever */
    for (int k = 0; k < c->set->n_sweeps; k++) {
        Sweep *sw = &c->set->sweeps[k];
        int j;
        if (!c->ended[k] && sw->strategy->peek(sw->strategy, sw, &j) == SWEEP_NEXT_RUN) return 0;
    }
    return 1;
}

int sched_core_stopping(const SchedCore *c) { return c->stopping; }
int sched_core_stop_signal(const SchedCore *c) { return c->stop_signal; }
int sched_core_n_running(const SchedCore *c) { return c->counts.n_running; }

int sched_core_worker_run(const SchedCore *c, int worker)
{
    return (worker >= 0 && worker < c->opt.n_workers) ? c->workers[worker].run : -1;
}

NnStatus sched_core_error(const SchedCore *c, NnError *err)
{
    if (c->err_status != NN_OK && err) *err = c->err;
    return c->err_status;
}

void sched_core_counts(const SchedCore *c, SchedCounts *out) { *out = c->counts; }

int sched_core_best(const SchedCore *c, double *value)
{
    if (value) *value = c->best >= 0 ? c->best_value : NAN;
    return c->best;
}

const Sweep *sched_core_run_sweep(const SchedCore *c, int run)
{
    return &c->set->sweeps[c->runs[run].sweep];
}

const SweepRun *sched_core_run(const SchedCore *c, int run)
{
    return &c->set->sweeps[c->runs[run].sweep].runs[c->runs[run].idx];
}

RunStatus sched_core_run_status(const SchedCore *c, int run)
{
    switch (c->runs[run].state) {
    case CR_PENDING: return RUN_PENDING;
    case CR_RUNNING: return RUN_RUNNING;
    default: return c->runs[run].status;
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

/* Runs search sweeps will still propose this session (up to their run_cap;
 * *unbounded when one has none), with their estimated cost (the mean cost
 * of the runs known so far). */
static int runs_to_come(const SchedCore *c, int *unbounded, double *cost)
{
    int n = 0;
    *unbounded = 0;
    for (int k = 0; k < c->set->n_sweeps; k++) {
        const Sweep *sw = &c->set->sweeps[k];
        if (!sw->strategy->adopt || c->ended[k]) continue;
        if (sw->run_cap == 0) *unbounded = 1;
        else if (sw->run_cap > sw->n_runs) n += sw->run_cap - sw->n_runs;
    }
    *cost = c->counts.n_runs > 0 ? n * (c->todo_cost / (c->counts.n_todo ? c->counts.n_todo : 1))
                                 : 0.0;
    return n;
}

void sched_core_progress(SchedCore *c, int force)
{
    if (!c->opt.progress) return;
    double now = clock_now(c);
    if (!force && now - c->last_progress < c->opt.progress_seconds) return;
    c->last_progress = now;
    const SchedCounts *n = &c->counts;
    int unbounded;
    double more_cost;
    int more = runs_to_come(c, &unbounded, &more_cost);
    char elapsed[32], eta[32], total[32];
    format_duration(elapsed, sizeof elapsed, now - c->t0);
    double rate = now > c->t0 ? c->done_cost / (now - c->t0) : 0;
    format_duration(eta, sizeof eta,
                    rate > 0 && !unbounded ? (c->todo_cost + more_cost - c->done_cost) / rate : -1);
    if (unbounded)
        snprintf(total, sizeof total, "%d+", n->n_todo);
    else
        snprintf(total, sizeof total, "%d", n->n_todo + more);
    FILE *f = c->opt.progress;
    fprintf(f, "[nnsweep] %d/%s runs done (%d diverged, %d failed", n->n_finished, total,
            n->by_status[RUN_DIVERGED], n->by_status[RUN_FAILED]);
    if (n->by_status[RUN_STOPPED]) fprintf(f, ", %d stopped early", n->by_status[RUN_STOPPED]);
    fprintf(f, "), %d running", n->n_running);
    if (c->best >= 0) {
        const Sweep *sw = sched_core_run_sweep(c, c->best);
        fprintf(f, " | best %s %.4f (%s/%s)", sweep_metric_label(sw), c->best_value,
                sw->name, sched_core_run(c, c->best)->id);
    }
    fprintf(f, " | elapsed %s, ETA %s\n", elapsed,
            n->n_finished == n->n_todo && !more && !unbounded ? "0s" : eta);
    fflush(f);
}
