/* sweep_param.c - a sweep's `parameters`: nested groups flattened onto run
 * config keys, every W&B parameter form with only its own fields, the
 * distribution's checks, the key's type, and every value a parameter can
 * take checked against its key (sweep.h, Parameters and Nested groups). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sweep_internal.h"

#define failf sweep_failf
#define MAX_DEPTH 16 /* nested groups */

/* The seed study's W&B parameter names and what nnsweep calls them. */
static const char *const wandb_aliases[][2] = {
    {"num_epochs", "epochs"},
    {"l2_weight_decay", "weight_decay"},
    {"drop_out", "dropout"},
    {"lr", "learning_rate"},
    {"num_hidden", "the length of hidden_layers"},
    {"num_conv", "the length of conv_layers"},
    {"variant", "the sweep's name"},
};

static NnStatus unknown_param(const char *file, int line, const char *path, const char *key,
                              int nested, NnError *err)
{
    const char *how = nested ? "; a nested leaf names the run config key of its path's names "
                               "joined by '_', longest tail first"
                             : "";
    for (size_t i = 0; i < sizeof wandb_aliases / sizeof wandb_aliases[0]; i++)
        if (strcmp(key, wandb_aliases[i][0]) == 0)
            return failf(err, file, line,
                         "%s: unknown run config key (nnsweep's name for it is %s%s)", path,
                         wandb_aliases[i][1], how);
    NnSuggest near;
    nn_suggest_init(&near, key);
    for (int i = 0; i < config_n_keys(); i++) nn_suggest_offer(&near, config_key(i)->name);
    if (near.best)
        return failf(err, file, line, "%s: unknown run config key (did you mean '%s'? `nnsweep "
                     "train --help` lists every key%s)", path, near.best, how);
    return failf(err, file, line,
                 "%s: unknown run config key (`nnsweep train --help` lists every key%s)", path,
                 how);
}

/* Checks node v as a value of the parameter's key; messages name `path`. */
static NnStatus check_value(const char *file, const ParamSpec *p, const YNode *v,
                            const char *path, NnError *err)
{
    RunConfig scratch;
    config_defaults(&scratch);
    NnStatus st = config_set_node(&scratch, p->key, v, file, err);
    if (st == NN_OK) return NN_OK;
    sweep_error_path(err, file, v ? v->line : p->line, p->key, path);
    if ((p->type == CT_INT_LIST || p->type == CT_FLOAT_PAIR) && v && v->kind == YNODE_SCALAR &&
        strstr(path, ".values[")) {
        char msg[sizeof err->msg];
        memcpy(msg, err->msg, sizeof msg);
        nn_error_set(err, NN_ERR_INPUT,
                     "%s (%s takes lists, so values is a list of lists: values: [[32], [64]])",
                     msg, p->key);
    }
    return st;
}

/* ---- forms and their fields (W&B's schema: each form takes only its own) ---- */

enum { F_VALUE = 1, F_VALUES = 2, F_PROBS = 4, F_DIST = 8, F_MIN = 16, F_MAX = 32, F_Q = 64,
       F_MU = 128, F_SIGMA = 256, F_A = 512, F_B = 1024 };
static const char *const field_names[] = {"value", "values", "probabilities", "distribution",
                                          "min", "max", "q", "mu", "sigma", "a", "b"};
#define N_FIELDS 11

/* Fields each kind needs, and allows (with `distribution`). */
static void kind_fields(DistKind k, int *allowed, int *needed)
{
    int extra = 0;
    switch (k) {
    case DIST_CONSTANT: *needed = F_VALUE; break;
    case DIST_CATEGORICAL: *needed = F_VALUES; break;
    case DIST_CATEGORICAL_PROB: *needed = F_VALUES | F_PROBS; break;
    case DIST_Q_UNIFORM: case DIST_Q_LOG_UNIFORM: case DIST_Q_LOG_UNIFORM_VALUES:
        extra = F_Q;
        /* fall through */
    case DIST_INT_UNIFORM: case DIST_UNIFORM: case DIST_LOG_UNIFORM:
    case DIST_LOG_UNIFORM_VALUES: case DIST_INV_LOG_UNIFORM: case DIST_INV_LOG_UNIFORM_VALUES:
        *needed = F_MIN | F_MAX;
        break;
    case DIST_Q_NORMAL: case DIST_Q_LOG_NORMAL: extra = F_Q; /* fall through */
    case DIST_NORMAL: case DIST_LOG_NORMAL:
        *needed = 0;
        extra |= F_MU | F_SIGMA;
        break;
    case DIST_Q_BETA: extra = F_Q; /* fall through */
    case DIST_BETA:
        *needed = 0;
        extra |= F_A | F_B;
        break;
    default: *needed = 0; break;
    }
    *allowed = *needed | extra | F_DIST;
}

/* "min and max", "value", "mu, sigma and q": the fields of a kind. */
static void fields_text(int mask, char *buf, size_t size)
{
    int n = 0, total = 0;
    for (int f = 0; f < N_FIELDS; f++) total += (mask >> f & 1) && f != 3;
    buf[0] = '\0';
    for (int f = 0; f < N_FIELDS; f++) {
        if (!(mask >> f & 1) || f == 3) continue;
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, "%s%s", n == 0 ? "" : n == total - 1 ? " and " : ", ",
                 field_names[f]);
        n++;
    }
    if (!n) snprintf(buf, size, "no other field");
}

/* The kind a leaf without `distribution` has (W&B's inference), or -1. */
static int infer_kind(int have, const YNode *min, const YNode *max)
{
    long l;
    if (have & F_VALUE) return DIST_CONSTANT;
    if (have & F_VALUES) return have & F_PROBS ? DIST_CATEGORICAL_PROB : DIST_CATEGORICAL;
    if ((have & (F_MIN | F_MAX)) == (F_MIN | F_MAX))
        return ynode_as_long(min, &l) && ynode_as_long(max, &l) ? DIST_INT_UNIFORM : DIST_UNIFORM;
    if (have & (F_MIN | F_MAX)) return DIST_UNIFORM; /* reported as a missing bound */
    return -1;
}

static int is_quantized(DistKind k)
{
    return k == DIST_Q_UNIFORM || k == DIST_Q_LOG_UNIFORM || k == DIST_Q_LOG_UNIFORM_VALUES ||
           k == DIST_Q_NORMAL || k == DIST_Q_LOG_NORMAL || k == DIST_Q_BETA;
}

/* min and max are values of the key (not exponents, not absent). */
static int bounds_are_values(DistKind k)
{
    return k == DIST_INT_UNIFORM || k == DIST_UNIFORM || k == DIST_Q_UNIFORM ||
           k == DIST_LOG_UNIFORM_VALUES || k == DIST_Q_LOG_UNIFORM_VALUES ||
           k == DIST_INV_LOG_UNIFORM_VALUES;
}

/* The key's type against the kind: NN_OK or the reason. */
static NnStatus check_type(const char *file, const ParamSpec *p, int line, NnError *err)
{
    DistKind k = p->dist.kind;
    if (k == DIST_CONSTANT || k == DIST_CATEGORICAL || k == DIST_CATEGORICAL_PROB) return NN_OK;
    const char *name = dist_kind_name(k);
    if (p->type == CT_FLOAT) return NN_OK;
    if (p->type == CT_INT) {
        if (k == DIST_INT_UNIFORM) return NN_OK;
        if (is_quantized(k) && p->dist.q == floor(p->dist.q)) return NN_OK;
        return failf(err, file, line, "%s.distribution: %s draws real numbers but %s takes "
                     "integers; use int_uniform, or a q_ distribution with an integer q",
                     p->path, name, p->key);
    }
    const char *what = p->type == CT_BOOL ? "true or false" : p->type == CT_ENUM ? "names"
                                                                                 : "lists";
    return failf(err, file, line, "%s.distribution: %s draws numbers but %s takes %s; use value "
                 "or values", p->path, name, p->key, what);
}

/* A number field of the leaf (an integer for int_uniform's bounds). */
static NnStatus read_number(const char *file, const ParamSpec *p, const YNode *v, int f,
                            double *out, NnError *err)
{
    char found[96];
    long l;
    if (p->dist.kind == DIST_INT_UNIFORM && (f == 4 || f == 5)) {
        if (!ynode_as_long(v, &l))
            return failf(err, file, v->line, "%s.%s: expected an integer (distribution "
                         "int_uniform), found %s", p->path, field_names[f],
                         ynode_describe(v, found, sizeof found));
        *out = (double)l;
        return NN_OK;
    }
    if (!ynode_as_double(v, out))
        return failf(err, file, v->line, "%s.%s: expected a number (distribution %s), found %s",
                     p->path, field_names[f], dist_kind_name(p->dist.kind),
                     ynode_describe(v, found, sizeof found));
    return NN_OK;
}

/* Checks the value x (a draw's extreme) as a value of the key. */
static NnStatus check_reach(const char *file, const ParamSpec *p, double x, const char *end,
                            NnError *err)
{
    char text[40], where[512], dist[160];
    RunConfig scratch;
    config_defaults(&scratch);
    if (p->type == CT_INT || p->dist.kind == DIST_INT_UNIFORM)
        snprintf(text, sizeof text, "%.0f", x);
    else
        nn_format_double(text, sizeof text, x);
    const DistSpec *d = &p->dist;
    switch (d->kind) {
    case DIST_NORMAL: case DIST_Q_NORMAL: case DIST_LOG_NORMAL: case DIST_Q_LOG_NORMAL:
        snprintf(dist, sizeof dist, "%s (mu %g, sigma %g)", dist_kind_name(d->kind), d->mu,
                 d->sigma);
        break;
    case DIST_BETA: case DIST_Q_BETA:
        snprintf(dist, sizeof dist, "%s (a %g, b %g)", dist_kind_name(d->kind), d->a, d->b);
        break;
    default:
        snprintf(dist, sizeof dist, "%s (min %g, max %g)", dist_kind_name(d->kind), d->min,
                 d->max);
    }
    snprintf(where, sizeof where, "%s:%d: %s: distribution %s reaches %s at its %s draws, "
             "outside the key's range", file, p->line, p->path, dist, text, end);
    if (!isfinite(x))
        return nn_error_set(err, NN_ERR_INPUT, "%s", where);
    return config_set_text(&scratch, p->key, text, where, err);
}

/* min and max where they are values of the key (their own lines): in the
 * key's range, min below max, above 0 for the *_values kinds. */
static NnStatus check_bounds(const char *file, const ParamSpec *p, const YNode *nodes[N_FIELDS],
                             NnError *err)
{
    char path[320], found[96];
    const DistSpec *d = &p->dist;
    for (int f = 4; f <= 5; f++) {
        snprintf(path, sizeof path, "%s.%s", p->path, field_names[f]);
        NnStatus st = check_value(file, p, nodes[f], path, err);
        if (st != NN_OK) return st;
    }
    if (!(d->min < d->max))
        return failf(err, file, nodes[5]->line, "%s.max: expected a value above min (%s), "
                     "found %s", p->path, nodes[4]->value,
                     ynode_describe(nodes[5], found, sizeof found));
    if ((d->kind == DIST_LOG_UNIFORM_VALUES || d->kind == DIST_Q_LOG_UNIFORM_VALUES ||
         d->kind == DIST_INV_LOG_UNIFORM_VALUES) && !(d->min > 0))
        return failf(err, file, nodes[4]->line, "%s.min: expected a number above 0 (%s), "
                     "found %s", p->path, dist_kind_name(d->kind),
                     ynode_describe(nodes[4], found, sizeof found));
    return NN_OK;
}

/* The extreme values a draw reaches (dist_from_unit at the ends of
 * dist_u01's range), within the key's range: every value between is then
 * too. Not needed where min and max are the values (unquantized). */
static NnStatus check_extremes(const char *file, const ParamSpec *p, NnError *err)
{
    const DistSpec *d = &p->dist;
    if (bounds_are_values(d->kind) && !is_quantized(d->kind)) return NN_OK;
    NnStatus st = check_reach(file, p, dist_from_unit(d, DIST_U_LO), "lowest", err);
    if (st == NN_OK) st = check_reach(file, p, dist_from_unit(d, DIST_U_HI), "highest", err);
    return st;
}

/* W&B's grid levels of a leaf: values, every integer of int_uniform, or
 * numpy.arange(min, max, q) of q_uniform; 0 when grid cannot take it. */
static int grid_levels(const ParamSpec *p, const char *file, int line, NnError *err,
                       NnStatus *st)
{
    const DistSpec *d = &p->dist;
    *st = NN_OK;
    switch (d->kind) {
    case DIST_CONSTANT: return 1;
    case DIST_CATEGORICAL: return d->n_values;
    case DIST_INT_UNIFORM:
    case DIST_Q_UNIFORM: {
        double n = d->kind == DIST_INT_UNIFORM ? d->max - d->min + 1 : ceil((d->max - d->min) / d->q);
        if (!(n <= SWEEP_MAX_RUNS)) {
            *st = failf(err, file, p->line, "%s: %s gives more than %d grid values", p->path,
                        dist_kind_name(d->kind), SWEEP_MAX_RUNS);
            return 0;
        }
        return n < 1 ? 1 : (int)n;
    }
    default:
        *st = failf(err, file, line, "%s.distribution: method grid takes value, values, "
                    "int_uniform or q_uniform (W&B's grid), found %s", p->path,
                    d->kind == DIST_CATEGORICAL_PROB ? "probabilities" : dist_kind_name(d->kind));
        return 0;
    }
}

/* The values list (and probabilities) of a categorical leaf. */
static NnStatus parse_values(const char *file, ParamSpec *p, const YNode *values,
                             const YNode *probs, NnError *err)
{
    char path[320], found[96];
    if (values->kind != YNODE_SEQ)
        return failf(err, file, values->line, "%s.values: expected a non-empty list of values, "
                     "found %s", p->path, ynode_describe(values, found, sizeof found));
    if (values->n == 0)
        return failf(err, file, values->line, "%s.values: expected a non-empty list, found an "
                     "empty list", p->path);
    p->list = values;
    p->dist.n_values = values->n;
    for (int i = 0; i < values->n; i++) {
        snprintf(path, sizeof path, "%s.values[%d]", p->path, i);
        NnStatus st = check_value(file, p, values->items[i], path, err);
        if (st != NN_OK) return st;
    }
    if (!probs) return NN_OK;
    if (probs->kind != YNODE_SEQ)
        return failf(err, file, probs->line, "%s.probabilities: expected a list of numbers, "
                     "found %s", p->path, ynode_describe(probs, found, sizeof found));
    p->probs = nn_calloc((size_t)(probs->n ? probs->n : 1), sizeof *p->probs);
    for (int i = 0; i < probs->n; i++)
        if (!ynode_as_double(probs->items[i], &p->probs[i]))
            return failf(err, file, probs->items[i]->line, "%s.probabilities[%d]: expected a "
                         "number, found %s", p->path, i,
                         ynode_describe(probs->items[i], found, sizeof found));
    p->dist.n_probabilities = probs->n;
    p->dist.probabilities = p->probs;
    return NN_OK;
}

/* One leaf: its form, fields, checks and grid levels. */
static NnStatus parse_leaf(const SweepDoc *doc, const YNode *spec, ParamSpec *p, NnError *err)
{
    const char *file = doc->file;
    char found[96], path[320], list[96];
    if (!spec || spec->kind != YNODE_MAP)
        return failf(err, file, spec ? spec->line : p->line, "%s: expected a mapping with value, "
                     "values, distribution or parameters (e.g. {value: ...}), found %s", p->path,
                     ynode_describe(spec, found, sizeof found));
    const YNode *nodes[N_FIELDS] = {0};
    int have = 0;
    for (int j = 0; j < spec->n; j++) {
        int f = 0;
        while (f < N_FIELDS && strcmp(spec->keys[j], field_names[f]) != 0) f++;
        if (f == N_FIELDS)
            return failf(err, file, spec->key_lines[j], "%s.%s: unknown key (expected value, "
                         "values, probabilities, distribution, min, max, q, mu, sigma, a, b or "
                         "parameters)", p->path, spec->keys[j]);
        nodes[f] = spec->items[j];
        have |= 1 << f;
    }
    int kind;
    const YNode *dn = nodes[3];
    if (dn) {
        DistKind k;
        if (!dn->value || dist_kind_from_name(dn->value, &k) != 0 || dn->kind != YNODE_SCALAR)
            return failf(err, file, dn->line, "%s.distribution: expected constant, categorical, "
                         "categorical_w_probabilities, int_uniform, uniform, q_uniform, "
                         "log_uniform, q_log_uniform, log_uniform_values, q_log_uniform_values, "
                         "inv_log_uniform, inv_log_uniform_values, normal, q_normal, log_normal, "
                         "q_log_normal, beta or q_beta, found %s", p->path,
                         ynode_describe(dn, found, sizeof found));
        kind = (int)k;
    } else if ((kind = infer_kind(have, nodes[4], nodes[5])) < 0) {
        if (have & (F_MU | F_SIGMA | F_A | F_B | F_Q)) {
            int f = 6;
            while (!(have >> f & 1)) f++;
            return failf(err, file, nodes[f]->line, "%s.%s: needs a distribution (%s); W&B "
                         "infers only constant, categorical and the uniform ones", p->path,
                         field_names[f], f == 9 || f == 10 ? "beta or q_beta"
                                         : f == 6 ? "a q_ distribution"
                                                  : "normal, q_normal, log_normal or q_log_normal");
        }
        return failf(err, file, spec->line, "%s: expected value, values, a distribution with "
                     "its fields, or parameters, found none of them", p->path);
    }
    dist_spec_init(&p->dist, (DistKind)kind);
    int allowed, needed;
    kind_fields(p->dist.kind, &allowed, &needed);
    for (int f = 0; f < N_FIELDS; f++) {
        if ((have >> f & 1) && !(allowed >> f & 1)) {
            fields_text(allowed, list, sizeof list);
            if (!dn && (f <= 1 || f == 4 || f == 5)) { /* two forms, no distribution */
                int v = (have & F_VALUE) != 0, vs = (have & F_VALUES) != 0;
                int mm = (have & (F_MIN | F_MAX)) != 0;
                return failf(err, file, spec->line, "%s: value, values and min/max exclude each "
                             "other, found %s%s%s%s%s", p->path, v ? "value" : "",
                             v && vs ? " and " : "", vs ? "values" : "",
                             (v || vs) && mm ? " and " : "", mm ? "min/max" : "");
            }
            return failf(err, file, nodes[f]->line, "%s.%s: distribution %s takes %s, not %s",
                         p->path, field_names[f], dist_kind_name(p->dist.kind), list,
                         field_names[f]);
        }
    }
    for (int f = 0; f < N_FIELDS; f++)
        if ((needed >> f & 1) && !nodes[f]) {
            fields_text(needed, list, sizeof list);
            return failf(err, file, dn ? dn->line : spec->line, "%s.%s: missing (distribution %s "
                         "needs %s)", p->path, field_names[f], dist_kind_name(p->dist.kind), list);
        }

    NnStatus st = NN_OK;
    if (p->dist.kind == DIST_CONSTANT) {
        p->one = nodes[0];
        snprintf(path, sizeof path, "%s.value", p->path);
        st = check_value(file, p, nodes[0], path, err);
    } else if (p->dist.kind == DIST_CATEGORICAL || p->dist.kind == DIST_CATEGORICAL_PROB) {
        st = parse_values(file, p, nodes[1], nodes[2], err);
    } else {
        double *out[N_FIELDS] = {[4] = &p->dist.min, [5] = &p->dist.max, [6] = &p->dist.q,
                                 [7] = &p->dist.mu, [8] = &p->dist.sigma, [9] = &p->dist.a,
                                 [10] = &p->dist.b};
        for (int f = 4; f < N_FIELDS && st == NN_OK; f++)
            if (nodes[f]) st = read_number(file, p, nodes[f], f, out[f], err);
        if (st == NN_OK) st = check_type(file, p, dn ? dn->line : spec->line, err);
        if (st == NN_OK && bounds_are_values(p->dist.kind)) st = check_bounds(file, p, nodes, err);
    }
    if (st != NN_OK) return st;
    NnError why;
    if (dist_check(&p->dist, &why) != NN_OK) {
        /* the message starts with its field: the line of that field */
        int line = dn ? dn->line : spec->line;
        for (int f = 0; f < N_FIELDS; f++) {
            size_t n = strlen(field_names[f]);
            if (nodes[f] && !strncmp(why.msg, field_names[f], n) &&
                (why.msg[n] == ':' || why.msg[n] == '['))
                line = nodes[f]->line;
        }
        return failf(err, file, line, "%s.%s", p->path, why.msg);
    }
    if (p->dist.kind != DIST_CONSTANT && p->dist.kind != DIST_CATEGORICAL &&
        p->dist.kind != DIST_CATEGORICAL_PROB)
        st = check_extremes(file, p, err);
    if (st == NN_OK && doc->method == SWEEP_GRID) {
        p->n_levels = grid_levels(p, file, dn ? dn->line : spec->line, err, &st);
    }
    return st;
}

/* The run config key of a leaf: of its path's names (groups, then its own)
 * joined by '_', the longest tail that is a key; -1 when none is. */
static int leaf_key(const char *const *names, int n)
{
    char joined[256];
    for (int from = 0; from < n; from++) {
        joined[0] = '\0';
        for (int i = from; i < n; i++) {
            size_t len = strlen(joined);
            snprintf(joined + len, sizeof joined - len, "%s%s", i > from ? "_" : "", names[i]);
        }
        int k = config_key_index(joined);
        if (k >= 0) return k;
    }
    return -1;
}

/* Adds the leaves of one `parameters` mapping (depth: its nesting). */
static NnStatus parse_group(SweepDoc *doc, const YNode *params, const char *prefix,
                            const char **names, int depth, NnError *err)
{
    const char *file = doc->file;
    char found[96];
    if (params->kind != YNODE_MAP)
        return failf(err, file, params->line, "%s: expected a mapping of run config keys to value "
                     "specs, found %s", prefix, ynode_describe(params, found, sizeof found));
    if (params->n == 0)
        return failf(err, file, params->line, "%s: expected at least one parameter, found an "
                     "empty mapping", prefix);
    for (int j = 0; j < params->n; j++) {
        const char *k = params->keys[j];
        const YNode *spec = params->items[j];
        char path[320];
        snprintf(path, sizeof path, "%s.%s", prefix, k);
        names[depth] = k;
        const YNode *group = spec && spec->kind == YNODE_MAP ? ynode_get(spec, "parameters") : NULL;
        if (group) {
            if (spec->n != 1) {
                int o = strcmp(spec->keys[0], "parameters") ? 0 : 1;
                return failf(err, file, spec->key_lines[o], "%s: a nested group takes only "
                             "parameters (W&B's parameter dict), found also %s", path,
                             spec->keys[o]);
            }
            if (depth + 1 >= MAX_DEPTH)
                return failf(err, file, params->key_lines[j], "%s: nested deeper than %d groups",
                             path, MAX_DEPTH);
            snprintf(path + strlen(path), sizeof path - strlen(path), ".parameters");
            NnStatus st = parse_group(doc, group, path, names, depth + 1, err);
            if (st != NN_OK) return st;
            continue;
        }
        int ki = leaf_key(names, depth + 1);
        if (ki < 0) return unknown_param(file, params->key_lines[j], path, k, depth > 0, err);
        for (int i = 0; i < doc->n_params; i++)
            if (doc->params[i].config_index == ki)
                return failf(err, file, params->key_lines[j], "%s: sets %s, which %s at line %d "
                             "already sets", path, config_key(ki)->name, doc->params[i].path,
                             doc->params[i].line);
        if ((doc->n_params & (doc->n_params - 1)) == 0)
            doc->params = nn_realloc(doc->params, (size_t)(doc->n_params ? 2 * doc->n_params : 1) *
                                                      sizeof *doc->params);
        ParamSpec *p = &doc->params[doc->n_params++];
        memset(p, 0, sizeof *p);
        p->config_index = ki;
        p->key = config_key(ki)->name;
        p->path = nn_strdup(path);
        p->line = params->key_lines[j];
        p->type = config_key(ki)->type;
        NnStatus st = parse_leaf(doc, spec, p, err);
        if (st != NN_OK) return st;
    }
    return NN_OK;
}

NnStatus sweep_doc_parse_params(SweepDoc *doc, const YNode *params, FILE *notices, NnError *err)
{
    (void)notices;
    const char *names[MAX_DEPTH];
    return parse_group(doc, params, "parameters", names, 0, err);
}

NnStatus sweep_doc_check(const SweepDoc *doc, NnError *err)
{
    if (doc->is_program) return program_doc_check(doc, err);
    if (doc->method == SWEEP_BAYES && doc_dims(doc, NULL, NULL) == 0)
        return failf(err, doc->file, doc->params_line, "parameters: method bayes needs at least "
                     "one parameter to search (every parameter has one value)");
    if (doc->method == SWEEP_GRID || (doc->method == SWEEP_RANDOM && doc->run_cap > 0))
        return NN_OK; /* each expanded run is checked */
    if (doc->metric != SWEEP_VAL_ACCURACY && doc->metric != SWEEP_VAL_LOSS) return NN_OK;
    /* every run a search can make has a validation split: the lowest value
     * of val_split's parameter is above 0 */
    const ParamSpec *p = NULL;
    for (int j = 0; j < doc->n_params; j++)
        if (!strcmp(doc->params[j].key, "val_split")) p = &doc->params[j];
    double lowest = 0;
    if (p) {
        RunConfig c;
        config_defaults(&c);
        if (p->dist.kind == DIST_CONSTANT || p->dist.kind == DIST_CATEGORICAL ||
            p->dist.kind == DIST_CATEGORICAL_PROB) {
            lowest = INFINITY;
            for (int i = 0; i < p->dist.n_values; i++) {
                NnError e;
                NN_CHECK(param_apply_level(&c, p, i, doc->file, &e) == NN_OK, "%s", e.msg);
                lowest = fmin(lowest, c.val_split);
            }
        } else {
            lowest = dist_from_unit(&p->dist, DIST_U_LO);
        }
    }
    if (!(lowest > 0))
        return failf(err, doc->file, doc->metric_line, "metric.name: %s needs a validation split "
                     "in every run, found val_split %g%s", sweep_metric_name(doc->metric), lowest,
                     p ? " among its values" : " (set parameters.val_split)");
    return NN_OK;
}
