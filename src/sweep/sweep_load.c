/* sweep_load.c - sweep files into a SweepSet: documents, their exact text
 * (libyaml's document marks), names (given or derived, unique in the set),
 * the random-search hash, the overrides, and the set's lifetime (sweep.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "sweep_internal.h"

const char *sweep_method_name(SweepMethod m)
{
    return m == SWEEP_RANDOM ? "random" : m == SWEEP_BAYES ? "bayes" : "grid";
}

const char *sweep_goal_name(SweepGoal g) { return g == SWEEP_MINIMIZE ? "minimize" : "maximize"; }

const char *sweep_impute_name(SweepImpute i)
{
    return i == SWEEP_IMPUTE_BEST ? "best" : i == SWEEP_IMPUTE_LATEST ? "latest" : "worst";
}

/* Byte offset of libyaml's mark index, which counts characters (a CRLF as
 * two) after an optional UTF-8 byte order mark. */
static size_t mark_to_byte(const char *text, size_t len, size_t index)
{
    size_t b = (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) ? 3 : 0;
    for (size_t chars = 0; b < len && chars < index; chars++) {
        b++;
        while (b < len && ((unsigned char)text[b] & 0xC0) == 0x80) b++;
    }
    return b;
}

/* Byte offsets where each document of text ends (libyaml's document-end
 * marks); *ends has *n entries, owned by the caller. */
static NnStatus doc_ends(const char *text, size_t len, const char *file, size_t **ends, int *n,
                         NnError *err)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    NnStatus st = NN_OK;
    *ends = NULL;
    *n = 0;
    NN_CHECK(yaml_parser_initialize(&parser), "yaml_parser_initialize failed");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    for (int done = 0; !done;) {
        if (!yaml_parser_parse(&parser, &ev)) {
            st = nn_error_set(err, NN_ERR_INPUT, "%s:%zu: YAML syntax error: %s", file,
                              parser.problem_mark.line + 1,
                              parser.problem ? parser.problem : "unknown problem");
            break;
        }
        if (ev.type == YAML_DOCUMENT_END_EVENT) {
            *ends = nn_realloc(*ends, (size_t)(*n + 1) * sizeof **ends);
            (*ends)[(*n)++] = mark_to_byte(text, len, ev.end_mark.index);
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    if (st != NN_OK) {
        free(*ends);
        *ends = NULL;
        *n = 0;
    }
    return st;
}

/* A sweep name from a path: the file's stem with characters outside
 * [A-Za-z0-9_.-] replaced by '_' (and a leading '.' or '-'). */
static void name_from_path(const char *path, char *out, size_t size)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    const char *exts[] = {".yaml", ".yml"};
    for (int i = 0; i < 2; i++) {
        size_t e = strlen(exts[i]);
        if (n > e && strcmp(base + n - e, exts[i]) == 0) {
            n -= e;
            break;
        }
    }
    if (n > size - 1) n = size - 1;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = base[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '_' || (j > 0 && (ch == '.' || ch == '-'));
        out[j++] = ok ? ch : '_';
    }
    out[j] = '\0';
    if (j == 0) snprintf(out, size, "sweep");
}

static void sweep_free_one(Sweep *s)
{
    free(s->name);
    free(s->file);
    free(s->spec);
    free(s->description);
    free(s->overrides);
    for (int j = 0; j < s->n_params; j++) free(s->params[j].key);
    free(s->params);
    sweep_runs_free(s->runs, s->n_runs);
    sweep_space_free(s->space);
    if (s->strategy) s->strategy->destroy(s->strategy);
    if (s->stop) s->stop->destroy(s->stop);
}

void sweep_set_free(SweepSet *set)
{
    if (!set) return;
    for (int i = 0; i < set->n_sweeps; i++) sweep_free_one(&set->sweeps[i]);
    free(set->sweeps);
    memset(set, 0, sizeof *set);
}

/* The sweep named `name` among set's and the first n of fresh, or NULL. */
static const Sweep *find_name(const SweepSet *set, const Sweep *fresh, int n, const char *name)
{
    for (int i = 0; i < set->n_sweeps; i++)
        if (strcmp(set->sweeps[i].name, name) == 0) return &set->sweeps[i];
    for (int i = 0; i < n; i++)
        if (strcmp(fresh[i].name, name) == 0) return &fresh[i];
    return NULL;
}

/* Parses, checks, overrides and expands document *root, filling *s; the
 * sweep's space takes the tree (*root is NULL then). */
static NnStatus load_doc(const SweepSet *set, const Sweep *fresh, int k, int n_sweeps,
                         YNode **root, const char *file, const char *stem, const char *spec,
                         size_t spec_len, const SweepOverrides *over, FILE *notices, Sweep *s,
                         NnError *err)
{
    char default_name[SWEEP_NAME_MAX + 16];
    if (n_sweeps > 1)
        snprintf(default_name, sizeof default_name, "%.*s_%d", SWEEP_NAME_MAX - 8, stem, k + 1);
    else
        snprintf(default_name, sizeof default_name, "%s", stem);
    SweepSpace *space = nn_calloc(1, sizeof *space);
    SweepDoc *doc = &space->doc;
    NnStatus st = sweep_doc_parse(*root, file, default_name, notices, doc, err);
    if (st != NN_OK) {
        free(space);
        return st;
    }
    space->root = *root;
    *root = NULL;

    /* random draws and the search are keyed by the name and the document's
     * values as written, before any override */
    NnBuf json = {0};
    ynode_to_json(space->root, &json);
    uint64_t hash = nn_hash64(doc->name, strlen(doc->name) + 1, 0x6e6e7377656570ull);
    hash = nn_hash64(json.data, json.len, hash);
    nn_buf_free(&json);

    NnBuf over_text = {0};
    if (over) sweep_overrides_text(over, &over_text);
    if (over) st = sweep_doc_override(doc, over, err);
    if (st == NN_OK) st = sweep_doc_check(doc, err);
    const Sweep *other = st == NN_OK ? find_name(set, fresh, k, doc->name) : NULL;
    if (other) {
        int given = ynode_get(space->root, "name") != NULL;
        st = nn_error_set(err, NN_ERR_INPUT,
                          "%s:%d: name: sweep name %s%s is already used by %s:%d (names must be "
                          "unique across the files loaded together%s)",
                          file, doc->name_line, doc->name, given ? "" : " (from the file name)",
                          other->file, other->line, given ? "" : "; give this sweep a name:");
    }
    memset(s, 0, sizeof *s);
    if (st == NN_OK) st = sweep_doc_expand(doc, hash, notices, s, err);
    if (st == NN_OK && doc->hb.on && !(s->stop = sweep_hyperband_create(&doc->hb, doc_max_epochs(doc), file, err)))
        st = NN_ERR_INPUT;
    if (st != NN_OK) {
        sweep_runs_free(s->runs, s->n_runs);
        for (int j = 0; j < s->n_params; j++) free(s->params[j].key);
        free(s->params);
        memset(s, 0, sizeof *s);
        sweep_space_free(space);
        nn_buf_free(&over_text);
        return st;
    }
    s->name = nn_strdup(doc->name);
    s->description = doc->description ? nn_strdup(doc->description) : NULL;
    s->file = nn_strdup(file);
    s->line = space->root->line;
    s->doc_index = k;
    s->spec = nn_malloc(spec_len + 1);
    memcpy(s->spec, spec, spec_len);
    s->spec[spec_len] = '\0';
    s->method = doc->method;
    s->run_cap = doc->run_cap;
    s->metric = doc->metric;
    s->goal = doc->goal;
    s->target = doc->target;
    s->impute = doc->impute;
    s->hash = hash;
    s->space = space;
    s->program = doc->program; /* the space's */
    s->metric_name = doc->metric_name;
    s->overrides = over_text.len ? over_text.data : NULL;
    over_text.data = NULL;
    nn_buf_free(&over_text);
    int search = s->method == SWEEP_BAYES || (s->method == SWEEP_RANDOM && s->run_cap == 0);
    s->strategy = search ? sweep_search_strategy(s) : sweep_list_strategy(s);
    return NN_OK;
}

NnStatus sweep_load_text(SweepSet *set, const char *text, size_t len, const char *file,
                         const SweepOverrides *over, FILE *notices, NnError *err)
{
    YNode **docs = NULL;
    int n_docs = 0, n_ends = 0, n_sweeps = 0, k = 0;
    size_t *ends = NULL;
    Sweep *fresh = NULL;
    NnStatus st = ynode_parse(text, len, file, &docs, &n_docs, err);
    if (st == NN_OK) st = doc_ends(text, len, file, &ends, &n_ends, err);
    if (st != NN_OK) goto done;
    NN_CHECK(n_ends == n_docs, "%s: libyaml gave %d document ends for %d documents", file, n_ends,
             n_docs);
    for (int d = 0; d < n_docs; d++) n_sweeps += docs[d] != NULL;
    if (n_sweeps == 0) {
        st = nn_error_set(err, NN_ERR_INPUT,
                          "%s:1: expected at least one sweep (a mapping with method and "
                          "parameters), found an empty file", file);
        goto done;
    }
    char stem[SWEEP_NAME_MAX + 1];
    name_from_path(file, stem, sizeof stem);
    fresh = nn_calloc((size_t)n_sweeps, sizeof *fresh);
    for (int d = 0; d < n_docs; d++) {
        if (!docs[d]) continue; /* an empty document ("---" alone) */
        /* a document's text runs from the end of the previous one (so its
         * leading comments belong to it); the last one to the end of file */
        size_t from = d ? ends[d - 1] : 0, to = d == n_docs - 1 ? len : ends[d];
        if (to < from) to = from;
        st = load_doc(set, fresh, k, n_sweeps, &docs[d], file, stem, text + from, to - from,
                      over, notices, &fresh[k], err);
        if (st != NN_OK) goto done;
        k++;
    }
    set->sweeps = nn_realloc(set->sweeps, (size_t)(set->n_sweeps + k) * sizeof *set->sweeps);
    for (int i = 0; i < k; i++) {
        set->n_runs += fresh[i].n_runs;
        set->sweeps[set->n_sweeps++] = fresh[i];
    }
    k = 0; /* moved into the set */
done:
    for (int i = 0; i < k; i++) sweep_free_one(&fresh[i]);
    free(fresh);
    free(ends);
    for (int d = 0; d < n_docs; d++) ynode_free(docs[d]);
    free(docs);
    return st;
}

NnStatus sweep_load_file(SweepSet *set, const char *path, const SweepOverrides *over,
                         FILE *notices, NnError *err)
{
    NnBuf text = {0};
    NnStatus st = nn_buf_read_file(&text, path, err);
    if (st == NN_OK)
        st = sweep_load_text(set, text.data ? text.data : "", text.len, path, over, notices, err);
    nn_buf_free(&text);
    return st;
}

NnStatus sweep_load_files(SweepSet *set, const char *const *paths, int n_paths,
                          const SweepOverrides *over, FILE *notices, NnError *err)
{
    memset(set, 0, sizeof *set);
    for (int i = 0; i < n_paths; i++) {
        NnStatus st = sweep_load_file(set, paths[i], over, notices, err);
        if (st != NN_OK) {
            sweep_set_free(set);
            return st;
        }
    }
    return NN_OK;
}

const SweepRun *sweep_set_find_run(const SweepSet *set, const char *id, const Sweep **sweep)
{
    for (int i = 0; i < set->n_sweeps; i++)
        for (int r = 0; r < set->sweeps[i].n_runs; r++)
            if (strcmp(set->sweeps[i].runs[r].id, id) == 0) {
                if (sweep) *sweep = &set->sweeps[i];
                return &set->sweeps[i].runs[r];
            }
    return NULL;
}
