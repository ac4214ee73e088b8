/* write_struct.c - the writer's structural phase: sweeps, runs (group,
 * attributes, metrics, weights datasets, summary row) and resets. Every
 * object of the file is created here, before SWMR starts (results.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "results/results_internal.h"

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
    if (n < 1 || !t)
        return nn_error_set(err, NN_ERR_INPUT, "%s: run %s: no weight tensors", rf->path, run_id);
    const TensorInfo **by_off = nn_malloc((size_t)n * sizeof *by_off);
    NnStatus st = NN_OK;
    size_t params = 0;
    for (int i = 0; i < n && st == NN_OK; i++) {
        size_t len = strnlen(t[i].name, sizeof t[i].name), count = 1;
        if (len == 0 || len == sizeof t[i].name || strchr(t[i].name, '/') ||
            strcmp(t[i].name, ".") == 0 || strcmp(t[i].name, "..") == 0)
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
            st = nn_error_set(err, NN_ERR_INPUT, "%s: run %s: tensor %s: shape has %zu floats, n %zu",
                              rf->path, run_id, t[i].name, count, t[i].n);
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

/* One attribute per config key, typed as results.h lists. */
static int write_config_attrs(hid_t g, const RunConfig *c)
{
    for (int i = 0; i < config_n_keys(); i++) {
        const ConfigKeyInfo *k = config_key(i);
        NN_CHECK(strcmp(k->name, "config") != 0 && strcmp(k->name, "sweep") != 0 &&
                     strcmp(k->name, "n_params") != 0,
                 "config key %s clashes with a results attribute", k->name);
        ConfigValue v;
        config_value(c, i, &v);
        int rc = -1;
        switch (v.type) {
        case CT_INT: rc = rs_attr_i64(g, k->name, (int64_t)v.i); break;
        case CT_FLOAT: rc = rs_attr_f64(g, k->name, v.d); break;
        case CT_BOOL: rc = rs_attr_bool(g, k->name, v.i != 0); break;
        case CT_ENUM: rc = rs_attr_str(g, k->name, v.s); break;
        case CT_INT_LIST: {
            int64_t list[NN_MAX_LAYERS];
            NN_CHECK(v.n >= 0 && v.n <= NN_MAX_LAYERS, "config key %s: %d values", k->name, v.n);
            for (int j = 0; j < v.n; j++) list[j] = v.list[j];
            rc = rs_attr_i64_array(g, k->name, list, (hsize_t)v.n);
            break;
        }
        case CT_FLOAT_PAIR: rc = rs_attr_f64_array(g, k->name, v.pair, 2); break;
        }
        if (rc < 0) return -1;
    }
    return 0;
}

static hid_t create_metrics(hid_t g)
{
    const RsTypes *t = rs_types();
    hsize_t dims = 0, maxdims = H5S_UNLIMITED, chunk = RS_CHUNK_ROWS;
    EpochMetrics fill = {.epoch = -1};
    fill.train_loss = fill.train_accuracy = fill.val_loss = fill.val_accuracy = NAN;
    fill.test_loss = fill.test_accuracy = fill.top_accuracy = fill.learning_rate = NAN;
    fill.seconds = NAN;
    hid_t sp = H5Screate_simple(1, &dims, &maxdims), dcpl = H5Pcreate(H5P_DATASET_CREATE), d = -1;
    if (sp >= 0 && dcpl >= 0 && H5Pset_chunk(dcpl, 1, &chunk) >= 0 &&
        H5Pset_fill_value(dcpl, t->metrics_mem, &fill) >= 0)
        d = H5Dcreate2(g, "metrics", t->metrics_file, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d < 0) rs_note();
    if (sp >= 0) H5Sclose(sp);
    if (dcpl >= 0) H5Pclose(dcpl);
    return d;
}

/* The weights group (links in creation order) with one empty, single-chunk
 * float32 dataset per tensor. 0 or -1. */
static int create_weights(hid_t g, const TensorInfo *t, int n, size_t n_state)
{
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE), w = -1;
    if (gcpl >= 0 && H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) >= 0)
        w = H5Gcreate2(g, "weights", H5P_DEFAULT, gcpl, H5P_DEFAULT);
    if (gcpl >= 0) H5Pclose(gcpl);
    if (w < 0 || rs_attr_i64(w, "n_state", (int64_t)n_state) < 0) goto fail;
    for (int i = 0; i < n; i++) {
        hsize_t dims[4];
        for (int d = 0; d < t[i].ndim; d++) dims[d] = (hsize_t)t[i].shape[d];
        hid_t sp = H5Screate_simple(t[i].ndim, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
        hid_t ds = -1;
        if (sp >= 0 && dcpl >= 0 && H5Pset_chunk(dcpl, t[i].ndim, dims) >= 0)
            ds = H5Dcreate2(w, t[i].name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        if (ds < 0) rs_note();
        if (sp >= 0) H5Sclose(sp);
        if (dcpl >= 0) H5Pclose(dcpl);
        int bad = ds < 0 || rs_attr_i64(ds, "offset", (int64_t)t[i].offset) < 0 ||
                  rs_attr_bool(ds, "is_buffer", t[i].is_buffer) < 0;
        if (ds >= 0 && H5Dclose(ds) < 0) bad = 1;
        if (bad) goto fail;
    }
    return H5Gclose(w) < 0 ? -1 : 0;
fail:
    rs_note();
    if (w >= 0) H5Gclose(w);
    return -1;
}

NnStatus results_add_run(ResultsFile *rf, const char *run_id, const char *sweep,
                         const RunConfig *c, size_t n_params, const TensorInfo *tensors,
                         int n_tensors, NnError *err)
{
    check_structural(rf, "results_add_run");
    NnStatus st = refuse_if_broken(rf, err);
    if (st != NN_OK) return st;
    if (!run_id || !rs_valid_run_id(run_id))
        return nn_error_set(err, NN_ERR_INPUT,
                            "%s: run id \"%s\": expected 1..%d characters of [0-9A-Za-z_-]",
                            rf->path, run_id ? run_id : "(null)", RESULTS_RUN_ID_LEN - 1);
    if (!sweep || !rs_valid_sweep_name(sweep))
        return nn_error_set(err, NN_ERR_INPUT, "%s: run %s: bad sweep name", rf->path, run_id);
    char p[128];
    snprintf(p, sizeof p, "sweeps/%s", sweep);
    if (H5Lexists(rf->file, p, H5P_DEFAULT) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return nn_error_set(err, NN_ERR_INPUT, "%s: run %s: no sweep \"%s\" in the file", rf->path,
                            run_id, sweep);
    }
    snprintf(p, sizeof p, "runs/%s", run_id);
    if (rs_find_row(rf, run_id) >= 0 || H5Lexists(rf->file, p, H5P_DEFAULT) != 0) {
        H5Eclear2(H5E_DEFAULT);
        return nn_error_set(err, NN_ERR_INPUT, "%s: run %s is already in the file", rf->path,
                            run_id);
    }
    size_t n_state = 0;
    st = check_tensors(rf, run_id, n_params, tensors, n_tensors, &n_state, err);
    if (st != NN_OK) return st;

    /* From here on a failure leaves half a run: the session is broken. */
    hid_t g = H5Gcreate2(rf->file, p, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return broken(rf, rs_h5err(err, rf->path, "create /%s", p), err);
    NnBuf json = {0};
    config_to_json(c, &json);
    int bad = rs_attr_str(g, "config", json.data) < 0 || write_config_attrs(g, c) < 0 ||
              rs_attr_str(g, "sweep", sweep) < 0 || rs_attr_i64(g, "n_params", (int64_t)n_params) < 0;
    nn_buf_free(&json);
    if (bad) st = rs_h5err(err, rf->path, "write the attributes of /%s", p);
    if (st == NN_OK) {
        hid_t m = create_metrics(g);
        if (m < 0 || H5Dclose(m) < 0) st = rs_h5err(err, rf->path, "create /%s/metrics", p);
    }
    if (st == NN_OK && create_weights(g, tensors, n_tensors, n_state) < 0)
        st = rs_h5err(err, rf->path, "create /%s/weights", p);
    if (H5Gclose(g) < 0 && st == NN_OK) st = rs_h5err(err, rf->path, "close /%s", p);
    if (st != NN_OK) return broken(rf, st, err);

    if (rf->n_rows == rf->cap_rows) {
        rf->cap_rows = rf->cap_rows ? 2 * rf->cap_rows : 16;
        rf->rows = nn_realloc(rf->rows, rf->cap_rows * sizeof *rf->rows);
        rf->slots = nn_realloc(rf->slots, rf->cap_rows * sizeof *rf->slots);
    }
    size_t i = rf->n_rows++;
    ResultsRow *row = &rf->rows[i];
    memset(row, 0, sizeof *row);
    rs_copy_str(row->run_id, sizeof row->run_id, run_id);
    rs_copy_str(row->sweep, sizeof row->sweep, sweep);
    row->epochs = c->epochs;
    row->n_params = (int64_t)n_params;
    rs_row_reset(row);
    rf->slots[i].metrics = H5I_INVALID_HID;
    rf->slots[i].n_rows = 0;
    st = rs_write_row(rf, i, err);
    return st == NN_OK ? NN_OK : broken(rf, st, err);
}

NnStatus results_reset_run(ResultsFile *rf, const char *run_id, NnError *err)
{
    check_structural(rf, "results_reset_run");
    NnStatus st = refuse_if_broken(rf, err);
    if (st != NN_OK) return st;
    long i = run_id ? rs_find_row(rf, run_id) : -1;
    if (i < 0)
        return nn_error_set(err, NN_ERR_INPUT, "%s: no run \"%s\" to reset", rf->path,
                            run_id ? run_id : "(null)");
    st = rs_open_metrics(rf, (size_t)i, err);
    if (st != NN_OK) return broken(rf, st, err);
    hsize_t zero = 0;
    if (H5Dset_extent(rf->slots[i].metrics, &zero) < 0)
        return broken(rf, rs_h5err(err, rf->path, "truncate /runs/%s/metrics", run_id), err);
    rf->slots[i].n_rows = 0;
    rs_row_reset(&rf->rows[i]);
    st = rs_write_row(rf, (size_t)i, err);
    return st == NN_OK ? NN_OK : broken(rf, st, err);
}
