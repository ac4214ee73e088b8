/* results.h - the HDF5 results file of a sweep (DESIGN.md, Results file):
 * schema, rank 0's writer and the readers.
 *
 * Contract: a results file never loses or corrupts results that were
 * flushed - not by bad input, a crash, kill -9 or a Slurm preemption. Rank 0
 * is its only writer; any number of readers (nnsweep inspect/evaluate,
 * analysis/nnsweep_results.py) may read it while a sweep writes it.
 *
 * ======================================================================
 * Schema version 1 (HDF5 1.10 file format, superblock v3: "libver latest")
 * ======================================================================
 * Strings: attributes are variable-length UTF-8 strings (h5py reads str);
 * strings inside compound tables are fixed-length, NUL-terminated, UTF-8,
 * (h5py reads bytes) - no variable-length type is ever written in SWMR mode.
 * "bool" is the enum {FALSE = 0, TRUE = 1} over int8 that h5py reads as
 * numpy.bool_. Integers are little-endian two's complement, floats IEEE.
 *
 * /                          group, attributes:
 *     format           str    "nnsweep-results" (RESULTS_FORMAT)
 *     schema_version   int32  1 (RESULTS_SCHEMA_VERSION)
 *     nnsweep_version  str    NNSWEEP_VERSION of the program that created it
 *     dataset          str    "CIFAR-10" (RESULTS_DATASET)
 * /sweeps/<sweep>            group per sweep (name: 1..63 bytes, no '/'),
 *                            attributes:
 *     spec             str    the sweep's YAML text as given
 *     method           str    "grid" | "random"
 *     metric           str    e.g. "test_accuracy"
 *     goal             str    "maximize" | "minimize"
 *     overrides        str    only when the sweep was loaded with overrides
 *                             (sweep.h): them as command-line options, e.g.
 *                             "--set val_split=5000 --name-suffix _val";
 *                             spec + overrides reproduce the sweep. Added
 *                             within schema version 1: older files and
 *                             sweeps without overrides lack it.
 * /summary                   dataset, 1-d, chunked (64 rows), unlimited:
 *                            one row per run in the order the runs were
 *                            added, updated in place. Compound (packed):
 *     run_id        S16  the run's id (config_run_id)
 *     sweep         S64  the sweep it belongs to
 *     status        S16  pending | running | done | diverged | failed |
 *                        interrupted | stopped (ended early by its sweep's
 *                        stopping rule; final, as done is: --resume
 *                        reruns only pending, running and interrupted)
 *     epochs        int32  planned epochs (config key epochs)
 *     epochs_done   int32  epoch of the last metrics row written (also 0
 *                          while there is none: count metrics rows instead)
 *     best_epoch    int32  -1 until the run ends
 *     best_val_accuracy, best_test_accuracy  float64  at best_epoch; NaN
 *                          until the run ends (val: NaN without val_split)
 *     wall_seconds  float64  sum of epoch seconds while running; the run's
 *                          wall time once it ends
 *     n_params      int64  trainable parameters
 *     has_weights   bool   /runs/<id>/weights holds the best weights
 *     host          S64    worker host ("" until running)
 *     worker_rank   int32  MPI rank of the worker (-1 until running)
 *     device        S16    "cpu", "cuda:0", ... ("" until running)
 *     message       S512   why it diverged, failed or was interrupted
 *   `pandas.DataFrame(h5py.File(p)["summary"][()])` is the leaderboard.
 * /runs/<run_id>             group per run, attributes:
 *     config           str    canonical JSON of the run config
 *                             (config_to_json: parse with config_from_json)
 *     <key>            one per config key (config.h), by key type:
 *                      CT_INT int64, CT_FLOAT float64, CT_BOOL bool,
 *                      CT_ENUM str (the value's name), CT_INT_LIST int64[n]
 *                      (n may be 0), CT_FLOAT_PAIR float64[2]
 *     sweep            str    the sweep
 *     n_params         int64  trainable parameters
 * /runs/<run_id>/metrics     dataset, 1-d, chunked (64 rows), unlimited:
 *                            row k is epoch k (epoch 0 = before training),
 *                            rows only appended. Compound (packed), the
 *                            fields of EpochMetrics (outcome.h):
 *     epoch int32, train_loss, train_accuracy, val_loss, val_accuracy,
 *     test_loss, test_accuracy, top_accuracy, learning_rate, seconds
 *     (float64; NaN where a split is empty)
 *                            Fill value: epoch -1, NaN elsewhere. A trailing
 *                            row whose epoch is not its index is an append
 *                            that was in flight when a writer died: readers
 *                            drop it (both readers here do) and the next
 *                            writer overwrites it.
 * /runs/<run_id>/weights     group, links in creation order (= layer order,
 *                            parameters then batch-norm buffers, as the
 *                            model's plan lays them out), attribute n_state
 *                            int64. One float32 dataset per TensorInfo
 *                            (tensor.h) of the run's table, named by it,
 *                            shape = the tensor's shape (PyTorch layout),
 *                            one chunk each, attributes offset int64 (into
 *                            the model_state vector, in floats) and
 *                            is_buffer bool. The data is valid only where
 *                            the summary row says has_weights (unwritten
 *                            chunks read as 0).
 *
 * ======================================================================
 * What is written when
 * ======================================================================
 *  structural phase (not SWMR): results_open_write, then results_add_sweep,
 *      results_add_run (creates the run's group, attributes, an empty
 *      metrics dataset, the weights datasets with no data, and a pending
 *      summary row), results_reset_run (resume: metrics back to 0 rows,
 *      the row back to pending). HDF5 1.10 cannot create groups, datasets
 *      or attributes in SWMR mode, so every object exists before:
 *  results_start_swmr: the file switches to SWMR write; from now on only
 *      data is written, and every call below flushes before it returns:
 *  results_set_running: status running, host, worker_rank, device.
 *  results_append_epoch: one metrics row (epochs in order, no gaps, never
 *      twice), the row's epochs_done and wall_seconds.
 *  results_finish_run: the weights (when given) then the row's final
 *      status, best_*, wall_seconds, message, has_weights.
 *  results_mark_unfinished: running rows -> interrupted (clean shutdown).
 *  results_close: closes; the file then opens plainly in any HDF5 tool.
 *
 * ======================================================================
 * Crash guarantees and side files
 * ======================================================================
 *  - The structural phase works on a copy, "<path>.partial" (a new file is
 *    created under that name; an existing one is copied there first). The
 *    copy replaces <path> with an fsync + rename(2) when the phase ends
 *    (results_start_swmr, or results_close without SWMR). A crash before
 *    that leaves <path> exactly as it was; a failed structural call leaves
 *    the session good only for results_close, which then discards the copy
 *    and returns the error. Cost: one copy of the file per results_open_write
 *    (copy_file_range: a reflink where the file system can) and twice its
 *    disk space meanwhile.
 *  - In SWMR mode every update ends with H5Fflush: a reader and a kill -9
 *    survivor see it; a crash loses at most the update in flight. A run's
 *    weights are flushed before the summary row that sets has_weights.
 *    results_finish_run and results_close also fsync(2) the file, so a
 *    finished run survives a node crash too.
 *  - A writer killed in SWMR mode leaves the superblock marked "open for
 *    write": SWMR readers still open it; results_open_write repairs it as
 *    `h5clear -s --increment` (1 MiB) does - clear the status flags, skip the
 *    EOF check, drop free-space manager addresses, raise the EOA to
 *    max(EOA, EOF) + 1 MiB, so each repair grows the file by 1 MiB - on
 *    its copy, then checks the schema. `nnsweep repair` is results_repair().
 *  - "<path>.lock": results_open_write holds an exclusive flock(2) on it for
 *    the whole session (released by the kernel when the process dies) so
 *    that no second writer - a second `--resume` while the first runs -
 *    ever "repairs" a live file; it is removed at close. A file system
 *    without flock(2) makes results_open_write fail rather than go unlocked.
 *    Side files sit next to the real file (symbolic links resolved), so a
 *    link to the results file is written through and stays a link.
 *
 * ======================================================================
 * Readers
 * ======================================================================
 * Open with SWMR read while a writer may have the file: C results_open_read()
 * (which opens plainly first, see there); h5py
 * `h5py.File(p, "r", libver="latest", swmr=True)` (analysis/
 * nnsweep_results.py does this). A plain open fails while a writer has the
 * file open or after a writer was killed (until repaired); both work on a
 * cleanly closed file. SWMR readers call refresh (H5Drefresh; h5py
 * Dataset.refresh()) before reading a dataset that grows; the C readers here
 * do. A reader that has the file open across a writer's structural phase
 * keeps seeing the old file (the new one replaced it by rename): it must
 * reopen - results_replaced() tells a C reader when; nnsweep_results.py
 * reopens by itself.
 *
 * Errors: HDF5 failures return NN_ERR_IO with "<path>: <operation>: <HDF5's
 * innermost message>"; a file that is not an nnsweep results file, has
 * another schema version, an unknown run or sweep, or bad arguments from the
 * caller return NN_ERR_INPUT. HDF5's own error printing is switched off
 * (H5Eset_auto) by every open. Calling a writer function out of its phase
 * (structure after SWMR start, data before it) is a programmer error
 * (NN_CHECK). Nothing here may be called from a signal handler.
 */
#ifndef NNSWEEP_RESULTS_H
#define NNSWEEP_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#include "nnsweep/config.h"
#include "nnsweep/core.h"
#include "nnsweep/outcome.h"
#include "nnsweep/tensor.h"

#define RESULTS_FORMAT "nnsweep-results"
#define RESULTS_SCHEMA_VERSION 1
#define RESULTS_DATASET "CIFAR-10"

/* Sizes of the fixed-length strings of /summary, NUL included. */
#define RESULTS_RUN_ID_LEN 16
#define RESULTS_SWEEP_LEN 64
#define RESULTS_STATUS_LEN 16
#define RESULTS_HOST_LEN 64
#define RESULTS_DEVICE_LEN 16
#define RESULTS_MESSAGE_LEN 512

/* One row of /summary, as read and written. Strings are NUL-terminated
 * (longer inputs are cut at a UTF-8 character boundary). The status is the
 * enum in memory and its run_status_name on disk: readers refuse a row
 * whose status string they do not know (NN_ERR_INPUT). */
typedef struct ResultsRow {
    char run_id[RESULTS_RUN_ID_LEN];
    char sweep[RESULTS_SWEEP_LEN];
    RunStatus status;
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
} ResultsRow;

/* A sweep's group, as read (strings owned by the array: results_sweeps_free);
 * overrides is NULL when the group has none. */
typedef struct ResultsSweep {
    char *name, *spec, *method, *metric, *goal, *overrides;
} ResultsSweep;

typedef struct ResultsFile ResultsFile;

/* ---- writer (rank 0) --------------------------------------------------- */

/* Opens path for writing: takes <path>.lock, then either creates a new file
 * (when path does not exist and create_if_missing) or copies the existing
 * one to <path>.partial, repairs the copy if its writer was killed, and
 * checks format and schema_version. The session starts in the structural
 * phase. *out is owned by the caller (results_close).
 * Errors: NN_ERR_IO (lock held by another writer - the message says so -,
 * missing file without create_if_missing, HDF5 or copy failure),
 * NN_ERR_INPUT (not a results file, other schema version; the file's
 * directory is on a file system without the POSIX write ordering SWMR needs
 * - NFS, SMB/CIFS, AFS, 9p - checked first, so nothing is written; the
 * environment variable NNSWEEP_ALLOW_UNSAFE_FS=1 allows it anyway). */
NnStatus results_open_write(const char *path, int create_if_missing, ResultsFile **out,
                            NnError *err);

/* 1 when results_open_write had to repair the file (writer killed). */
int results_was_repaired(const ResultsFile *rf);

/* `nnsweep repair`: results_open_write(path, 0) + results_close; *repaired
 * (may be NULL) says whether anything needed repair. */
NnStatus results_repair(const char *path, int *repaired, NnError *err);

/* Structural phase. Adds /sweeps/<name> with its attributes. NN_ERR_INPUT
 * when the name is empty, longer than 63 bytes, contains '/' or exists. */
NnStatus results_add_sweep(ResultsFile *rf, const char *name, const char *spec_yaml,
                           const char *method, const char *metric, const char *goal,
                           NnError *err);

/* Structural phase. Records the overrides a sweep was loaded with (the
 * attribute overrides of /sweeps/<name>, replaced when present).
 * NN_ERR_INPUT when the sweep is not in the file. */
NnStatus results_set_sweep_overrides(ResultsFile *rf, const char *name, const char *overrides,
                                     NnError *err);

/* Structural phase. Adds run run_id (1..15 bytes of [0-9A-Za-z_-]) of an
 * existing sweep: group, attributes from c, empty metrics, the weights
 * datasets of tensors[0..n_tensors) (the run's table, as the model's plan
 * computes it: names unique, shapes matching n, offsets tiling
 * [0, n_state) exactly) and a pending summary row. NN_ERR_INPUT for an
 * unknown sweep, an existing run id or a bad tensor table. */
NnStatus results_add_run(ResultsFile *rf, const char *run_id, const char *sweep,
                         const RunConfig *c, size_t n_params, const TensorInfo *tensors,
                         int n_tensors, NnError *err);

/* Structural phase (resume). The run's metrics go back to 0 rows and its
 * summary row to pending (best_*, host, device, message, has_weights
 * cleared). NN_ERR_INPUT for an unknown run. */
NnStatus results_reset_run(ResultsFile *rf, const char *run_id, NnError *err);

/* Ends the structural phase: H5Fstart_swmr_write, then the copy replaces
 * the file (fsync + rename). Called once. */
NnStatus results_start_swmr(ResultsFile *rf, NnError *err);

/* SWMR phase. A pending run starts: status running and where it runs.
 * NN_ERR_INPUT for an unknown run or one that is not pending. */
NnStatus results_set_running(ResultsFile *rf, const char *run_id, const char *host,
                             int worker_rank, const char *device, NnError *err);

/* SWMR phase. Appends one metrics row of a running run and flushes.
 * m->epoch must be the number of rows already there (0 first): a repeated
 * or skipped epoch is NN_ERR_INPUT and writes nothing. */
NnStatus results_append_epoch(ResultsFile *rf, const char *run_id, const EpochMetrics *m,
                              NnError *err);

/* SWMR phase. A pending or running run ends with s->status (done,
 * diverged, failed, interrupted or stopped): when best_state is not NULL
 * its s->n_state floats (model_state layout, must equal the run's n_state)
 * go to the weights datasets and are flushed first; then the summary row
 * (status, epochs_done, best_epoch, best_*, wall_seconds, message,
 * has_weights, and device when s->device is not empty) is written, flushed
 * and fsynced. */
NnStatus results_finish_run(ResultsFile *rf, const char *run_id, const RunSummary *s,
                            const float *best_state, NnError *err);

/* SWMR phase (clean shutdown). Every running run gets status (normally
 * RUN_INTERRUPTED) and message; *n_marked (may be NULL) counts them. */
NnStatus results_mark_unfinished(ResultsFile *rf, RunStatus status, const char *message,
                                 int *n_marked, NnError *err);

/* Closes a writer or a reader; accepts NULL. A writer still in its
 * structural phase commits its copy (fsync + rename) - or discards it after
 * a failed structural call and returns that error again. Returns NN_ERR_IO
 * when closing or committing fails (err may be NULL). */
NnStatus results_close(ResultsFile *rf, NnError *err);

/* ---- readers (also work on a writer's handle) ---------------------------- */

/* Opens path read-only: plainly, or with SWMR read when a plain open is
 * refused because a writer has the file open (a sweep is running) or was
 * killed; a damaged file fails at once. Checks format and schema_version.
 * Errors as results_open_write. */
NnStatus results_open_read(const char *path, ResultsFile **out, NnError *err);

/* Reader: 1 when path now names another file than the one open (a writer
 * replaced it at the end of its structural phase): close and reopen to
 * follow the sweep. 0 otherwise, and always for a writer. */
int results_replaced(const ResultsFile *rf);

/* Every summary row, fresh from the file. *rows (n entries) is owned by
 * the caller (free()); NULL when n is 0. */
NnStatus results_read_summary(ResultsFile *rf, ResultsRow **rows, size_t *n, NnError *err);

/* One run's summary row; NN_ERR_INPUT when there is no such run. */
NnStatus results_get_row(ResultsFile *rf, const char *run_id, ResultsRow *row, NnError *err);

/* Number of metrics rows the run has now. */
NnStatus results_run_rows(ResultsFile *rf, const char *run_id, size_t *n_rows, NnError *err);

/* Every sweep with its attributes, in name order; owned by the caller
 * (results_sweeps_free). */
NnStatus results_list_sweeps(ResultsFile *rf, ResultsSweep **sweeps, int *n, NnError *err);
void results_sweeps_free(ResultsSweep *sweeps, int n); /* accepts NULL */

/* The run's canonical config JSON; *json owned by the caller (free()). */
NnStatus results_read_config(ResultsFile *rf, const char *run_id, char **json, NnError *err);

/* The run's metrics rows; *rows (n entries) owned by the caller (free()),
 * NULL when n is 0. */
NnStatus results_read_metrics(ResultsFile *rf, const char *run_id, EpochMetrics **rows,
                              size_t *n, NnError *err);

/* The run's stored weights as one host vector in model_state layout
 * (*state, n_state floats) and, when tensors is not NULL, its table in
 * layer order (*tensors, n_tensors entries). Both owned by the caller
 * (free()). NN_ERR_INPUT when the run has no stored weights. */
NnStatus results_read_weights(ResultsFile *rf, const char *run_id, float **state,
                              size_t *n_state, TensorInfo **tensors, int *n_tensors,
                              NnError *err);

#endif
