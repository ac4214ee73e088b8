/* types.c - the schema's HDF5 types (results.h), the shared tables' layout
 * and the conversion of summary rows between disk and memory. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "results/results_internal.h"

/* The file's status strings are run_status_name's (outcome.h). */
_Static_assert(RUN_STATUS_COUNT == 7, "results.h schema lists seven statuses");

static hid_t fixed_str(size_t n)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    NN_CHECK(t >= 0 && H5Tset_size(t, n) >= 0 && H5Tset_strpad(t, H5T_STR_NULLTERM) >= 0 &&
                 H5Tset_cset(t, H5T_CSET_UTF8) >= 0,
             "HDF5: cannot build a string type");
    return t;
}

static void insert(hid_t t, const char *name, size_t off, hid_t member)
{
    NN_CHECK(H5Tinsert(t, name, off, member) >= 0, "HDF5: cannot build compound member %s", name);
}

static hid_t packed(hid_t mem)
{
    hid_t f = H5Tcopy(mem);
    NN_CHECK(f >= 0 && H5Tpack(f) >= 0, "HDF5: cannot pack a compound type");
    return f;
}

/* The fields of EpochMetrics at offset base of a compound. */
static void insert_epoch(hid_t t, size_t base)
{
    insert(t, "epoch", base + HOFFSET(EpochMetrics, epoch), H5T_NATIVE_INT);
#define RS_F64(f) insert(t, #f, base + HOFFSET(EpochMetrics, f), H5T_NATIVE_DOUBLE)
    RS_F64(train_loss);
    RS_F64(train_accuracy);
    RS_F64(val_loss);
    RS_F64(val_accuracy);
    RS_F64(test_loss);
    RS_F64(test_accuracy);
    RS_F64(top_accuracy);
    RS_F64(learning_rate);
    RS_F64(seconds);
#undef RS_F64
}

typedef struct Strs {
    hid_t id, sweep, kind, status, host, dev, msg;
} Strs;

static hid_t summary_v1(const Strs *s, hid_t bool_t)
{
    hid_t r = H5Tcreate(H5T_COMPOUND, sizeof(RsDiskRowV1));
    NN_CHECK(r >= 0, "HDF5: summary type");
#define RS_ROW(f, type) insert(r, #f, HOFFSET(RsDiskRowV1, f), type)
    RS_ROW(run_id, s->id);
    RS_ROW(sweep, s->sweep);
    RS_ROW(status, s->status);
    RS_ROW(epochs, H5T_NATIVE_INT32);
    RS_ROW(epochs_done, H5T_NATIVE_INT32);
    RS_ROW(best_epoch, H5T_NATIVE_INT32);
    RS_ROW(best_val_accuracy, H5T_NATIVE_DOUBLE);
    RS_ROW(best_test_accuracy, H5T_NATIVE_DOUBLE);
    RS_ROW(wall_seconds, H5T_NATIVE_DOUBLE);
    RS_ROW(n_params, H5T_NATIVE_INT64);
    RS_ROW(has_weights, bool_t);
    RS_ROW(host, s->host);
    RS_ROW(worker_rank, H5T_NATIVE_INT32);
    RS_ROW(device, s->dev);
    RS_ROW(message, s->msg);
#undef RS_ROW
    return r;
}

static hid_t summary_v2(const Strs *s, hid_t bool_t)
{
    hid_t r = H5Tcreate(H5T_COMPOUND, sizeof(RsDiskRow));
    NN_CHECK(r >= 0, "HDF5: summary type");
#define RS_ROW(f, type) insert(r, #f, HOFFSET(RsDiskRow, f), type)
#define RS_LOC(f, type) insert(r, #f, HOFFSET(RsDiskRow, loc.f), type)
    RS_ROW(run_id, s->id);
    RS_ROW(sweep, s->sweep);
    RS_ROW(kind, s->kind);
    RS_ROW(status, s->status);
    RS_ROW(attempt, H5T_NATIVE_INT32);
    RS_ROW(epochs, H5T_NATIVE_INT32);
    RS_ROW(epochs_done, H5T_NATIVE_INT32);
    RS_ROW(best_epoch, H5T_NATIVE_INT32);
    RS_ROW(best_val_accuracy, H5T_NATIVE_DOUBLE);
    RS_ROW(best_test_accuracy, H5T_NATIVE_DOUBLE);
    RS_ROW(best_step, H5T_NATIVE_INT64);
    RS_ROW(best_value, H5T_NATIVE_DOUBLE);
    RS_ROW(wall_seconds, H5T_NATIVE_DOUBLE);
    RS_ROW(n_params, H5T_NATIVE_INT64);
    RS_ROW(n_state, H5T_NATIVE_INT64);
    RS_ROW(has_weights, bool_t);
    RS_ROW(host, s->host);
    RS_ROW(worker_rank, H5T_NATIVE_INT32);
    RS_ROW(device, s->dev);
    RS_ROW(message, s->msg);
    RS_ROW(last_step, H5T_NATIVE_INT64);
    RS_LOC(config_offset, H5T_NATIVE_INT64);
    RS_LOC(config_len, H5T_NATIVE_INT64);
    RS_LOC(outputs_offset, H5T_NATIVE_INT64);
    RS_LOC(outputs_len, H5T_NATIVE_INT64);
    RS_LOC(tensors_first, H5T_NATIVE_INT64);
    RS_LOC(n_tensors, H5T_NATIVE_INT32);
    RS_LOC(weights_offset, H5T_NATIVE_INT64);
    RS_LOC(metrics_first, H5T_NATIVE_INT64);
    RS_LOC(metrics_end, H5T_NATIVE_INT64);
    RS_LOC(logs_first, H5T_NATIVE_INT64);
    RS_LOC(logs_end, H5T_NATIVE_INT64);
#undef RS_LOC
#undef RS_ROW
    return r;
}

const RsTypes *rs_types(void)
{
    static RsTypes t;
    static int built;
    if (built) return &t;

    t.bool_t = H5Tenum_create(H5T_NATIVE_INT8);
    int8_t v = 0;
    NN_CHECK(t.bool_t >= 0 && H5Tenum_insert(t.bool_t, "FALSE", &v) >= 0, "HDF5: bool type");
    v = 1;
    NN_CHECK(H5Tenum_insert(t.bool_t, "TRUE", &v) >= 0, "HDF5: bool type");

    t.vstr = H5Tcopy(H5T_C_S1);
    NN_CHECK(t.vstr >= 0 && H5Tset_size(t.vstr, H5T_VARIABLE) >= 0 &&
                 H5Tset_cset(t.vstr, H5T_CSET_UTF8) >= 0,
             "HDF5: string type");

    Strs s = {fixed_str(RESULTS_RUN_ID_LEN), fixed_str(RESULTS_SWEEP_LEN),
              fixed_str(RESULTS_KIND_LEN),   fixed_str(RESULTS_STATUS_LEN),
              fixed_str(RESULTS_HOST_LEN),   fixed_str(RESULTS_DEVICE_LEN),
              fixed_str(RESULTS_MESSAGE_LEN)};
    t.row1_mem = summary_v1(&s, t.bool_t);
    t.row_mem = summary_v2(&s, t.bool_t);
    t.row_file = packed(t.row_mem);
    H5Tclose(s.id), H5Tclose(s.sweep), H5Tclose(s.kind), H5Tclose(s.status);
    H5Tclose(s.host), H5Tclose(s.dev), H5Tclose(s.msg);

    t.epoch_mem = H5Tcreate(H5T_COMPOUND, sizeof(EpochMetrics));
    NN_CHECK(t.epoch_mem >= 0, "HDF5: metrics type");
    insert_epoch(t.epoch_mem, 0);

    t.metrics_mem = H5Tcreate(H5T_COMPOUND, sizeof(RsMetricsRow));
    NN_CHECK(t.metrics_mem >= 0, "HDF5: metrics type");
    insert(t.metrics_mem, "run", HOFFSET(RsMetricsRow, run), H5T_NATIVE_INT32);
    insert(t.metrics_mem, "attempt", HOFFSET(RsMetricsRow, attempt), H5T_NATIVE_INT32);
    insert_epoch(t.metrics_mem, HOFFSET(RsMetricsRow, m));
    t.metrics_file = packed(t.metrics_mem);
    t.count_mem = H5Tcreate(H5T_COMPOUND, sizeof(RsMetricsRow));
    NN_CHECK(t.count_mem >= 0, "HDF5: metrics type");
    insert(t.count_mem, "run", HOFFSET(RsMetricsRow, run), H5T_NATIVE_INT32);
    insert(t.count_mem, "attempt", HOFFSET(RsMetricsRow, attempt), H5T_NATIVE_INT32);
    insert(t.count_mem, "epoch", HOFFSET(RsMetricsRow, m.epoch), H5T_NATIVE_INT);

    t.logs_mem = H5Tcreate(H5T_COMPOUND, sizeof(RsLogRow));
    NN_CHECK(t.logs_mem >= 0, "HDF5: logs type");
    insert(t.logs_mem, "run", HOFFSET(RsLogRow, run), H5T_NATIVE_INT32);
    insert(t.logs_mem, "attempt", HOFFSET(RsLogRow, attempt), H5T_NATIVE_INT32);
    insert(t.logs_mem, "key", HOFFSET(RsLogRow, key), H5T_NATIVE_INT32);
    insert(t.logs_mem, "step", HOFFSET(RsLogRow, step), H5T_NATIVE_INT64);
    insert(t.logs_mem, "value", HOFFSET(RsLogRow, value), H5T_NATIVE_DOUBLE);
    t.logs_file = packed(t.logs_mem);

    hid_t name = fixed_str(RS_TENSOR_NAME_LEN);
    hsize_t four = 4;
    hid_t shape = H5Tarray_create2(H5T_NATIVE_INT32, 1, &four);
    NN_CHECK(shape >= 0, "HDF5: tensor shape type");
    t.tensor_mem = H5Tcreate(H5T_COMPOUND, sizeof(RsTensorRow));
    NN_CHECK(t.tensor_mem >= 0, "HDF5: tensors type");
    insert(t.tensor_mem, "name", HOFFSET(RsTensorRow, name), name);
    insert(t.tensor_mem, "ndim", HOFFSET(RsTensorRow, ndim), H5T_NATIVE_INT32);
    insert(t.tensor_mem, "shape", HOFFSET(RsTensorRow, shape), shape);
    insert(t.tensor_mem, "offset", HOFFSET(RsTensorRow, offset), H5T_NATIVE_INT64);
    insert(t.tensor_mem, "n", HOFFSET(RsTensorRow, n), H5T_NATIVE_INT64);
    insert(t.tensor_mem, "is_buffer", HOFFSET(RsTensorRow, is_buffer), t.bool_t);
    t.tensor_file = packed(t.tensor_mem);
    H5Tclose(name), H5Tclose(shape);

    t.key_t = fixed_str(RESULTS_LOG_KEY_LEN);
    t.dxpl = H5Pcreate(H5P_DATASET_XFER);
    NN_CHECK(t.dxpl >= 0 && H5Pset_buffer(t.dxpl, 64 * 1024, NULL, NULL) >= 0,
             "HDF5: transfer properties");
    built = 1;
    return &t;
}

const RsTableInfo *rs_table_info(int t)
{
    static RsTableInfo info[RS_N_TABLES];
    static RsMetricsRow metrics_fill;
    static RsLogRow logs_fill;
    static int built;
    if (!built) {
        const RsTypes *ty = rs_types();
        metrics_fill.run = metrics_fill.attempt = metrics_fill.m.epoch = -1;
        double *f[9] = {&metrics_fill.m.train_loss, &metrics_fill.m.train_accuracy,
                        &metrics_fill.m.val_loss, &metrics_fill.m.val_accuracy,
                        &metrics_fill.m.test_loss, &metrics_fill.m.test_accuracy,
                        &metrics_fill.m.top_accuracy, &metrics_fill.m.learning_rate,
                        &metrics_fill.m.seconds};
        for (int k = 0; k < 9; k++) *f[k] = NAN;
        logs_fill.run = logs_fill.attempt = logs_fill.key = -1;
        logs_fill.step = -1;
        logs_fill.value = NAN;
        info[RS_TEXT] = (RsTableInfo){"text", H5T_NATIVE_UINT8, H5T_STD_U8LE, 1, 65536, NULL};
        info[RS_TENSORS] = (RsTableInfo){"tensors", ty->tensor_mem, ty->tensor_file,
                                         sizeof(RsTensorRow), 256, NULL};
        info[RS_METRICS] = (RsTableInfo){"metrics", ty->metrics_mem, ty->metrics_file,
                                         sizeof(RsMetricsRow), 256, &metrics_fill};
        info[RS_LOGS] = (RsTableInfo){"logs", ty->logs_mem, ty->logs_file, sizeof(RsLogRow),
                                      1024, &logs_fill};
        info[RS_KEYS] = (RsTableInfo){"log_keys", ty->key_t, ty->key_t, RESULTS_LOG_KEY_LEN, 64,
                                      NULL};
        info[RS_WEIGHTS] = (RsTableInfo){"weights", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE,
                                         sizeof(float), 65536, NULL};
        built = 1;
    }
    NN_CHECK(t >= 0 && t < RS_N_TABLES, "rs_table_info: table %d", t);
    return &info[t];
}

/* ---- summary rows ----------------------------------------------------------------- */

/* Field by field: the disk row's strings may lack a NUL. */
#define RS_COPY_FIELDS(dst, src)                                       \
    do {                                                               \
        memcpy((dst)->run_id, (src)->run_id, RESULTS_RUN_ID_LEN);      \
        memcpy((dst)->sweep, (src)->sweep, RESULTS_SWEEP_LEN);         \
        memcpy((dst)->kind, (src)->kind, RESULTS_KIND_LEN);            \
        (dst)->attempt = (src)->attempt;                               \
        (dst)->epochs = (src)->epochs;                                 \
        (dst)->epochs_done = (src)->epochs_done;                       \
        (dst)->best_epoch = (src)->best_epoch;                         \
        (dst)->best_val_accuracy = (src)->best_val_accuracy;           \
        (dst)->best_test_accuracy = (src)->best_test_accuracy;         \
        (dst)->best_step = (src)->best_step;                           \
        (dst)->best_value = (src)->best_value;                         \
        (dst)->wall_seconds = (src)->wall_seconds;                     \
        (dst)->n_params = (src)->n_params;                             \
        (dst)->n_state = (src)->n_state;                               \
        (dst)->has_weights = (src)->has_weights;                       \
        memcpy((dst)->host, (src)->host, RESULTS_HOST_LEN);            \
        (dst)->worker_rank = (src)->worker_rank;                       \
        memcpy((dst)->device, (src)->device, RESULTS_DEVICE_LEN);      \
        memcpy((dst)->message, (src)->message, RESULTS_MESSAGE_LEN);   \
        (dst)->last_step = (src)->last_step;                           \
    } while (0)

NnStatus rs_row_from_disk(const ResultsFile *rf, const RsDiskRow *d, RsRow *row, NnError *err)
{
    ResultsRow *r = &row->r;
    memset(row, 0, sizeof *row);
    RS_COPY_FIELDS(r, d);
    row->loc = d->loc;
    row->n_epochs = -1;
    r->run_id[RESULTS_RUN_ID_LEN - 1] = r->sweep[RESULTS_SWEEP_LEN - 1] = 0;
    r->kind[RESULTS_KIND_LEN - 1] = 0;
    r->host[RESULTS_HOST_LEN - 1] = r->device[RESULTS_DEVICE_LEN - 1] = 0;
    r->message[RESULTS_MESSAGE_LEN - 1] = 0;
    char status[RESULTS_STATUS_LEN];
    memcpy(status, d->status, sizeof status);
    status[RESULTS_STATUS_LEN - 1] = 0;
    r->status = run_status_from_name(status);
    if (r->status == RUN_STATUS_COUNT)
        return nn_error_set(err, NN_ERR_INPUT,
                            "%s: run %s has status \"%s\", which this nnsweep does not know "
                            "(expected pending, running, done, diverged, failed, interrupted or "
                            "stopped): was the file written by a newer nnsweep?",
                            rf->path, r->run_id, status);
    return NN_OK;
}

void rs_row_to_disk(const RsRow *row, RsDiskRow *d)
{
    const ResultsRow *r = &row->r;
    memset(d, 0, sizeof *d);
    RS_COPY_FIELDS(d, r);
    d->loc = row->loc;
    rs_copy_str(d->status, sizeof d->status, run_status_name(r->status));
}

void rs_row_reset(RsRow *row)
{
    ResultsRow *r = &row->r;
    r->status = RUN_PENDING;
    r->epochs_done = 0;
    r->best_epoch = -1;
    r->best_val_accuracy = r->best_test_accuracy = r->best_value = NAN;
    r->best_step = -1;
    r->wall_seconds = 0;
    r->has_weights = 0;
    memset(r->host, 0, sizeof r->host);
    r->worker_rank = -1;
    memset(r->device, 0, sizeof r->device);
    memset(r->message, 0, sizeof r->message);
    r->last_step = -1;
    RsLoc *l = &row->loc;
    l->outputs_offset = l->outputs_len = 0;
    l->weights_offset = -1;
    l->metrics_first = l->metrics_end = l->logs_first = l->logs_end = 0;
    row->n_epochs = 0;
}
