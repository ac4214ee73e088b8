/* read_v1.c - the readers of schema 1 (results.h): a group per run under
 * /runs with its config attribute, metrics dataset and weights group. Rows
 * read as schema 2's (kind train, attempt 0, best_step/best_value from the
 * best epoch and the sweep's metric). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "results/results_internal.h"

/* Fills what schema 1 lacks; metric: the sweep's metric name (NULL: not
 * known). n_state from /runs/<id>/weights. */
static void complete(ResultsFile *rf, RsRow *row, const char *metric)
{
    ResultsRow *r = &row->r;
    rs_copy_str(r->kind, sizeof r->kind, RESULTS_KIND_TRAIN);
    r->attempt = 0;
    r->last_step = -1;
    r->best_step = r->best_epoch >= 0 ? r->best_epoch : -1;
    r->best_value = NAN;
    if (r->best_epoch >= 0 && metric)
        r->best_value = strcmp(metric, "val_accuracy") == 0 ? r->best_val_accuracy
                                                            : r->best_test_accuracy;
    char p[96];
    snprintf(p, sizeof p, "runs/%s/weights", r->run_id);
    int64_t ns = 0;
    hid_t g = rs_valid_run_id(r->run_id) && H5Lexists(rf->file, "runs", H5P_DEFAULT) > 0 &&
                      H5Lexists(rf->file, p, H5P_DEFAULT) > 0
                  ? H5Gopen2(rf->file, p, H5P_DEFAULT)
                  : H5I_INVALID_HID;
    if (g >= 0) {
        if (rs_read_i64_attr(g, "n_state", &ns) < 0) ns = 0;
        H5Gclose(g);
    }
    H5Eclear2(H5E_DEFAULT);
    r->n_state = ns;
    memset(&row->loc, 0, sizeof row->loc);
    row->loc.weights_offset = -1;
    row->n_epochs = -1;
}

static NnStatus from_disk(ResultsFile *rf, const RsDiskRowV1 *d, RsRow *row, NnError *err)
{
    RsDiskRow v2;
    memset(&v2, 0, sizeof v2);
    memcpy(v2.run_id, d->run_id, sizeof v2.run_id);
    memcpy(v2.sweep, d->sweep, sizeof v2.sweep);
    memcpy(v2.status, d->status, sizeof v2.status);
    v2.epochs = d->epochs;
    v2.epochs_done = d->epochs_done;
    v2.best_epoch = d->best_epoch;
    v2.best_val_accuracy = d->best_val_accuracy;
    v2.best_test_accuracy = d->best_test_accuracy;
    v2.wall_seconds = d->wall_seconds;
    v2.n_params = d->n_params;
    v2.has_weights = d->has_weights;
    memcpy(v2.host, d->host, sizeof v2.host);
    v2.worker_rank = d->worker_rank;
    memcpy(v2.device, d->device, sizeof v2.device);
    memcpy(v2.message, d->message, sizeof v2.message);
    return rs_row_from_disk(rf, &v2, row, err);
}

/* The metric attribute of /sweeps/<sweep> (caller frees), or NULL. */
static char *sweep_metric(ResultsFile *rf, const char *sweep)
{
    char p[96];
    snprintf(p, sizeof p, "sweeps/%s", sweep);
    char *m = NULL;
    if (rs_valid_sweep_name(sweep) && H5Lexists(rf->file, p, H5P_DEFAULT) > 0) {
        hid_t g = H5Gopen2(rf->file, p, H5P_DEFAULT);
        if (g >= 0) {
            m = rs_read_str_attr(g, "metric");
            H5Gclose(g);
        }
    }
    H5Eclear2(H5E_DEFAULT);
    return m;
}

static NnStatus read_v1(ResultsFile *rf, hsize_t from, hsize_t n, RsDiskRowV1 *d, NnError *err)
{
    if (rf->swmr && !rf->writer && H5Drefresh(rf->summary) < 0)
        return rs_h5err(err, rf->path, "refresh /summary");
    hid_t fs = H5Dget_space(rf->summary), ms = H5Screate_simple(1, &n, NULL);
    NnStatus st = NN_OK;
    if (fs < 0 || ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, &from, NULL, &n, NULL) < 0 ||
        H5Dread(rf->summary, rs_types()->row1_mem, ms, fs, rs_types()->dxpl, d) < 0)
        st = rs_h5err(err, rf->path, "read /summary");
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    return st;
}

NnStatus rs_read_rows_v1(ResultsFile *rf, RsRow **rows, size_t *n, NnError *err)
{
    *rows = NULL;
    *n = 0;
    if (rf->swmr && !rf->writer && H5Drefresh(rf->summary) < 0)
        return rs_h5err(err, rf->path, "refresh /summary");
    hid_t fs = H5Dget_space(rf->summary);
    hsize_t dims = 0;
    int ok = fs >= 0 && H5Sget_simple_extent_ndims(fs) == 1 &&
             H5Sget_simple_extent_dims(fs, &dims, NULL) >= 0;
    if (fs >= 0) H5Sclose(fs);
    if (!ok) return rs_h5err(err, rf->path, "read the shape of /summary");
    if (dims == 0) return NN_OK;
    RsDiskRowV1 *d = nn_calloc(dims, sizeof *d);
    NnStatus st = read_v1(rf, 0, dims, d, err);
    RsRow *r = nn_calloc(dims, sizeof *r);
    char *metric = NULL, *metric_of = NULL; /* rows of one sweep come together */
    for (hsize_t i = 0; i < dims && st == NN_OK; i++) {
        st = from_disk(rf, &d[i], &r[i], err);
        if (st != NN_OK) break;
        if (!metric_of || strcmp(metric_of, r[i].r.sweep) != 0) {
            free(metric), free(metric_of);
            metric = sweep_metric(rf, r[i].r.sweep);
            metric_of = nn_strdup(r[i].r.sweep);
        }
        complete(rf, &r[i], metric);
    }
    free(metric), free(metric_of), free(d);
    if (st != NN_OK) {
        free(r);
        return st;
    }
    *rows = r;
    *n = dims;
    return NN_OK;
}

NnStatus rs_read_row_v1(ResultsFile *rf, size_t i, RsRow *row, NnError *err)
{
    RsDiskRowV1 d;
    NnStatus st = read_v1(rf, i, 1, &d, err);
    if (st == NN_OK) st = from_disk(rf, &d, row, err);
    if (st != NN_OK) return st;
    char *metric = sweep_metric(rf, row->r.sweep);
    complete(rf, row, metric);
    free(metric);
    return NN_OK;
}

/* Opens /runs/<id>/<what> (dataset or group; what NULL: the run's group);
 * NN_ERR_INPUT for an unknown run. */
static NnStatus open_run_object(ResultsFile *rf, const char *run_id, const char *what, int group,
                                hid_t *out, NnError *err)
{
    *out = H5I_INVALID_HID;
    char p[96];
    if (!run_id || !rs_valid_run_id(run_id))
        return nn_error_set(err, NN_ERR_INPUT, "%s: no run \"%s\" in the file", rf->path,
                            run_id ? run_id : "(null)");
    snprintf(p, sizeof p, "runs/%s", run_id);
    htri_t ok = H5Lexists(rf->file, p, H5P_DEFAULT);
    if (ok < 0) return rs_h5err(err, rf->path, "look up /%s", p);
    if (!ok)
        return nn_error_set(err, NN_ERR_INPUT, "%s: no run \"%s\" in the file", rf->path, run_id);
    if (what) snprintf(p, sizeof p, "runs/%s/%s", run_id, what);
    *out = group ? H5Gopen2(rf->file, p, H5P_DEFAULT) : H5Dopen2(rf->file, p, H5P_DEFAULT);
    if (*out < 0) return rs_h5err(err, rf->path, "open /%s", p);
    return NN_OK;
}

NnStatus rs_v1_read_config(ResultsFile *rf, const char *run_id, char **json, NnError *err)
{
    *json = NULL;
    hid_t g;
    NnStatus st = open_run_object(rf, run_id, NULL, 1, &g, err);
    if (st != NN_OK) return st;
    *json = rs_read_str_attr(g, "config");
    if (!*json) st = rs_h5err(err, rf->path, "read /runs/%s config", run_id);
    H5Gclose(g);
    return st;
}

NnStatus rs_v1_read_metrics(ResultsFile *rf, const char *run_id, EpochMetrics **rows, size_t *n,
                            NnError *err)
{
    *rows = NULL;
    *n = 0;
    hid_t ds;
    NnStatus st = open_run_object(rf, run_id, "metrics", 0, &ds, err);
    if (st != NN_OK) return st;
    hid_t fs = -1, ms = -1;
    hsize_t dims = 0, start = 0;
    if (rf->swmr && !rf->writer && H5Drefresh(ds) < 0) {
        st = rs_h5err(err, rf->path, "refresh /runs/%s/metrics", run_id);
        goto done;
    }
    fs = H5Dget_space(ds);
    if (fs < 0 || H5Sget_simple_extent_ndims(fs) != 1 ||
        H5Sget_simple_extent_dims(fs, &dims, NULL) < 0) {
        st = rs_h5err(err, rf->path, "read the shape of /runs/%s/metrics", run_id);
        goto done;
    }
    if (dims == 0) goto done;
    EpochMetrics *m = nn_calloc(dims, sizeof *m);
    ms = H5Screate_simple(1, &dims, NULL);
    if (ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &dims, NULL) < 0 ||
        H5Dread(ds, rs_types()->epoch_mem, ms, fs, rs_types()->dxpl, m) < 0) {
        st = rs_h5err(err, rf->path, "read /runs/%s/metrics", run_id);
        free(m);
        goto done;
    }
    /* trailing rows whose epoch is not their index: appends in flight when
     * a writer died */
    while (dims > 0 && (m[dims - 1].epoch < 0 || (hsize_t)m[dims - 1].epoch != dims - 1)) dims--;
    if (dims == 0) {
        free(m);
        m = NULL;
    }
    *rows = m;
    *n = (size_t)dims;
done:
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    H5Dclose(ds);
    return st;
}

/* ---- weights ------------------------------------------------------------------------ */

typedef struct ReadCtx {
    ResultsFile *rf;
    const char *run_id;
    float *state; /* NULL: the table only */
    size_t n_state, got;
    TensorInfo *t;
    int n, cap;
    NnError *err;
    NnStatus st;
} ReadCtx;

static herr_t read_tensor(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    (void)info;
    ReadCtx *c = data;
    hid_t ds = H5Dopen2(g, name, H5P_DEFAULT), sp = -1;
    int64_t off = -1;
    int ndim = -1;
    hsize_t dims[4] = {0};
    if (ds >= 0 && rs_read_i64_attr(ds, "offset", &off) >= 0 && (sp = H5Dget_space(ds)) >= 0)
        ndim = H5Sget_simple_extent_ndims(sp);
    if (ndim >= 1 && ndim <= 4) H5Sget_simple_extent_dims(sp, dims, NULL);
    size_t count = 1;
    for (int d = 0; d < ndim && d < 4; d++) count *= (size_t)dims[d];
    if (ds < 0 || ndim < 0) {
        c->st = rs_h5err(c->err, c->rf->path, "open /runs/%s/weights/%s", c->run_id, name);
    } else if (ndim < 1 || ndim > 4 || off < 0 || (size_t)off + count > c->n_state ||
               strlen(name) >= sizeof c->t[0].name) {
        c->st = nn_error_set(c->err, NN_ERR_IO,
                             "%s: damaged results file: /runs/%s/weights/%s does not fit the state",
                             c->rf->path, c->run_id, name);
    } else if (c->state &&
               H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, c->state + off) < 0) {
        c->st = rs_h5err(c->err, c->rf->path, "read /runs/%s/weights/%s", c->run_id, name);
    } else {
        if (c->n == c->cap) {
            c->cap = c->cap ? 2 * c->cap : 16;
            c->t = nn_realloc(c->t, (size_t)c->cap * sizeof *c->t);
        }
        TensorInfo *t = &c->t[c->n++];
        memset(t, 0, sizeof *t);
        snprintf(t->name, sizeof t->name, "%s", name);
        t->ndim = ndim;
        for (int d = 0; d < ndim; d++) t->shape[d] = (int)dims[d];
        t->offset = (size_t)off;
        t->n = count;
        int64_t b = 0;
        hid_t a = H5Aopen(ds, "is_buffer", H5P_DEFAULT);
        if (a >= 0) {
            int8_t v = 0;
            if (H5Aread(a, H5T_NATIVE_INT8, &v) >= 0) b = v;
            H5Aclose(a);
        }
        t->is_buffer = b != 0;
        c->got += count;
    }
    if (sp >= 0) H5Sclose(sp);
    if (ds >= 0) H5Dclose(ds);
    return c->st == NN_OK ? 0 : -1;
}

NnStatus rs_v1_read_weights(ResultsFile *rf, const char *run_id, int want_data, float **state,
                            size_t *n_state, TensorInfo **tensors, int *n_tensors, NnError *err)
{
    *state = NULL;
    *n_state = 0;
    if (tensors) *tensors = NULL;
    if (n_tensors) *n_tensors = 0;
    hid_t g;
    NnStatus st = open_run_object(rf, run_id, "weights", 1, &g, err);
    if (st != NN_OK) return st;
    int64_t ns = -1;
    if (rs_read_i64_attr(g, "n_state", &ns) < 0 || ns < 1) {
        H5Gclose(g);
        return rs_h5err(err, rf->path, "read /runs/%s/weights n_state", run_id);
    }
    ReadCtx c = {rf, run_id, want_data ? nn_malloc((size_t)ns * sizeof(float)) : NULL,
                 (size_t)ns, 0, NULL, 0, 0, err, NN_OK};
    herr_t rc = H5Literate(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, NULL, read_tensor, &c);
    H5Gclose(g);
    if (c.st == NN_OK && rc < 0) c.st = rs_h5err(err, rf->path, "list /runs/%s/weights", run_id);
    if (c.st == NN_OK && c.got != c.n_state)
        c.st = nn_error_set(err, NN_ERR_IO,
                            "%s: damaged results file: /runs/%s/weights holds %zu of %zu floats",
                            rf->path, run_id, c.got, c.n_state);
    if (c.st != NN_OK) {
        free(c.state);
        free(c.t);
        return c.st;
    }
    *state = c.state;
    *n_state = c.n_state;
    if (tensors) {
        *tensors = c.t;
        *n_tensors = c.n;
    } else {
        free(c.t);
    }
    return NN_OK;
}
