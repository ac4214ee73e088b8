/* read.c - the readers: open plainly, or with SWMR read while a writer has
 * the file; summary, sweeps, a run's config, outputs, metrics, logs and
 * weights, from either schema version (read_v1.c has version 1's). They
 * also work on a writer's handle. */
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
    for (int t = 0; t < RS_N_TABLES; t++) rf->t[t].ds = H5I_INVALID_HID;
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
    if (st == NN_OK && rf->version == 2) st = rs_open_tables(rf, err);
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

int results_schema_version(const ResultsFile *rf) { return rf->version; }

int results_replaced(const ResultsFile *rf)
{
    struct stat sb;
    if (rf->writer || stat(rf->path, &sb) < 0) return 0;
    return (unsigned long long)sb.st_dev != rf->dev || (unsigned long long)sb.st_ino != rf->ino;
}

/* A writer in its structural phase writes what it queued before reading
 * the file (a failure breaks the session, as a structural call's would). */
static NnStatus on_disk(ResultsFile *rf, NnError *err)
{
    if (!rf->writer || rf->swmr) return NN_OK;
    if (rf->broken) return nn_error_set(err, NN_ERR_IO, "%s", rf->broken_err.msg);
    NnStatus st = rs_sync(rf, err);
    if (st != NN_OK) {
        rf->broken = 1;
        rf->broken_err = *err;
    }
    return st;
}

NnStatus results_read_summary(ResultsFile *rf, ResultsRow **rows, size_t *n, NnError *err)
{
    *rows = NULL;
    *n = 0;
    if (!rf->writer) {
        RsRow *r;
        size_t k;
        NnStatus st = rs_read_rows(rf, &r, &k, err);
        if (st == NN_OK) st = rs_set_rows(rf, r, k, err); /* the cache follows */
        if (st != NN_OK) return st;
    }
    *n = rf->n_rows;
    if (rf->n_rows) {
        *rows = nn_malloc(rf->n_rows * sizeof **rows);
        for (size_t i = 0; i < rf->n_rows; i++) (*rows)[i] = rf->rows[i].r;
    }
    return NN_OK;
}

NnStatus results_get_row(ResultsFile *rf, const char *run_id, ResultsRow *row, NnError *err)
{
    RsRow r;
    NnStatus st = rs_lookup(rf, run_id, &r, NULL, err);
    if (st == NN_OK) *row = r.r;
    return st;
}

NnStatus results_run_rows(ResultsFile *rf, const char *run_id, size_t *n_rows, NnError *err)
{
    *n_rows = 0;
    RsRow r;
    size_t i;
    NnStatus st = rs_lookup(rf, run_id, &r, &i, err);
    if (st != NN_OK) return st;
    if (rf->version == 1) {
        EpochMetrics *m;
        st = rs_v1_read_metrics(rf, run_id, &m, n_rows, err);
        free(m);
        return st;
    }
    if (rf->writer && r.n_epochs >= 0) {
        *n_rows = (size_t)r.n_epochs;
        return NN_OK;
    }
    st = rs_attempt_metrics(rf, &r, i, NULL, n_rows, err);
    if (st == NN_OK && rf->writer) rf->rows[i].n_epochs = (int64_t)*n_rows;
    return st;
}

/* Text [off, off + len) of /text as a new string (caller frees). */
static NnStatus read_text(ResultsFile *rf, const char *run_id, const char *what, int64_t off,
                          int64_t len, char **out, NnError *err)
{
    *out = NULL;
    if (off < 0 || len < 0)
        return nn_error_set(err, NN_ERR_IO, "%s: damaged results file: run %s: its %s lies at "
                                            "%lld (+%lld) of /text",
                            rf->path, run_id, what, (long long)off, (long long)len);
    char *s = nn_malloc((size_t)len + 1);
    NnStatus st = rs_table_read(rf, RS_TEXT, (hsize_t)off, (hsize_t)len, -1, s, err);
    if (st != NN_OK) {
        free(s);
        return st;
    }
    s[len] = 0;
    *out = s;
    return NN_OK;
}

NnStatus results_read_config(ResultsFile *rf, const char *run_id, char **json, NnError *err)
{
    *json = NULL;
    if (rf->version == 1) return rs_v1_read_config(rf, run_id, json, err);
    RsRow r;
    NnStatus st = on_disk(rf, err);
    if (st == NN_OK) st = rs_lookup(rf, run_id, &r, NULL, err);
    if (st != NN_OK) return st;
    return read_text(rf, run_id, "config", r.loc.config_offset, r.loc.config_len, json, err);
}

NnStatus results_read_outputs(ResultsFile *rf, const char *run_id, char **json, NnError *err)
{
    *json = NULL;
    RsRow r;
    NnStatus st = on_disk(rf, err);
    if (st == NN_OK) st = rs_lookup(rf, run_id, &r, NULL, err);
    if (st != NN_OK || rf->version == 1 || r.loc.outputs_len == 0) return st;
    return read_text(rf, run_id, "outputs", r.loc.outputs_offset, r.loc.outputs_len, json, err);
}

NnStatus results_read_metrics(ResultsFile *rf, const char *run_id, EpochMetrics **rows,
                              size_t *n, NnError *err)
{
    *rows = NULL;
    *n = 0;
    if (rf->version == 1) return rs_v1_read_metrics(rf, run_id, rows, n, err);
    RsRow r;
    size_t i;
    NnStatus st = on_disk(rf, err);
    if (st == NN_OK) st = rs_lookup(rf, run_id, &r, &i, err);
    if (st != NN_OK) return st;
    return rs_attempt_metrics(rf, &r, i, rows, n, err);
}

NnStatus results_read_logs(ResultsFile *rf, const char *run_id, ResultsLog **rows, size_t *n,
                           NnError *err)
{
    *rows = NULL;
    *n = 0;
    RsRow r;
    size_t i;
    NnStatus st = on_disk(rf, err);
    if (st == NN_OK) st = rs_lookup(rf, run_id, &r, &i, err);
    if (st != NN_OK || rf->version == 1 || r.loc.logs_end <= r.loc.logs_first) return st;
    hsize_t n_keys;
    st = rs_table_len(rf, RS_KEYS, &n_keys, err);
    char(*keys)[RESULTS_LOG_KEY_LEN] = nn_calloc(n_keys + 1, RESULTS_LOG_KEY_LEN);
    if (st == NN_OK) st = rs_table_read(rf, RS_KEYS, 0, n_keys, -1, keys, err);
    hsize_t first = (hsize_t)(r.loc.logs_first > 0 ? r.loc.logs_first : 0);
    hsize_t count = (hsize_t)r.loc.logs_end - first;
    RsLogRow *buf = st == NN_OK ? nn_malloc(count * sizeof *buf) : NULL;
    if (st == NN_OK) st = rs_table_read(rf, RS_LOGS, first, count, -1, buf, err);
    ResultsLog *out = NULL;
    size_t k = 0;
    for (hsize_t j = 0; j < count && st == NN_OK; j++) {
        const RsLogRow *l = &buf[j];
        if (l->run != (int32_t)i || l->attempt != r.r.attempt) continue;
        if (l->key < 0 || (hsize_t)l->key >= n_keys || !keys[l->key][0]) {
            st = nn_error_set(err, NN_ERR_IO,
                              "%s: damaged results file: run %s: /logs row %llu names key %d, "
                              "/log_keys has %llu",
                              rf->path, run_id, (unsigned long long)(first + j), (int)l->key,
                              (unsigned long long)n_keys);
            break;
        }
        if (!out) out = nn_malloc(count * sizeof *out);
        out[k].step = l->step;
        memcpy(out[k].name, keys[l->key], RESULTS_LOG_KEY_LEN);
        out[k].name[RESULTS_LOG_KEY_LEN - 1] = 0;
        out[k].value = l->value;
        k++;
    }
    free(buf);
    free(keys);
    if (st != NN_OK) {
        free(out);
        return st;
    }
    *rows = out;
    *n = k;
    return NN_OK;
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

/* Rows [first, first + n) of /tensors as a table of a state of n_state
 * floats; *out owned by the caller. */
static NnStatus read_table(ResultsFile *rf, const char *run_id, int64_t first, int32_t n,
                           int64_t n_state, TensorInfo **out, NnError *err)
{
    *out = NULL;
    if (first < 0 || n < 1)
        return nn_error_set(err, NN_ERR_IO, "%s: damaged results file: run %s has weights but "
                                            "no tensor table",
                            rf->path, run_id);
    RsTensorRow *rows = nn_malloc((size_t)n * sizeof *rows);
    NnStatus st = rs_table_read(rf, RS_TENSORS, (hsize_t)first, (hsize_t)n, -1, rows, err);
    TensorInfo *t = nn_calloc((size_t)n, sizeof *t);
    int64_t total = 0;
    for (int32_t i = 0; i < n && st == NN_OK; i++) {
        const RsTensorRow *r = &rows[i];
        int64_t count = 1;
        int ok = r->ndim >= 1 && r->ndim <= 4 && memchr(r->name, 0, sizeof r->name) && r->name[0];
        for (int d = 0; ok && d < r->ndim; d++) {
            ok = r->shape[d] >= 1;
            count *= r->shape[d];
        }
        ok = ok && count == r->n && r->offset >= 0 && r->offset + r->n <= n_state;
        if (!ok) {
            st = nn_error_set(err, NN_ERR_IO, "%s: damaged results file: run %s: /tensors row "
                                              "%lld does not fit its state",
                              rf->path, run_id, (long long)(first + i));
            break;
        }
        snprintf(t[i].name, sizeof t[i].name, "%s", r->name);
        t[i].ndim = r->ndim;
        for (int d = 0; d < r->ndim; d++) t[i].shape[d] = r->shape[d];
        t[i].offset = (size_t)r->offset;
        t[i].n = (size_t)r->n;
        t[i].is_buffer = r->is_buffer != 0;
        total += r->n;
    }
    free(rows);
    if (st == NN_OK && total != n_state)
        st = nn_error_set(err, NN_ERR_IO, "%s: damaged results file: run %s: its tensors hold "
                                          "%lld of %lld floats",
                          rf->path, run_id, (long long)total, (long long)n_state);
    if (st != NN_OK) {
        free(t);
        return st;
    }
    *out = t;
    return NN_OK;
}

NnStatus results_read_weights(ResultsFile *rf, const char *run_id, float **state,
                              size_t *n_state, TensorInfo **tensors, int *n_tensors,
                              NnError *err)
{
    *state = NULL;
    *n_state = 0;
    if (tensors) *tensors = NULL;
    if (n_tensors) *n_tensors = 0;
    RsRow r;
    NnStatus st = on_disk(rf, err);
    if (st == NN_OK) st = rs_lookup(rf, run_id, &r, NULL, err);
    if (st != NN_OK) return st;
    if (!r.r.has_weights)
        return nn_error_set(err, NN_ERR_INPUT, "%s: run %s has no stored weights (status %s)",
                            rf->path, run_id, run_status_name(r.r.status));
    if (rf->version == 1)
        return rs_v1_read_weights(rf, run_id, 1, state, n_state, tensors, n_tensors, err);
    if (r.r.n_state < 1 || r.loc.weights_offset < 0)
        return nn_error_set(err, NN_ERR_IO, "%s: damaged results file: run %s has weights of "
                                            "%lld floats at %lld",
                            rf->path, run_id, (long long)r.r.n_state,
                            (long long)r.loc.weights_offset);
    TensorInfo *t;
    st = read_table(rf, run_id, r.loc.tensors_first, r.loc.n_tensors, r.r.n_state, &t, err);
    if (st != NN_OK) return st;
    float *s = nn_malloc((size_t)r.r.n_state * sizeof *s);
    st = rs_table_read(rf, RS_WEIGHTS, (hsize_t)r.loc.weights_offset, (hsize_t)r.r.n_state, -1, s,
                       err);
    if (st != NN_OK) {
        free(s);
        free(t);
        return st;
    }
    *state = s;
    *n_state = (size_t)r.r.n_state;
    if (tensors) {
        *tensors = t;
        *n_tensors = r.loc.n_tensors;
    } else {
        free(t);
    }
    return NN_OK;
}
