/* sweep_parse.c - one sweep document's top-level keys: every key of W&B's
 * sweep schema accepted with its meaning or refused with why, the method,
 * run_cap, the metric and early_terminate (sweep.h describes the format;
 * sweep_param.c the parameters). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sweep_internal.h"

NnStatus sweep_failf(NnError *err, const char *file, int line, const char *fmt, ...)
{
    char msg[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nn_error_set(err, NN_ERR_INPUT, "%s:%d: %s", file, line, msg);
}
#define failf sweep_failf

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

void sweep_doc_free(SweepDoc *doc)
{
    if (!doc) return;
    free(doc->name);
    free(doc->description);
    for (int j = 0; j < doc->n_params; j++) {
        free(doc->params[j].path);
        free(doc->params[j].probs);
        free(doc->params[j].text);
    }
    free(doc->params);
    program_doc_free(doc);
    memset(doc, 0, sizeof *doc);
}

/* ---- the keys of W&B's schema ------------------------------------------------ */

enum { K_OK, K_NOTICE, K_REFUSED };
typedef struct TopKey {
    const char *name;
    int what;
    const char *why; /* K_NOTICE: what nnsweep does instead; K_REFUSED: why */
} TopKey;

static const TopKey top_keys[] = {
    {"name", K_OK, NULL}, {"description", K_OK, NULL}, {"method", K_OK, NULL},
    {"run_cap", K_OK, NULL}, {"count", K_OK, NULL}, {"metric", K_OK, NULL},
    {"parameters", K_OK, NULL}, {"early_terminate", K_OK, NULL},
    {"program", K_OK, NULL}, /* a program sweep (sweep_program.c) */
    {"command", K_OK, NULL},
    {"entity", K_NOTICE, "a W&B account setting; nnsweep records into its results file"},
    {"project", K_NOTICE, "a W&B account setting; nnsweep records into its results file"},
    {"controller", K_NOTICE, "nnsweep's rank 0 is the controller"},
    {"kind", K_NOTICE, "a W&B API field"},
    {"apiVersion", K_NOTICE, "a W&B API field"},
    {"metrics", K_REFUSED, "multi-objective optimization needs method custom and a W&B "
                           "scheduler engine; nnsweep optimizes one metric: use metric"},
    {"scheduler", K_REFUSED, "W&B's scheduler engines (Optuna, Ax) are not part of nnsweep; "
                             "use method grid, random or bayes"},
    {"job", K_REFUSED, "a W&B Launch job; nnsweep trains its own models with the run config "
                       "keys"},
    {"image_uri", K_REFUSED, "W&B Launch; nnsweep trains its own models with the run config "
                             "keys"},
};
#define N_TOP_KEYS ((int)(sizeof top_keys / sizeof top_keys[0]))

/* The schema's type of an ignored key: program, entity, project, kind and
 * apiVersion are strings (kind: "sweep"), command a list, controller a
 * mapping {type: local|cloud}. */
static NnStatus check_ignored(const char *file, const char *k, const YNode *v, NnError *err)
{
    char found[96];
    if (!strcmp(k, "command")) {
        if (v->kind != YNODE_SEQ)
            return failf(err, file, v->line, "command: expected a list (W&B's command), found %s",
                         ynode_describe(v, found, sizeof found));
        return NN_OK;
    }
    if (!strcmp(k, "controller")) {
        const YNode *t = ynode_get(v, "type");
        const char *s = scalar_text(t);
        if (v->kind != YNODE_MAP || !s || (strcmp(s, "local") && strcmp(s, "cloud")))
            return failf(err, file, t ? t->line : v->line,
                         "controller%s: expected %s, found %s", t ? ".type" : "",
                         t ? "local or cloud" : "a mapping {type: local|cloud}",
                         ynode_describe(t ? t : v, found, sizeof found));
        for (int i = 0; i < v->n; i++)
            if (strcmp(v->keys[i], "type") != 0)
                return failf(err, file, v->key_lines[i],
                             "controller.%s: unknown key (expected type)", v->keys[i]);
        return NN_OK;
    }
    if (v->kind != YNODE_SCALAR)
        return failf(err, file, v->line, "%s: expected text, found %s", k,
                     ynode_describe(v, found, sizeof found));
    if (!strcmp(k, "kind") && strcmp(v->value, "sweep") != 0)
        return failf(err, file, v->line, "kind: expected sweep, found %s",
                     ynode_describe(v, found, sizeof found));
    return NN_OK;
}

static NnStatus check_top_keys(const YNode *root, const char *file, FILE *notices, NnError *err)
{
    for (int i = 0; i < root->n; i++) {
        const char *k = root->keys[i];
        const TopKey *t = NULL;
        for (int j = 0; j < N_TOP_KEYS && !t; j++)
            if (!strcmp(k, top_keys[j].name)) t = &top_keys[j];
        if (!t) {
            NnSuggest near;
            nn_suggest_init(&near, k);
            for (int j = 0; j < N_TOP_KEYS; j++) nn_suggest_offer(&near, top_keys[j].name);
            if (near.best)
                return failf(err, file, root->key_lines[i],
                             "%s: not a key of W&B's sweep schema (did you mean '%s'?)", k,
                             near.best);
            return failf(err, file, root->key_lines[i],
                         "%s: not a key of W&B's sweep schema (a sweep has name, description, "
                         "method, run_cap, metric, early_terminate and parameters)", k);
        }
        if (t->what == K_REFUSED)
            return failf(err, file, root->key_lines[i], "%s: not supported: %s", k, t->why);
        if (t->what == K_NOTICE) {
            NnStatus st = check_ignored(file, k, root->items[i], err);
            if (st != NN_OK) return st;
            if (notices)
                fprintf(notices, "%s:%d: notice: %s: ignored (%s)\n", file, root->key_lines[i], k,
                        t->why);
        }
    }
    return NN_OK;
}

/* ---- method, run_cap ---------------------------------------------------------- */

static NnStatus parse_method(const YNode *root, const char *file, SweepDoc *doc, NnError *err)
{
    char found[96];
    const YNode *v = ynode_get(root, "method");
    if (!v) return failf(err, file, root->line, "method: missing (expected grid, random or bayes)");
    const char *m = scalar_text(v);
    if (m && !strcmp(m, "grid")) doc->method = SWEEP_GRID;
    else if (m && !strcmp(m, "random")) doc->method = SWEEP_RANDOM;
    else if (m && !strcmp(m, "bayes")) doc->method = SWEEP_BAYES;
    else if (m && !strcmp(m, "custom"))
        return failf(err, file, v->line, "method: custom needs a W&B scheduler engine (Optuna, "
                     "Ax), which nnsweep does not have; use grid, random or bayes");
    else
        return failf(err, file, v->line, "method: expected grid, random or bayes, found %s",
                     ynode_describe(v, found, sizeof found));

    const YNode *count = ynode_get(root, "count"), *cap = ynode_get(root, "run_cap");
    if (count && cap)
        return failf(err, file, cap->line,
                     "run_cap: count is given too (count is nnsweep's older name for run_cap)");
    const YNode *c = cap ? cap : count;
    if (!c) return NN_OK;
    long n;
    if (!ynode_as_long(c, &n) || n < 1 || n > SWEEP_MAX_RUNS)
        return failf(err, file, c->line, "%s: expected an integer in 1..%d, found %s",
                     cap ? "run_cap" : "count", SWEEP_MAX_RUNS,
                     ynode_describe(c, found, sizeof found));
    doc->run_cap = (int)n;
    doc->run_cap_line = c->line;
    return NN_OK;
}

/* ---- metric -------------------------------------------------------------------------- */

static const char metric_names_text[] =
    "train_loss, train_accuracy, val_loss, val_accuracy, test_loss or test_accuracy";

static NnStatus parse_metric(const char *file, const YNode *m, int line, FILE *notices,
                             SweepDoc *doc, NnError *err)
{
    char found[96];
    doc->metric_line = line;
    if (m->kind != YNODE_MAP)
        return failf(err, file, m->line,
                     "metric: expected a mapping {name: ..., goal: maximize|minimize}, found %s",
                     ynode_describe(m, found, sizeof found));
    static const char *const keys[] = {"name", "goal", "target", "impute",
                                       "impute_while_running"};
    for (int i = 0; i < m->n; i++) {
        int known = 0;
        for (int j = 0; j < 5; j++) known |= !strcmp(m->keys[i], keys[j]);
        if (!known)
            return failf(err, file, m->key_lines[i], "metric.%s: unknown key (expected name, "
                         "goal, target, impute or impute_while_running)", m->keys[i]);
    }
    const YNode *v = ynode_get(m, "name");
    if (!v) return failf(err, file, m->line, "metric.name: missing (expected %s)", metric_names_text);
    const char *s = scalar_text(v);
    if (doc->is_program) { /* a name the program logs */
        if (!s || strlen(s) > RUN_METRIC_NAME_MAX)
            return failf(err, file, v->line,
                         "metric.name: expected the name of a metric the program logs (1 to %d "
                         "bytes), found %s", RUN_METRIC_NAME_MAX,
                         ynode_describe(v, found, sizeof found));
        free(doc->metric_name);
        doc->metric_name = nn_strdup(s);
    } else if (!s || sweep_metric_from_name(s, &doc->metric) != 0) {
        return failf(err, file, v->line, "metric.name: expected %s, found %s", metric_names_text,
                     ynode_describe(v, found, sizeof found));
    }
    doc->metric_line = v->line;
    doc->has_metric = 1;

    doc->goal = SWEEP_MINIMIZE; /* W&B's default */
    if ((v = ynode_get(m, "goal"))) {
        s = scalar_text(v);
        if (s && !strcmp(s, "maximize")) doc->goal = SWEEP_MAXIMIZE;
        else if (s && !strcmp(s, "minimize")) doc->goal = SWEEP_MINIMIZE;
        else
            return failf(err, file, v->line, "metric.goal: expected maximize or minimize, found %s",
                         ynode_describe(v, found, sizeof found));
    } else if (notices && strstr(doc->is_program ? doc->metric_name
                                                 : sweep_metric_name(doc->metric), "acc")) {
        fprintf(notices, "%s:%d: notice: metric.goal: not given, so %s is minimized (W&B's "
                "default); write goal: maximize to maximize it\n", file, doc->metric_line,
                doc->is_program ? doc->metric_name : sweep_metric_name(doc->metric));
    }
    if ((v = ynode_get(m, "target")) && !ynode_as_double(v, &doc->target))
        return failf(err, file, v->line, "metric.target: expected a number, found %s",
                     ynode_describe(v, found, sizeof found));
    if ((v = ynode_get(m, "impute"))) {
        s = scalar_text(v);
        if (s && !strcmp(s, "worst")) doc->impute = SWEEP_IMPUTE_WORST;
        else if (s && !strcmp(s, "best")) doc->impute = SWEEP_IMPUTE_BEST;
        else if (s && !strcmp(s, "latest")) doc->impute = SWEEP_IMPUTE_LATEST;
        else
            return failf(err, file, v->line, "metric.impute: expected worst, best or latest, "
                         "found %s", ynode_describe(v, found, sizeof found));
    }
    if ((v = ynode_get(m, "impute_while_running"))) {
        int b;
        s = scalar_text(v);
        if (!(ynode_as_bool(v, &b) && !b) && !(s && !strcmp(s, "false"))) {
            int wb = s && (!strcmp(s, "latest") || !strcmp(s, "best") || !strcmp(s, "worst"));
            return failf(err, file, v->line, "metric.impute_while_running: %s%s%s", wb ? "" :
                         "expected false, found ", wb ? s : ynode_describe(v, found, sizeof found),
                         wb ? ": not supported (nnsweep's bayes counts running runs as pending "
                              "points of the search, never as observations): use false" : "");
        }
    }
    return NN_OK;
}

/* ---- early_terminate ---------------------------------------------------------------- */

/* An integer >= lo of a hyperband field. */
static NnStatus hb_long(const char *file, const YNode *v, const char *key, long lo, long *out,
                        NnError *err)
{
    char found[96];
    if (!ynode_as_long(v, out) || *out < lo || *out > 100000)
        return failf(err, file, v->line, "early_terminate.%s: expected an integer in %ld..100000, "
                     "found %s", key, lo, ynode_describe(v, found, sizeof found));
    return NN_OK;
}

static NnStatus parse_early_terminate(const char *file, const YNode *e, int line, FILE *notices,
                                      HyperbandSpec *hb, NnError *err)
{
    char found[96];
    if (e->kind != YNODE_MAP)
        return failf(err, file, e->line, "early_terminate: expected a mapping {type: hyperband, "
                     "min_iter: ...}, found %s", ynode_describe(e, found, sizeof found));
    static const char *const keys[] = {"type", "max_iter", "min_iter", "s", "eta", "strict"};
    for (int i = 0; i < e->n; i++) {
        int known = 0;
        for (int j = 0; j < 6; j++) known |= !strcmp(e->keys[i], keys[j]);
        if (!known)
            return failf(err, file, e->key_lines[i], "early_terminate.%s: unknown key (expected "
                         "type, min_iter, max_iter, s, eta or strict)", e->keys[i]);
    }
    const YNode *v = ynode_get(e, "type");
    if (!v) return failf(err, file, e->line, "early_terminate.type: missing (expected hyperband)");
    if (!scalar_text(v) || strcmp(v->value, "hyperband") != 0)
        return failf(err, file, v->line, "early_terminate.type: expected hyperband (W&B's only "
                     "early termination), found %s", ynode_describe(v, found, sizeof found));
    memset(hb, 0, sizeof *hb);
    hb->on = 1;
    hb->line = line;
    hb->eta = 3;
    hb->strict = 1;
    const YNode *max = ynode_get(e, "max_iter"), *s = ynode_get(e, "s"),
                *min = ynode_get(e, "min_iter");
    NnStatus st = NN_OK;
    if (max || s) {
        if (!max || !s)
            return failf(err, file, (max ? max : s)->line, "early_terminate: %s needs %s (W&B's "
                         "hyperband takes max_iter with s, or min_iter)", max ? "max_iter" : "s",
                         max ? "s" : "max_iter");
        if ((st = hb_long(file, max, "max_iter", 1, &hb->max_iter, err)) ||
            (st = hb_long(file, s, "s", 1, &hb->s, err)))
            return st;
        hb->has_max = 1;
        if (min && notices)
            fprintf(notices, "%s:%d: notice: early_terminate.min_iter: ignored: max_iter and s "
                    "are given (W&B uses those)\n", file, min->line);
    } else if (min) {
        if ((st = hb_long(file, min, "min_iter", 1, &hb->min_iter, err))) return st;
    } else {
        return failf(err, file, e->line, "early_terminate: expected min_iter, or max_iter with s "
                     "(the epochs of hyperband's rungs)");
    }
    if ((v = ynode_get(e, "eta")) && (!ynode_as_double(v, &hb->eta) || !(hb->eta > 1) ||
                                      hb->eta > 1e6))
        return failf(err, file, v->line, "early_terminate.eta: expected a number above 1, found %s",
                     ynode_describe(v, found, sizeof found));
    if ((v = ynode_get(e, "strict")) && !ynode_as_bool(v, &hb->strict))
        return failf(err, file, v->line, "early_terminate.strict: expected true or false, found %s",
                     ynode_describe(v, found, sizeof found));
    return NN_OK;
}

/* ---- the document --------------------------------------------------------------------- */

static NnStatus parse_top(const YNode *root, const char *file, const char *default_name,
                          FILE *notices, SweepDoc *doc, NnError *err)
{
    char found[96];
    NnStatus st = check_top_keys(root, file, notices, err);
    if (st != NN_OK) return st;

    const YNode *v = ynode_get(root, "name");
    if (v) {
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
    if ((v = ynode_get(root, "description"))) {
        if (v->kind != YNODE_SCALAR)
            return failf(err, file, v->line, "description: expected text, found %s",
                         ynode_describe(v, found, sizeof found));
        doc->description = nn_strdup(v->value);
    }
    if ((st = parse_method(root, file, doc, err)) != NN_OK) return st;

    doc->metric = SWEEP_TEST_ACCURACY; /* nnsweep's default without a metric */
    doc->goal = SWEEP_MAXIMIZE;
    doc->target = NAN;
    doc->metric_line = root->line;
    for (int i = 0; i < root->n; i++) {
        if (!strcmp(root->keys[i], "metric"))
            st = parse_metric(file, root->items[i], root->key_lines[i], notices, doc, err);
        else if (!strcmp(root->keys[i], "early_terminate"))
            st = parse_early_terminate(file, root->items[i], root->key_lines[i], notices,
                                       &doc->hb, err);
        if (st != NN_OK) return st;
    }
    const YNode *method = ynode_get(root, "method");
    if (doc->method == SWEEP_BAYES && !doc->has_metric)
        return failf(err, file, method->line, "method: bayes needs a metric to optimize (metric: "
                     "{name: val_accuracy, goal: maximize}), as in W&B");
    if (doc->hb.on && !doc->has_metric)
        return failf(err, file, doc->hb.line, "early_terminate: hyperband needs a metric to "
                     "compare runs by (metric: {name: val_accuracy, goal: maximize}), as in W&B");
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

    int i = 0;
    while (i < root->n && strcmp(root->keys[i], "parameters") != 0) i++;
    if (i == root->n) {
        st = failf(err, file, root->line,
                   "parameters: missing (expected a mapping of run config keys to value specs)");
        goto fail;
    }
    doc->params_line = root->key_lines[i];
    st = doc->is_program ? program_doc_params(doc, root->items[i], err) /* the program's names */
                         : sweep_doc_parse_params(doc, root->items[i], notices, err);
    if (st != NN_OK) goto fail;
    return NN_OK;
fail:
    sweep_doc_free(doc);
    return st;
}
