/* sweep_expand.c - a parsed sweep document into its runs: the grid's
 * cartesian product or random draws with a run_cap (Philox), defaults +
 * parameters, validation, duplicates, ids and cost estimates; the runs a
 * search strategy adds (sweep.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnsweep/data.h"
#include "nnsweep/rng.h"
#include "nnsweep/train.h"
#include "sweep_internal.h"

int sweep_train_images(const RunConfig *c)
{
    int n = CIFAR10_N_TRAIN - c->val_split;
    return (c->train_images > 0 && c->train_images < n) ? c->train_images : n;
}

void run_table_init(RunTable *t, int max_runs)
{
    size_t cap = 16;
    while (cap < 2 * (size_t)max_runs) cap *= 2;
    t->slots = nn_calloc(cap, sizeof *t->slots);
    t->mask = cap - 1;
}

int run_table_find_or_add(RunTable *t, const SweepRun *runs, const char *json, int next)
{
    size_t i = (size_t)nn_hash64(json, strlen(json), 0) & t->mask;
    for (; t->slots[i]; i = (i + 1) & t->mask)
        if (strcmp(runs[t->slots[i] - 1].json, json) == 0) return t->slots[i] - 1;
    t->slots[i] = next + 1;
    return -1;
}

/* Applies grid combination `index` (the last parameter varies fastest). */
static NnStatus apply_grid(RunConfig *c, const SweepDoc *doc, long index, NnError *err)
{
    for (int j = doc->n_params - 1; j >= 0; j--) {
        const ParamSpec *p = &doc->params[j];
        int n = p->n_levels;
        NnStatus st = param_apply_level(c, p, (int)(index % n), doc->file, err);
        if (st != NN_OK) return st;
        index /= n;
    }
    return NN_OK;
}

/* "key=value, key=value" of the sweep's parameters in run config c. */
static void describe_run(const RunConfig *c, const SweepDoc *doc, NnBuf *out)
{
    for (int j = 0; j < doc->n_params; j++) {
        nn_buf_printf(out, "%s%s=", j ? ", " : "", doc->params[j].key);
        config_value_json(c, doc->params[j].config_index, out);
    }
}

/* Wraps a run_plan_create message: which file, sweep and run failed. */
static NnStatus run_error(const SweepDoc *doc, const RunConfig *c, long number, NnStatus st,
                          NnError *err)
{
    char msg[sizeof err->msg];
    memcpy(msg, err->msg, sizeof msg);
    NnBuf vals = {0};
    describe_run(c, doc, &vals);
    nn_error_set(err, st, "%s:%d: parameters: sweep %s, %s %ld (%s): %s", doc->file,
                 doc->params_line, doc->name,
                 doc->method == SWEEP_GRID ? "combination" : "draw", number, vals.data, msg);
    nn_buf_free(&vals);
    return st;
}

/* Marks the parameters whose value differs between runs. */
static void mark_varying(Sweep *out)
{
    for (int j = 0; j < out->n_params; j++) {
        int k = config_key_index(out->params[j].key);
        NnBuf first = {0};
        config_value_json(&out->runs[0].config, k, &first);
        for (int r = 1; r < out->n_runs && !out->params[j].varies; r++) {
            NnBuf cur = {0};
            config_value_json(&out->runs[r].config, k, &cur);
            out->params[j].varies = strcmp(first.data, cur.data) != 0;
            nn_buf_free(&cur);
        }
        nn_buf_free(&first);
    }
}

void sweep_runs_free(SweepRun *runs, int n)
{
    for (int i = 0; i < n; i++) {
        free(runs[i].json);
        free(runs[i].tensors);
    }
    free(runs);
}

NnStatus sweep_plan_run(SweepRun *r, NnBuf *describe, NnError *err)
{
    RunPlan plan;
    NnStatus st = run_plan_create(&r->config, &plan, err);
    if (st != NN_OK) return st;
    const ModelPlan *mp = plan.mplan;
    if (describe) model_plan_describe(mp, describe);
    r->cost = mp->train_flops_per_image * r->config.epochs * sweep_train_images(&r->config);
    r->n_params = mp->n_params;
    r->n_state = mp->n_state;
    r->n_tensors = mp->n_tensors;
    r->tensors = nn_malloc((size_t)mp->n_tensors * sizeof *r->tensors);
    memcpy(r->tensors, mp->tensors, (size_t)mp->n_tensors * sizeof *r->tensors);
    run_plan_free(&plan);
    return NN_OK;
}

static void sweep_expand_free_params(Sweep *out)
{
    for (int j = 0; j < out->n_params; j++) free(out->params[j].key);
    free(out->params);
    out->params = NULL;
    out->n_params = 0;
}

NnStatus sweep_doc_expand(const SweepDoc *doc, uint64_t hash, FILE *notices, Sweep *out,
                          NnError *err)
{
    if (doc->is_program) return program_doc_expand(doc, hash, notices, out, err);
    out->n_params = doc->n_params;
    out->params = nn_calloc((size_t)(doc->n_params ? doc->n_params : 1), sizeof *out->params);
    for (int j = 0; j < doc->n_params; j++) {
        out->params[j].key = nn_strdup(doc->params[j].key);
        out->params[j].line = doc->params[j].line;
    }
    if (doc->method == SWEEP_BAYES || (doc->method == SWEEP_RANDOM && doc->run_cap == 0)) {
        BayesDim dim;
        for (int j = 0; j < doc->n_params; j++) /* searched: the search varies it */
            out->params[j].varies = !doc->params[j].text &&
                                    dist_bayes_dim(&doc->params[j].dist, &dim);
        return NN_OK; /* a search strategy adds the runs */
    }
    long total = 1; /* grid combinations, or random draws allowed */
    int max_runs;
    if (doc->method == SWEEP_GRID) {
        for (int j = 0; j < doc->n_params; j++) {
            total *= doc->params[j].n_levels;
            if (total > SWEEP_MAX_RUNS) {
                sweep_expand_free_params(out);
                return nn_error_set(err, NN_ERR_INPUT,
                                    "%s:%d: parameters: the grid of sweep %s has more than %d "
                                    "combinations (at %s)", doc->file, doc->params_line,
                                    doc->name, SWEEP_MAX_RUNS, doc->params[j].path);
            }
        }
        max_runs = (int)total;
        if (doc->run_cap > 0 && doc->run_cap < max_runs) max_runs = doc->run_cap;
    } else {
        max_runs = doc->run_cap;
        total = 10L * doc->run_cap + 1000;
    }

    SweepRun *runs = nn_calloc((size_t)max_runs, sizeof *runs);
    RunTable table;
    run_table_init(&table, max_runs);
    int n_runs = 0, n_dup = 0;
    NnStatus st = NN_OK;
    for (long a = 0; a < total && n_runs < max_runs; a++) {
        SweepRun *r = &runs[n_runs];
        config_defaults(&r->config);
        if (doc->method == SWEEP_GRID) {
            if ((st = apply_grid(&r->config, doc, a, err)) != NN_OK) break;
        } else {
            doc_config_from_draw(doc, hash, (uint64_t)a, &r->config);
        }
        NnBuf json = {0};
        config_to_json(&r->config, &json);
        if (run_table_find_or_add(&table, runs, json.data, n_runs) >= 0) {
            n_dup++;
            nn_buf_free(&json);
            continue;
        }
        r->json = json.data; /* owned by the run from here */
        if ((st = sweep_plan_run(r, NULL, err)) != NN_OK) {
            run_error(doc, &r->config, a + 1, st, err);
            n_runs++;
            break;
        }
        if ((doc->metric == SWEEP_VAL_ACCURACY || doc->metric == SWEEP_VAL_LOSS) &&
            r->config.val_split == 0) {
            st = nn_error_set(err, NN_ERR_INPUT,
                              "%s:%d: metric.name: %s needs a validation split in every run, "
                              "found val_split 0 (set parameters.val_split)",
                              doc->file, doc->metric_line, sweep_metric_name(doc->metric));
            n_runs++;
            break;
        }
        config_run_id(&r->config, doc->name, r->id);
        n_runs++;
    }
    free(table.slots);
    if (st != NN_OK) {
        sweep_runs_free(runs, n_runs);
        sweep_expand_free_params(out);
        return st;
    }

    if (notices && doc->method == SWEEP_GRID && n_dup)
        fprintf(notices, "%s:%d: notice: sweep %s: %d duplicate run%s dropped (identical "
                "configs)\n", doc->file, doc->params_line, doc->name, n_dup, n_dup == 1 ? "" : "s");
    if (notices && doc->method == SWEEP_RANDOM && n_runs < doc->run_cap)
        fprintf(notices, "%s:%d: notice: sweep %s: only %d distinct runs in %ld draws (run_cap "
                "%d): the parameter space is smaller than run_cap\n", doc->file,
                doc->params_line, doc->name, n_runs, total, doc->run_cap);
    if (notices && doc->method == SWEEP_GRID && doc->run_cap > 0 && doc->run_cap < total)
        fprintf(notices, "%s:%d: notice: sweep %s: run_cap %d: the first %d of its %ld "
                "combinations\n", doc->file, doc->run_cap_line, doc->name, doc->run_cap,
                n_runs, total);

    out->n_runs = out->cap_runs = n_runs;
    out->runs = runs;
    out->n_duplicates = n_dup;
    mark_varying(out);
    return NN_OK;
}

NnStatus sweep_set_add_one(SweepSet *set, const char *name, const char *spec, const RunConfig *c,
                           NnBuf *describe, NnError *err)
{
    SweepRun *r = nn_calloc(1, sizeof *r);
    r->config = *c;
    NnStatus st = sweep_plan_run(r, describe, err);
    if (st != NN_OK) {
        sweep_runs_free(r, 1);
        return st;
    }
    NnBuf json = {0};
    config_to_json(c, &json);
    r->json = json.data;
    config_run_id(c, name, r->id);
    set->sweeps = nn_realloc(set->sweeps, (size_t)(set->n_sweeps + 1) * sizeof *set->sweeps);
    Sweep *sw = &set->sweeps[set->n_sweeps++];
    memset(sw, 0, sizeof *sw);
    sw->name = nn_strdup(name);
    sw->file = nn_strdup("<command line>");
    sw->spec = nn_strdup(spec);
    sw->method = SWEEP_GRID;
    sw->metric = c->select_on == SELECT_VAL_ACCURACY ? SWEEP_VAL_ACCURACY : SWEEP_TEST_ACCURACY;
    sw->goal = SWEEP_MAXIMIZE;
    sw->target = NAN;
    sw->runs = r;
    sw->n_runs = sw->cap_runs = 1;
    sw->open = 1;
    sw->strategy = sweep_list_strategy(sw);
    set->n_runs++;
    return NN_OK;
}

int sweep_add_run(Sweep *sw, const RunConfig *c)
{
    if (sw->n_runs == sw->cap_runs) {
        sw->cap_runs = sw->cap_runs ? 2 * sw->cap_runs : 16;
        sw->runs = nn_realloc(sw->runs, (size_t)sw->cap_runs * sizeof *sw->runs);
    }
    SweepRun *r = &sw->runs[sw->n_runs];
    memset(r, 0, sizeof *r);
    r->config = *c;
    NnBuf json = {0};
    config_to_json(c, &json);
    r->json = json.data;
    config_run_id(c, sw->name, r->id);
    NnError err; /* a failed plan leaves cost 0 and no layout: its worker fails it */
    (void)sweep_plan_run(r, NULL, &err);
    return sw->n_runs++;
}
