/* sweep_expand.c - a parsed sweep document into its runs: the grid's
 * cartesian product or random draws (Philox), defaults + parameters,
 * validation, duplicates, ids and cost estimates (sweep.h). */
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

/* The 53-bit uniform [0, 1) double of parameter j in draw `draw`. */
static double draw_u01(uint64_t hash, uint64_t draw, int j)
{
    uint32_t w[4];
    rng_philox(hash, rng_stream(RNG_STREAM_SWEEP, hash), draw << 16 | (uint64_t)j, w);
    uint64_t x = ((uint64_t)w[0] << 32 | w[1]) >> 11;
    return (double)x * 0x1.0p-53;
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

/* Sets a drawn number through the key's text parser (range-checked). */
static NnStatus set_number(RunConfig *c, const SweepDoc *doc, const ParamSpec *p, double x,
                           NnError *err)
{
    char text[40], where[320];
    if (p->kind == PARAM_INT_UNIFORM)
        snprintf(text, sizeof text, "%.0f", x);
    else
        nn_format_double(text, sizeof text, x);
    snprintf(where, sizeof where, "%s:%d: parameters.%s (drawn)", doc->file, p->line, p->key);
    return config_set_text(c, p->key, text, where, err);
}

/* Applies draw `draw` of every parameter (random search). */
static NnStatus apply_random(RunConfig *c, const SweepDoc *doc, uint64_t hash, uint64_t draw,
                             NnError *err)
{
    for (int j = 0; j < doc->n_params; j++) {
        const ParamSpec *p = &doc->params[j];
        double u = draw_u01(hash, draw, j), x;
        NnStatus st;
        switch (p->kind) {
        case PARAM_VALUES: {
            int n = param_n_values(p), k = (int)(u * n);
            if (k >= n) k = n - 1;
            st = param_apply(c, p, k, doc->file, err);
            break;
        }
        case PARAM_UNIFORM:
            x = p->min + u * (p->max - p->min);
            if (x >= p->max) x = nextafter(p->max, p->min);
            st = set_number(c, doc, p, x, err);
            break;
        case PARAM_LOG_UNIFORM:
            x = exp(log(p->min) + u * (log(p->max) - log(p->min)));
            x = x < p->min ? p->min : x > p->max ? p->max : x;
            st = set_number(c, doc, p, x, err);
            break;
        case PARAM_INT_UNIFORM:
        default:
            x = p->min + floor(u * (p->max - p->min + 1));
            st = set_number(c, doc, p, x > p->max ? p->max : x, err);
            break;
        }
        if (st != NN_OK) return st;
    }
    return NN_OK;
}

/* Applies grid combination `index` (the last parameter varies fastest). */
static NnStatus apply_grid(RunConfig *c, const SweepDoc *doc, long index, NnError *err)
{
    for (int j = doc->n_params - 1; j >= 0; j--) {
        const ParamSpec *p = &doc->params[j];
        int n = param_n_values(p);
        NnStatus st = param_apply(c, p, (int)(index % n), doc->file, err);
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

/* Plans run r once (the config's checks and the model's shapes) and keeps
 * what rank 0 needs later: the cost and the state layout; the model's
 * description goes to describe when not NULL. */
static NnStatus plan_run(SweepRun *r, NnBuf *describe, NnError *err)
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

NnStatus sweep_doc_expand(const SweepDoc *doc, uint64_t hash, FILE *notices, Sweep *out,
                          NnError *err)
{
    if (doc->is_program) return program_doc_expand(doc, hash, notices, out, err);
    long total = 1; /* grid combinations, or random draws allowed */
    int max_runs;
    if (doc->method == SWEEP_GRID) {
        for (int j = 0; j < doc->n_params; j++) {
            total *= param_n_values(&doc->params[j]);
            if (total > SWEEP_MAX_RUNS)
                return nn_error_set(err, NN_ERR_INPUT,
                                    "%s:%d: parameters: the grid of sweep %s has more than %d "
                                    "combinations (at %s)", doc->file, doc->params_line,
                                    doc->name, SWEEP_MAX_RUNS, doc->params[j].key);
        }
        max_runs = (int)total;
    } else {
        max_runs = doc->count;
        total = 10L * doc->count + 1000;
    }

    SweepRun *runs = nn_calloc((size_t)max_runs, sizeof *runs);
    RunTable table;
    run_table_init(&table, max_runs);
    int n_runs = 0, n_dup = 0;
    NnStatus st = NN_OK;
    for (long a = 0; a < total && n_runs < max_runs; a++) {
        SweepRun *r = &runs[n_runs];
        config_defaults(&r->config);
        st = doc->method == SWEEP_GRID ? apply_grid(&r->config, doc, a, err)
                                       : apply_random(&r->config, doc, hash, (uint64_t)a, err);
        if (st != NN_OK) break;
        NnBuf json = {0};
        config_to_json(&r->config, &json);
        if (run_table_find_or_add(&table, runs, json.data, n_runs) >= 0) {
            n_dup++;
            nn_buf_free(&json);
            continue;
        }
        r->json = json.data; /* owned by the run from here */
        if ((st = plan_run(r, NULL, err)) != NN_OK) {
            run_error(doc, &r->config, a + 1, st, err);
            n_runs++;
            break;
        }
        if (doc->metric == SWEEP_VAL_ACCURACY && r->config.val_split == 0) {
            st = nn_error_set(err, NN_ERR_INPUT,
                              "%s:%d: metric.name: val_accuracy needs a validation split in "
                              "every run, found val_split 0 (set parameters.val_split)",
                              doc->file, doc->metric_line);
            n_runs++;
            break;
        }
        config_run_id(&r->config, doc->name, r->id);
        n_runs++;
    }
    free(table.slots);
    if (st != NN_OK) {
        sweep_runs_free(runs, n_runs);
        return st;
    }

    if (notices && doc->method == SWEEP_GRID && n_dup)
        fprintf(notices, "%s:%d: notice: sweep %s: %d duplicate run%s dropped (identical "
                "configs)\n", doc->file, doc->params_line, doc->name, n_dup, n_dup == 1 ? "" : "s");
    if (notices && doc->method == SWEEP_RANDOM && n_runs < doc->count)
        fprintf(notices, "%s:%d: notice: sweep %s: only %d distinct runs in %ld draws (count %d): "
                "the parameter space is smaller than count\n", doc->file, doc->params_line,
                doc->name, n_runs, total, doc->count);

    out->n_runs = n_runs;
    out->runs = runs;
    out->n_duplicates = n_dup;
    out->n_params = doc->n_params;
    out->params = nn_calloc((size_t)doc->n_params, sizeof *out->params);
    for (int j = 0; j < doc->n_params; j++) {
        out->params[j].key = nn_strdup(doc->params[j].key);
        out->params[j].line = doc->params[j].line;
    }
    mark_varying(out);
    return NN_OK;
}

NnStatus sweep_set_add_one(SweepSet *set, const char *name, const char *spec, const RunConfig *c,
                           NnBuf *describe, NnError *err)
{
    SweepRun *r = nn_calloc(1, sizeof *r);
    r->config = *c;
    NnStatus st = plan_run(r, describe, err);
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
    sw->runs = r;
    sw->n_runs = 1;
    sw->open = 1;
    sw->strategy = sweep_list_strategy(sw);
    set->n_runs++;
    return NN_OK;
}
