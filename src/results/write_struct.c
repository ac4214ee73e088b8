/* write_struct.c - sweeps (the structural phase: the only objects a session
 * creates, before SWMR starts) and runs: added and reset in either phase
 * (rows only; results.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "results/results_internal.h"

static void check_writer(const ResultsFile *rf, const char *fn)
{
    NN_CHECK(rf && rf->writer, "%s: only a writer may do this", fn);
}

static void check_structural(const ResultsFile *rf, const char *fn)
{
    NN_CHECK(rf && rf->writer && !rf->swmr,
             "%s: only a writer in its structural phase (before results_start_swmr) may do this",
             fn);
}

/* Records that the session failed half-way: close will discard the copy. */
static NnStatus broken(ResultsFile *rf, NnStatus st, NnError *err)
{
    rf->broken = 1;
    rf->broken_err = *err;
    return st;
}

static NnStatus refuse_if_broken(const ResultsFile *rf, NnError *err)
{
    if (!rf->broken) return NN_OK;
    return nn_error_set(err, NN_ERR_IO, "%s (earlier in this session; nothing was saved)",
                        rf->broken_err.msg);
}

NnStatus results_add_sweep(ResultsFile *rf, const char *name, const char *spec_yaml,
                           const char *method, const char *metric, const char *goal, NnError *err)
{
    check_structural(rf, "results_add_sweep");
    NnStatus st = refuse_if_broken(rf, err);
    if (st != NN_OK) return st;
    if (!name || !rs_valid_sweep_name(name))
        return nn_error_set(err, NN_ERR_INPUT,
                            "%s: sweep name \"%s\": expected 1..%d bytes without '/'", rf->path,
                            name ? name : "(null)", RESULTS_SWEEP_LEN - 1);
    char p[96];
    snprintf(p, sizeof p, "sweeps/%s", name);
    htri_t exists = H5Lexists(rf->file, p, H5P_DEFAULT);
    if (exists < 0) return broken(rf, rs_h5err(err, rf->path, "look up /%s", p), err);
    if (exists)
        return nn_error_set(err, NN_ERR_INPUT, "%s: sweep \"%s\" is already in the file", rf->path,
                            name);
    hid_t g = H5Gcreate2(rf->file, p, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return broken(rf, rs_h5err(err, rf->path, "create /%s", p), err);
    int bad = rs_attr_str(g, "spec", spec_yaml) < 0 || rs_attr_str(g, "method", method) < 0 ||
              rs_attr_str(g, "metric", metric) < 0 || rs_attr_str(g, "goal", goal) < 0;
    if (bad) st = broken(rf, rs_h5err(err, rf->path, "write the attributes of /%s", p), err);
    if (H5Gclose(g) < 0 && st == NN_OK)
        st = broken(rf, rs_h5err(err, rf->path, "close /%s", p), err);
    return st;
}

NnStatus results_set_sweep_overrides(ResultsFile *rf, const char *name, const char *overrides,
                                     NnError *err)
{
    check_structural(rf, "results_set_sweep_overrides");
    NnStatus st = refuse_if_broken(rf, err);
    if (st != NN_OK) return st;
    char p[96];
    snprintf(p, sizeof p, "sweeps/%s", name ? name : "");
    htri_t exists = name && rs_valid_sweep_name(name) ? H5Lexists(rf->file, p, H5P_DEFAULT) : 0;
    if (exists < 0) return broken(rf, rs_h5err(err, rf->path, "look up /%s", p), err);
    if (!exists)
        return nn_error_set(err, NN_ERR_INPUT, "%s: no sweep \"%s\" in the file", rf->path,
                            name ? name : "(null)");
    hid_t g = H5Gopen2(rf->file, p, H5P_DEFAULT);
    if (g < 0) return broken(rf, rs_h5err(err, rf->path, "open /%s", p), err);
    htri_t had = H5Aexists(g, "overrides");
    if (had < 0 || (had && H5Adelete(g, "overrides") < 0) ||
        rs_attr_str(g, "overrides", overrides) < 0)
        st = broken(rf, rs_h5err(err, rf->path, "write the overrides of /%s", p), err);
    if (H5Gclose(g) < 0 && st == NN_OK)
        st = broken(rf, rs_h5err(err, rf->path, "close /%s", p), err);
    return st;
}

/* ---- runs ----------------------------------------------------------------- */

static int cmp_offset(const void *a, const void *b)
{
    const TensorInfo *x = *(const TensorInfo *const *)a, *y = *(const TensorInfo *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* The tensor table must describe a model_state vector exactly. */
static NnStatus check_tensors(const ResultsFile *rf, const char *run_id, size_t n_params,
                              const TensorInfo *t, int n, size_t *n_state, NnError *err)
{
    *n_state = 0;
    if (n == 0 && n_params == 0) return NN_OK; /* a run without weights */
    if (n < 1 || !t)
        return nn_error_set(err, NN_ERR_INPUT, "%s: run %s: %zu parameters but no tensor table",
                            rf->path, run_id, n_params);
    const TensorInfo **by_off = nn_malloc((size_t)n * sizeof *by_off);
    NnStatus st = NN_OK;
    size_t params = 0;
    for (int i = 0; i < n && st == NN_OK; i++) {
        size_t len = strnlen(t[i].name, sizeof t[i].name), count = 1;
        if (len == 0 || len == sizeof t[i].name)
            st = nn_error_set(err, NN_ERR_INPUT, "%s: run %s: tensor %d has a bad name", rf->path,
                              run_id, i);
        for (int j = 0; j < i && st == NN_OK; j++)
            if (strcmp(t[i].name, t[j].name) == 0)
                st = nn_error_set(err, NN_ERR_INPUT, "%s: run %s: tensor name %s twice", rf->path,
                                  run_id, t[i].name);
        if (st == NN_OK && (t[i].ndim < 1 || t[i].ndim > 4))
            st = nn_error_set(err, NN_ERR_INPUT, "%s: run %s: tensor %s: ndim %d, expected 1..4",
                              rf->path, run_id, t[i].name, t[i].ndim);
        for (int d = 0; d < t[i].ndim && st == NN_OK; d++) {
            if (t[i].shape[d] < 1)
                st = nn_error_set(err, NN_ERR_INPUT, "%s: run %s: tensor %s: dimension %d is %d",
                                  rf->path, run_id, t[i].name, d, t[i].shape[d]);
            count *= (size_t)(t[i].shape[d] > 0 ? t[i].shape[d] : 1);
        }
        if (st == NN_OK && count != t[i].n)
            st = nn_error_set(err, NN_ERR_INPUT,
                              "%s: run %s: tensor %s: shape has %zu floats, n %zu", rf->path,
                              run_id, t[i].name, count, t[i].n);
        if (!t[i].is_buffer) params += t[i].n;
        by_off[i] = &t[i];
    }
    if (st == NN_OK) {
        qsort(by_off, (size_t)n, sizeof *by_off, cmp_offset);
        size_t at = 0;
        for (int i = 0; i < n && st == NN_OK; i++) {
            if (by_off[i]->offset != at)
                st = nn_error_set(err, NN_ERR_INPUT,
                                  "%s: run %s: tensor %s starts at %zu, expected %zu (offsets must "
                                  "tile the state)",
                                  rf->path, run_id, by_off[i]->name, by_off[i]->offset, at);
            at += by_off[i]->n;
        }
        *n_state = at;
    }
    if (st == NN_OK && params != n_params)
        st = nn_error_set(err, NN_ERR_INPUT,
                          "%s: run %s: n_params %zu but the parameter tensors hold %zu floats",
                          rf->path, run_id, n_params, params);
    free(by_off);
    return st;
}

static int known_kind(const char *kind)
{
    return kind &&
           (strcmp(kind, RESULTS_KIND_TRAIN) == 0 || strcmp(kind, RESULTS_KIND_PROGRAM) == 0);
}

NnStatus rs_add_run(ResultsFile *rf, const ResultsRunSpec *spec, size_t *i, NnError *err)
{
    const char *run_id = spec->run_id, *sweep = spec->sweep;
    if (!run_id || !rs_valid_run_id(run_id))
        return nn_error_set(err, NN_ERR_INPUT,
                            "%s: run id \"%s\": expected 1..%d characters of [0-9A-Za-z_-]",
                            rf->path, run_id ? run_id : "(null)", RESULTS_RUN_ID_LEN - 1);
    if (!sweep || !rs_valid_sweep_name(sweep))
        return nn_error_set(err, NN_ERR_INPUT, "%s: run %s: bad sweep name", rf->path, run_id);
    if (rs_find_row(rf, run_id) >= 0)
        return nn_error_set(err, NN_ERR_INPUT, "%s: run %s is already in the file", rf->path,
                            run_id);
    if (!known_kind(spec->kind))
        return nn_error_set(err, NN_ERR_INPUT, "%s: run %s: kind \"%s\": expected %s or %s",
                            rf->path, run_id, spec->kind ? spec->kind : "(null)",
                            RESULTS_KIND_TRAIN, RESULTS_KIND_PROGRAM);
    if (!spec->config_json || !spec->config_json[0])
        return nn_error_set(err, NN_ERR_INPUT, "%s: run %s: no config", rf->path, run_id);
    if (spec->epochs < -1)
        return nn_error_set(err, NN_ERR_INPUT, "%s: run %s: %d epochs", rf->path, run_id,
                            (int)spec->epochs);
    char p[96];
    snprintf(p, sizeof p, "sweeps/%s", sweep);
    htri_t has = H5Lexists(rf->file, p, H5P_DEFAULT);
    if (has < 0) return rs_h5err(err, rf->path, "look up /%s", p);
    if (!has)
        return nn_error_set(err, NN_ERR_INPUT, "%s: run %s: no sweep \"%s\" in the file", rf->path,
                            run_id, sweep);
    size_t n_state = 0;
    NnStatus st = check_tensors(rf, run_id, spec->n_params, spec->tensors, spec->n_tensors,
                                &n_state, err);
    if (st != NN_OK) return st;

    RsRow row;
    memset(&row, 0, sizeof row);
    ResultsRow *r = &row.r;
    rs_copy_str(r->run_id, sizeof r->run_id, run_id);
    rs_copy_str(r->sweep, sizeof r->sweep, sweep);
    rs_copy_str(r->kind, sizeof r->kind, spec->kind);
    r->epochs = spec->epochs;
    r->n_params = (int64_t)spec->n_params;
    r->n_state = (int64_t)n_state;
    rs_row_reset(&row);
    row.loc.tensors_first = -1;
    size_t len = strlen(spec->config_json);
    hsize_t at;
    if (!rf->swmr) { /* in memory until rs_sync */
        rs_table_queue(rf, RS_TEXT, spec->config_json, len, &at);
        if (spec->n_tensors > 0)
            st = rs_store_tensors(rf, spec->tensors, spec->n_tensors, &row.loc.tensors_first, err);
    } else { /* what the row points at is flushed before the row */
        size_t had = rf->n_tens;
        st = rs_table_put(rf, RS_TEXT, spec->config_json, len, &at, err);
        if (st == NN_OK) st = rs_flush_table(rf, RS_TEXT, err);
        if (st == NN_OK && spec->n_tensors > 0)
            st = rs_store_tensors(rf, spec->tensors, spec->n_tensors, &row.loc.tensors_first, err);
        if (st == NN_OK && rf->n_tens != had) st = rs_flush_table(rf, RS_TENSORS, err);
    }
    row.loc.config_offset = (int64_t)at;
    row.loc.config_len = (int64_t)len;
    row.loc.n_tensors = spec->n_tensors;
    if (st == NN_OK && rf->swmr) st = rs_put_row(rf, &row, err);
    if (st != NN_OK) return st;
    *i = rs_push_row(rf, &row);
    if (rf->swmr) rf->on_disk = rf->n_rows;
    return NN_OK;
}

NnStatus results_add_run(ResultsFile *rf, const ResultsRunSpec *spec, NnError *err)
{
    check_writer(rf, "results_add_run");
    NnStatus st = refuse_if_broken(rf, err);
    if (st != NN_OK) return st;
    size_t i;
    st = rs_add_run(rf, spec, &i, err);
    if (st == NN_OK && rf->swmr) st = rs_flush_table(rf, RS_SUMMARY, err);
    return st;
}

NnStatus results_reset_run(ResultsFile *rf, const char *run_id, NnError *err)
{
    check_writer(rf, "results_reset_run");
    NnStatus st = refuse_if_broken(rf, err);
    if (st != NN_OK) return st;
    long i = run_id && rs_valid_run_id(run_id) ? rs_find_row(rf, run_id) : -1;
    if (i < 0)
        return nn_error_set(err, NN_ERR_INPUT, "%s: no run \"%s\" to reset", rf->path,
                            run_id ? run_id : "(null)");
    RsRow old = rf->rows[i];
    rf->rows[i].r.attempt++;
    rs_row_reset(&rf->rows[i]);
    st = rs_write_row(rf, (size_t)i, err);
    if (st == NN_OK && rf->swmr) st = rs_flush_table(rf, RS_SUMMARY, err);
    if (st != NN_OK) rf->rows[i] = old;
    return st;
}
