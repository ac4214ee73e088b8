/* sweep_override.c - the overrides of a load (`--set KEY=VALUE`, `--metric
 * NAME[:GOAL]`, `--name-suffix SUFFIX`): checked when given, applied to
 * each parsed document, written back as option text for the results file
 * (sweep.h, Overrides). */
#include <stdlib.h>
#include <string.h>

#include "sweep_internal.h"

NnStatus sweep_overrides_set(SweepOverrides *o, const char *key_value, NnError *err)
{
    const char *eq = strchr(key_value, '=');
    if (!eq || eq == key_value)
        return nn_error_set(err, NN_ERR_INPUT,
                            "--set: expected KEY=VALUE (a run config key and its value, e.g. "
                            "val_split=5000), found \"%s\"",
                            key_value);
    char key[64], where[96];
    size_t n = (size_t)(eq - key_value);
    if (n >= sizeof key) n = sizeof key - 1;
    memcpy(key, key_value, n);
    key[n] = '\0';
    for (char *p = key; *p; p++)
        if (*p == '-') *p = '_';
    snprintf(where, sizeof where, "--set %s", key);
    RunConfig scratch;
    config_defaults(&scratch);
    NnStatus st = config_set_text(&scratch, key, eq + 1, where, err);
    if (st != NN_OK) return st;
    int i = 0;
    while (i < o->n_set && strcmp(o->set_keys[i], key) != 0) i++;
    if (i == o->n_set) { /* a new key; else the last value given wins */
        o->set_keys = nn_realloc(o->set_keys, (size_t)(i + 1) * sizeof *o->set_keys);
        o->set_values = nn_realloc(o->set_values, (size_t)(i + 1) * sizeof *o->set_values);
        o->set_keys[i] = nn_strdup(key);
        o->n_set++;
    } else {
        free(o->set_values[i]);
    }
    o->set_values[i] = nn_strdup(eq + 1);
    return NN_OK;
}

NnStatus sweep_overrides_metric(SweepOverrides *o, const char *name_goal, NnError *err)
{
    const char *colon = strchr(name_goal, ':');
    size_t n = colon ? (size_t)(colon - name_goal) : strlen(name_goal);
    SweepMetric m = SWEEP_TEST_ACCURACY;
    SweepGoal g = SWEEP_MAXIMIZE;
    char name[32];
    int ok = n < sizeof name;
    if (ok) {
        memcpy(name, name_goal, n);
        name[n] = '\0';
        ok = sweep_metric_from_name(name, &m) == 0;
    }
    if (ok && colon) {
        if (!strcmp(colon + 1, "maximize")) g = SWEEP_MAXIMIZE;
        else if (!strcmp(colon + 1, "minimize")) g = SWEEP_MINIMIZE;
        else ok = 0;
    }
    if (!ok)
        return nn_error_set(err, NN_ERR_INPUT,
                            "--metric: expected train_loss, train_accuracy, val_loss, "
                            "val_accuracy, test_loss or test_accuracy, optionally with "
                            ":maximize or :minimize, found \"%s\"",
                            name_goal);
    o->has_metric = 1;
    o->metric = m;
    o->has_goal = colon != NULL;
    o->goal = g;
    return NN_OK;
}

NnStatus sweep_overrides_name_suffix(SweepOverrides *o, const char *suffix, NnError *err)
{
    /* valid after any name: a name's characters past its first */
    char probe[SWEEP_NAME_MAX + 2] = "x";
    size_t n = strlen(suffix);
    int ok = n >= 1 && n < SWEEP_NAME_MAX;
    if (ok) {
        memcpy(probe + 1, suffix, n + 1);
        ok = sweep_name_valid(probe);
    }
    if (!ok)
        return nn_error_set(err, NN_ERR_INPUT,
                            "--name-suffix: expected 1..%d letters, digits, '_', '.' or '-' (it "
                            "ends sweep names, which name HDF5 groups), found \"%s\"",
                            SWEEP_NAME_MAX - 1, suffix);
    free(o->name_suffix);
    o->name_suffix = nn_strdup(suffix);
    return NN_OK;
}

/* Appends s, in single quotes when a POSIX shell would split or expand it. */
static void append_shell_word(NnBuf *out, const char *s)
{
    int plain = *s != '\0';
    for (const char *p = s; *p && plain; p++)
        plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.,:=+-/@%",
                       *p) != NULL;
    if (plain) {
        nn_buf_append(out, s, strlen(s));
        return;
    }
    nn_buf_append(out, "'", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '\'')
            nn_buf_append(out, "'\\''", 4);
        else
            nn_buf_append(out, p, 1);
    }
    nn_buf_append(out, "'", 1);
}

void sweep_overrides_text(const SweepOverrides *o, NnBuf *out)
{
    const char *sep = "";
    for (int i = 0; i < o->n_set; i++) {
        NnBuf kv = {0};
        nn_buf_printf(&kv, "%s=%s", o->set_keys[i], o->set_values[i]);
        nn_buf_printf(out, "%s--set ", sep);
        append_shell_word(out, kv.data);
        nn_buf_free(&kv);
        sep = " ";
    }
    if (o->has_metric) {
        nn_buf_printf(out, "%s--metric %s", sep, sweep_metric_name(o->metric));
        if (o->has_goal) nn_buf_printf(out, ":%s", sweep_goal_name(o->goal));
        sep = " ";
    }
    if (o->name_suffix) nn_buf_printf(out, "%s--name-suffix %s", sep, o->name_suffix);
}

void sweep_overrides_free(SweepOverrides *o)
{
    if (!o) return;
    for (int i = 0; i < o->n_set; i++) {
        free(o->set_keys[i]);
        free(o->set_values[i]);
    }
    free(o->set_keys);
    free(o->set_values);
    free(o->name_suffix);
    memset(o, 0, sizeof *o);
}

NnStatus sweep_doc_override(SweepDoc *doc, const SweepOverrides *o, NnError *err)
{
    if (doc->is_program && (o->n_set || o->has_metric))
        return nn_error_set(err, NN_ERR_INPUT,
                            "%s:%d: %s: applies to the built-in trainer's runs, but sweep %s runs "
                            "a program (change its sweep file instead)",
                            doc->file, doc->name_line, o->n_set ? "--set" : "--metric", doc->name);
    for (int i = 0; i < o->n_set; i++) {
        int j = 0;
        while (j < doc->n_params && strcmp(doc->params[j].key, o->set_keys[i]) != 0) j++;
        if (j == doc->n_params) { /* a key the sweep leaves at its default */
            doc->params = nn_realloc(doc->params, (size_t)(j + 1) * sizeof *doc->params);
            doc->n_params++;
            ParamSpec *p = &doc->params[j];
            memset(p, 0, sizeof *p);
            p->config_index = config_key_index(o->set_keys[i]);
            p->key = config_key(p->config_index)->name;
            p->path = nn_strdup(o->set_keys[i]);
            p->line = doc->params_line;
            p->type = config_key(p->config_index)->type;
        }
        ParamSpec *p = &doc->params[j];
        free(p->probs);
        p->probs = NULL;
        dist_spec_init(&p->dist, DIST_CONSTANT);
        p->one = p->list = NULL;
        free(p->text);
        p->text = nn_strdup(o->set_values[i]);
        p->n_levels = 1;
    }
    if (o->has_metric) {
        doc->metric = o->metric;
        doc->has_metric = 1;
    }
    if (o->has_goal) doc->goal = o->goal;
    if (o->name_suffix) {
        size_t n = strlen(doc->name), k = strlen(o->name_suffix);
        if (n + k > SWEEP_NAME_MAX)
            return nn_error_set(err, NN_ERR_INPUT,
                                "%s:%d: name: sweep name %s with --name-suffix %s: expected at "
                                "most %d characters, found %zu",
                                doc->file, doc->name_line, doc->name, o->name_suffix,
                                SWEEP_NAME_MAX, n + k);
        doc->name = nn_realloc(doc->name, n + k + 1);
        memcpy(doc->name + n, o->name_suffix, k + 1);
    }
    return NN_OK;
}
