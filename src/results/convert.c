/* convert.c - a schema-1 file becomes a schema-2 one (results.h,
 * results_open_write): read as a reader reads it (so a killed writer's file
 * converts too), written into the writer's new <path>.partial. The original
 * is not touched; the session's commit replaces it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "results/results_internal.h"

static NnStatus add_sweeps(ResultsFile *rf, ResultsFile *old, NnError *err)
{
    ResultsSweep *sw;
    int n;
    NnStatus st = results_list_sweeps(old, &sw, &n, err);
    for (int i = 0; i < n && st == NN_OK; i++) {
        st = results_add_sweep(rf, sw[i].name, sw[i].spec, sw[i].method, sw[i].metric, sw[i].goal,
                               err);
        if (st == NN_OK && sw[i].overrides)
            st = results_set_sweep_overrides(rf, sw[i].name, sw[i].overrides, err);
    }
    results_sweeps_free(sw, n);
    return st;
}

/* One run: its row (as recorded), config, tensor table, metrics and
 * weights. */
static NnStatus add_run(ResultsFile *rf, ResultsFile *old, const ResultsRow *r, NnError *err)
{
    char *json = NULL;
    float *state = NULL;
    size_t n_state = 0;
    TensorInfo *t = NULL;
    int n_t = 0;
    EpochMetrics *m = NULL;
    size_t n_m = 0;
    NnStatus st = rs_v1_read_config(old, r->run_id, &json, err);
    if (st == NN_OK)
        st = rs_v1_read_weights(old, r->run_id, r->has_weights, &state, &n_state, &t, &n_t, err);
    if (st == NN_OK) st = rs_v1_read_metrics(old, r->run_id, &m, &n_m, err);
    size_t i = 0;
    if (st == NN_OK) {
        ResultsRunSpec spec = {r->run_id, r->sweep, RESULTS_KIND_TRAIN, json, r->epochs,
                               (size_t)r->n_params, t, n_t};
        st = rs_add_run(rf, &spec, &i, err);
    }
    RsMetricsRow *rows = n_m ? nn_malloc(n_m * sizeof *rows) : NULL;
    hsize_t at = 0;
    if (st == NN_OK && n_m) {
        for (size_t k = 0; k < n_m; k++) rows[k] = (RsMetricsRow){(int32_t)i, 0, m[k]};
        st = rs_table_put(rf, RS_METRICS, rows, n_m, &at, err);
    }
    hsize_t w_at = 0;
    if (st == NN_OK && r->has_weights)
        st = rs_table_put(rf, RS_WEIGHTS, state, n_state, &w_at, err);
    if (st == NN_OK) {
        RsRow *row = &rf->rows[i];
        RsLoc loc = row->loc;
        int64_t n_state_now = row->r.n_state;
        row->r = *r;
        row->r.n_state = n_state_now;
        row->r.attempt = 0;
        row->loc = loc;
        row->loc.metrics_first = n_m ? (int64_t)at : 0;
        row->loc.metrics_end = n_m ? (int64_t)(at + n_m) : 0;
        row->loc.weights_offset = r->has_weights ? (int64_t)w_at : -1;
        row->n_epochs = (int64_t)n_m;
    }
    free(rows);
    free(json);
    free(state);
    free(t);
    free(m);
    return st;
}

NnStatus rs_convert_v1(ResultsFile *rf, NnError *err)
{
    ResultsFile *old;
    NnStatus st = results_open_read(rf->real, &old, err);
    if (st != NN_OK) return st;
    free(old->path); /* messages name the file as the caller did */
    old->path = nn_strdup(rf->path);
    ResultsRow *rows = NULL;
    size_t n = 0;
    if (old->version != 1)
        st = nn_error_set(err, NN_ERR_IO, "%s: changed while it was being converted", rf->path);
    if (st == NN_OK) st = rs_create_file(rf, err);
    if (st == NN_OK && rs_attr_i32(rf->file, "converted_from", 1) < 0)
        st = rs_h5err(err, rf->path, "write the root attributes");
    if (st == NN_OK) st = add_sweeps(rf, old, err);
    if (st == NN_OK) st = results_read_summary(old, &rows, &n, err);
    for (size_t k = 0; k < n && st == NN_OK; k++) st = add_run(rf, old, &rows[k], err);
    free(rows);
    results_close(old, NULL);
    if (st == NN_OK) rf->converted = 1;
    return st;
}
