/* core_resume.c - the scheduler core meets what a results file already
 * holds (sched.h, sched_core_reconcile): new sweeps, a list sweep's runs
 * compared with the file's, a search sweep's runs adopted by its strategy,
 * finished runs told to their strategy and stopping rule with their
 * metrics, unfinished ones reset. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core_impl.h"

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

/* A sweep already in the file (have): the same metric and goal. */
static NnStatus compare_metric(const Sweep *sw, const SchedFileSweep *have, const char *path,
                               NnError *err)
{
    const char *metric = sweep_metric_label(sw), *goal = sweep_goal_name(sw->goal);
    if (strcmp(have->metric, metric) != 0 || strcmp(have->goal, goal) != 0)
        return nn_error_set(err, NN_ERR_INPUT,
                            "%s: sweep '%s' differs from the one in %s: its metric is %s (%s) "
                            "there, %s (%s) here; resume with the sweep file and options "
                            "(--metric) that made it",
                            sw->file, sw->name, path, have->metric, have->goal, metric, goal);
    return NN_OK;
}

/* A list sweep already in the file: its runs there exactly its runs. */
static NnStatus compare_runs(const Sweep *sw, const IdTable *ids, const SchedPrior *prior,
                             size_t n_prior, const char *path, NnError *err)
{
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

/* A search sweep already in the file: its strategy adopts the file's runs
 * of the sweep, in the file's order. */
static NnStatus adopt_runs(Sweep *sw, const SchedPrior *prior, size_t n_prior, const char *path,
                           NnError *err)
{
    for (size_t i = 0; i < n_prior; i++) {
        if (strcmp(prior[i].sweep, sw->name) != 0) continue;
        NnError why;
        int run;
        NnStatus st = prior[i].config_json
                          ? sw->strategy->adopt(sw->strategy, sw, prior[i].run_id,
                                                prior[i].config_json, &run, &why)
                          : nn_error_set(&why, NN_ERR_INPUT, "run %s has no config there",
                                         prior[i].run_id);
        if (st != NN_OK)
            return nn_error_set(err, NN_ERR_INPUT,
                                "%s: sweep '%s' differs from the one in %s: %.400s; resume with "
                                "the sweep file and options that made it, or use another --out "
                                "or sweep name", sw->file, sw->name, path, why.msg);
    }
    return NN_OK;
}

/* A run finished before this session: its metric from its rows (when the
 * file gave them), told to the stopping rule and the strategy, out of the
 * to-do, counted for the best run and the target. */
static void mark_prior_finished(SchedCore *c, int r, const SchedPrior *p)
{
    CoreRun *cr = &c->runs[r];
    Sweep *sw = &c->set->sweeps[cr->sweep];
    SweepRunMetric m = {NAN, NAN, NAN, NAN};
    double at_best = NAN;
    for (size_t i = 0; i < p->n_metrics; i++) {
        const EpochMetrics *row = &p->metrics[i];
        double v = sweep_epoch_metric(sw, row);
        if (row->epoch == p->summary.best_epoch) at_best = v;
        if (row->epoch < 1) continue;
        core_metric_add(sw, &m, v);
        if (sw->stop && sw->stop->observe) sw->stop->observe(sw->stop, sw, cr->idx, row->epoch, v);
    }
    for (size_t k = 0; k < p->n_history; k++) { /* a program's: point k + 1 */
        core_metric_add(sw, &m, p->history[k]);
        if (sw->stop && sw->stop->observe)
            sw->stop->observe(sw->stop, sw, cr->idx, (int)k + 1, p->history[k]);
    }
    m.value = sweep_run_metric(sw, &p->summary, at_best);
    c->counts.n_skipped++;
    c->counts.n_todo--;
    c->todo_cost -= sw->runs[cr->idx].cost;
    core_run_finished(c, r, &p->summary, &m);
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
        if (!sw->open) st = compare_metric(sw, exists, path, err);
        if (st == NN_OK && sw->strategy->adopt) st = adopt_runs(sw, prior, n_prior, path, err);
        else if (st == NN_OK && !sw->open) st = compare_runs(sw, &ids, prior, n_prior, path, err);
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
                mark_prior_finished(c, r, p);
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
    c->reconciled = st == NN_OK;
    return st;
}

