/* tables.c - the shared tables of schema 2 (results.h): creating and
 * opening them, appending records (now, or queued in the structural phase),
 * reading ranges, flushing; the tensor tables stored once each. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "results/results_internal.h"

/* Table t's dataset and name; t may be RS_SUMMARY. */
static hid_t table_ds(const ResultsFile *rf, int t)
{
    return t == RS_SUMMARY ? rf->summary : rf->t[t].ds;
}
static const char *table_name(int t)
{
    return t == RS_SUMMARY ? "summary" : rs_table_info(t)->name;
}

/* A 1-d chunked dataset of unlimited extent. */
static hid_t create_1d(hid_t file, const char *name, hid_t type, hid_t mem, hsize_t chunk,
                       const void *fill)
{
    hsize_t dims = 0, maxdims = H5S_UNLIMITED;
    hid_t sp = H5Screate_simple(1, &dims, &maxdims), dcpl = H5Pcreate(H5P_DATASET_CREATE), d = -1;
    if (sp >= 0 && dcpl >= 0 && H5Pset_chunk(dcpl, 1, &chunk) >= 0 &&
        (!fill || H5Pset_fill_value(dcpl, mem, fill) >= 0))
        d = H5Dcreate2(file, name, type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d < 0) rs_note();
    if (sp >= 0) H5Sclose(sp);
    if (dcpl >= 0) H5Pclose(dcpl);
    return d;
}

NnStatus rs_create_tables(ResultsFile *rf, NnError *err)
{
    rf->summary = create_1d(rf->file, "summary", rs_types()->row_file, rs_types()->row_mem, 64,
                            NULL);
    if (rf->summary < 0) return rs_h5err(err, rf->path, "create /summary");
    for (int t = 0; t < RS_N_TABLES; t++) {
        const RsTableInfo *in = rs_table_info(t);
        rf->t[t].ds = create_1d(rf->file, in->name, in->file, in->mem, in->chunk, in->fill);
        if (rf->t[t].ds < 0) return rs_h5err(err, rf->path, "create /%s", in->name);
        rf->t[t].n = rf->t[t].extent = 0;
    }
    return NN_OK;
}

static NnStatus extent_of(ResultsFile *rf, int t, hsize_t *n, NnError *err)
{
    hid_t fs = H5Dget_space(table_ds(rf, t));
    int ok = fs >= 0 && H5Sget_simple_extent_ndims(fs) == 1 &&
             H5Sget_simple_extent_dims(fs, n, NULL) >= 0;
    if (fs >= 0) H5Sclose(fs);
    return ok ? NN_OK : rs_h5err(err, rf->path, "read the shape of /%s", table_name(t));
}

NnStatus rs_open_tables(ResultsFile *rf, NnError *err)
{
    for (int t = 0; t < RS_N_TABLES; t++) {
        const RsTableInfo *in = rs_table_info(t);
        rf->t[t].ds = H5Dopen2(rf->file, in->name, H5P_DEFAULT);
        if (rf->t[t].ds < 0) return rs_h5err(err, rf->path, "open /%s", in->name);
        hid_t ft = H5Dget_type(rf->t[t].ds);
        size_t size = ft >= 0 ? H5Tget_size(ft) : 0;
        if (ft >= 0) H5Tclose(ft);
        if (size != H5Tget_size(in->file))
            return nn_error_set(err, NN_ERR_IO,
                                "%s: damaged results file: /%s has %zu-byte records, schema 2 "
                                "has %zu",
                                rf->path, in->name, size, H5Tget_size(in->file));
        if (rf->writer) {
            NnStatus st = extent_of(rf, t, &rf->t[t].extent, err);
            if (st != NN_OK) return st;
            rf->t[t].n = rf->t[t].extent;
        }
    }
    return NN_OK;
}

/* Writes n records of recs at rows [at, at + n) of dataset ds. */
static NnStatus write_at(ResultsFile *rf, int t, hid_t mem, hsize_t at, hsize_t n,
                         const void *recs, NnError *err)
{
    hid_t fs = H5Dget_space(table_ds(rf, t)), ms = H5Screate_simple(1, &n, NULL);
    NnStatus st = NN_OK;
    if (fs < 0 || ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, &at, NULL, &n, NULL) < 0 ||
        H5Dwrite(table_ds(rf, t), mem, ms, fs, rs_types()->dxpl, recs) < 0)
        st = rs_h5err(err, rf->path, "write %llu record%s at %llu of /%s", (unsigned long long)n,
                      n == 1 ? "" : "s", (unsigned long long)at, table_name(t));
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    return st;
}

NnStatus rs_table_put(ResultsFile *rf, int t, const void *recs, size_t n, hsize_t *at,
                      NnError *err)
{
    RsTable *tb = &rf->t[t];
    if (at) *at = tb->n;
    if (n == 0) return NN_OK;
    hsize_t want = tb->n + n;
    if (want > tb->extent) {
        if (H5Dset_extent(tb->ds, &want) < 0)
            return rs_h5err(err, rf->path, "extend /%s to %llu records", table_name(t),
                            (unsigned long long)want);
        tb->extent = want;
    }
    NnStatus st = write_at(rf, t, rs_table_info(t)->mem, tb->n, n, recs, err);
    if (st == NN_OK) tb->n = want;
    return st;
}

void rs_table_queue(ResultsFile *rf, int t, const void *recs, size_t n, hsize_t *at)
{
    RsTable *tb = &rf->t[t];
    size_t size = rs_table_info(t)->size;
    *at = tb->n + tb->n_queued;
    if (tb->n_queued + n > tb->cap_queued) {
        tb->cap_queued = 2 * (tb->n_queued + n) + 1024;
        tb->queue = nn_realloc(tb->queue, tb->cap_queued * size);
    }
    memcpy(tb->queue + tb->n_queued * size, recs, n * size);
    tb->n_queued += n;
}

NnStatus rs_table_len(ResultsFile *rf, int t, hsize_t *n, NnError *err)
{
    if (rf->writer && t != RS_SUMMARY) {
        *n = rf->t[t].n;
        return NN_OK;
    }
    if (!rf->writer && rf->swmr && H5Drefresh(table_ds(rf, t)) < 0)
        return rs_h5err(err, rf->path, "refresh /%s", table_name(t));
    return extent_of(rf, t, n, err);
}

NnStatus rs_table_read(ResultsFile *rf, int t, hsize_t from, hsize_t n, hid_t mem, void *buf,
                       NnError *err)
{
    if (n == 0) return NN_OK;
    hsize_t have;
    NnStatus st = rs_table_len(rf, t, &have, err);
    if (st != NN_OK) return st;
    if (from > have || n > have - from)
        return nn_error_set(err, NN_ERR_IO,
                            "%s: damaged results file: records [%llu, %llu) of /%s asked for, it "
                            "has %llu",
                            rf->path, (unsigned long long)from, (unsigned long long)(from + n),
                            table_name(t), (unsigned long long)have);
    if (mem < 0) mem = t == RS_SUMMARY ? rs_types()->row_mem : rs_table_info(t)->mem;
    hid_t fs = H5Dget_space(table_ds(rf, t)), ms = H5Screate_simple(1, &n, NULL);
    if (fs < 0 || ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, &from, NULL, &n, NULL) < 0 ||
        H5Dread(table_ds(rf, t), mem, ms, fs, rs_types()->dxpl, buf) < 0)
        st = rs_h5err(err, rf->path, "read records [%llu, %llu) of /%s", (unsigned long long)from,
                      (unsigned long long)(from + n), table_name(t));
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    return st;
}

NnStatus rs_table_orphan(ResultsFile *rf, int t, hsize_t from, NnError *err)
{
    _Static_assert(offsetof(RsMetricsRow, run) == 0 && offsetof(RsLogRow, run) == 0,
                   "a run table's records start with run");
    NN_CHECK(rf->writer && (t == RS_METRICS || t == RS_LOGS), "rs_table_orphan: table %d", t);
    RsTable *tb = &rf->t[t];
    if (from >= tb->n) return NN_OK;
    hsize_t n = tb->n - from;
    size_t size = rs_table_info(t)->size;
    char *recs = nn_malloc(n * size);
    NnStatus st = rs_table_read(rf, t, from, n, -1, recs, err);
    for (hsize_t k = 0; k < n && st == NN_OK; k++) {
        int32_t none = -1;
        memcpy(recs + k * size, &none, sizeof none);
    }
    if (st == NN_OK) st = write_at(rf, t, rs_table_info(t)->mem, from, n, recs, err);
    free(recs);
    return st == NN_OK ? rs_flush_table(rf, t, err) : st;
}

NnStatus rs_flush_table(ResultsFile *rf, int t, NnError *err)
{
    if (H5Dflush(table_ds(rf, t)) < 0) return rs_h5err(err, rf->path, "flush /%s", table_name(t));
    return NN_OK;
}

/* ---- summary rows on disk ---------------------------------------------------------- */

NnStatus rs_write_row(ResultsFile *rf, size_t i, NnError *err)
{
    if (!rf->swmr) { /* rs_sync writes it */
        if (i < rf->dirty_from) rf->dirty_from = i;
        return NN_OK;
    }
    RsDiskRow d;
    rs_row_to_disk(&rf->rows[i], &d);
    NnStatus st = write_at(rf, RS_SUMMARY, rs_types()->row_mem, i, 1, &d, err);
    if (st != NN_OK) {
        NnError why = *err;
        nn_error_set(err, st, "%s (run %s)", why.msg, rf->rows[i].r.run_id);
    }
    return st;
}

NnStatus rs_put_row(ResultsFile *rf, const RsRow *row, NnError *err)
{
    hsize_t want = rf->n_rows + 1;
    if (H5Dset_extent(rf->summary, &want) < 0)
        return rs_h5err(err, rf->path, "extend /summary to %zu rows", rf->n_rows + 1);
    RsDiskRow d;
    rs_row_to_disk(row, &d);
    return write_at(rf, RS_SUMMARY, rs_types()->row_mem, rf->n_rows, 1, &d, err);
}

enum { BLOCK = 4096 }; /* summary rows converted at a time */

NnStatus rs_sync(ResultsFile *rf, NnError *err)
{
    NnStatus st = NN_OK;
    for (int t = 0; t < RS_N_TABLES && st == NN_OK; t++) {
        RsTable *tb = &rf->t[t];
        st = rs_table_put(rf, t, tb->queue, tb->n_queued, NULL, err);
        tb->n_queued = 0;
    }
    size_t from = rf->dirty_from < rf->on_disk ? rf->dirty_from : rf->on_disk;
    if (st != NN_OK || from == rf->n_rows) return st;
    hsize_t want = rf->n_rows;
    if (rf->n_rows > rf->on_disk && H5Dset_extent(rf->summary, &want) < 0)
        return rs_h5err(err, rf->path, "extend /summary to %zu rows", rf->n_rows);
    RsDiskRow *d = nn_malloc(BLOCK * sizeof *d);
    while (from < rf->n_rows && st == NN_OK) {
        size_t n = rf->n_rows - from < BLOCK ? rf->n_rows - from : BLOCK;
        for (size_t k = 0; k < n; k++) rs_row_to_disk(&rf->rows[from + k], &d[k]);
        st = write_at(rf, RS_SUMMARY, rs_types()->row_mem, from, n, d, err);
        from += n;
    }
    free(d);
    if (st == NN_OK) {
        rf->on_disk = rf->n_rows;
        rf->dirty_from = SIZE_MAX;
    }
    return st;
}

NnStatus rs_read_rows(ResultsFile *rf, RsRow **rows, size_t *n, NnError *err)
{
    *rows = NULL;
    *n = 0;
    if (rf->version == 1) return rs_read_rows_v1(rf, rows, n, err);
    hsize_t dims;
    NnStatus st = rs_table_len(rf, RS_SUMMARY, &dims, err);
    if (st != NN_OK || dims == 0) return st;
    RsRow *r = nn_calloc(dims, sizeof *r);
    RsDiskRow *d = nn_malloc(BLOCK * sizeof *d);
    for (hsize_t at = 0; at < dims && st == NN_OK; at += BLOCK) {
        hsize_t k = dims - at < BLOCK ? dims - at : BLOCK;
        st = rs_table_read(rf, RS_SUMMARY, at, k, -1, d, err);
        for (hsize_t j = 0; j < k && st == NN_OK; j++)
            st = rs_row_from_disk(rf, &d[j], &r[at + j], err);
    }
    free(d);
    if (st != NN_OK) {
        free(r);
        return st;
    }
    *rows = r;
    *n = dims;
    return NN_OK;
}

/* ---- a run's metrics rows -------------------------------------------------------------- */

NnStatus rs_attempt_metrics(ResultsFile *rf, const RsRow *row, size_t i, EpochMetrics **out,
                            size_t *n, NnError *err)
{
    *n = 0;
    if (out) *out = NULL;
    hsize_t len;
    NnStatus st = rs_table_len(rf, RS_METRICS, &len, err);
    int64_t first = row->loc.metrics_first, end = row->loc.metrics_end;
    if (first < 0) first = 0;
    if (end > (int64_t)len) end = (int64_t)len; /* past the table (damaged): what is there */
    size_t cap = 0;
    RsMetricsRow *buf = nn_malloc(BLOCK * sizeof *buf);
    for (int64_t at = first; at < end && st == NN_OK; at += BLOCK) {
        hsize_t k = (hsize_t)(end - at < BLOCK ? end - at : BLOCK);
        st = rs_table_read(rf, RS_METRICS, (hsize_t)at, k,
                           out ? rs_types()->metrics_mem : rs_types()->count_mem, buf, err);
        for (hsize_t j = 0; j < k && st == NN_OK; j++) {
            const RsMetricsRow *m = &buf[j];
            if (m->run != (int32_t)i || m->attempt != row->r.attempt || m->m.epoch < (int)*n)
                continue; /* another run's, another attempt's, an epoch written twice */
            if (m->m.epoch > (int)*n) {
                at = end; /* a gap: the rows stop before it */
                break;
            }
            if (out) {
                if (*n == cap) {
                    cap = cap ? 2 * cap : 64;
                    *out = nn_realloc(*out, cap * sizeof **out);
                }
                (*out)[*n] = m->m;
            }
            (*n)++;
        }
    }
    free(buf);
    if (st != NN_OK && out) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return st;
}

/* ---- tensor tables, each stored once ------------------------------------------------------ */

typedef struct TableKey {
    const RsTensorRow *rows;
    int32_t n;
} TableKey;

static int table_eq(const void *ctx, int32_t first, const void *key)
{
    const ResultsFile *rf = ctx;
    const TableKey *k = key;
    return rf->tab_len[first] == k->n &&
           memcmp(&rf->tens[first], k->rows, (size_t)k->n * sizeof *k->rows) == 0;
}

static uint64_t table_hash(const RsTensorRow *rows, int32_t n)
{
    return rs_hash(rows, (size_t)n * sizeof *rows);
}

void rs_note_table(ResultsFile *rf, int64_t first, int32_t n)
{
    if (n < 1 || first < 0 || (size_t)first + (size_t)n > rf->n_tens) return;
    TableKey k = {&rf->tens[first], n};
    uint64_t h = table_hash(k.rows, n);
    if (rs_index_find(&rf->tab_ix, h, table_eq, rf, &k) >= 0) return;
    rf->tab_len[first] = n;
    rs_index_add(&rf->tab_ix, h, (int32_t)first);
}

NnStatus rs_store_tensors(ResultsFile *rf, const TensorInfo *t, int n, int64_t *first,
                          NnError *err)
{
    RsTensorRow *rows = nn_calloc((size_t)n, sizeof *rows); /* zeroed: compared as bytes */
    for (int i = 0; i < n; i++) {
        rs_copy_str(rows[i].name, sizeof rows[i].name, t[i].name);
        rows[i].ndim = t[i].ndim;
        for (int d = 0; d < t[i].ndim; d++) rows[i].shape[d] = t[i].shape[d];
        rows[i].offset = (int64_t)t[i].offset;
        rows[i].n = (int64_t)t[i].n;
        rows[i].is_buffer = t[i].is_buffer != 0;
    }
    TableKey k = {rows, n};
    uint64_t h = table_hash(rows, n);
    int32_t found = rs_index_find(&rf->tab_ix, h, table_eq, rf, &k);
    NnStatus st = NN_OK;
    if (found >= 0) {
        *first = found;
    } else {
        hsize_t at;
        if (rf->swmr)
            st = rs_table_put(rf, RS_TENSORS, rows, (size_t)n, &at, err);
        else
            rs_table_queue(rf, RS_TENSORS, rows, (size_t)n, &at);
        if (st == NN_OK) {
            NN_CHECK(at == rf->n_tens, "results: the tensor mirror is out of step");
            if (rf->n_tens + (size_t)n > rf->cap_tens) {
                rf->cap_tens = 2 * (rf->n_tens + (size_t)n);
                rf->tens = nn_realloc(rf->tens, rf->cap_tens * sizeof *rf->tens);
                rf->tab_len = nn_realloc(rf->tab_len, rf->cap_tens * sizeof *rf->tab_len);
            }
            memcpy(&rf->tens[rf->n_tens], rows, (size_t)n * sizeof *rows);
            memset(&rf->tab_len[rf->n_tens], 0, (size_t)n * sizeof *rf->tab_len);
            rf->n_tens += (size_t)n;
            rf->tab_len[at] = n;
            rs_index_add(&rf->tab_ix, h, (int32_t)at);
            *first = (int64_t)at;
        }
    }
    free(rows);
    return st;
}
