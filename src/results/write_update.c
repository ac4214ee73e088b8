/* write_update.c - the writer's SWMR phase: rows appended to the shared
 * tables and summary rows updated in place, each update flushed (what a
 * row points at before the row). A failed update leaves memory as it was. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "results/results_internal.h"

static void check_swmr(const ResultsFile *rf, const char *fn)
{
    NN_CHECK(rf && rf->writer && rf->swmr, "%s: only a writer in SWMR mode (after "
                                           "results_start_swmr) may do this", fn);
}

/* Only the datasets an update touched are flushed: H5Fflush would walk
 * HDF5's whole metadata cache (H5C_set_slist_enabled), which grows with
 * the file - 1.8 ms per row with 1000 runs of schema 1 - while H5Dflush
 * writes the dataset's raw data and the metadata tagged with it. */

static NnStatus find(ResultsFile *rf, const char *run_id, size_t *i, NnError *err)
{
    long at = run_id && rs_valid_run_id(run_id) ? rs_find_row(rf, run_id) : -1;
    *i = at < 0 ? 0 : (size_t)at;
    if (at < 0)
        return nn_error_set(err, NN_ERR_INPUT, "%s: no run \"%s\" in the file", rf->path,
                            run_id ? run_id : "(null)");
    return NN_OK;
}

/* Writes row i (changed in memory from old) and flushes /summary; on
 * failure row i is old again. */
static NnStatus commit_row(ResultsFile *rf, size_t i, const RsRow *old, NnError *err)
{
    NnStatus st = rs_write_row(rf, i, err);
    if (st == NN_OK) st = rs_flush_table(rf, RS_SUMMARY, err);
    if (st != NN_OK) rf->rows[i] = *old;
    return st;
}

/* H5Fflush of the whole file, then fsync(2): a run's end is durable. */
static NnStatus flush_file(ResultsFile *rf, const char *what, NnError *err)
{
    if (H5Fflush(rf->file, H5F_SCOPE_LOCAL) < 0) return rs_h5err(err, rf->path, "flush %s", what);
    return rs_fsync_path(rf->real, rf->path, err);
}

NnStatus results_set_running(ResultsFile *rf, const char *run_id, const char *host,
                             int worker_rank, const char *device, NnError *err)
{
    check_swmr(rf, "results_set_running");
    size_t i;
    NnStatus st = find(rf, run_id, &i, err);
    if (st != NN_OK) return st;
    ResultsRow *row = &rf->rows[i].r;
    if (row->status != RUN_PENDING)
        return nn_error_set(err, NN_ERR_INPUT, "%s: run %s is %s, not pending (reset it first)",
                            rf->path, run_id, run_status_name(row->status));
    RsRow old = rf->rows[i];
    row->status = RUN_RUNNING;
    rs_copy_str(row->host, sizeof row->host, host);
    row->worker_rank = worker_rank;
    rs_copy_str(row->device, sizeof row->device, device);
    return commit_row(rf, i, &old, err);
}

/* The run must be running to take rows. */
static NnStatus check_running(const ResultsFile *rf, size_t i, const char *what, NnError *err)
{
    const ResultsRow *r = &rf->rows[i].r;
    if (r->status == RUN_RUNNING) return NN_OK;
    return nn_error_set(err, NN_ERR_INPUT, "%s: run %s is %s, not running: %s not recorded",
                        rf->path, r->run_id, run_status_name(r->status), what);
}

NnStatus results_append_epoch(ResultsFile *rf, const char *run_id, const EpochMetrics *m,
                              NnError *err)
{
    check_swmr(rf, "results_append_epoch");
    size_t i;
    NnStatus st = find(rf, run_id, &i, err);
    char what[32];
    snprintf(what, sizeof what, "epoch %d", m->epoch);
    if (st == NN_OK) st = check_running(rf, i, what, err);
    if (st != NN_OK) return st;
    RsRow *row = &rf->rows[i];
    if (row->n_epochs < 0) { /* first append of this session */
        size_t n;
        st = rs_attempt_metrics(rf, row, i, NULL, &n, err);
        if (st == NN_OK) row->n_epochs = (int64_t)n;
    }
    if (st != NN_OK) return st;
    if (m->epoch < 0 || (int64_t)m->epoch != row->n_epochs)
        return nn_error_set(err, NN_ERR_INPUT,
                            "%s: run %s: epoch %d arrives after %lld rows (expected epoch %lld); "
                            "not recorded",
                            rf->path, run_id, m->epoch, (long long)row->n_epochs,
                            (long long)row->n_epochs);
    RsMetricsRow mr = {(int32_t)i, row->r.attempt, *m};
    hsize_t at;
    st = rs_table_put(rf, RS_METRICS, &mr, 1, &at, err);
    if (st == NN_OK) st = rs_flush_table(rf, RS_METRICS, err);
    if (st != NN_OK) return st;
    RsRow old = *row;
    if (row->loc.metrics_end <= row->loc.metrics_first) row->loc.metrics_first = (int64_t)at;
    row->loc.metrics_end = (int64_t)at + 1;
    row->r.epochs_done = m->epoch;
    if (m->seconds == m->seconds) row->r.wall_seconds += m->seconds;
    row->n_epochs++;
    return commit_row(rf, i, &old, err);
}

/* ---- logged rows ------------------------------------------------------------------ */

static int key_eq(const void *ctx, int32_t v, const void *key)
{
    const ResultsFile *rf = ctx;
    return strcmp(rf->keys[v], key) == 0;
}

static int32_t find_key(const ResultsFile *rf, const char *name)
{
    return rs_index_find(&rf->key_ix, rs_hash(name, strlen(name)), key_eq, rf, name);
}

/* Adds keys[0..n) (records of /log_keys) to the writer's table and index. */
static void remember_keys(ResultsFile *rf, char (*keys)[RESULTS_LOG_KEY_LEN], size_t n)
{
    if (rf->n_keys + n > rf->cap_keys) {
        rf->cap_keys = 2 * (rf->n_keys + n) + 16;
        rf->keys = nn_realloc(rf->keys, rf->cap_keys * sizeof *rf->keys);
    }
    for (size_t k = 0; k < n; k++) {
        memcpy(rf->keys[rf->n_keys], keys[k], RESULTS_LOG_KEY_LEN);
        if (keys[k][0] && find_key(rf, keys[k]) < 0)
            rs_index_add(&rf->key_ix, rs_hash(keys[k], strlen(keys[k])), (int32_t)rf->n_keys);
        rf->n_keys++;
    }
}

void rs_load_keys(ResultsFile *rf, char (*keys)[RESULTS_LOG_KEY_LEN], size_t n)
{
    for (size_t k = 0; k < n; k++) {
        keys[k][RESULTS_LOG_KEY_LEN - 1] = 0;
        if (!rs_valid_log_key(keys[k])) keys[k][0] = 0; /* a fill row: skipped */
    }
    remember_keys(rf, keys, n);
}

static NnStatus check_log(const ResultsFile *rf, const char *run_id, int64_t step, int n,
                          const char *const *names, const double *values, NnError *err)
{
    if (n < 1 || !names || !values)
        return nn_error_set(err, NN_ERR_INPUT, "%s: run %s: a logged row of %d values", rf->path,
                            run_id, n);
    if (step < 0)
        return nn_error_set(err, NN_ERR_INPUT, "%s: run %s: step %lld, expected >= 0", rf->path,
                            run_id, (long long)step);
    for (int k = 0; k < n; k++) {
        if (!names[k] || !rs_valid_log_key(names[k]))
            return nn_error_set(err, NN_ERR_INPUT,
                                "%s: run %s: logged name \"%.80s\": expected 1..%d bytes of "
                                "UTF-8 without control characters, not \"step\"",
                                rf->path, run_id, names[k] ? names[k] : "(null)",
                                RESULTS_LOG_KEY_LEN - 1);
        for (int j = 0; j < k; j++)
            if (strcmp(names[j], names[k]) == 0)
                return nn_error_set(err, NN_ERR_INPUT, "%s: run %s: %s twice in one logged row",
                                    rf->path, run_id, names[k]);
    }
    return NN_OK;
}

NnStatus results_append_log(ResultsFile *rf, const char *run_id, int64_t step, int n,
                            const char *const *names, const double *values, NnError *err)
{
    RunRow one = {.step = step, .n = n, .names = names, .values = values};
    return results_append_logs(rf, run_id, &one, 1, err);
}

NnStatus results_append_logs(ResultsFile *rf, const char *run_id, const RunRow *in, int n_rows,
                             NnError *err)
{
    check_swmr(rf, "results_append_logs");
    size_t i;
    NnStatus st = find(rf, run_id, &i, err);
    if (st == NN_OK && n_rows < 1)
        st = nn_error_set(err, NN_ERR_INPUT, "%s: run %s: %d logged rows", rf->path, run_id,
                          n_rows);
    size_t n = 0;
    for (int r = 0; r < n_rows && st == NN_OK; r++) {
        st = check_log(rf, run_id, in[r].step, in[r].n, in[r].names, in[r].values, err);
        n += st == NN_OK ? (size_t)in[r].n : 0;
    }
    if (st == NN_OK) st = check_running(rf, i, "logged row", err);
    if (st != NN_OK) return st;
    RsRow *row = &rf->rows[i];
    RsLogRow *rows = nn_malloc(n * sizeof *rows);
    char(*fresh)[RESULTS_LOG_KEY_LEN] = NULL;
    size_t n_fresh = 0, at_value = 0;
    int64_t last = row->r.last_step;
    for (int r = 0; r < n_rows; r++) {
        for (int k = 0; k < in[r].n; k++) {
            const char *name = in[r].names[k];
            int32_t key = find_key(rf, name);
            for (size_t j = 0; key < 0 && j < n_fresh; j++)
                if (strcmp(fresh[j], name) == 0) key = (int32_t)(rf->n_keys + j);
            if (key < 0) { /* a name new to the file */
                if (!fresh) fresh = nn_calloc(n, sizeof *fresh);
                rs_copy_str(fresh[n_fresh], RESULTS_LOG_KEY_LEN, name);
                key = (int32_t)(rf->n_keys + n_fresh++);
            }
            rows[at_value++] = (RsLogRow){(int32_t)i, row->r.attempt, key, in[r].step,
                                          in[r].values[k]};
        }
        if (in[r].step > last) last = in[r].step;
    }
    if (n_fresh) { /* the names first, flushed: a /logs row never names a missing key */
        hsize_t at;
        st = rs_table_put(rf, RS_KEYS, fresh, n_fresh, &at, err);
        NN_CHECK(st != NN_OK || at == rf->n_keys, "results: the key table is out of step");
        if (st == NN_OK) remember_keys(rf, fresh, n_fresh); /* in the table now */
        if (st == NN_OK) st = rs_flush_table(rf, RS_KEYS, err);
    }
    free(fresh);
    hsize_t at = 0;
    if (st == NN_OK) st = rs_table_put(rf, RS_LOGS, rows, n, &at, err);
    if (st == NN_OK) st = rs_flush_table(rf, RS_LOGS, err);
    free(rows);
    if (st != NN_OK) return st;
    RsRow old = *row;
    if (row->loc.logs_end <= row->loc.logs_first) row->loc.logs_first = (int64_t)at;
    row->loc.logs_end = (int64_t)at + (int64_t)n;
    row->r.last_step = last;
    return commit_row(rf, i, &old, err);
}

NnStatus results_set_outputs(ResultsFile *rf, const char *run_id, const char *json, NnError *err)
{
    check_swmr(rf, "results_set_outputs");
    size_t i;
    NnStatus st = find(rf, run_id, &i, err);
    if (st != NN_OK) return st;
    RsRow *row = &rf->rows[i];
    if (row->r.status == RUN_PENDING)
        return nn_error_set(err, NN_ERR_INPUT, "%s: run %s is pending: no outputs yet", rf->path,
                            run_id);
    if (!json || !json[0])
        return nn_error_set(err, NN_ERR_INPUT, "%s: run %s: empty outputs", rf->path, run_id);
    size_t len = strlen(json);
    hsize_t at;
    st = rs_table_put(rf, RS_TEXT, json, len, &at, err);
    if (st == NN_OK) st = rs_flush_table(rf, RS_TEXT, err);
    if (st != NN_OK) return st;
    RsRow old = *row;
    row->loc.outputs_offset = (int64_t)at;
    row->loc.outputs_len = (int64_t)len;
    return commit_row(rf, i, &old, err);
}

/* ---- the end of a run -------------------------------------------------------------------- */

NnStatus results_finish_run(ResultsFile *rf, const char *run_id, const RunSummary *r,
                            const float *best_state, NnError *err)
{
    check_swmr(rf, "results_finish_run");
    size_t i;
    NnStatus st = find(rf, run_id, &i, err);
    if (st != NN_OK) return st;
    RsRow *row = &rf->rows[i];
    if (row->r.status != RUN_PENDING && row->r.status != RUN_RUNNING)
        return nn_error_set(err, NN_ERR_INPUT, "%s: run %s already ended (%s)", rf->path, run_id,
                            run_status_name(row->r.status));
    if (!run_status_is_final(r->status) && r->status != RUN_INTERRUPTED)
        return nn_error_set(err, NN_ERR_INPUT, "%s: run %s cannot end with status %s", rf->path,
                            run_id, run_status_name(r->status));
    hsize_t at = 0;
    if (best_state) {
        if (r->n_state != row->r.n_state || r->n_state < 1)
            return nn_error_set(err, NN_ERR_INPUT,
                                "%s: run %s: %lld weights given, the run stores %lld", rf->path,
                                run_id, (long long)r->n_state, (long long)row->r.n_state);
        st = rs_table_put(rf, RS_WEIGHTS, best_state, (size_t)r->n_state, &at, err);
        if (st == NN_OK) st = rs_flush_table(rf, RS_WEIGHTS, err);
        if (st != NN_OK) return st;
    }
    RsRow old = *row;
    ResultsRow *s = &row->r;
    s->status = r->status;
    s->epochs_done = r->epochs_done;
    s->best_epoch = r->best_epoch;
    s->best_val_accuracy = r->best_val_accuracy;
    s->best_test_accuracy = r->best_test_accuracy;
    s->best_step = r->best_step;
    s->best_value = r->best_value;
    s->wall_seconds = r->wall_seconds;
    s->has_weights = best_state != NULL;
    row->loc.weights_offset = best_state ? (int64_t)at : -1;
    if (r->device[0]) rs_copy_str(s->device, sizeof s->device, r->device);
    rs_copy_str(s->message, sizeof s->message, r->message);
    st = commit_row(rf, i, &old, err);
    return st == NN_OK ? flush_file(rf, "after a run ended", err) : st;
}

NnStatus results_mark_unfinished(ResultsFile *rf, RunStatus status, const char *message,
                                 int *n_marked, NnError *err)
{
    check_swmr(rf, "results_mark_unfinished");
    int n = 0;
    NnStatus st = NN_OK;
    for (size_t i = 0; i < rf->n_rows && st == NN_OK; i++) {
        ResultsRow *row = &rf->rows[i].r;
        if (row->status != RUN_RUNNING) continue;
        RsRow old = rf->rows[i];
        row->status = status;
        rs_copy_str(row->message, sizeof row->message, message);
        st = rs_write_row(rf, i, err);
        if (st != NN_OK) rf->rows[i] = old;
        n += st == NN_OK;
    }
    if (n_marked) *n_marked = n;
    return st == NN_OK ? flush_file(rf, "after marking unfinished runs", err) : st;
}
