/* read.c - the readers: open plainly, or with SWMR read while a writer has
 * the file; summary, sweeps, a run's config, metrics and weights. They also
 * work on a writer's handle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "results/results_internal.h"

NnStatus results_open_read(const char *path, ResultsFile **out, NnError *err)
{
    *out = NULL;
    rs_quiet();
    struct stat sb;
    if (stat(path, &sb) < 0) return nn_error_set(err, NN_ERR_IO, "%s: no such file", path);
    ResultsFile *rf = nn_calloc(1, sizeof *rf);
    rf->file = rf->summary = H5I_INVALID_HID;
    rf->lock_fd = -1;
    rf->path = nn_strdup(path);
    rf->dev = (unsigned long long)sb.st_dev;
    rf->ino = (unsigned long long)sb.st_ino;
    NnStatus st = NN_OK;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST) < 0) {
        st = rs_h5err(err, path, "file access properties");
        goto fail;
    }
    /* Plainly first: SWMR read only where a plain open is refused because
     * a writer has the file (or had it, killed). A damaged file must fail
     * the plain open at once: a SWMR reader retries failed metadata reads
     * (checksums) over and over, so it would seem to hang. */
    rf->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (rf->file < 0) {
        NnError plain;
        rs_h5err(&plain, path, "open");
        int writer = strstr(plain.msg, "already open for write") != NULL ||
                     strstr(plain.msg, "unable to lock") != NULL;
        if (writer && H5Pset_metadata_read_attempts(fapl, 10) >= 0)
            rf->file = H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, fapl);
        rf->swmr = rf->file >= 0;
        if (rf->file < 0) {
            if (writer) rs_h5err(&plain, path, "open with SWMR read");
            htri_t is_h5 = H5Fis_hdf5(path);
            H5Eclear2(H5E_DEFAULT);
            st = is_h5 <= 0 ? nn_error_set(err, NN_ERR_INPUT,
                                           "%s: not an nnsweep results file (not HDF5)", path)
                            : nn_error_set(err, NN_ERR_IO, "%s", plain.msg);
            goto fail;
        }
    }
    st = rs_check_schema(rf, err);
    if (st != NN_OK) goto fail;
    H5Pclose(fapl);
    *out = rf;
    return NN_OK;
fail:
    if (fapl >= 0) H5Pclose(fapl);
    rs_handle_free(rf);
    H5Eclear2(H5E_DEFAULT);
    return st;
}

int results_replaced(const ResultsFile *rf)
{
    struct stat sb;
    if (rf->writer || stat(rf->path, &sb) < 0) return 0;
    return (unsigned long long)sb.st_dev != rf->dev || (unsigned long long)sb.st_ino != rf->ino;
}

NnStatus results_read_summary(ResultsFile *rf, ResultsRow **rows, size_t *n, NnError *err)
{
    if (!rf->writer) return rs_read_rows(rf, rows, n, err);
    *n = rf->n_rows;
    *rows = NULL;
    if (rf->n_rows) {
        *rows = nn_malloc(rf->n_rows * sizeof **rows);
        memcpy(*rows, rf->rows, rf->n_rows * sizeof **rows);
    }
    return NN_OK;
}

NnStatus results_get_row(ResultsFile *rf, const char *run_id, ResultsRow *row, NnError *err)
{
    ResultsRow *rows;
    size_t n;
    NnStatus st = results_read_summary(rf, &rows, &n, err);
    if (st != NN_OK) return st;
    long found = -1;
    for (size_t i = 0; run_id && i < n && found < 0; i++)
        if (strcmp(rows[i].run_id, run_id) == 0) found = (long)i;
    if (found >= 0) *row = rows[found];
    free(rows);
    if (found < 0)
        return nn_error_set(err, NN_ERR_INPUT, "%s: no run \"%s\" in the file", rf->path,
                            run_id ? run_id : "(null)");
    return NN_OK;
}

/* Opens /runs/<id>/<what> (dataset or group); NN_ERR_INPUT for an
 * unknown run. */
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
    if (!ok) return nn_error_set(err, NN_ERR_INPUT, "%s: no run \"%s\" in the file", rf->path, run_id);
    if (what) snprintf(p, sizeof p, "runs/%s/%s", run_id, what);
    *out = group ? H5Gopen2(rf->file, p, H5P_DEFAULT) : H5Dopen2(rf->file, p, H5P_DEFAULT);
    if (*out < 0) return rs_h5err(err, rf->path, "open /%s", p);
    return NN_OK;
}

NnStatus results_run_rows(ResultsFile *rf, const char *run_id, size_t *n_rows, NnError *err)
{
    *n_rows = 0;
    if (rf->writer) {
        long i = run_id ? rs_find_row(rf, run_id) : -1;
        if (i < 0)
            return nn_error_set(err, NN_ERR_INPUT, "%s: no run \"%s\" in the file", rf->path,
                                run_id ? run_id : "(null)");
        NnStatus st = rs_open_metrics(rf, (size_t)i, err);
        if (st == NN_OK) *n_rows = rf->slots[i].n_rows;
        return st;
    }
    hid_t ds;
    NnStatus st = open_run_object(rf, run_id, "metrics", 0, &ds, err);
    if (st != NN_OK) return st;
    hsize_t n = 0;
    if (rf->swmr && H5Drefresh(ds) < 0)
        st = rs_h5err(err, rf->path, "refresh /runs/%s/metrics", run_id);
    else
        st = rs_metrics_rows(rf, ds, run_id, &n, err);
    H5Dclose(ds);
    *n_rows = (size_t)n;
    return st;
}

NnStatus results_read_metrics(ResultsFile *rf, const char *run_id, EpochMetrics **rows,
                              size_t *n, NnError *err)
{
    *rows = NULL;
    *n = 0;
    hid_t ds;
    NnStatus st = open_run_object(rf, run_id, "metrics", 0, &ds, err);
    if (st != NN_OK) return st;
    hsize_t count = 0;
    if (rf->swmr && !rf->writer && H5Drefresh(ds) < 0)
        st = rs_h5err(err, rf->path, "refresh /runs/%s/metrics", run_id);
    else
        st = rs_metrics_rows(rf, ds, run_id, &count, err);
    if (st == NN_OK && count > 0) {
        hsize_t start = 0;
        hid_t fs = H5Dget_space(ds), ms = H5Screate_simple(1, &count, NULL);
        EpochMetrics *m = nn_calloc(count, sizeof *m);
        if (fs < 0 || ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL) < 0 ||
            H5Dread(ds, rs_types()->metrics_mem, ms, fs, rs_types()->dxpl, m) < 0) {
            st = rs_h5err(err, rf->path, "read /runs/%s/metrics", run_id);
            free(m);
        } else {
            *rows = m;
            *n = (size_t)count;
        }
        if (fs >= 0) H5Sclose(fs);
        if (ms >= 0) H5Sclose(ms);
    }
    H5Dclose(ds);
    return st;
}

NnStatus results_read_config(ResultsFile *rf, const char *run_id, char **json, NnError *err)
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

/* ---- sweeps ------------------------------------------------------------------ */

typedef struct SweepList {
    ResultsSweep *s;
    int n, cap;
} SweepList;

static herr_t add_sweep_name(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    (void)g, (void)info;
    SweepList *l = data;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        l->s = nn_realloc(l->s, (size_t)l->cap * sizeof *l->s);
    }
    memset(&l->s[l->n], 0, sizeof l->s[l->n]);
    l->s[l->n++].name = nn_strdup(name);
    return 0;
}

NnStatus results_list_sweeps(ResultsFile *rf, ResultsSweep **sweeps, int *n, NnError *err)
{
    *sweeps = NULL;
    *n = 0;
    SweepList l = {0};
    hid_t g = H5Gopen2(rf->file, "sweeps", H5P_DEFAULT);
    if (g < 0) return rs_h5err(err, rf->path, "open /sweeps");
    NnStatus st = NN_OK;
    if (H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, add_sweep_name, &l) < 0)
        st = rs_h5err(err, rf->path, "list /sweeps");
    for (int i = 0; i < l.n && st == NN_OK; i++) {
        hid_t s = H5Gopen2(g, l.s[i].name, H5P_DEFAULT);
        if (s < 0) {
            st = rs_h5err(err, rf->path, "open /sweeps/%s", l.s[i].name);
            break;
        }
        l.s[i].spec = rs_read_str_attr(s, "spec");
        l.s[i].method = rs_read_str_attr(s, "method");
        l.s[i].metric = rs_read_str_attr(s, "metric");
        l.s[i].goal = rs_read_str_attr(s, "goal");
        int has_overrides = H5Aexists(s, "overrides") > 0;
        if (has_overrides) l.s[i].overrides = rs_read_str_attr(s, "overrides");
        if (!l.s[i].spec || !l.s[i].method || !l.s[i].metric || !l.s[i].goal ||
            (has_overrides && !l.s[i].overrides))
            st = rs_h5err(err, rf->path, "read the attributes of /sweeps/%s", l.s[i].name);
        H5Gclose(s);
    }
    H5Gclose(g);
    if (st != NN_OK) {
        results_sweeps_free(l.s, l.n);
        return st;
    }
    *sweeps = l.s;
    *n = l.n;
    return NN_OK;
}

void results_sweeps_free(ResultsSweep *sweeps, int n)
{
    if (!sweeps) return;
    for (int i = 0; i < n; i++) {
        free(sweeps[i].name);
        free(sweeps[i].spec);
        free(sweeps[i].method);
        free(sweeps[i].metric);
        free(sweeps[i].goal);
        free(sweeps[i].overrides);
    }
    free(sweeps);
}

/* ---- weights ------------------------------------------------------------------ */

typedef struct ReadCtx {
    ResultsFile *rf;
    const char *run_id;
    float *state;
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
    } else if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, c->state + off) < 0) {
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

NnStatus results_read_weights(ResultsFile *rf, const char *run_id, float **state,
                              size_t *n_state, TensorInfo **tensors, int *n_tensors,
                              NnError *err)
{
    *state = NULL;
    *n_state = 0;
    if (tensors) *tensors = NULL;
    if (n_tensors) *n_tensors = 0;
    ResultsRow row;
    NnStatus st = results_get_row(rf, run_id, &row, err);
    if (st != NN_OK) return st;
    if (!row.has_weights)
        return nn_error_set(err, NN_ERR_INPUT, "%s: run %s has no stored weights (status %s)",
                            rf->path, run_id, run_status_name(row.status));
    hid_t g;
    st = open_run_object(rf, run_id, "weights", 1, &g, err);
    if (st != NN_OK) return st;
    int64_t ns = -1;
    if (rs_read_i64_attr(g, "n_state", &ns) < 0 || ns < 1) {
        H5Gclose(g);
        return rs_h5err(err, rf->path, "read /runs/%s/weights n_state", run_id);
    }
    ReadCtx c = {rf, run_id, nn_malloc((size_t)ns * sizeof(float)), (size_t)ns, 0, NULL, 0, 0,
                 err, NN_OK};
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
