/* sweep_space.c - a sweep's parameters applied to run configs: grid levels,
 * random draws and the Bayesian search's unit coordinates, and back from a
 * config to its coordinates (resume); the space a loaded sweep keeps. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnsweep/rng.h"
#include "sweep_internal.h"

void sweep_space_free(SweepSpace *s)
{
    if (!s) return;
    sweep_doc_free(&s->doc);
    ynode_free(s->root);
    free(s);
}

static int is_list_kind(DistKind k)
{
    return k == DIST_CONSTANT || k == DIST_CATEGORICAL || k == DIST_CATEGORICAL_PROB;
}

/* Sets a number through the key's text parser (range-checked): integers for
 * int_uniform and integer keys, else the shortest round-trip form. */
static NnStatus set_number(RunConfig *c, const ParamSpec *p, double x, NnError *err)
{
    char text[40], where[360];
    if (p->type == CT_INT || p->dist.kind == DIST_INT_UNIFORM)
        snprintf(text, sizeof text, "%.0f", x);
    else
        nn_format_double(text, sizeof text, x);
    snprintf(where, sizeof where, "%s (drawn)", p->path);
    return config_set_text(c, p->key, text, where, err);
}

NnStatus param_apply_level(RunConfig *c, const ParamSpec *p, int i, const char *file,
                           NnError *err)
{
    if (p->text) {
        char where[128];
        snprintf(where, sizeof where, "--set %s", p->key);
        return config_set_text(c, p->key, p->text, where, err);
    }
    switch (p->dist.kind) {
    case DIST_CONSTANT: return config_set_node(c, p->key, p->one, file, err);
    case DIST_CATEGORICAL:
    case DIST_CATEGORICAL_PROB: return config_set_node(c, p->key, p->list->items[i], file, err);
    case DIST_INT_UNIFORM: return set_number(c, p, p->dist.min + i, err);
    case DIST_Q_UNIFORM: return set_number(c, p, p->dist.min + i * p->dist.q, err);
    default: nn_fatal("%s: %s has no grid levels", p->path, dist_kind_name(p->dist.kind));
    }
}

/* Sets x (a level index for the list kinds) from a draw or a coordinate. */
static void apply_value(RunConfig *c, const ParamSpec *p, double x)
{
    NnError err;
    NnStatus st = is_list_kind(p->dist.kind) || p->text
                      ? param_apply_level(c, p, (int)x, "<sweep>", &err)
                      : set_number(c, p, x, &err);
    NN_CHECK(st == NN_OK, "a value checked when the file was loaded failed: %s", err.msg);
}

void param_apply_sample(RunConfig *c, const ParamSpec *p, double u)
{
    apply_value(c, p, p->text ? 0 : dist_sample(&p->dist, dist_clamp_u(u)));
}

void param_apply_unit(RunConfig *c, const ParamSpec *p, double u)
{
    apply_value(c, p, p->text ? 0 : dist_from_unit(&p->dist, dist_clamp_u(u)));
}

/* Canonical JSON of key k's value in c. */
static char *value_json(const RunConfig *c, int k)
{
    NnBuf b = {0};
    config_value_json(c, k, &b);
    return b.data;
}

/* The index of c's value among a list parameter's values, or -1. */
static int list_index(const RunConfig *c, const ParamSpec *p)
{
    char *have = value_json(c, p->config_index);
    int found = -1, n = p->text || p->dist.kind == DIST_CONSTANT ? 1 : p->dist.n_values;
    for (int i = 0; i < n && found < 0; i++) {
        RunConfig one;
        config_defaults(&one);
        NnError err;
        NN_CHECK(param_apply_level(&one, p, i, "<sweep>", &err) == NN_OK, "%s", err.msg);
        char *want = value_json(&one, p->config_index);
        if (!strcmp(have, want)) found = i;
        free(want);
    }
    free(have);
    return found;
}

int param_unit_of(const RunConfig *c, const ParamSpec *p, double *u)
{
    if (p->text || is_list_kind(p->dist.kind)) {
        int i = list_index(c, p);
        if (i < 0) return 0;
        *u = dist_to_unit(&p->dist, i);
        return 1;
    }
    ConfigValue v;
    config_value(c, p->config_index, &v);
    double x = v.type == CT_INT ? (double)v.i : v.d;
    /* the values a draw reaches, with a little room for the shortest
     * round-trip text of a drawn number */
    double lo = dist_from_unit(&p->dist, DIST_U_LO), hi = dist_from_unit(&p->dist, DIST_U_HI);
    double tol = 1e-12 * fmax(fabs(lo), fabs(hi));
    if (!(x >= lo - tol && x <= hi + tol)) return 0;
    if (p->dist.kind == DIST_INT_UNIFORM && x != floor(x)) return 0;
    *u = dist_to_unit(&p->dist, x);
    return 1;
}

/* The 53-bit uniform [0, 1) double of parameter j in draw `draw`. */
static double draw_u01(uint64_t hash, uint64_t draw, int j)
{
    uint32_t w[4];
    rng_philox(hash, rng_stream(RNG_STREAM_SWEEP, hash), draw << 16 | (uint64_t)j, w);
    uint64_t x = ((uint64_t)w[0] << 32 | w[1]) >> 11;
    return (double)x * 0x1.0p-53;
}

void doc_config_from_draw(const SweepDoc *d, uint64_t hash, uint64_t draw, RunConfig *c)
{
    config_defaults(c);
    for (int j = 0; j < d->n_params; j++)
        param_apply_sample(c, &d->params[j], draw_u01(hash, draw, j));
}

/* Whether parameter p is a dimension of the search (dims may be NULL). */
static int param_dim(const ParamSpec *p, BayesDim *dim)
{
    BayesDim scratch;
    return !p->text && dist_bayes_dim(&p->dist, dim ? dim : &scratch);
}

int doc_dims(const SweepDoc *d, BayesDim *dims, int *param)
{
    int n = 0;
    for (int j = 0; j < d->n_params; j++) {
        if (!param_dim(&d->params[j], dims ? &dims[n] : NULL)) continue;
        if (param) param[n] = j;
        n++;
    }
    return n;
}

void doc_config_from_unit(const SweepDoc *d, const double *u, RunConfig *c)
{
    config_defaults(c);
    int n = 0;
    for (int j = 0; j < d->n_params; j++) {
        const ParamSpec *p = &d->params[j];
        if (param_dim(p, NULL))
            param_apply_unit(c, p, u[n++]);
        else
            param_apply_sample(c, p, 0.5); /* a constant, or a one-value list */
    }
}

NnStatus doc_unit_of_config(const SweepDoc *d, const RunConfig *c, double *u, NnError *err)
{
    int n = 0;
    for (int j = 0; j < d->n_params; j++) {
        const ParamSpec *p = &d->params[j];
        double x;
        if (!param_unit_of(c, p, &x)) {
            char *have = value_json(c, p->config_index);
            nn_error_set(err, NN_ERR_INPUT, "%s is %.100s, which %s (line %d) cannot take",
                         p->key, have, p->path, p->line);
            free(have);
            return NN_ERR_INPUT;
        }
        if (param_dim(p, NULL) && u) u[n++] = x;
    }
    /* every key the sweep does not set is at its default */
    RunConfig defaults;
    config_defaults(&defaults);
    for (int k = 0; k < config_n_keys(); k++) {
        int set = 0;
        for (int j = 0; j < d->n_params && !set; j++) set = d->params[j].config_index == k;
        if (set) continue;
        char *have = value_json(c, k), *want = value_json(&defaults, k);
        int same = !strcmp(have, want);
        if (!same)
            nn_error_set(err, NN_ERR_INPUT, "%s is %.100s, where the sweep leaves it at %.100s",
                         config_key(k)->name, have, want);
        free(have);
        free(want);
        if (!same) return NN_ERR_INPUT;
    }
    return NN_OK;
}

int doc_max_epochs(const SweepDoc *d)
{
    if (d->is_program) return INT_MAX; /* its rows: as many as it logs */
    RunConfig c;
    config_defaults(&c);
    int max = c.epochs;
    for (int j = 0; j < d->n_params; j++) {
        const ParamSpec *p = &d->params[j];
        if (strcmp(p->key, "epochs") != 0) continue;
        if (p->text || is_list_kind(p->dist.kind)) {
            int n = p->text || p->dist.kind == DIST_CONSTANT ? 1 : p->dist.n_values;
            max = 0;
            for (int i = 0; i < n; i++) {
                NnError err;
                NN_CHECK(param_apply_level(&c, p, i, "<sweep>", &err) == NN_OK, "%s", err.msg);
                if (c.epochs > max) max = c.epochs;
            }
        } else {
            max = (int)dist_from_unit(&p->dist, DIST_U_HI);
        }
    }
    return max;
}
