/* core.c - the scheduler's state machine (sched.h): the run table, the
 * workers, hand-out across sweeps most expensive first, the sweeps'
 * strategies and stopping rules, records through the sink, counts, the best
 * run and progress. No MPI, no files, no signals: drivers feed it events. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnsweep/sched.h"

enum { CR_PENDING = 0, CR_RUNNING, CR_FINISHED };

typedef struct CoreRun {
    int sweep, idx;    /* set->sweeps[sweep].runs[idx] */
    int state;         /* CR_* */
    int worker;        /* while running */
    int next_epoch;    /* the epoch its next metrics row must have */
    int n_metric;      /* a program's rows that carried the sweep metric */
    int decide_next;   /* position in its stopping rule's epochs */
    RunStatus status;  /* once finished */
    double metric;     /* once finished: the sweep metric of its best epoch */
    double credited;   /* of its cost, counted done for epochs it finished */
} CoreRun;

typedef struct CoreWorker {
    SchedWorkerInfo info;
    int hello; /* sched_core_worker was called */
    int lost;
    int run;   /* core run index, or -1 */
} CoreWorker;

struct SchedCore {
    SweepSet *set;
    SchedSink sink;
    SchedOptions opt;
    CoreRun *runs;
    int n_runs, cap_runs;
    int **index;    /* per sweep: run index in the sweep -> core run index */
    int *n_index;   /* per sweep: entries of index[k] */
    CoreWorker *workers;
    int *free;      /* stack of free workers that can train */
    int n_free;
    int n_usable;   /* workers that said ok and are not lost */
    SchedCounts counts;
    double todo_cost, done_cost;
    double t0, last_progress;
    int best;
    double best_value;
    int stopping, stop_signal;
    NnStatus err_status;
    NnError err;
};

static double clock_now(const SchedCore *c) { return c->opt.clock ? c->opt.clock() : nn_now(); }

/* The core run of sweep k's run j, created when first seen (a strategy
 * may add runs to its sweep). */
static int core_run_of(SchedCore *c, int k, int j)
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
        c->runs[c->n_runs] = (CoreRun){.sweep = k, .idx = jj, .worker = -1, .metric = NAN};
        c->index[k][jj] = c->n_runs++;
        c->n_index[k]++;
        c->counts.n_runs++;
        c->counts.n_todo++;
        c->todo_cost += sw->runs[jj].cost;
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
    free(c->runs);
    free(c->workers);
    free(c->free);
    free(c);
}

/* Keeps the first sink error and stops handing out work. */
static void sink_failed(SchedCore *c, NnStatus st, const NnError *err)
{
    if (c->err_status == NN_OK) {
        c->err_status = st;
        c->err = *err;
    }
    c->stopping = 1;
}

/* ---- resume ------------------------------------------------------------------ */

void sched_plan_free(SchedPlan *p)
{
    if (!p) return;
    free(p->new_sweeps);
    free(p->new_runs);
    free(p->reset);
    memset(p, 0, sizeof *p);
}

/* Open addressing over the prior rows' ids: slot = row index + 1. */
typedef struct IdTable {
    size_t *slots;
    size_t mask;
} IdTable;

static void ids_build(IdTable *t, const SchedPrior *prior, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    t->slots = nn_calloc(cap, sizeof *t->slots);
    t->mask = cap - 1;
    for (size_t i = 0; i < n; i++) {
        size_t h = (size_t)nn_hash64(prior[i].run_id, strlen(prior[i].run_id), 0) & t->mask;
        while (t->slots[h]) h = (h + 1) & t->mask;
        t->slots[h] = i + 1;
    }
}

static const SchedPrior *ids_find(const IdTable *t, const SchedPrior *prior, const char *id)
{
    size_t h = (size_t)nn_hash64(id, strlen(id), 0) & t->mask;
    for (; t->slots[h]; h = (h + 1) & t->mask)
        if (strcmp(prior[t->slots[h] - 1].run_id, id) == 0) return &prior[t->slots[h] - 1];
    return NULL;
}

/* "(learning_rate=0.3 hidden_layers=[64])": the parameters of run j that
 * vary in its sweep. */
static void run_label(const Sweep *sw, int j, NnBuf *out)
{
    if (sw->program) { /* a program's config: its JSON */
        nn_buf_printf(out, "%.200s", sw->runs[j].json);
        return;
    }
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

/* A sweep already in the file (have): the same metric and goal, and its
 * runs there exactly its runs. */
static NnStatus compare_sweep(const Sweep *sw, const SchedFileSweep *have, const IdTable *ids,
                              const SchedPrior *prior, size_t n_prior, const char *path,
                              NnError *err)
{
    const char *metric = sweep_metric_label(sw), *goal = sweep_goal_name(sw->goal);
    if (strcmp(have->metric, metric) != 0 || strcmp(have->goal, goal) != 0)
        return nn_error_set(err, NN_ERR_INPUT,
                            "%s: sweep '%s' differs from the one in %s: its metric is %s (%s) "
                            "there, %s (%s) here; resume with the sweep file and options "
                            "(--metric) that made it",
                            sw->file, sw->name, path, have->metric, have->goal, metric, goal);
    size_t in_file = 0;
    for (size_t i = 0; i < n_prior; i++) in_file += !strcmp(prior[i].sweep, sw->name);
    for (size_t i = 0; i < n_prior; i++) {
        if (strcmp(prior[i].sweep, sw->name) != 0) continue;
        int found = 0;
        for (int j = 0; j < sw->n_runs && !found; j++)
            found = !strcmp(sw->runs[j].id, prior[i].run_id);
        if (!found)
            return nn_error_set(err, NN_ERR_INPUT,
                                "%s: sweep '%s' differs from the one in %s: its run %s is not in "
                                "the sweep file (%zu runs in the file, %d in the sweep file); "
                                "resume with the sweep file that made it, or use another --out "
                                "or sweep name",
                                sw->file, sw->name, path, prior[i].run_id, in_file, sw->n_runs);
    }
    for (int j = 0; j < sw->n_runs; j++) {
        const SchedPrior *r = ids_find(ids, prior, sw->runs[j].id);
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

/* Run r (finished) becomes the best when its metric beats the best's. */
static void note_best(SchedCore *c, int r)
{
    const CoreRun *cr = &c->runs[r];
    const Sweep *sw = &c->set->sweeps[cr->sweep];
    if (!isnan(cr->metric) && (c->best < 0 || sweep_metric_better(sw, cr->metric, c->best_value))) {
        c->best = r;
        c->best_value = cr->metric;
    }
}

/* A run finished before this session: out of the to-do, told to its
 * strategy, counted for the best. */
static void mark_prior_finished(SchedCore *c, int r, const RunSummary *s)
{
    CoreRun *cr = &c->runs[r];
    Sweep *sw = &c->set->sweeps[cr->sweep];
    cr->state = CR_FINISHED;
    cr->status = s->status;
    cr->metric = sweep_run_metric(sw, s);
    c->counts.n_skipped++;
    c->counts.n_todo--;
    c->todo_cost -= sw->runs[cr->idx].cost;
    sw->strategy->on_result(sw->strategy, sw, cr->idx, s, cr->metric);
    note_best(c, r);
}

NnStatus sched_core_reconcile(SchedCore *c, const SchedFileSweep *file_sweeps, int n_file_sweeps,
                              const SchedPrior *prior, size_t n_prior, int resume,
                              const char *path, SchedPlan *plan, NnError *err)
{
    memset(plan, 0, sizeof *plan);
    IdTable ids;
    ids_build(&ids, prior, n_prior);
    NnStatus st = NN_OK;
    int n_sweeps = c->set->n_sweeps;
    plan->new_sweeps = nn_malloc((size_t)(n_sweeps ? n_sweeps : 1) * sizeof *plan->new_sweeps);
    int cap_new = 0, cap_reset = 0;
    for (int k = 0; k < n_sweeps && st == NN_OK; k++) {
        Sweep *sw = &c->set->sweeps[k];
        const SchedFileSweep *exists = NULL;
        for (int i = 0; i < n_file_sweeps && !exists; i++)
            if (!strcmp(file_sweeps[i].name, sw->name)) exists = &file_sweeps[i];
        if (!exists) {
            plan->new_sweeps[plan->n_new_sweeps++] = k;
            continue;
        }
        if (!resume && !sw->open) {
            st = nn_error_set(err, NN_ERR_INPUT,
                              "%s: sweep '%s' is already in %s: use --resume to continue it, or "
                              "give the sweep another name",
                              sw->file, sw->name, path);
            break;
        }
        if (!sw->open) st = compare_sweep(sw, exists, &ids, prior, n_prior, path, err);
        for (int j = 0; j < sw->n_runs && st == NN_OK; j++) {
            const SchedPrior *p = ids_find(&ids, prior, sw->runs[j].id);
            int r = core_run_of(c, k, j);
            if (!p) { /* an open sweep's new run */
                if (plan->n_new_runs == cap_new) {
                    cap_new = cap_new ? 2 * cap_new : 16;
                    plan->new_runs = nn_realloc(plan->new_runs, (size_t)cap_new * sizeof *plan->new_runs);
                }
                plan->new_runs[plan->n_new_runs][0] = k;
                plan->new_runs[plan->n_new_runs++][1] = j;
            } else if (run_status_is_final(p->summary.status)) {
                if (sw->open) {
                    st = nn_error_set(err, NN_ERR_INPUT,
                                      "%s: run %s of sweep '%s' is already recorded there (status "
                                      "%s): change a key (e.g. the seed) to train another run, or "
                                      "record it in another file",
                                      path, p->run_id, sw->name,
                                      run_status_name(p->summary.status));
                    break;
                }
                mark_prior_finished(c, r, &p->summary);
            } else {
                if (plan->n_reset == cap_reset) {
                    cap_reset = cap_reset ? 2 * cap_reset : 16;
                    plan->reset = nn_realloc(plan->reset, (size_t)cap_reset * sizeof *plan->reset);
                }
                plan->reset[plan->n_reset][0] = k;
                plan->reset[plan->n_reset++][1] = j;
            }
        }
    }
    free(ids.slots);
    if (st != NN_OK) sched_plan_free(plan);
    return st;
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
        if (sw->strategy->peek(sw->strategy, sw, &j) != SWEEP_NEXT_RUN) continue;
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
    if (k < 0) return 0;
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
            sink_failed(c, st, &err);
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

/* The stopping rule's verdict on run cr after its decision point k (an
 * epoch, or a program's k-th metric row) with the sweep metric v. */
static SchedVerdict ask_rule(Sweep *sw, CoreRun *cr, int k, double v)
{
    SweepStopRule *rule = sw->stop;
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
        if (st != NN_OK) sink_failed(c, st, &err);
    }
    /* the ETA counts finished epochs, not only finished runs: a sweep of a
     * few long runs gets one from its first epochs */
    if (m->epoch > 0 && sr->config.epochs > 0) {
        double part = sr->cost / sr->config.epochs;
        cr->credited += part;
        c->done_cost += part;
    }
    return ask_rule(sw, cr, m->epoch, sweep_epoch_metric(sw, m));
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
        if (st != NN_OK) sink_failed(c, st, &err);
    }
    SchedVerdict verdict = SCHED_NO_VERDICT;
    for (int i = 0; i < n && verdict != SCHED_STOP_RUN; i++) {
        double v = sweep_row_metric(sw, &rows[i]);
        if (!isfinite(v)) continue;
        SchedVerdict one = ask_rule(sw, cr, cr->n_metric++, v);
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
    if (!sw->program && s->best_epoch >= 0) { /* the trainer's best epoch is its best step */
        s->best_step = s->best_epoch;
        s->best_value = sweep_run_metric(sw, s);
    }
    if (c->err_status == NN_OK && c->sink.finished) {
        NnError err;
        NnStatus st = c->sink.finished(c->sink.self, sw, sr, s, best_state, &err);
        if (st != NN_OK) sink_failed(c, st, &err);
    }
    cr->state = CR_FINISHED;
    cr->status = s->status;
    cr->metric = sweep_run_metric(sw, s);
    c->counts.n_running--;
    c->counts.n_finished++;
    c->counts.by_status[s->status]++;
    /* a finished run is done whole (early stops included); an interrupted
     * one is not done at all */
    c->done_cost += (s->status != RUN_INTERRUPTED ? sr->cost : 0.0) - cr->credited;
    cr->credited = 0.0;
    note_best(c, r);
    sw->strategy->on_result(sw->strategy, sw, cr->idx, s, cr->metric);
    w->run = -1;
    cr->worker = -1;
    if (!w->lost) c->free[c->n_free++] = (int)(w - c->workers);
}

void sched_core_on_outputs(SchedCore *c, int worker, const char *json)
{
    CoreRun *cr = worker_run(c, worker, "outputs");
    Sweep *sw = &c->set->sweeps[cr->sweep];
    if (c->err_status != NN_OK || !c->sink.outputs) return;
    NnError err;
    NnStatus st = c->sink.outputs(c->sink.self, sw, &sw->runs[cr->idx], json, &err);
    if (st != NN_OK) sink_failed(c, st, &err);
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
        if (sw->strategy->peek(sw->strategy, sw, &j) == SWEEP_NEXT_RUN) return 0;
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

void sched_core_progress(SchedCore *c, int force)
{
    if (!c->opt.progress) return;
    double now = clock_now(c);
    if (!force && now - c->last_progress < c->opt.progress_seconds) return;
    c->last_progress = now;
    const SchedCounts *n = &c->counts;
    char elapsed[32], eta[32];
    format_duration(elapsed, sizeof elapsed, now - c->t0);
    double rate = now > c->t0 ? c->done_cost / (now - c->t0) : 0;
    format_duration(eta, sizeof eta, rate > 0 ? (c->todo_cost - c->done_cost) / rate : -1);
    FILE *f = c->opt.progress;
    fprintf(f, "[nnsweep] %d/%d runs done (%d diverged, %d failed", n->n_finished, n->n_todo,
            n->by_status[RUN_DIVERGED], n->by_status[RUN_FAILED]);
    if (n->by_status[RUN_STOPPED]) fprintf(f, ", %d stopped early", n->by_status[RUN_STOPPED]);
    fprintf(f, "), %d running", n->n_running);
    if (c->best >= 0) {
        const Sweep *sw = sched_core_run_sweep(c, c->best);
        fprintf(f, " | best %s %.4f (%s/%s)", sweep_metric_label(sw), c->best_value,
                sw->name, sched_core_run(c, c->best)->id);
    }
    fprintf(f, " | elapsed %s, ETA %s\n", elapsed, n->n_finished == n->n_todo ? "0s" : eta);
    fflush(f);
}
