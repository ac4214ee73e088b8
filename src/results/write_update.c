/* write_update.c - the writer's SWMR phase: only data is written (summary
 * rows in place, metrics rows appended, weights), each update flushed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "results/results_internal.h"

static void check_swmr(const ResultsFile *rf, const char *fn)
{
    NN_CHECK(rf && rf->writer && rf->swmr, "%s: only a writer in SWMR mode (after "
                                           "results_start_swmr) may do this", fn);
}

long rs_find_row(const ResultsFile *rf, const char *run_id)
{
    for (size_t i = 0; i < rf->n_rows; i++)
        if (strcmp(rf->rows[i].run_id, run_id) == 0) return (long)i;
    return -1;
}

NnStatus rs_write_row(ResultsFile *rf, size_t i, NnError *err)
{
    hsize_t at = i, one = 1, dims = 0;
    hid_t fs = H5Dget_space(rf->summary), ms = -1;
    NnStatus st = NN_OK;
    if (fs < 0 || H5Sget_simple_extent_dims(fs, &dims, NULL) < 0) {
        st = rs_h5err(err, rf->path, "read the shape of /summary");
        goto done;
    }
    if (at >= dims) {
        hsize_t want = at + 1;
        H5Sclose(fs);
        fs = -1;
        if (H5Dset_extent(rf->summary, &want) < 0 || (fs = H5Dget_space(rf->summary)) < 0) {
            st = rs_h5err(err, rf->path, "extend /summary to %llu rows", (unsigned long long)want);
            goto done;
        }
    }
    ms = H5Screate_simple(1, &one, NULL);
    RsDiskRow d;
    rs_row_to_disk(&rf->rows[i], &d);
    if (ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, &at, NULL, &one, NULL) < 0 ||
        H5Dwrite(rf->summary, rs_types()->row_mem, ms, fs, rs_types()->dxpl, &d) < 0)
        st = rs_h5err(err, rf->path, "write /summary row %zu (run %s)", i, rf->rows[i].run_id);
done:
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    return st;
}

NnStatus rs_metrics_rows(ResultsFile *rf, hid_t ds, const char *run_id, hsize_t *n, NnError *err)
{
    hid_t fs = H5Dget_space(ds), ms = -1;
    hsize_t dims = 0, one = 1;
    NnStatus st = NN_OK;
    if (fs < 0 || H5Sget_simple_extent_ndims(fs) != 1 ||
        H5Sget_simple_extent_dims(fs, &dims, NULL) < 0) {
        st = rs_h5err(err, rf->path, "read the shape of /runs/%s/metrics", run_id);
        goto done;
    }
    ms = H5Screate_simple(1, &one, NULL);
    while (dims > 0) {
        hsize_t last = dims - 1;
        EpochMetrics m;
        if (ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, &last, NULL, &one, NULL) < 0 ||
            H5Dread(ds, rs_types()->metrics_mem, ms, fs, rs_types()->dxpl, &m) < 0) {
            st = rs_h5err(err, rf->path, "read /runs/%s/metrics", run_id);
            goto done;
        }
        if ((hsize_t)m.epoch == last && m.epoch >= 0) break;
        dims--; /* a row of an append in flight when the writer died */
    }
done:
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    *n = dims;
    return st;
}

NnStatus rs_open_metrics(ResultsFile *rf, size_t i, NnError *err)
{
    RsSlot *s = &rf->slots[i];
    if (s->metrics >= 0) return NN_OK;
    char p[64];
    snprintf(p, sizeof p, "runs/%s/metrics", rf->rows[i].run_id);
    s->metrics = H5Dopen2(rf->file, p, H5P_DEFAULT);
    if (s->metrics < 0) return rs_h5err(err, rf->path, "open /%s", p);
    NnStatus st = rs_metrics_rows(rf, s->metrics, rf->rows[i].run_id, &s->n_rows, err);
    if (st != NN_OK) {
        H5Dclose(s->metrics);
        s->metrics = H5I_INVALID_HID;
    }
    return st;
}

NnStatus rs_flush(ResultsFile *rf, const char *what, NnError *err)
{
    if (H5Fflush(rf->file, H5F_SCOPE_LOCAL) < 0) return rs_h5err(err, rf->path, "flush %s", what);
    return NN_OK;
}

static NnStatus find(ResultsFile *rf, const char *run_id, long *i, NnError *err)
{
    *i = run_id ? rs_find_row(rf, run_id) : -1;
    if (*i < 0)
        return nn_error_set(err, NN_ERR_INPUT, "%s: no run \"%s\" in the file", rf->path,
                            run_id ? run_id : "(null)");
    return NN_OK;
}

NnStatus results_set_running(ResultsFile *rf, const char *run_id, const char *host,
                             int worker_rank, const char *device, NnError *err)
{
    check_swmr(rf, "results_set_running");
    long i;
    NnStatus st = find(rf, run_id, &i, err);
    if (st != NN_OK) return st;
    ResultsRow *row = &rf->rows[i];
    if (row->status != RUN_PENDING)
        return nn_error_set(err, NN_ERR_INPUT, "%s: run %s is %s, not pending (reset it first)",
                            rf->path, run_id, run_status_name(row->status));
    ResultsRow old = *row;
    row->status = RUN_RUNNING;
    rs_copy_str(row->host, sizeof row->host, host);
    row->worker_rank = worker_rank;
    rs_copy_str(row->device, sizeof row->device, device);
    st = rs_write_row(rf, (size_t)i, err);
    if (st != NN_OK) {
        *row = old;
        return st;
    }
    return rs_flush(rf, "after starting a run", err);
}

NnStatus results_append_epoch(ResultsFile *rf, const char *run_id, const EpochMetrics *m,
                              NnError *err)
{
    check_swmr(rf, "results_append_epoch");
    long i;
    NnStatus st = find(rf, run_id, &i, err);
    if (st != NN_OK) return st;
    ResultsRow *row = &rf->rows[i];
    if (row->status != RUN_RUNNING)
        return nn_error_set(err, NN_ERR_INPUT, "%s: run %s is %s, not running: epoch %d not recorded",
                            rf->path, run_id, run_status_name(row->status), m->epoch);
    st = rs_open_metrics(rf, (size_t)i, err);
    if (st != NN_OK) return st;
    RsSlot *s = &rf->slots[i];
    if (m->epoch < 0 || (hsize_t)m->epoch != s->n_rows)
        return nn_error_set(err, NN_ERR_INPUT,
                            "%s: run %s: epoch %d arrives after %llu rows (expected epoch %llu); "
                            "not recorded",
                            rf->path, run_id, m->epoch, (unsigned long long)s->n_rows,
                            (unsigned long long)s->n_rows);
    /* Write at row n_rows of an extent of n_rows + 1: a failed earlier
     * attempt that left the extent one row longer is overwritten. */
    hsize_t at = s->n_rows, want = s->n_rows + 1, one = 1;
    hid_t fs = -1, ms = H5Screate_simple(1, &one, NULL);
    if (ms < 0 || H5Dset_extent(s->metrics, &want) < 0 || (fs = H5Dget_space(s->metrics)) < 0 ||
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, &at, NULL, &one, NULL) < 0 ||
        H5Dwrite(s->metrics, rs_types()->metrics_mem, ms, fs, rs_types()->dxpl, m) < 0)
        st = rs_h5err(err, rf->path, "append epoch %d to /runs/%s/metrics", m->epoch, run_id);
    if (fs >= 0) H5Sclose(fs);
    if (ms >= 0) H5Sclose(ms);
    if (st != NN_OK) return st;
    s->n_rows = want;
    row->epochs_done = m->epoch;
    if (m->seconds == m->seconds) row->wall_seconds += m->seconds;
    st = rs_write_row(rf, (size_t)i, err);
    if (st != NN_OK) return st;
    /* Only the two datasets this touched: H5Fflush would walk HDF5's whole
     * metadata cache (H5C_set_slist_enabled), which grows with the number
     * of runs in the file - 1.8 ms per row with 1000 runs - while H5Dflush
     * writes the dataset's raw data and the metadata tagged with it. */
    if (H5Dflush(s->metrics) < 0 || H5Dflush(rf->summary) < 0)
        return rs_h5err(err, rf->path, "flush epoch %d of run %s", m->epoch, run_id);
    return NN_OK;
}

typedef struct WeightsCtx {
    ResultsFile *rf;
    const char *run_id;
    const float *state;
    size_t n_state, written;
    NnError *err;
    NnStatus st;
} WeightsCtx;

static herr_t write_tensor(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    (void)info;
    WeightsCtx *c = data;
    hid_t ds = H5Dopen2(g, name, H5P_DEFAULT), sp = -1;
    int64_t off = -1;
    hssize_t n = -1;
    if (ds >= 0 && rs_read_i64_attr(ds, "offset", &off) >= 0 && (sp = H5Dget_space(ds)) >= 0)
        n = H5Sget_simple_extent_npoints(sp);
    if (ds < 0 || n < 0 || off < 0 || (size_t)off + (size_t)n > c->n_state) {
        c->st = ds >= 0 && n >= 0
                    ? nn_error_set(c->err, NN_ERR_IO,
                                   "%s: damaged results file: /runs/%s/weights/%s lies outside "
                                   "the state",
                                   c->rf->path, c->run_id, name)
                    : rs_h5err(c->err, c->rf->path, "open /runs/%s/weights/%s", c->run_id, name);
    } else if (H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, c->state + off) < 0) {
        c->st = rs_h5err(c->err, c->rf->path, "write /runs/%s/weights/%s", c->run_id, name);
    } else {
        c->written += (size_t)n;
    }
    if (sp >= 0) H5Sclose(sp);
    if (ds >= 0) H5Dclose(ds);
    return c->st == NN_OK ? 0 : -1;
}

static NnStatus write_weights(ResultsFile *rf, const char *run_id, const float *state,
                              size_t n_given, NnError *err)
{
    char p[64];
    snprintf(p, sizeof p, "runs/%s/weights", run_id);
    hid_t g = H5Gopen2(rf->file, p, H5P_DEFAULT);
    if (g < 0) return rs_h5err(err, rf->path, "open /%s", p);
    int64_t n_state = -1;
    NnStatus st = NN_OK;
    if (rs_read_i64_attr(g, "n_state", &n_state) < 0) {
        st = rs_h5err(err, rf->path, "read /%s n_state", p);
    } else if ((size_t)n_state != n_given) {
        st = nn_error_set(err, NN_ERR_INPUT, "%s: run %s: %zu weights given, the run stores %lld",
                          rf->path, run_id, n_given, (long long)n_state);
    } else {
        WeightsCtx c = {rf, run_id, state, n_given, 0, err, NN_OK};
        herr_t rc = H5Literate(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, NULL, write_tensor, &c);
        if (c.st != NN_OK)
            st = c.st;
        else if (rc < 0)
            st = rs_h5err(err, rf->path, "iterate /%s", p);
        else if (c.written != n_given)
            st = nn_error_set(err, NN_ERR_IO, "%s: damaged results file: /%s holds %zu of %zu floats",
                              rf->path, p, c.written, n_given);
    }
    H5Gclose(g);
    return st;
}

NnStatus results_finish_run(ResultsFile *rf, const char *run_id, const RunSummary *r,
                            const float *best_state, NnError *err)
{
    check_swmr(rf, "results_finish_run");
    long i;
    NnStatus st = find(rf, run_id, &i, err);
    if (st != NN_OK) return st;
    ResultsRow *row = &rf->rows[i];
    if (row->status != RUN_PENDING && row->status != RUN_RUNNING)
        return nn_error_set(err, NN_ERR_INPUT, "%s: run %s already ended (%s)", rf->path, run_id,
                            run_status_name(row->status));
    if (!run_status_is_final(r->status) && r->status != RUN_INTERRUPTED)
        return nn_error_set(err, NN_ERR_INPUT, "%s: run %s cannot end with status %s", rf->path,
                            run_id, run_status_name(r->status));
    if (best_state) {
        if (r->n_state < 0)
            return nn_error_set(err, NN_ERR_INPUT, "%s: run %s: %lld weights", rf->path, run_id,
                                (long long)r->n_state);
        st = write_weights(rf, run_id, best_state, (size_t)r->n_state, err);
        if (st == NN_OK) st = rs_flush(rf, "the weights", err);
        if (st != NN_OK) return st;
    }
    ResultsRow old = *row;
    row->status = r->status;
    row->epochs_done = r->epochs_done;
    row->best_epoch = r->best_epoch;
    row->best_val_accuracy = r->best_val_accuracy;
    row->best_test_accuracy = r->best_test_accuracy;
    row->wall_seconds = r->wall_seconds;
    row->has_weights = best_state != NULL;
    if (r->device[0]) rs_copy_str(row->device, sizeof row->device, r->device);
    rs_copy_str(row->message, sizeof row->message, r->message);
    st = rs_write_row(rf, (size_t)i, err);
    if (st != NN_OK) {
        *row = old;
        return st;
    }
    if (rf->slots[i].metrics >= 0) { /* the run is over: nothing more to append */
        H5Dclose(rf->slots[i].metrics);
        rf->slots[i].metrics = H5I_INVALID_HID;
    }
    st = rs_flush(rf, "after a run ended", err);
    return st == NN_OK ? rs_fsync_path(rf->real, rf->path, err) : st;
}

NnStatus results_mark_unfinished(ResultsFile *rf, RunStatus status, const char *message,
                                 int *n_marked, NnError *err)
{
    check_swmr(rf, "results_mark_unfinished");
    int n = 0;
    NnStatus st = NN_OK;
    for (size_t i = 0; i < rf->n_rows && st == NN_OK; i++) {
        ResultsRow *row = &rf->rows[i];
        if (row->status != RUN_RUNNING) continue;
        row->status = status;
        rs_copy_str(row->message, sizeof row->message, message);
        st = rs_write_row(rf, i, err);
        n += st == NN_OK;
    }
    if (n_marked) *n_marked = n;
    if (st == NN_OK) st = rs_flush(rf, "after marking unfinished runs", err);
    return st == NN_OK ? rs_fsync_path(rf->real, rf->path, err) : st;
}
