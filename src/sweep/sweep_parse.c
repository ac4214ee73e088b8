/* sweep_parse.c - one sweep document: its keys, the metric and every
 * parameter's value spec, checked against the run config key table
 * (sweep.h describes the format). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sweep_internal.h"

/* "file:line: " + a formatted message, as NN_ERR_INPUT. */
static NnStatus failf(NnError *err, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static NnStatus failf(NnError *err, const char *file, int line, const char *fmt, ...)
{
    char msg[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nn_error_set(err, NN_ERR_INPUT, "%s:%d: %s", file, line, msg);
}

void sweep_error_path(NnError *err, const char *file, int line, const char *key,
                      const char *path)
{
    if (!err) return;
    char prefix[512];
    int n = snprintf(prefix, sizeof prefix, "%s:%d: %s", file, line, key);
    if (n < 0 || (size_t)n >= sizeof prefix || strncmp(err->msg, prefix, (size_t)n) != 0) return;
    char rest[sizeof err->msg];
    memcpy(rest, err->msg + n, strlen(err->msg + n) + 1);
    nn_error_set(err, NN_ERR_INPUT, "%s:%d: %s%s", file, line, path, rest);
}

int param_n_values(const ParamSpec *p) { return p->list ? p->list->n : 1; }

NnStatus param_apply(RunConfig *c, const ParamSpec *p, int i, const char *file, NnError *err)
{
    if (p->text) {
        char where[128];
        snprintf(where, sizeof where, "--set %s", p->key);
        return config_set_text(c, p->key, p->text, where, err);
    }
    return config_set_node(c, p->key, p->list ? p->list->items[i] : p->one, file, err);
}

/* Index of key in a mapping node, or -1. */
static int key_index(const YNode *map, const char *key)
{
    for (int i = 0; i < map->n; i++)
        if (strcmp(map->keys[i], key) == 0) return i;
    return -1;
}

/* Text of a non-empty scalar, else NULL. */
static const char *scalar_text(const YNode *n)
{
    return (n && n->kind == YNODE_SCALAR && n->value[0]) ? n->value : NULL;
}

static int name_char(char ch, int first)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
        ch == '_')
        return 1;
    return !first && (ch == '.' || ch == '-');
}

int sweep_name_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > SWEEP_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i], i == 0)) return 0;
    return 1;
}

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

static NnStatus unknown_param(const char *file, int line, const char *key, NnError *err)
{
    for (size_t i = 0; i < sizeof wandb_aliases / sizeof wandb_aliases[0]; i++)
        if (strcmp(key, wandb_aliases[i][0]) == 0)
            return failf(err, file, line,
                         "parameters.%s: unknown run config key (nnsweep's name for it is %s)",
                         key, wandb_aliases[i][1]);
    NnSuggest near;
    nn_suggest_init(&near, key);
    for (int i = 0; i < config_n_keys(); i++) nn_suggest_offer(&near, config_key(i)->name);
    if (near.best)
        return failf(err, file, line,
                     "parameters.%s: unknown run config key (did you mean '%s'? `nnsweep train "
                     "--help` lists every key)",
                     key, near.best);
    return failf(err, file, line,
                 "parameters.%s: unknown run config key (`nnsweep train --help` lists every key)",
                 key);
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

static const char *type_words(ConfigType t)
{
    switch (t) {
    case CT_INT: return "integers; use int_uniform";
    case CT_BOOL: return "true or false; use value or values";
    case CT_ENUM: return "names; use value or values";
    default: return "lists; use value or values";
    }
}

/* Reads min or max of a distribution as a number of the right kind and
 * checks it as a value of the key. */
static NnStatus read_bound(const char *file, const ParamSpec *p, const YNode *v, const char *which,
                           const char *dist, double *out, NnError *err)
{
    char path[160], found[96];
    snprintf(path, sizeof path, "parameters.%s.%s", p->key, which);
    long l;
    if (p->kind == PARAM_INT_UNIFORM) {
        if (!ynode_as_long(v, &l))
            return failf(err, file, v->line, "%s: expected an integer (distribution %s), found %s",
                         path, dist, ynode_describe(v, found, sizeof found));
        *out = (double)l;
    } else if (!ynode_as_double(v, out)) {
        return failf(err, file, v->line, "%s: expected a number (distribution %s), found %s", path,
                     dist, ynode_describe(v, found, sizeof found));
    }
    return check_value(file, p, v, path, err);
}

static const char *const dist_names[] = {"constant", "categorical", "uniform",
                                         "log_uniform_values", "int_uniform", NULL};

/* Parses parameters.<key>: <spec> into *p. */
static NnStatus parse_param(const char *file, const char *key, int key_line, const YNode *spec,
                            SweepMethod method, ParamSpec *p, NnError *err)
{
    char found[96], path[160];
    memset(p, 0, sizeof *p);
    p->key = key;
    p->line = key_line;
    p->config_index = config_key_index(key);
    if (p->config_index < 0) return unknown_param(file, key_line, key, err);
    p->type = config_key(p->config_index)->type;
    if (!spec || spec->kind != YNODE_MAP)
        return failf(err, file, spec ? spec->line : key_line,
                     "parameters.%s: expected a mapping with value, values or distribution "
                     "(e.g. {value: ...}), found %s",
                     key, ynode_describe(spec, found, sizeof found));

    const YNode *value = NULL, *values = NULL, *dist = NULL, *min = NULL, *max = NULL;
    for (int j = 0; j < spec->n; j++) {
        const char *k = spec->keys[j];
        const YNode *v = spec->items[j];
        if (strcmp(k, "value") == 0) value = v;
        else if (strcmp(k, "values") == 0) values = v;
        else if (strcmp(k, "distribution") == 0) dist = v;
        else if (strcmp(k, "min") == 0) min = v;
        else if (strcmp(k, "max") == 0) max = v;
        else if (strcmp(k, "parameters") == 0)
            return failf(err, file, spec->key_lines[j],
                         "parameters.%s.parameters: nested parameters are not supported (each "
                         "parameter is one run config key)", key);
        else
            return failf(err, file, spec->key_lines[j],
                         "parameters.%s.%s: unknown key (expected value, values, distribution, "
                         "min or max)", key, k);
    }

    const char *dname = NULL;
    if (dist) {
        dname = scalar_text(dist);
        int known = 0;
        for (int j = 0; dname && dist_names[j]; j++) known |= strcmp(dname, dist_names[j]) == 0;
        if (dname && strcmp(dname, "log_uniform") == 0)
            return failf(err, file, dist->line,
                         "parameters.%s.distribution: log_uniform takes min and max as exponents "
                         "of e in W&B; write log_uniform_values with the values themselves", key);
        if (!known)
            return failf(err, file, dist->line,
                         "parameters.%s.distribution: expected uniform, log_uniform_values, "
                         "int_uniform, categorical or constant, found %s",
                         key, ynode_describe(dist, found, sizeof found));
    }
    int n_forms = (value != NULL) + (values != NULL) + (min != NULL || max != NULL);
    if (n_forms == 0)
        return failf(err, file, spec->line,
                     "parameters.%s: expected value, values, or distribution with min and max, "
                     "found none of them", key);
    if (n_forms > 1)
        return failf(err, file, spec->line,
                     "parameters.%s: value, values and min/max exclude each other, found %s",
                     key, !value ? "values and min/max" : !values ? "value and min/max"
                          : (min || max) ? "value, values and min/max" : "value and values");

    const char *form = value ? "value" : values ? "values" : "min and max";
    if (!dname) { /* W&B's inference */
        long l;
        if (value) dname = "constant";
        else if (values) dname = "categorical";
        else dname = (min && max && ynode_as_long(min, &l) && ynode_as_long(max, &l))
                         ? "int_uniform" : "uniform";
    } else if ((strcmp(dname, "constant") == 0 && !value) ||
               (strcmp(dname, "categorical") == 0 && !values) ||
               (strcmp(dname, "constant") != 0 && strcmp(dname, "categorical") != 0 &&
                (value || values))) {
        const char *needs = strcmp(dname, "constant") == 0      ? "value"
                            : strcmp(dname, "categorical") == 0 ? "values"
                                                                : "min and max";
        return failf(err, file, dist->line,
                     "parameters.%s.distribution: %s takes %s, found %s", key, dname, needs,
                     form);
    }

    if (value || values) {
        p->kind = PARAM_VALUES;
        if (value) {
            p->one = value;
            snprintf(path, sizeof path, "parameters.%s.value", key);
            return check_value(file, p, value, path, err);
        }
        if (values->kind != YNODE_SEQ)
            return failf(err, file, values->line,
                         "parameters.%s.values: expected a non-empty list of values, found %s",
                         key, ynode_describe(values, found, sizeof found));
        if (values->n == 0)
            return failf(err, file, values->line,
                         "parameters.%s.values: expected a non-empty list, found an empty list",
                         key);
        p->list = values;
        for (int i = 0; i < values->n; i++) {
            snprintf(path, sizeof path, "parameters.%s.values[%d]", key, i);
            NnStatus st = check_value(file, p, values->items[i], path, err);
            if (st != NN_OK) return st;
        }
        return NN_OK;
    }

    /* a distribution with min and max */
    int where = dist ? dist->line : (min ? min->line : max->line);
    if (method == SWEEP_GRID)
        return failf(err, file, where,
                     "parameters.%s%s: method grid takes value or values; %s is for method random",
                     key, dist ? ".distribution" : "", dist ? dname : "min/max");
    if (!min || !max)
        return failf(err, file, spec->line, "parameters.%s.%s: missing (distribution %s needs "
                     "min and max)", key, min ? "max" : "min", dname);
    if (strcmp(dname, "int_uniform") == 0) {
        p->kind = PARAM_INT_UNIFORM;
        if (p->type != CT_INT && p->type != CT_FLOAT)
            return failf(err, file, where, "parameters.%s.distribution: %s draws integers but "
                         "%s takes %s", key, dname, key, type_words(p->type));
    } else {
        p->kind = strcmp(dname, "uniform") == 0 ? PARAM_UNIFORM : PARAM_LOG_UNIFORM;
        if (p->type != CT_FLOAT)
            return failf(err, file, where, "parameters.%s.distribution: %s draws real numbers "
                         "but %s takes %s", key, dname, key, type_words(p->type));
    }
    NnStatus st = read_bound(file, p, min, "min", dname, &p->min, err);
    if (st == NN_OK) st = read_bound(file, p, max, "max", dname, &p->max, err);
    if (st != NN_OK) return st;
    if (!(p->min < p->max))
        return failf(err, file, max->line,
                     "parameters.%s.max: expected a value above min (%s), found %s", key,
                     min->value, ynode_describe(max, found, sizeof found));
    if (p->kind == PARAM_LOG_UNIFORM && !(p->min > 0))
        return failf(err, file, min->line,
                     "parameters.%s.min: expected a number above 0 (log_uniform_values), found %s",
                     key, ynode_describe(min, found, sizeof found));
    return NN_OK;
}

void sweep_doc_free(SweepDoc *doc)
{
    if (!doc) return;
    free(doc->name);
    free(doc->description);
    free(doc->params);
    program_doc_free(doc);
    memset(doc, 0, sizeof *doc);
}

static const char *const ignored_keys[] = {"project", "entity", NULL};
static const char *const top_keys[] = {"name",   "description", "method",     "count", "run_cap",
                                       "metric", "parameters",  "program", "command", NULL};

static NnStatus parse_metric(const char *file, const YNode *m, int line, SweepDoc *doc,
                             NnError *err)
{
    char found[96];
    doc->metric_line = line;
    if (m->kind != YNODE_MAP)
        return failf(err, file, m->line,
                     "metric: expected a mapping {name: test_accuracy|val_accuracy, goal: "
                     "maximize|minimize}, found %s", ynode_describe(m, found, sizeof found));
    int have_name = 0;
    for (int i = 0; i < m->n; i++) {
        const char *k = m->keys[i], *s = scalar_text(m->items[i]);
        if (strcmp(k, "name") == 0 && doc->is_program) { /* the program's own name */
            have_name = 1;
            doc->metric_line = m->items[i]->line;
            if (!s || m->items[i]->kind != YNODE_SCALAR || strlen(s) > RUN_METRIC_NAME_MAX)
                return failf(err, file, m->items[i]->line,
                             "metric.name: expected the name of a metric the program logs (1 to "
                             "%d bytes), found %s", RUN_METRIC_NAME_MAX,
                             ynode_describe(m->items[i], found, sizeof found));
            free(doc->metric_name);
            doc->metric_name = nn_strdup(s);
        } else if (strcmp(k, "name") == 0) {
            have_name = 1;
            doc->metric_line = m->items[i]->line;
            if (s && strcmp(s, "test_accuracy") == 0) doc->metric = SWEEP_TEST_ACCURACY;
            else if (s && strcmp(s, "val_accuracy") == 0) doc->metric = SWEEP_VAL_ACCURACY;
            else
                return failf(err, file, m->items[i]->line,
                             "metric.name: expected test_accuracy or val_accuracy, found %s",
                             ynode_describe(m->items[i], found, sizeof found));
        } else if (strcmp(k, "goal") == 0) {
            if (s && strcmp(s, "maximize") == 0) doc->goal = SWEEP_MAXIMIZE;
            else if (s && strcmp(s, "minimize") == 0) doc->goal = SWEEP_MINIMIZE;
            else
                return failf(err, file, m->items[i]->line,
                             "metric.goal: expected maximize or minimize, found %s",
                             ynode_describe(m->items[i], found, sizeof found));
        } else {
            return failf(err, file, m->key_lines[i],
                         "metric.%s: unknown key (expected name and goal)", k);
        }
    }
    if (!have_name)
        return failf(err, file, m->line,
                     "metric.name: missing (expected test_accuracy or val_accuracy)");
    return NN_OK;
}

static NnStatus parse_top(const YNode *root, const char *file, const char *default_name,
                          FILE *notices, SweepDoc *doc, NnError *err)
{
    char found[96];
    for (int i = 0; i < root->n; i++) {
        const char *k = root->keys[i];
        int known = 0, ignored = 0;
        for (int j = 0; top_keys[j]; j++) known |= strcmp(k, top_keys[j]) == 0;
        for (int j = 0; ignored_keys[j]; j++) ignored |= strcmp(k, ignored_keys[j]) == 0;
        if (ignored) {
            if (notices)
                fprintf(notices, "%s:%d: notice: %s: ignored (a W&B cloud setting; nnsweep "
                        "records into its results file)\n", file, root->key_lines[i], k);
        } else if (!known) {
            return failf(err, file, root->key_lines[i],
                         "%s: not supported (a sweep has name, description, method, count, "
                         "metric, parameters, and program and command for a program of your "
                         "own; W&B's project and entity are ignored)", k);
        }
    }

    int i = key_index(root, "name");
    if (i >= 0) {
        const YNode *v = root->items[i];
        const char *s = v->kind == YNODE_SCALAR ? v->value : NULL;
        if (!sweep_name_valid(s))
            return failf(err, file, v->line,
                         "name: expected at most %d letters, digits, '_', '.' or '-', not "
                         "starting with '.' or '-' (it names an HDF5 group), found %s",
                         SWEEP_NAME_MAX, ynode_describe(v, found, sizeof found));
        doc->name = nn_strdup(s);
        doc->name_line = v->line;
    } else {
        doc->name = nn_strdup(default_name);
        doc->name_line = root->line;
    }

    if ((i = key_index(root, "description")) >= 0) {
        const YNode *v = root->items[i];
        if (v->kind != YNODE_SCALAR)
            return failf(err, file, v->line, "description: expected text, found %s",
                         ynode_describe(v, found, sizeof found));
        doc->description = nn_strdup(v->value);
    }

    if ((i = key_index(root, "method")) < 0)
        return failf(err, file, root->line, "method: missing (expected grid or random)");
    const char *m = scalar_text(root->items[i]);
    if (m && strcmp(m, "grid") == 0) doc->method = SWEEP_GRID;
    else if (m && strcmp(m, "random") == 0) doc->method = SWEEP_RANDOM;
    else
        return failf(err, file, root->items[i]->line,
                     "method: expected grid or random, found %s%s",
                     ynode_describe(root->items[i], found, sizeof found),
                     m && strcmp(m, "bayes") == 0 ? " (bayes search is not supported)" : "");

    int ic = key_index(root, "count"), ir = key_index(root, "run_cap");
    if (ic >= 0 && ir >= 0)
        return failf(err, file, root->key_lines[ir],
                     "run_cap: count is given too (run_cap is W&B's name for count)");
    if (ic < 0) ic = ir;
    const char *count_key = ic >= 0 ? root->keys[ic] : "count";
    if (doc->method == SWEEP_GRID && ic >= 0)
        return failf(err, file, root->key_lines[ic],
                     "%s: only method random takes a count (method grid runs every "
                     "combination)", count_key);
    if (doc->method == SWEEP_RANDOM) {
        long c;
        if (ic < 0)
            return failf(err, file, root->line,
                         "count: missing (method random needs the number of runs, e.g. count: "
                         "20)");
        if (!ynode_as_long(root->items[ic], &c) || c < 1 || c > SWEEP_MAX_RUNS)
            return failf(err, file, root->items[ic]->line,
                         "%s: expected an integer in 1..%d, found %s", count_key, SWEEP_MAX_RUNS,
                         ynode_describe(root->items[ic], found, sizeof found));
        doc->count = (int)c;
    }

    doc->metric = SWEEP_TEST_ACCURACY;
    doc->goal = SWEEP_MAXIMIZE;
    doc->metric_line = root->line;
    if ((i = key_index(root, "metric")) >= 0) {
        NnStatus st = parse_metric(file, root->items[i], root->key_lines[i], doc, err);
        if (st != NN_OK) return st;
    }
    return NN_OK;
}

NnStatus sweep_doc_parse(const YNode *root, const char *file, const char *default_name,
                         FILE *notices, SweepDoc *doc, NnError *err)
{
    char found[96];
    memset(doc, 0, sizeof *doc);
    doc->file = file;
    doc->root = root;
    if (!root || root->kind != YNODE_MAP)
        return failf(err, file, root ? root->line : 1,
                     "expected a sweep (a mapping with method and parameters), found %s",
                     ynode_describe(root, found, sizeof found));
    doc->is_program = ynode_get(root, "program") || ynode_get(root, "command");
    NnStatus st = parse_top(root, file, default_name, notices, doc, err);
    if (st == NN_OK && doc->is_program) st = program_doc_spec(doc, root, err);
    if (st != NN_OK) goto fail;

    int i = key_index(root, "parameters");
    if (i < 0) {
        st = failf(err, file, root->line,
                   "parameters: missing (expected a mapping of run config keys to value specs)");
        goto fail;
    }
    const YNode *params = root->items[i];
    doc->params_line = root->key_lines[i];
    if (params->kind != YNODE_MAP) {
        st = failf(err, file, params->line,
                   "parameters: expected a mapping of run config keys to value specs, found %s",
                   ynode_describe(params, found, sizeof found));
        goto fail;
    }
    if (params->n == 0) {
        st = failf(err, file, params->line,
                   "parameters: expected at least one parameter, found an empty mapping");
        goto fail;
    }
    if (doc->is_program) { /* free names: the program's own */
        st = program_doc_params(doc, params, err);
        if (st != NN_OK) goto fail;
        return NN_OK;
    }
    doc->params = nn_calloc((size_t)params->n, sizeof *doc->params);
    doc->n_params = params->n;
    for (int j = 0; j < params->n; j++) {
        st = parse_param(file, params->keys[j], params->key_lines[j], params->items[j],
                         doc->method, &doc->params[j], err);
        if (st != NN_OK) goto fail;
    }
    return NN_OK;
fail:
    sweep_doc_free(doc);
    return st;
}
