/* results_internal.h - what the files of src/results share: the handle,
 * the HDF5 types of the schema (results.h) and small checked helpers. */
#ifndef NNSWEEP_RESULTS_INTERNAL_H
#define NNSWEEP_RESULTS_INTERNAL_H

#include <hdf5.h>
#include <stdarg.h>

#include "nnsweep/results.h"

#define RS_CHUNK_ROWS 64        /* rows per chunk of /summary and metrics */
#define RS_REPAIR_INCREMENT (1u << 20) /* h5clear --increment's default */

/* Per summary row: the run's metrics dataset while it is open (writer). */
typedef struct RsSlot {
    hid_t metrics;   /* H5I_INVALID_HID when not open */
    hsize_t n_rows;  /* metrics rows; valid while metrics is open */
} RsSlot;

struct ResultsFile {
    char *path;       /* as the caller named it: every message uses it */
    char *real;       /* writer: the real name of path (links resolved) */
    char *partial;    /* writer: <real>.partial (structural phase) */
    char *lock_path;  /* writer: <real>.lock */
    int lock_fd;      /* -1 when not held */
    unsigned long long dev, ino; /* reader: the file it opened */
    hid_t file;
    hid_t summary;    /* /summary */
    int writer;       /* opened by results_open_write */
    int swmr;         /* writer: SWMR write started; reader: SWMR read */
    int committed;    /* writer: the copy replaced path */
    int broken;       /* writer: a structural call failed half-way */
    int repaired;
    int discard;      /* writer: close drops the copy (nothing changed) */
    NnError broken_err;
    /* Writer: the authoritative copy of /summary, one slot per row. */
    ResultsRow *rows;
    RsSlot *slots;
    size_t n_rows, cap_rows;
};

/* A /summary row as HDF5 reads and writes it: ResultsRow with the status
 * as its name (the schema's string). */
typedef struct RsDiskRow {
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
} RsDiskRow;

/* Between the two forms; from disk: NN_ERR_INPUT for an unknown status. */
NnStatus rs_row_from_disk(const ResultsFile *rf, const RsDiskRow *d, ResultsRow *r, NnError *err);
void rs_row_to_disk(const ResultsRow *r, RsDiskRow *d);

/* Memory/file types of the schema, built once (valid for the process). */
typedef struct RsTypes {
    hid_t row_mem, row_file;         /* RsDiskRow <-> /summary compound */
    hid_t metrics_mem, metrics_file; /* EpochMetrics <-> metrics compound */
    hid_t bool_t;                    /* enum int8 {FALSE, TRUE} */
    hid_t vstr;                      /* variable-length UTF-8 string */
    /* Transfer properties for the compound tables: a 64 KiB conversion
     * buffer instead of HDF5's 1 MiB default, which is calloc'ed on every
     * H5Dwrite and, handed back to the OS each time, cost ~3 ms a row. */
    hid_t dxpl;
} RsTypes;
const RsTypes *rs_types(void);

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
 * (1..15 bytes of [0-9A-Za-z_-]). */
int rs_valid_sweep_name(const char *s);
int rs_valid_run_id(const char *s);

/* Attributes on obj (created, written, closed). 0 on success, -1 on any
 * HDF5 failure (the stack is left for rs_h5err). */
int rs_attr_str(hid_t obj, const char *name, const char *value);
int rs_attr_i64(hid_t obj, const char *name, int64_t v);
int rs_attr_i32(hid_t obj, const char *name, int32_t v);
int rs_attr_f64(hid_t obj, const char *name, double v);
int rs_attr_bool(hid_t obj, const char *name, int v);
int rs_attr_i64_array(hid_t obj, const char *name, const int64_t *v, hsize_t n);
int rs_attr_f64_array(hid_t obj, const char *name, const double *v, hsize_t n);

/* Reads a string attribute (variable or fixed length) into a new string
 * (caller frees); NULL on failure or when it is not a string. */
char *rs_read_str_attr(hid_t obj, const char *name);
/* Reads an integer attribute as int64; -1 on failure. */
int rs_read_i64_attr(hid_t obj, const char *name, int64_t *v);

/* Checks the root attributes (format, schema_version) and opens /summary
 * into rf->summary. NN_ERR_INPUT when the file is not ours. */
NnStatus rs_check_schema(ResultsFile *rf, NnError *err);

/* Reads rows [0, n) of /summary (refreshing it first when rf->swmr and not
 * a writer); *rows owned by the caller. */
NnStatus rs_read_rows(ResultsFile *rf, ResultsRow **rows, size_t *n, NnError *err);

/* Writer: writes rf->rows[i] to /summary row i (no flush). */
NnStatus rs_write_row(ResultsFile *rf, size_t i, NnError *err);
/* Writer: the row index of run_id, or -1. */
long rs_find_row(const ResultsFile *rf, const char *run_id);
/* Writer: opens the run's metrics dataset into its slot (if not open). */
NnStatus rs_open_metrics(ResultsFile *rf, size_t i, NnError *err);
/* Valid metrics rows of an open metrics dataset: its extent less trailing
 * rows whose epoch is not their index (fill rows of an append in flight
 * when a writer died; the fill value has epoch -1). */
NnStatus rs_metrics_rows(ResultsFile *rf, hid_t ds, const char *run_id, hsize_t *n, NnError *err);

/* Writer: H5Fflush of the whole file. */
NnStatus rs_flush(ResultsFile *rf, const char *what, NnError *err);
/* Writer: fsync(2) of the file on disk (best effort durability). */
NnStatus rs_fsync_path(const char *path, const char *shown, NnError *err);

/* A pending row for a new run / after reset (run_id, sweep kept). */
void rs_row_reset(ResultsRow *row);

/* Frees rf's memory and closes its HDF5 ids (no commit logic). */
void rs_handle_free(ResultsFile *rf);

#endif
