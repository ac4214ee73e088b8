/* sweep_program.c - program sweeps (sweep.h: a document with `program` or
 * `command`): the program spec and the free parameters, nested groups
 * included, checked against their distributions (sweep_dist.h), expanded
 * into runs whose config is the JSON that W&B's agent would hand the
 * program (program.h). */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nnsweep/rng.h"
#include "sweep/sweep_dist.h"
#include "sweep_internal.h"

/* One node of the parameter tree: a group (W&B's nested `parameters`) or
 * a leaf with its distribution. */
typedef struct PNode {
    const char *key;   /* borrowed from the document */
    int line;
    int n_children;    /* a group: > 0 */
    struct PNode *children;
    /* a leaf */
    DistSpec dist;
    const YNode *one;  /* constant: `value` */
    const YNode *list; /* categorical kinds: `values` */
    double *probs;     /* categorical_w_probabilities, owned */
    int int_result;    /* int_uniform, or a quantized kind with an integer q */
    int leaf;          /* index among the leaves, in document order */
} PNode;

struct ProgramParams {
    int n_top;
    PNode *top;
    int n_leaves;
    PNode **leaves; /* (n_leaves) in document order */
};

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

static void pnodes_free(PNode *n, int count)
{
    for (int i = 0; i < count; i++) {
        pnodes_free(n[i].children, n[i].n_children);
        free(n[i].probs);
    }
    free(n);
}

void program_doc_free(SweepDoc *doc)
{
    if (doc->pparams) {
        pnodes_free(doc->pparams->top, doc->pparams->n_top);
        free(doc->pparams->leaves);
        free(doc->pparams);
        doc->pparams = NULL;
    }
    if (doc->program) {
        program_spec_free(doc->program);
        free(doc->program);
        doc->program = NULL;
    }
    free(doc->metric_name);
    doc->metric_name = NULL;
}

/* ---- the spec --------------------------------------------------------------------- */

/* The absolute directory of file (the sweep file's). */
static char *file_dir(const char *file)
{
    char buf[PATH_MAX], real[PATH_MAX];
    const char *slash = strrchr(file, '/');
    if (!slash) snprintf(buf, sizeof buf, ".");
    else if (slash == file) snprintf(buf, sizeof buf, "/");
    else snprintf(buf, sizeof buf, "%.*s", (int)(slash - file), file);
    if (realpath(buf, real)) return nn_strdup(real);
    char cwd[PATH_MAX];
    if (buf[0] != '/' && getcwd(cwd, sizeof cwd)) {
        NnBuf b = {0};
        nn_buf_printf(&b, "%s/%s", cwd, buf);
        return b.data;
    }
    return nn_strdup(buf);
}

NnStatus program_doc_spec(SweepDoc *doc, const YNode *root, NnError *err)
{
    char found[96];
    const char *file = doc->file;
    ProgramSpec *p = doc->program = nn_calloc(1, sizeof *p);
    p->dir = file_dir(file);
    for (int i = 0; i < root->n; i++) {
        const YNode *v = root->items[i];
        if (!strcmp(root->keys[i], "program")) {
            p->line = root->key_lines[i];
            if (v->kind != YNODE_SCALAR || !v->value[0])
                return failf(err, file, v->line, "program: expected the program's path, found %s",
                             ynode_describe(v, found, sizeof found));
            p->program = nn_strdup(v->value);
        } else if (!strcmp(root->keys[i], "command")) {
            p->command_line = root->key_lines[i];
            if (v->kind != YNODE_SEQ || v->n == 0)
                return failf(err, file, v->line,
                             "command: expected a non-empty list of strings (W&B's form, e.g. "
                             "[${env}, ${interpreter}, ${program}, ${args}]), found %s",
                             ynode_describe(v, found, sizeof found));
            p->command = nn_calloc((size_t)v->n, sizeof *p->command);
            for (int j = 0; j < v->n; j++) {
                if (v->items[j]->kind != YNODE_SCALAR)
                    return failf(err, file, v->items[j]->line,
                                 "command[%d]: expected a string, found %s", j,
                                 ynode_describe(v->items[j], found, sizeof found));
                p->command[p->n_command++] = nn_strdup(v->items[j]->value);
            }
        }
    }
    if (!p->line) p->line = p->command_line;
    return program_check(p, file, err);
}

/* ---- the parameters ----------------------------------------------------------------- */

static const char *const leaf_keys[] = {"value", "values", "distribution", "min", "max", "mu",
                                        "sigma", "q", "a", "b", "probabilities", NULL};

/* A number field of a distribution (path names it). */
static NnStatus read_number(const char *file, const YNode *v, const char *path, double *out,
                            int *is_int, NnError *err)
{
    char found[96];
    long l;
    if (ynode_as_long(v, &l)) {
        *out = (double)l;
        if (is_int) *is_int = 1;
        return NN_OK;
    }
    if (is_int) *is_int = 0;
    if (ynode_as_double(v, out)) return NN_OK;
    return failf(err, file, v->line, "%s: expected a number, found %s", path,
                 ynode_describe(v, found, sizeof found));
}

/* Parses the leaf spec m (a mapping without `parameters`) at path. */
static NnStatus parse_leaf(const char *file, const YNode *m, const char *path, SweepMethod method,
                           PNode *n, NnError *err)
{
    char found[96], sub[320];
    const YNode *f[11] = {0};
    for (int j = 0; j < m->n; j++) {
        int k = 0;
        while (leaf_keys[k] && strcmp(leaf_keys[k], m->keys[j])) k++;
        if (!leaf_keys[k])
            return failf(err, file, m->key_lines[j],
                         "%s.%s: unknown key (expected value, values, distribution, min, max, "
                         "mu, sigma, q, a, b, probabilities or parameters)", path, m->keys[j]);
        f[k] = m->items[j];
    }
    const YNode *value = f[0], *values = f[1], *dist = f[2];
    DistKind kind;
    if (dist) {
        if (dist->kind != YNODE_SCALAR || dist_kind_from_name(dist->value, &kind) != 0)
            return failf(err, file, dist->line, "%s.distribution: unknown distribution %s", path,
                         ynode_describe(dist, found, sizeof found));
    } else if (value) {
        kind = DIST_CONSTANT;
    } else if (values) {
        kind = f[10] ? DIST_CATEGORICAL_PROB : DIST_CATEGORICAL;
    } else if (f[3] && f[4]) { /* W&B's inference from min and max */
        long l;
        kind = ynode_as_long(f[3], &l) && ynode_as_long(f[4], &l) ? DIST_INT_UNIFORM
                                                                   : DIST_UNIFORM;
    } else {
        return failf(err, file, m->line,
                     "%s: expected value, values, or a distribution with its fields, found none",
                     path);
    }
    dist_spec_init(&n->dist, kind);
    int categorical = kind == DIST_CATEGORICAL || kind == DIST_CATEGORICAL_PROB;
    if (kind == DIST_CONSTANT) {
        if (!value) return failf(err, file, m->line, "%s.value: missing (distribution constant)", path);
        n->one = value;
        n->dist.n_values = 1;
    } else if (value) {
        return failf(err, file, value->line, "%s.value: distribution %s takes no value", path,
                     dist_kind_name(kind));
    }
    if (categorical) {
        if (!values || values->kind != YNODE_SEQ || values->n == 0)
            return failf(err, file, values ? values->line : m->line,
                         "%s.values: expected a non-empty list, found %s", path,
                         values ? ynode_describe(values, found, sizeof found) : "none");
        n->list = values;
        n->dist.n_values = values->n;
    } else if (values) {
        return failf(err, file, values->line, "%s.values: distribution %s takes no values", path,
                     dist_kind_name(kind));
    }
    if (method == SWEEP_GRID && kind != DIST_CONSTANT && !categorical)
        return failf(err, file, dist ? dist->line : m->line,
                     "%s: method grid takes value or values; distribution %s is for random and "
                     "bayes", path, dist_kind_name(kind));
    /* the numeric fields, each where its kind uses it */
    static const char *const num_names[] = {"min", "max", "mu", "sigma", "q", "a", "b"};
    double *dst[] = {&n->dist.min, &n->dist.max, &n->dist.mu, &n->dist.sigma, &n->dist.q,
                     &n->dist.a, &n->dist.b};
    int ints[7] = {0};
    for (int k = 0; k < 7; k++) {
        if (!f[3 + k]) continue;
        snprintf(sub, sizeof sub, "%s.%s", path, num_names[k]);
        NnStatus st = read_number(file, f[3 + k], sub, dst[k], &ints[k], err);
        if (st != NN_OK) return st;
    }
    int needs_range = !categorical && kind != DIST_CONSTANT && kind != DIST_NORMAL &&
                      kind != DIST_Q_NORMAL && kind != DIST_LOG_NORMAL &&
                      kind != DIST_Q_LOG_NORMAL && kind != DIST_BETA && kind != DIST_Q_BETA;
    if (needs_range && (!f[3] || !f[4]))
        return failf(err, file, m->line, "%s.%s: missing (distribution %s needs min and max)",
                     path, f[3] ? "max" : "min", dist_kind_name(kind));
    if (kind == DIST_CATEGORICAL_PROB) {
        const YNode *pr = f[10];
        if (!pr || pr->kind != YNODE_SEQ)
            return failf(err, file, pr ? pr->line : m->line,
                         "%s.probabilities: expected a list of numbers, one per value", path);
        n->probs = nn_calloc((size_t)pr->n + 1, sizeof *n->probs);
        for (int i = 0; i < pr->n; i++) {
            snprintf(sub, sizeof sub, "%s.probabilities[%d]", path, i);
            NnStatus st = read_number(file, pr->items[i], sub, &n->probs[i], NULL, err);
            if (st != NN_OK) return st;
        }
        n->dist.n_probabilities = pr->n;
        n->dist.probabilities = n->probs;
    }
    n->int_result = kind == DIST_INT_UNIFORM ||
                    ((kind == DIST_Q_UNIFORM || kind == DIST_Q_LOG_UNIFORM_VALUES ||
                      kind == DIST_Q_NORMAL || kind == DIST_Q_LOG_NORMAL ||
                      kind == DIST_Q_LOG_UNIFORM || kind == DIST_Q_BETA) &&
                     f[7] && ints[4]);
    NnError why;
    if (dist_check(&n->dist, &why) != NN_OK)
        return failf(err, file, dist ? dist->line : m->line, "%s.%s", path, why.msg);
    return NN_OK;
}

static NnStatus parse_group(const char *file, const YNode *map, const char *path,
                            SweepMethod method, PNode **out, int *n_out, NnError *err);

/* parameters.<key>: a leaf or a nested group */
static NnStatus parse_node(const char *file, const char *key, int line, const YNode *spec,
                           const char *parent, SweepMethod method, PNode *n, NnError *err)
{
    char found[96], path[300];
    snprintf(path, sizeof path, "%s.%s", parent, key);
    n->key = key;
    n->line = line;
    if (!spec || spec->kind != YNODE_MAP)
        return failf(err, file, spec ? spec->line : line,
                     "%s: expected a mapping with value, values, a distribution or parameters, "
                     "found %s", path, ynode_describe(spec, found, sizeof found));
    const YNode *nested = ynode_get(spec, "parameters");
    if (!nested) return parse_leaf(file, spec, path, method, n, err);
    if (spec->n != 1)
        return failf(err, file, line,
                     "%s: a nested group has only `parameters` (found %d keys)", path, spec->n);
    snprintf(path + strlen(path), sizeof path - strlen(path), ".parameters");
    return parse_group(file, nested, path, method, &n->children, &n->n_children, err);
}

static NnStatus parse_group(const char *file, const YNode *map, const char *path,
                            SweepMethod method, PNode **out, int *n_out, NnError *err)
{
    char found[96];
    if (map->kind != YNODE_MAP || map->n == 0)
        return failf(err, file, map->line, "%s: expected a non-empty mapping of parameters, "
                     "found %s", path, ynode_describe(map, found, sizeof found));
    *out = nn_calloc((size_t)map->n, sizeof **out);
    *n_out = map->n;
    for (int i = 0; i < map->n; i++) {
        NnStatus st = parse_node(file, map->keys[i], map->key_lines[i], map->items[i], path,
                                 method, &(*out)[i], err);
        if (st != NN_OK) return st;
    }
    return NN_OK;
}

static void collect_leaves(ProgramParams *pp, PNode *n, int count)
{
    for (int i = 0; i < count; i++) {
        if (n[i].n_children) {
            collect_leaves(pp, n[i].children, n[i].n_children);
            continue;
        }
        n[i].leaf = pp->n_leaves;
        pp->leaves = nn_realloc(pp->leaves, (size_t)(pp->n_leaves + 1) * sizeof *pp->leaves);
        pp->leaves[pp->n_leaves++] = &n[i];
    }
}

NnStatus program_doc_params(SweepDoc *doc, const YNode *params, NnError *err)
{
    ProgramParams *pp = doc->pparams = nn_calloc(1, sizeof *pp);
    NnStatus st = parse_group(doc->file, params, "parameters", doc->method, &pp->top, &pp->n_top,
                              err);
    if (st == NN_OK) collect_leaves(pp, pp->top, pp->n_top);
    return st;
}

/* ---- expansion --------------------------------------------------------------------- */

/* A leaf's value in one run: the index of its value (constant and
 * categorical kinds), or the drawn number. */
typedef struct Pick {
    int index;
    double x;
} Pick;

static void emit_leaf(const PNode *n, const Pick *p, NnBuf *out)
{
    if (n->dist.kind == DIST_CONSTANT) {
        program_value_json(n->one, out);
    } else if (n->list) {
        program_value_json(n->list->items[p->index], out);
    } else if (n->int_result) {
        nn_buf_printf(out, "%lld", (long long)llround(p->x));
    } else {
        char num[40];
        program_py_float(p->x, num, sizeof num);
        nn_buf_append(out, num, strlen(num));
    }
}

static void emit_group(const PNode *n, int count, const Pick *picks, NnBuf *out)
{
    YNode key = {.kind = YNODE_SCALAR, .quoted = 1};
    nn_buf_append(out, "{", 1);
    for (int i = 0; i < count; i++) {
        if (i) nn_buf_append(out, ", ", 2);
        key.value = (char *)n[i].key;
        program_value_json(&key, out);
        nn_buf_append(out, ": ", 2);
        if (n[i].n_children) emit_group(n[i].children, n[i].n_children, picks, out);
        else emit_leaf(&n[i], &picks[n[i].leaf], out);
    }
    nn_buf_append(out, "}", 1);
}

static int leaf_levels(const PNode *n) { return n->list ? n->list->n : 1; }

static void pick_grid(const ProgramParams *pp, long index, Pick *picks)
{
    for (int j = pp->n_leaves - 1; j >= 0; j--) {
        int k = leaf_levels(pp->leaves[j]);
        picks[j] = (Pick){.index = (int)(index % k)};
        index /= k;
    }
}

static void pick_random(const ProgramParams *pp, uint64_t hash, uint64_t draw, Pick *picks)
{
    for (int j = 0; j < pp->n_leaves; j++) {
        uint32_t w[4];
        rng_philox(hash, rng_stream(RNG_STREAM_SWEEP, hash), draw << 16 | (uint64_t)j, w);
        double x = dist_sample(&pp->leaves[j]->dist, dist_u01(w[0], w[1]));
        int categorical = pp->leaves[j]->list != NULL;
        picks[j] = (Pick){.index = categorical ? (int)x : 0, .x = x};
    }
}

/* "optimizer.lr" of a leaf: its key with its groups' keys. */
static int leaf_paths(const PNode *n, int count, const char *prefix, SweepParam *out)
{
    int k = 0;
    for (int i = 0; i < count; i++) {
        NnBuf p = {0};
        nn_buf_printf(&p, "%s%s%s", prefix, *prefix ? "." : "", n[i].key);
        if (n[i].n_children) {
            k += leaf_paths(n[i].children, n[i].n_children, p.data, out + k);
            nn_buf_free(&p);
            continue;
        }
        out[k].key = p.data;
        out[k].line = n[i].line;
        out[k].varies = n[i].list ? n[i].list->n > 1 : n[i].dist.kind != DIST_CONSTANT;
        k++;
    }
    return k;
}

NnStatus program_doc_expand(const SweepDoc *doc, uint64_t hash, FILE *notices, Sweep *out,
                            NnError *err)
{
    const ProgramParams *pp = doc->pparams;
    out->n_params = pp->n_leaves;
    out->params = nn_calloc((size_t)pp->n_leaves + 1, sizeof *out->params);
    leaf_paths(pp->top, pp->n_top, "", out->params);
    if (doc->method == SWEEP_BAYES || (doc->method == SWEEP_RANDOM && doc->run_cap == 0))
        return NN_OK; /* a search strategy adds the runs */
    long total = 1;
    int max_runs;
    if (doc->method == SWEEP_GRID) {
        for (int j = 0; j < pp->n_leaves; j++) {
            total *= leaf_levels(pp->leaves[j]);
            if (total > SWEEP_MAX_RUNS)
                return nn_error_set(err, NN_ERR_INPUT,
                                    "%s:%d: parameters: the grid of sweep %s has more than %d "
                                    "combinations", doc->file, doc->params_line, doc->name,
                                    SWEEP_MAX_RUNS);
        }
        max_runs = (int)total;
        if (doc->run_cap > 0 && doc->run_cap < max_runs) max_runs = doc->run_cap;
    } else {
        max_runs = doc->run_cap;
        total = 10L * doc->run_cap + 1000;
    }
    SweepRun *runs = nn_calloc((size_t)max_runs, sizeof *runs);
    Pick *picks = nn_calloc((size_t)pp->n_leaves + 1, sizeof *picks);
    RunTable table;
    run_table_init(&table, max_runs);
    int n_runs = 0, n_dup = 0;
    for (long a = 0; a < total && n_runs < max_runs; a++) {
        if (doc->method == SWEEP_GRID) pick_grid(pp, a, picks);
        else pick_random(pp, hash, (uint64_t)a, picks);
        NnBuf json = {0};
        emit_group(pp->top, pp->n_top, picks, &json);
        if (run_table_find_or_add(&table, runs, json.data, n_runs) >= 0) {
            n_dup++;
            nn_buf_free(&json);
            continue;
        }
        SweepRun *r = &runs[n_runs++];
        config_defaults(&r->config); /* unused: a program's config is its JSON */
        r->json = json.data;
        r->cost = 1.0; /* unknown: runs go out in expansion order */
        config_run_id_text(r->json, json.len, doc->name, r->id);
    }
    free(table.slots);
    free(picks);
    if (notices && doc->method == SWEEP_GRID && n_dup)
        fprintf(notices, "%s:%d: notice: sweep %s: %d duplicate run%s dropped (identical "
                "configs)\n", doc->file, doc->params_line, doc->name, n_dup, n_dup == 1 ? "" : "s");
    if (notices && doc->method == SWEEP_RANDOM && n_runs < doc->run_cap)
        fprintf(notices, "%s:%d: notice: sweep %s: only %d distinct runs in %ld draws (run_cap "
                "%d): the parameter space is smaller than run_cap\n", doc->file,
                doc->params_line, doc->name, n_runs, total, doc->run_cap);
    out->n_runs = out->cap_runs = n_runs;
    out->runs = runs;
    out->n_duplicates = n_dup;
    return NN_OK;
}

/* The checks of a whole program sweep (sweep_doc_check's): bayes searches
 * at least one parameter. */
NnStatus program_doc_check(const SweepDoc *doc, NnError *err)
{
    if (doc->method == SWEEP_BAYES && program_doc_dims(doc, NULL) == 0)
        return failf(err, doc->file, doc->params_line, "parameters: method bayes needs at least "
                     "one parameter to search (every parameter has one value)");
    return NN_OK;
}

/* ---- the search space (random without run_cap, bayes) -------------------------------- */

int program_doc_dims(const SweepDoc *d, BayesDim *dims)
{
    const ProgramParams *pp = d->pparams;
    int n = 0;
    for (int j = 0; j < pp->n_leaves; j++) {
        BayesDim scratch;
        if (dist_bayes_dim(&pp->leaves[j]->dist, dims ? &dims[n] : &scratch)) n++;
    }
    return n;
}

/* A leaf's pick from x, a sample or a unit coordinate's value (the index
 * for list kinds). */
static Pick pick_of(const PNode *n, double x)
{
    return (Pick){.index = n->list ? (int)x : 0, .x = x};
}

void program_doc_json_from_unit(const SweepDoc *d, const double *u, NnBuf *json)
{
    const ProgramParams *pp = d->pparams;
    Pick *picks = nn_calloc((size_t)pp->n_leaves + 1, sizeof *picks);
    int k = 0;
    for (int j = 0; j < pp->n_leaves; j++) {
        const PNode *n = pp->leaves[j];
        BayesDim dim;
        double x = dist_bayes_dim(&n->dist, &dim) ? dist_from_unit(&n->dist, dist_clamp_u(u[k++]))
                                                  : dist_sample(&n->dist, 0.5);
        picks[j] = pick_of(n, x);
    }
    emit_group(pp->top, pp->n_top, picks, json);
    free(picks);
}

void program_doc_json_from_draw(const SweepDoc *d, uint64_t hash, uint64_t draw, NnBuf *json)
{
    const ProgramParams *pp = d->pparams;
    Pick *picks = nn_calloc((size_t)pp->n_leaves + 1, sizeof *picks);
    pick_random(pp, hash, draw, picks);
    emit_group(pp->top, pp->n_top, picks, json);
    free(picks);
}

/* The unit coordinate of value v of leaf n: 1 and *u, or 0 when the leaf
 * cannot produce it. */
static int leaf_unit(const PNode *n, const YNode *v, double *u)
{
    if (n->dist.kind == DIST_CONSTANT || n->list) {
        NnBuf have = {0};
        program_value_json(v, &have);
        int found = -1, count = n->list ? n->list->n : 1;
        for (int i = 0; i < count && found < 0; i++) {
            NnBuf want = {0};
            program_value_json(n->list ? n->list->items[i] : n->one, &want);
            if (!strcmp(have.data, want.data)) found = i;
            nn_buf_free(&want);
        }
        nn_buf_free(&have);
        if (found < 0) return 0;
        *u = dist_to_unit(&n->dist, found);
        return 1;
    }
    double x;
    if (!v || v->kind != YNODE_SCALAR || !ynode_as_double(v, &x)) return 0;
    double lo = dist_from_unit(&n->dist, DIST_U_LO), hi = dist_from_unit(&n->dist, DIST_U_HI);
    double tol = 1e-12 * fmax(fabs(lo), fabs(hi));
    if (!(x >= lo - tol && x <= hi + tol) || (n->int_result && x != floor(x))) return 0;
    *u = dist_to_unit(&n->dist, x);
    return 1;
}

/* Walks group n (count nodes) and the config mapping m together: the
 * searched leaves' coordinates into u (at *k), NN_ERR_INPUT naming the
 * first value the sweep cannot produce (path: where m is). */
static NnStatus unit_of_group(const PNode *n, int count, const YNode *m, const char *path,
                              double *u, int *k, NnError *err)
{
    if (!m || m->kind != YNODE_MAP || m->n != count)
        return nn_error_set(err, NN_ERR_INPUT, "%s: expected %d parameters, found %s", path,
                            count, m && m->kind == YNODE_MAP ? "others" : "no mapping");
    for (int i = 0; i < count; i++) {
        const YNode *v = ynode_get(m, n[i].key);
        char sub[300];
        snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", n[i].key);
        if (!v) return nn_error_set(err, NN_ERR_INPUT, "%s: missing", sub);
        if (n[i].n_children) {
            NnStatus st = unit_of_group(n[i].children, n[i].n_children, v, sub, u, k, err);
            if (st != NN_OK) return st;
            continue;
        }
        double x;
        if (!leaf_unit(&n[i], v, &x)) {
            NnBuf have = {0};
            program_value_json(v, &have);
            nn_error_set(err, NN_ERR_INPUT, "%s is %.100s, which the sweep (line %d) cannot take",
                         sub, have.data, n[i].line);
            nn_buf_free(&have);
            return NN_ERR_INPUT;
        }
        BayesDim dim;
        if (dist_bayes_dim(&n[i].dist, &dim)) {
            if (u) u[*k] = x;
            (*k)++;
        }
    }
    return NN_OK;
}

NnStatus program_doc_unit_of_json(const SweepDoc *d, const char *json, double *u, NnError *err)
{
    YNode **docs = NULL;
    int n_docs = 0;
    NnError why;
    NnStatus st = ynode_parse(json, strlen(json), "config", &docs, &n_docs, &why);
    if (st != NN_OK || n_docs != 1)
        st = nn_error_set(err, NN_ERR_INPUT, "its config is not JSON (%.300s)",
                          st != NN_OK ? why.msg : "several documents");
    int k = 0;
    if (st == NN_OK)
        st = unit_of_group(d->pparams->top, d->pparams->n_top, docs[0], "", u, &k, err);
    for (int i = 0; i < n_docs; i++) ynode_free(docs[i]);
    free(docs);
    return st;
}

int sweep_add_program_run(Sweep *sw, char *json)
{
    if (sw->n_runs == sw->cap_runs) {
        sw->cap_runs = sw->cap_runs ? 2 * sw->cap_runs : 16;
        sw->runs = nn_realloc(sw->runs, (size_t)sw->cap_runs * sizeof *sw->runs);
    }
    SweepRun *r = &sw->runs[sw->n_runs];
    memset(r, 0, sizeof *r);
    config_defaults(&r->config); /* unused: a program's config is its JSON */
    r->json = json;
    r->cost = 1.0;
    config_run_id_text(json, strlen(json), sw->name, r->id);
    return sw->n_runs++;
}
