/* results_internal.h - what the files of src/results share: the handle,
 * the HDF5 types of the schema (results.h), the shared tables, the hash
 * index and small checked helpers. */
#ifndef NNSWEEP_RESULTS_INTERNAL_H
#define NNSWEEP_RESULTS_INTERNAL_H

#include <hdf5.h>
#include <stdarg.h>

#include "nnsweep/results.h"

#define RS_REPAIR_INCREMENT (1u << 20) /* h5clear --increment's default */
#define RS_TENSOR_NAME_LEN ((int)sizeof(((TensorInfo *)0)->name))

/* ---- hash index: string or byte keys -> int32 values ----------------------------
 * Open addressing over (hash, value) pairs; the caller keeps the keys and
 * compares them (eq). Find and add cost O(1) on average. */
typedef struct RsIndex {
    uint64_t *hash;  /* (cap) 0: empty slot (hashes are made nonzero) */
    int32_t *value;  /* (cap) */
    size_t cap, n;
} RsIndex;
typedef int (*RsIndexEq)(const void *ctx, int32_t value, const void *key);
uint64_t rs_hash(const void *key, size_t n);
/* The value stored for key (hash h = rs_hash(key)), or -1. */
int32_t rs_index_find(const RsIndex *ix, uint64_t h, RsIndexEq eq, const void *ctx,
                      const void *key);
/* Adds (h, value); the key must not be there yet. */
void rs_index_add(RsIndex *ix, uint64_t h, int32_t value);
void rs_index_free(RsIndex *ix);

/* ---- the schema's rows ----------------------------------------------------------- */

/* The summary columns that ResultsRow does not show: where a run's data
 * lies in the shared tables (results.h). */
typedef struct RsLoc {
    int64_t config_offset, config_len;
    int64_t outputs_offset, outputs_len;
    int64_t tensors_first;
    int32_t n_tensors;
    int64_t weights_offset;
    int64_t metrics_first, metrics_end;
    int64_t logs_first, logs_end;
} RsLoc;

/* A summary row in memory: the writer's authoritative copy, a reader's
 * cache. n_epochs: the writer's count of the attempt's metrics rows, -1
 * until counted (rs_count_epochs). */
typedef struct RsRow {
    ResultsRow r;
    RsLoc loc;
    int64_t n_epochs;
} RsRow;

/* A /summary row of schema 2 as HDF5 reads and writes it. */
typedef struct RsDiskRow {
    char run_id[RESULTS_RUN_ID_LEN];
    char sweep[RESULTS_SWEEP_LEN];
    char kind[RESULTS_KIND_LEN];
    char status[RESULTS_STATUS_LEN];
    int32_t attempt;
    int32_t epochs;
    int32_t epochs_done;
    int32_t best_epoch;
    double best_val_accuracy;
    double best_test_accuracy;
    int64_t best_step;
    double best_value;
    double wall_seconds;
    int64_t n_params;
    int64_t n_state;
    int8_t has_weights;
    char host[RESULTS_HOST_LEN];
    int32_t worker_rank;
    char device[RESULTS_DEVICE_LEN];
    char message[RESULTS_MESSAGE_LEN];
    int64_t last_step;
    RsLoc loc;
} RsDiskRow;

/* A /summary row of schema 1. */
typedef struct RsDiskRowV1 {
    char run_id[RESULTS_RUN_ID_LEN];
    char sweep[RESULTS_SWEEP_LEN];
    char status[RESULTS_STATUS_LEN];
    int32_t epochs;
    int32_t epochs_done;
    int32_t best_epoch;
    double best_val_accuracy;
    double best_test_accuracy;
    double wall_seconds;
    int64_t n_params;
    int8_t has_weights;
    char host[RESULTS_HOST_LEN];
    int32_t worker_rank;
    char device[RESULTS_DEVICE_LEN];
    char message[RESULTS_MESSAGE_LEN];
} RsDiskRowV1;

/* A /metrics row: the run's number and attempt, then the epoch's metrics. */
typedef struct RsMetricsRow {
    int32_t run, attempt;
    EpochMetrics m;
} RsMetricsRow;

/* A /logs row. */
typedef struct RsLogRow {
    int32_t run, attempt, key;
    int64_t step;
    double value;
} RsLogRow;

/* A /tensors row (TensorInfo as stored). */
typedef struct RsTensorRow {
    char name[RS_TENSOR_NAME_LEN];
    int32_t ndim;
    int32_t shape[4];
    int64_t offset, n;
    int8_t is_buffer;
} RsTensorRow;

/* Between the disk and memory forms of a summary row; from disk:
 * NN_ERR_INPUT for an unknown status. */
NnStatus rs_row_from_disk(const ResultsFile *rf, const RsDiskRow *d, RsRow *r, NnError *err);
void rs_row_to_disk(const RsRow *r, RsDiskRow *d);

/* Memory/file types of the schema, built once (valid for the process). */
typedef struct RsTypes {
    hid_t row_mem, row_file;         /* RsDiskRow <-> /summary */
    hid_t row1_mem;                  /* RsDiskRowV1 <- schema 1's /summary */
    hid_t metrics_mem, metrics_file; /* RsMetricsRow <-> /metrics */
    hid_t epoch_mem;                 /* EpochMetrics <- schema 1's metrics */
    hid_t count_mem;                 /* run, attempt, epoch of an RsMetricsRow */
    hid_t logs_mem, logs_file;       /* RsLogRow <-> /logs */
    hid_t tensor_mem, tensor_file;   /* RsTensorRow <-> /tensors */
    hid_t key_t;                     /* /log_keys: S64 */
    hid_t bool_t;                    /* enum int8 {FALSE, TRUE} */
    hid_t vstr;                      /* variable-length UTF-8 string */
    /* Transfer properties for the compound tables: a 64 KiB conversion
     * buffer instead of HDF5's 1 MiB default, which is calloc'ed on every
     * H5Dwrite and, handed back to the OS each time, cost ~3 ms a row. */
    hid_t dxpl;
} RsTypes;
const RsTypes *rs_types(void);

/* ---- the shared tables of schema 2 ------------------------------------------------ */

enum { RS_TEXT, RS_TENSORS, RS_METRICS, RS_LOGS, RS_KEYS, RS_WEIGHTS, RS_N_TABLES };

/* One appended table: its dataset and, for a writer, where the next record
 * goes and the records queued in the structural phase. */
typedef struct RsTable {
    hid_t ds;
    hsize_t n;       /* writer: records in use (the next one goes here) */
    hsize_t extent;  /* writer: the dataset's extent (>= n; more after a failed append) */
    char *queue;     /* writer: records queued, not yet written */
    size_t n_queued, cap_queued;
} RsTable;

/* Name, memory type, file type, record size, chunk and fill of table t. */
typedef struct RsTableInfo {
    const char *name;
    hid_t mem, file;
    size_t size;
    hsize_t chunk;
    const void *fill; /* NULL: zeros */
} RsTableInfo;
const RsTableInfo *rs_table_info(int t);

/* Creates every dataset of schema 2 in rf->file (a new file). */
NnStatus rs_create_tables(ResultsFile *rf, NnError *err);
/* Opens the datasets of schema 2 (after rs_check_schema); a writer also
 * learns each extent. */
NnStatus rs_open_tables(ResultsFile *rf, NnError *err);

/* Appends n records at table t's end now (no flush); *at (may be NULL):
 * where the first went. On failure nothing changes (the extent may have
 * grown: the next append writes over it). */
NnStatus rs_table_put(ResultsFile *rf, int t, const void *recs, size_t n, hsize_t *at,
                      NnError *err);
/* Queues n records (structural phase); *at: where the first will go. */
void rs_table_queue(ResultsFile *rf, int t, const void *recs, size_t n, hsize_t *at);
/* Reads records [from, from + n) of table t into buf (memory type mem, or
 * the table's when mem is -1). Refreshes first for a SWMR reader. */
NnStatus rs_table_read(ResultsFile *rf, int t, hsize_t from, hsize_t n, hid_t mem, void *buf,
                       NnError *err);
/* Sets run to -1 in records [from, end) of /metrics or /logs (t): rows
 * that lie in no run's range, as every reader skips them. */
NnStatus rs_table_orphan(ResultsFile *rf, int t, hsize_t from, NnError *err);
/* The number of records table t holds now (refreshed for a SWMR reader). */
NnStatus rs_table_len(ResultsFile *rf, int t, hsize_t *n, NnError *err);
/* H5Dflush of table t; of the summary with RS_SUMMARY. */
#define RS_SUMMARY (-1)
NnStatus rs_flush_table(ResultsFile *rf, int t, NnError *err);

/* ---- the handle ------------------------------------------------------------------- */

struct ResultsFile {
    char *path;       /* as the caller named it: every message uses it */
    char *real;       /* writer: the real name of path (links resolved) */
    char *partial;    /* writer: <real>.partial (structural phase) */
    char *lock_path;  /* writer: <real>.lock */
    int lock_fd;      /* -1 when not held */
    unsigned long long dev, ino; /* reader: the file it opened */
    hid_t file;
    hid_t summary;    /* /summary */
    int version;      /* the file's schema version (1 or 2) */
    int writer;       /* opened by results_open_write */
    int swmr;         /* writer: SWMR write started; reader: SWMR read */
    int committed;    /* writer: the copy replaced path */
    int broken;       /* writer: a structural call failed half-way */
    int repaired;
    int converted;    /* writer: the schema version converted from, or 0 */
    int discard;      /* writer: close drops the copy (nothing changed) */
    NnError broken_err;
    RsTable t[RS_N_TABLES]; /* schema 2 */
    /* Writer: the authoritative copy of /summary (rows [on_disk, n_rows)
     * not written yet: structural phase). Reader: the rows last read, to
     * find a run's row (its id and place never change). */
    RsRow *rows;
    size_t n_rows, cap_rows, on_disk;
    size_t dirty_from; /* writer, structural phase: rows [dirty_from, on_disk)
                          changed since written (SIZE_MAX: none) */
    RsIndex ids;      /* run_id -> row */
    /* Writer: the log keys (row of /log_keys = index) and the tensor
     * tables of /tensors (all of it: tables are shared, so it stays small)
     * with an index of the distinct ones. */
    char (*keys)[RESULTS_LOG_KEY_LEN];
    size_t n_keys, cap_keys;
    RsIndex key_ix;
    RsTensorRow *tens;
    size_t n_tens, cap_tens;
    RsIndex tab_ix;   /* table -> its first row in tens; length in tab_len */
    int32_t *tab_len; /* (n_tens) length of the table starting at a row, or 0 */
};

/* Turns HDF5's own error printing off (every open calls it). */
void rs_quiet(void);

/* Remembers HDF5's innermost message of a failure before cleanup calls
 * clear the stack (helpers call it right after a failing call). */
void rs_note(void);

/* HDF5's innermost message of the current stack, else the last noted one
 * ("" if none); clears both. */
void rs_h5detail(char *buf, size_t size);

/* NN_ERR_IO "<path>: <op...>: <HDF5's innermost message>" (the current
 * stack's, else the last noted one); clears both. Returns NN_ERR_IO. */
NnStatus rs_h5err(NnError *err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copies s into dst[size], NUL-terminated, cut at a UTF-8 boundary. */
void rs_copy_str(char *dst, size_t size, const char *s);

/* Valid names: sweep (1..63 bytes, no '/', not "." or ".."), run id
 * (1..15 bytes of [0-9A-Za-z_-]), log key (results_append_log). */
int rs_valid_sweep_name(const char *s);
int rs_valid_run_id(const char *s);
int rs_valid_log_key(const char *s);

/* Attributes on obj (created, written, closed). 0 on success, -1 on any
 * HDF5 failure (the stack is left for rs_h5err). */
int rs_attr_str(hid_t obj, const char *name, const char *value);
int rs_attr_i32(hid_t obj, const char *name, int32_t v);

/* Reads a string attribute (variable or fixed length) into a new string
 * (caller frees); NULL on failure or when it is not a string. */
char *rs_read_str_attr(hid_t obj, const char *name);
/* Reads an integer attribute as int64; -1 on failure. */
int rs_read_i64_attr(hid_t obj, const char *name, int64_t *v);

/* Checks the root attributes (format, schema_version 1 or 2 into
 * rf->version), the objects of that schema, and opens /summary into
 * rf->summary. NN_ERR_INPUT when the file is not ours. */
NnStatus rs_check_schema(ResultsFile *rf, NnError *err);

/* ---- summary rows ------------------------------------------------------------------ */

/* Reads every /summary row of the file (either schema; refreshed first for
 * a SWMR reader) into *rows (owned by the caller). */
NnStatus rs_read_rows(ResultsFile *rf, RsRow **rows, size_t *n, NnError *err);
/* Schema 1's rows, all or row i (read_v1.c). */
NnStatus rs_read_rows_v1(ResultsFile *rf, RsRow **rows, size_t *n, NnError *err);
NnStatus rs_read_row_v1(ResultsFile *rf, size_t i, RsRow *row, NnError *err);

/* Replaces rf->rows with rows[0..n) and rebuilds the id index (a reader's
 * cache, a writer's load). NN_ERR_IO when a run id is there twice. */
NnStatus rs_set_rows(ResultsFile *rf, RsRow *rows, size_t n, NnError *err);
/* The row index of run_id in rf->rows, or -1 (O(1)). */
long rs_find_row(const ResultsFile *rf, const char *run_id);
/* Appends a row to rf->rows (and the index); returns its index. */
size_t rs_push_row(ResultsFile *rf, const RsRow *row);

/* A run's row, fresh: a writer's from memory, a reader's read again from
 * the file (its cache only finds it). *i: its index. NN_ERR_INPUT for an
 * unknown run. */
NnStatus rs_lookup(ResultsFile *rf, const char *run_id, RsRow *row, size_t *i, NnError *err);

/* Writer: writes rf->rows[i] to /summary row i (no flush). In the
 * structural phase only notes it for rs_sync. */
NnStatus rs_write_row(ResultsFile *rf, size_t i, NnError *err);
/* Writer, SWMR phase: writes row as the next /summary row (n_rows),
 * extending it; rf->rows is not touched (no flush). */
NnStatus rs_put_row(ResultsFile *rf, const RsRow *row, NnError *err);
/* Writer: writes every queued record and the rows not on disk yet. */
NnStatus rs_sync(ResultsFile *rf, NnError *err);

/* A new or reset run's row: pending, nothing measured, no data (run_id,
 * sweep, kind, attempt, epochs, n_params, n_state, config and tensors
 * kept). */
void rs_row_reset(RsRow *row);

/* The metrics rows of row i's attempt: rows [loc.metrics_first,
 * loc.metrics_end) of /metrics filtered (results.h). *out (may be NULL):
 * them, owned by the caller; *n their number. */
NnStatus rs_attempt_metrics(ResultsFile *rf, const RsRow *row, size_t i, EpochMetrics **out,
                            size_t *n, NnError *err);

/* Writer: the tensor table of a run as /tensors rows, stored once per
 * distinct table (queued or written as rs_table_queue/put). *first: its
 * first row. */
NnStatus rs_store_tensors(ResultsFile *rf, const TensorInfo *t, int n, int64_t *first,
                          NnError *err);
/* Registers tensors rows [first, first + n) that are in rf->tens as a
 * distinct table (writer load). */
void rs_note_table(ResultsFile *rf, int64_t first, int32_t n);

/* Writer load: the records of /log_keys (fill rows and bad names become
 * "", skipped) into the key table and index (write_update.c). */
void rs_load_keys(ResultsFile *rf, char (*keys)[RESULTS_LOG_KEY_LEN], size_t n);

/* The shared work of results_add_run (write_struct.c): checks spec and
 * appends the row (queued in the structural phase, written in SWMR mode:
 * the caller flushes). *i: the new row. */
NnStatus rs_add_run(ResultsFile *rf, const ResultsRunSpec *spec, size_t *i, NnError *err);

/* Writer: converts the schema-1 file at rf->real into rf->partial, a new
 * schema-2 file open as rf->file (convert.c). */
NnStatus rs_convert_v1(ResultsFile *rf, NnError *err);
/* Writer: creates rf->partial as a new, empty schema-2 file (write_open.c). */
NnStatus rs_create_file(ResultsFile *rf, NnError *err);
/* Writer: loads the rows, keys and tensor tables of an open schema-2 file
 * (write_open.c). */
NnStatus rs_load_writer(ResultsFile *rf, NnError *err);

/* Schema 1 readers (read_v1.c), same contracts as the public ones. */
NnStatus rs_v1_read_config(ResultsFile *rf, const char *run_id, char **json, NnError *err);
NnStatus rs_v1_read_metrics(ResultsFile *rf, const char *run_id, EpochMetrics **rows, size_t *n,
                            NnError *err);
NnStatus rs_v1_read_weights(ResultsFile *rf, const char *run_id, int want_data, float **state,
                            size_t *n_state, TensorInfo **tensors, int *n_tensors, NnError *err);

/* Writer: fsync(2) of the file on disk (best effort durability). */
NnStatus rs_fsync_path(const char *path, const char *shown, NnError *err);

/* Closes rf's HDF5 ids (errors ignored). */
void rs_handle_free_ids(ResultsFile *rf);
/* Frees rf's memory and closes its HDF5 ids (no commit logic). */
void rs_handle_free(ResultsFile *rf);

#endif
