/* rows.c - the summary rows in memory (a writer's authoritative copy, a
 * reader's cache), found by run id through a hash index. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "results/results_internal.h"

static int id_eq(const void *ctx, int32_t v, const void *key)
{
    const ResultsFile *rf = ctx;
    return strcmp(rf->rows[v].r.run_id, key) == 0;
}

long rs_find_row(const ResultsFile *rf, const char *run_id)
{
    return rs_index_find(&rf->ids, rs_hash(run_id, strlen(run_id)), id_eq, rf, run_id);
}

size_t rs_push_row(ResultsFile *rf, const RsRow *row)
{
    if (rf->n_rows == rf->cap_rows) {
        rf->cap_rows = rf->cap_rows ? 2 * rf->cap_rows : 64;
        rf->rows = nn_realloc(rf->rows, rf->cap_rows * sizeof *rf->rows);
    }
    size_t i = rf->n_rows++;
    rf->rows[i] = *row;
    NN_CHECK(i < INT32_MAX, "results: more than 2^31 runs");
    rs_index_add(&rf->ids, rs_hash(row->r.run_id, strlen(row->r.run_id)), (int32_t)i);
    return i;
}

NnStatus rs_set_rows(ResultsFile *rf, RsRow *rows, size_t n, NnError *err)
{
    free(rf->rows);
    rs_index_free(&rf->ids);
    rf->rows = NULL;
    rf->n_rows = rf->cap_rows = 0;
    for (size_t i = 0; i < n; i++) {
        if (rs_find_row(rf, rows[i].r.run_id) >= 0) {
            NnStatus st = nn_error_set(err, NN_ERR_IO,
                                       "%s: damaged results file: run %s has two /summary rows "
                                       "(%ld and %zu)",
                                       rf->path, rows[i].r.run_id,
                                       rs_find_row(rf, rows[i].r.run_id), i);
            free(rows);
            return st;
        }
        rs_push_row(rf, &rows[i]);
    }
    free(rows);
    return NN_OK;
}

/* Reads /summary row i afresh (schema 2). */
static NnStatus read_row(ResultsFile *rf, size_t i, RsRow *row, NnError *err)
{
    RsDiskRow d;
    NnStatus st = rs_table_read(rf, RS_SUMMARY, i, 1, -1, &d, err);
    return st == NN_OK ? rs_row_from_disk(rf, &d, row, err) : st;
}

NnStatus rs_lookup(ResultsFile *rf, const char *run_id, RsRow *row, size_t *i, NnError *err)
{
    long at = run_id && rs_valid_run_id(run_id) ? rs_find_row(rf, run_id) : -1;
    NnStatus st = NN_OK;
    int fresh = 0;
    if (at < 0 && !rf->writer && run_id && rs_valid_run_id(run_id)) {
        RsRow *rows;
        size_t n;
        st = rs_read_rows(rf, &rows, &n, err); /* a run added since the cache was read */
        if (st == NN_OK) st = rs_set_rows(rf, rows, n, err);
        if (st != NN_OK) return st;
        at = rs_find_row(rf, run_id);
        fresh = 1;
    }
    if (at < 0)
        return nn_error_set(err, NN_ERR_INPUT, "%s: no run \"%s\" in the file", rf->path,
                            run_id ? run_id : "(null)");
    if (!rf->writer && !fresh) {
        /* rows never move: read the cached place afresh */
        RsRow now;
        st = rf->version == 1 ? rs_read_row_v1(rf, (size_t)at, &now, err)
                              : read_row(rf, (size_t)at, &now, err);
        if (st == NN_OK && strcmp(now.r.run_id, run_id) != 0)
            st = nn_error_set(err, NN_ERR_IO, "%s: damaged results file: /summary row %ld was run "
                                              "%s, now %s",
                              rf->path, at, run_id, now.r.run_id);
        if (st != NN_OK) return st;
        rf->rows[at] = now;
    }
    *row = rf->rows[at];
    if (i) *i = (size_t)at;
    return NN_OK;
}

void rs_handle_free_ids(ResultsFile *rf)
{
    for (int t = 0; t < RS_N_TABLES; t++) {
        if (rf->t[t].ds >= 0) H5Dclose(rf->t[t].ds);
        rf->t[t].ds = H5I_INVALID_HID;
    }
    if (rf->summary >= 0) H5Dclose(rf->summary);
    if (rf->file >= 0) H5Fclose(rf->file);
    rf->summary = rf->file = H5I_INVALID_HID;
}

void rs_handle_free(ResultsFile *rf)
{
    if (!rf) return;
    rs_handle_free_ids(rf);
    for (int t = 0; t < RS_N_TABLES; t++) free(rf->t[t].queue);
    free(rf->rows);
    rs_index_free(&rf->ids);
    free(rf->keys);
    rs_index_free(&rf->key_ix);
    free(rf->tens);
    free(rf->tab_len);
    rs_index_free(&rf->tab_ix);
    free(rf->path);
    free(rf->real);
    free(rf->partial);
    free(rf->lock_path);
    free(rf);
}
