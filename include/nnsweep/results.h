/* results.h - the HDF5 results file of a sweep (DESIGN.md, Results file):
 * schema, rank 0's writer and the readers.
 *
 * Contract: a results file never loses or corrupts results that were
 * flushed - not by bad input, a crash, kill -9 or a Slurm preemption. Rank 0
 * is its only writer; any number of readers (nnsweep inspect/evaluate,
 * analysis/nnsweep_results.py) may read it while a sweep writes it.
 *
 * ======================================================================
 * Schema version 2 (HDF5 1.10 file format, superblock v3: "libver latest")
 * ======================================================================
 * HDF5 1.10 cannot create objects (groups, datasets, attributes) while a
 * file is in SWMR mode. So every object exists from the file's creation
 * (the sweeps' groups from the structural phase of a session, below) and a
 * run is ROWS of shared tables, never an object: runs can be added, reset
 * and logged while a sweep writes the file.
 *
 * Strings are fixed-length, NUL-terminated UTF-8 (h5py reads bytes), in
 * attributes too (str below; one of the exact length, so that it lies in
 * its object header under the header's checksum - a variable-length string
 * would lie in a global heap, which has none); no variable-length type is
 * ever written.
 * "bool" is the enum {FALSE = 0, TRUE = 1} over int8 that h5py reads as
 * numpy.bool_. Integers are little-endian two's complement, floats IEEE.
 * Every table below is a 1-d chunked dataset of unlimited extent whose rows
 * are only appended, except /summary's, which are also updated in place.
 *
 * /                          group, attributes:
 *     format           str    "nnsweep-results" (RESULTS_FORMAT)
 *     schema_version   int32  2 (RESULTS_SCHEMA_VERSION)
 *     nnsweep_version  str    NNSWEEP_VERSION of the program that created it
 *     dataset          str    "CIFAR-10" (RESULTS_DATASET)
 *     converted_from   int32  only in a file converted from an older
 *                             schema: that schema's version (1)
 * /sweeps/<sweep>            group per sweep (name: 1..63 bytes, no '/'),
 *                            attributes:
 *     spec             str    the sweep's YAML text as given
 *     method           str    "grid" | "random" | ... (sweep.h)
 *     metric           str    e.g. "test_accuracy"
 *     goal             str    "maximize" | "minimize"
 *     overrides        str    only when the sweep was loaded with overrides
 *                             (sweep.h): them as command-line options, e.g.
 *                             "--set val_split=5000 --name-suffix _val";
 *                             spec + overrides reproduce the sweep.
 * /summary                   one row per run in the order the runs were
 *                            added (its index is the run's number, "run"
 *                            below), updated in place; 64 rows a chunk.
 *                            Compound (packed):
 *     run_id        S16  the run's id (config_run_id), unique in the file
 *     sweep         S64  the sweep it belongs to
 *     kind          S16  "train" (the built-in trainer) | "program" (an
 *                        external program); readers pass other kinds on
 *     status        S16  pending | running | done | diverged | failed |
 *                        interrupted | stopped (ended early by its sweep's
 *                        stopping rule; final, as done is: --resume
 *                        reruns only pending, running and interrupted)
 *     attempt       int32  0, +1 at each reset (resume): rows of /metrics
 *                          and /logs of other attempts are not the run's
 *     epochs        int32  planned epochs (-1: not known, e.g. a program)
 *     epochs_done   int32  epoch of the last metrics row written (also 0
 *                          while there is none: count metrics rows instead)
 *     best_epoch    int32  -1 until the run ends
 *     best_val_accuracy, best_test_accuracy  float64  at best_epoch; NaN
 *                          until the run ends (val: NaN without val_split)
 *     best_step     int64  step (train runs: epoch) of the best value of the
 *                          sweep's metric; -1 until the run ends or none
 *     best_value    float64  that value; NaN until the run ends or none
 *     wall_seconds  float64  sum of epoch seconds while running; the run's
 *                          wall time once it ends
 *     n_params      int64  trainable parameters (0: no model known)
 *     n_state       int64  floats of its state (params + buffers): the
 *                          weights' size; 0 when it has no tensor table
 *     has_weights   bool   /weights holds its best weights (below)
 *     host          S64    worker host ("" until running)
 *     worker_rank   int32  MPI rank of the worker (-1 until running)
 *     device        S16    "cpu", "cuda:0", ... ("" until running)
 *     message       S512   why it diverged, failed or was interrupted
 *     last_step     int64  largest step of the attempt's /logs rows; -1: none
 *   where its data lies (readers use these; offsets count elements):
 *     config_offset, config_len    int64  its config in /text (UTF-8 JSON:
 *                          canonical config JSON for train runs)
 *     outputs_offset, outputs_len  int64  what it reported at its end in
 *                          /text (a JSON object: a program's summary values
 *                          and the artifacts it saved); len 0: nothing
 *     tensors_first int64, n_tensors int32  its state's tensor table: rows
 *                          [first, first + n) of /tensors (shared by runs
 *                          of one layout); n 0: none
 *     weights_offset int64  its best weights: /weights[offset, offset +
 *                          n_state), valid only where has_weights; -1: none
 *     metrics_first, metrics_end  int64  rows [first, end) of /metrics hold
 *                          every /metrics row of the current attempt (and
 *                          rows of others' runs: filter on run, attempt)
 *     logs_first, logs_end  int64  the same for /logs
 *   `pandas.DataFrame(h5py.File(p)["summary"][()])` is the leaderboard.
 * /text                      uint8, 64 KiB a chunk: UTF-8 texts that
 *                            /summary points at (no terminator).
 * /metrics                   one row per epoch of a train run, 256 rows a
 *                            chunk. Compound (packed): run int32 (/summary
 *                            row), attempt int32, then the fields of
 *                            EpochMetrics (outcome.h): epoch int32,
 *                            train_loss, train_accuracy, val_loss,
 *                            val_accuracy, test_loss, test_accuracy,
 *                            top_accuracy, learning_rate, seconds (float64;
 *                            NaN where a split is empty).
 *                            A run's rows are those whose run and attempt
 *                            match its summary row, in table order: the
 *                            first row of each epoch counts, epochs 0, 1,
 *                            ... (epoch 0 = before training) up to the first
 *                            one missing (an epoch written twice around a
 *                            crash counts once).
 *                            Fill value: run -1, epoch -1, NaN elsewhere (a
 *                            row whose append was in flight when a writer
 *                            died: every reader skips run -1). Rows past
 *                            every run's metrics_end (appended by a writer
 *                            killed before it updated the run's summary
 *                            row) are set to run -1 by the next writer.
 * /logs                      one row per named value a run logged
 *                            (results_append_log), 1024 rows a chunk.
 *                            Compound (packed): run int32, attempt int32,
 *                            key int32 (row of /log_keys), step int64,
 *                            value float64. A name logged twice at one step:
 *                            the later row counts. Fill value: run -1;
 *                            rows past every run's logs_end become run -1
 *                            as in /metrics.
 * /log_keys                  S64: the names of logged values, each once
 *                            (1..63 bytes of UTF-8, no control characters,
 *                            not "step"), in the order they first appeared.
 *                            Fill value "" (skipped).
 * /tensors                   tensor tables, 256 rows a chunk. Compound
 *                            (packed), TensorInfo (tensor.h): name S48, ndim
 *                            int32, shape int32[4] (PyTorch layout, unused
 *                            dimensions 0), offset int64 (into the state, in
 *                            floats), n int64 (floats), is_buffer bool. A
 *                            table lists a model's tensors in layer order
 *                            (parameters then batch-norm buffers, as the
 *                            model's plan lays them out).
 * /weights                   float32, 65536 a chunk: runs' best states in
 *                            model_state layout, appended when a run ends.
 *
 * Schema version 1 (read by every reader here; results_open_write converts
 * it, see there): the same root and /sweeps, attributes as variable-length
 * strings; a /summary without kind, attempt, best_step, best_value,
 * n_state, last_step and the location columns; per run a group
 * /runs/<run_id> (attributes config, one per config key, sweep, n_params)
 * holding a metrics dataset (the /metrics compound without run and
 * attempt; row k is epoch k; trailing rows whose epoch is not their index
 * are dropped) and a weights group (one float32 dataset per tensor, shaped,
 * in creation order, attributes offset and is_buffer; n_state on the
 * group). Its rows read as kind "train", attempt 0, best_step = best_epoch
 * and best_value the sweep metric's best_*_accuracy.
 *
 * ======================================================================
 * What is written when
 * ======================================================================
 *  structural phase (not SWMR): results_open_write, then results_add_sweep
 *      (creates /sweeps/<name>) and results_set_sweep_overrides; also any of
 *      results_add_run and results_reset_run, which here only collect rows in
 *      memory, written at once when the phase ends (adding 100,000 runs
 *      takes seconds). HDF5 1.10 cannot create objects in SWMR mode, so
 *      every object exists before:
 *  results_start_swmr: the file switches to SWMR write; from now on only
 *      rows are written, and every call below flushes what it wrote (only
 *      the datasets it touched) before it returns:
 *  results_add_run: its config text, tensor table (unless an identical one
 *      is there) and a pending summary row, in that order.
 *  results_reset_run: attempt + 1, the row back to pending.
 *  results_set_running: status running, host, worker_rank, device.
 *  results_append_epoch: one metrics row (epochs in order, no gaps, never
 *      twice), then the row's epochs_done, wall_seconds, metrics range.
 *  results_append_log (and _logs): new names' /log_keys rows, the /logs rows, then the
 *      row's last_step and logs range.
 *  results_set_outputs: the text, then the row's outputs_*.
 *  results_finish_run: the weights (when given) then the row's final
 *      status, best_*, wall_seconds, message, has_weights (status last).
 *  results_mark_unfinished: running rows -> interrupted (clean shutdown).
 *  results_close: closes; the file then opens plainly in any HDF5 tool.
 *
 * ======================================================================
 * Crash guarantees and side files
 * ======================================================================
 *  - The structural phase works on a copy, "<path>.partial" (a new file is
 *    created under that name; an existing one is copied there first - or,
 *    schema 1, converted into it). The copy replaces <path> with an fsync +
 *    rename(2) + directory fsync when the phase ends (results_start_swmr, or
 *    results_close without SWMR). A crash before that leaves <path> exactly
 *    as it was; a failed structural call leaves the session good only for
 *    results_close, which then discards the copy and returns the error.
 *    Cost: one copy of the file per results_open_write (copy_file_range: a
 *    reflink where the file system can) and twice its disk space meanwhile.
 *  - In SWMR mode every update ends with a flush (H5Dflush of the datasets
 *    it wrote, in the order above: what a row points at is flushed before
 *    the row): a reader and a kill -9 survivor see it; a crash loses at most
 *    the update in flight, which leaves at most unreferenced bytes or rows
 *    that readers skip (fill rows; a row past a summary range). A run's
 *    weights are flushed before the summary row that sets has_weights.
 *    results_finish_run, results_mark_unfinished and results_close also
 *    fsync(2) the file, so a finished run survives a node crash too. A
 *    failed update leaves the writer's memory as it was (a retry appends
 *    over what it left).
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
 * Dataset.refresh()) before reading a dataset that grows, /summary first
 * (what it points at was flushed before it); the C readers here do. A
 * reader that has the file open across a writer's structural phase keeps
 * seeing the old file (the new one replaced it by rename): it must reopen -
 * results_replaced() tells a C reader when; nnsweep_results.py reopens by
 * itself.
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

#include "nnsweep/core.h"
#include "nnsweep/outcome.h"
#include "nnsweep/tensor.h"

#define RESULTS_FORMAT "nnsweep-results"
#define RESULTS_SCHEMA_VERSION 2
#define RESULTS_DATASET "CIFAR-10"

/* Kinds of run (the summary's kind column). */
#define RESULTS_KIND_TRAIN "train"
#define RESULTS_KIND_PROGRAM "program"

/* Sizes of the fixed-length strings of the tables, NUL included. */
#define RESULTS_RUN_ID_LEN 16
#define RESULTS_SWEEP_LEN 64
#define RESULTS_KIND_LEN 16
#define RESULTS_STATUS_LEN 16
#define RESULTS_HOST_LEN 64
#define RESULTS_DEVICE_LEN 16
#define RESULTS_MESSAGE_LEN 512
#define RESULTS_LOG_KEY_LEN 64

/* One row of /summary, as read and written (the location columns are the
 * readers' business). Strings are NUL-terminated (longer inputs are cut at
 * a UTF-8 character boundary). The status is the enum in memory and its
 * run_status_name on disk: readers refuse a row whose status string they
 * do not know (NN_ERR_INPUT). */
typedef struct ResultsRow {
    char run_id[RESULTS_RUN_ID_LEN];
    char sweep[RESULTS_SWEEP_LEN];
    char kind[RESULTS_KIND_LEN];
    RunStatus status;
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
} ResultsRow;

/* A run to add (results_add_run); every pointer is borrowed for the call. */
typedef struct ResultsRunSpec {
    const char *run_id;      /* 1..15 bytes of [0-9A-Za-z_-], new in the file */
    const char *sweep;       /* a sweep of the file */
    const char *kind;        /* RESULTS_KIND_TRAIN or RESULTS_KIND_PROGRAM */
    const char *config_json; /* its config (UTF-8 JSON), stored as given */
    int32_t epochs;          /* planned epochs; -1 when not known */
    size_t n_params;         /* trainable parameters */
    /* its state's tensor table (the model's plan's: names unique, shapes
     * matching n, offsets tiling [0, n_state) exactly, parameters n_params);
     * n_tensors 0 (tensors NULL, n_params 0): a run without weights */
    const TensorInfo *tensors;
    int n_tensors;
} ResultsRunSpec;

/* One logged value, as read (results_read_logs). */
typedef struct ResultsLog {
    int64_t step;
    char name[RESULTS_LOG_KEY_LEN];
    double value;
} ResultsLog;

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
 * checks format and schema_version. A schema-1 file is converted instead:
 * <path>.partial becomes a new schema-2 file holding everything the old
 * one did (read as a reader reads it, so a killed writer's file converts
 * too; results_was_converted says so), and <path> stays untouched until the
 * phase ends. The session starts in the structural phase. *out is owned by
 * the caller (results_close).
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
/* The schema version results_open_write converted from (1), or 0. */
int results_was_converted(const ResultsFile *rf);

/* `nnsweep repair`: results_open_write(path, 0) + results_close; *repaired
 * (may be NULL) says whether anything needed repair. A sound file is left
 * as it is (a sound schema-1 file too); a killed writer's schema-1 file is
 * written back repaired as schema 2. */
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

/* Either phase. Adds a pending run (ResultsRunSpec). Structural phase: kept
 * in memory, written when the phase ends; SWMR phase: written and flushed
 * now. NN_ERR_INPUT for a bad or existing run id, an unknown sweep or
 * kind, a config that is empty or not text, a bad tensor table (nothing
 * is written then; the session goes on). Finding a run by id costs O(1)
 * (a hash index), here and in every writer call. */
NnStatus results_add_run(ResultsFile *rf, const ResultsRunSpec *run, NnError *err);

/* Either phase (resume, or a search that hands a run out again). The run
 * starts a new attempt: attempt + 1, its summary row back to pending
 * (epochs_done, best_*, last_step, host, device, message, has_weights,
 * ranges cleared); rows of earlier attempts stay in the file, ignored.
 * NN_ERR_INPUT for an unknown run. */
NnStatus results_reset_run(ResultsFile *rf, const char *run_id, NnError *err);

/* Ends the structural phase: the rows collected are written, then
 * H5Fstart_swmr_write, then the copy replaces the file (fsync + rename).
 * Called once. */
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

/* SWMR phase. One logged row of a running run: n >= 1 named values
 * (names[i], values[i], any double) at step >= 0, and flushes. A name
 * not seen before in the file is added to /log_keys. NN_ERR_INPUT (nothing
 * written) for a bad name (empty, longer than 63 bytes, not UTF-8 text
 * without control characters, "step"), a name twice in the row, a
 * negative step, a run that is unknown or not running. */
NnStatus results_append_log(ResultsFile *rf, const char *run_id, int64_t step, int n,
                            const char *const *names, const double *values, NnError *err);
/* SWMR phase. n_rows >= 1 rows at once (RunRow, outcome.h), as
 * results_append_log of each in order, with one write and one flush of
 * each table touched: what a sweep's rank 0 uses when a program logs
 * faster than one flush per row allows. All or nothing: NN_ERR_INPUT for
 * any row results_append_log would refuse writes none of them. */
NnStatus results_append_logs(ResultsFile *rf, const char *run_id, const RunRow *rows, int n_rows,
                             NnError *err);

/* SWMR phase. Records what a running or ended run reported at its end
 * (json: a UTF-8 JSON object, stored as given; replaces an earlier one)
 * and flushes. NN_ERR_INPUT for an unknown or pending run, empty json. */
NnStatus results_set_outputs(ResultsFile *rf, const char *run_id, const char *json,
                             NnError *err);

/* SWMR phase. A pending or running run ends with s->status (done,
 * diverged, failed, interrupted or stopped): when best_state is not NULL
 * its s->n_state floats (model_state layout, must equal the run's n_state)
 * are appended to /weights and flushed first; then the summary row
 * (status, epochs_done, best_epoch, best_*, best_step and best_value as
 * s gives them, wall_seconds, message, has_weights, and device when
 * s->device is not empty) is written, flushed and fsynced. */
NnStatus results_finish_run(ResultsFile *rf, const char *run_id, const RunSummary *s,
                            const float *best_state, NnError *err);

/* SWMR phase (clean shutdown). Every running run gets status (normally
 * RUN_INTERRUPTED) and message; *n_marked (may be NULL) counts them. */
NnStatus results_mark_unfinished(ResultsFile *rf, RunStatus status, const char *message,
                                 int *n_marked, NnError *err);

/* Closes a writer or a reader; accepts NULL. A writer still in its
 * structural phase writes what it collected and commits its copy (fsync +
 * rename) - or discards it after a failed structural call and returns that
 * error again. Returns NN_ERR_IO when closing or committing fails (err may
 * be NULL). */
NnStatus results_close(ResultsFile *rf, NnError *err);

/* A writer in its structural phase closes without committing: the file is
 * left exactly as it was (a session refused for bad input). Accepts NULL;
 * a writer in SWMR mode is closed as results_close does. */
void results_discard(ResultsFile *rf);

/* ---- readers (also work on a writer's handle) ---------------------------- */

/* Opens path read-only: plainly, or with SWMR read when a plain open is
 * refused because a writer has the file open (a sweep is running) or was
 * killed; a damaged file fails at once. Checks format and schema_version
 * (1 or 2). Errors as results_open_write. */
NnStatus results_open_read(const char *path, ResultsFile **out, NnError *err);

/* The schema version of the file open (a writer's: always the current). */
int results_schema_version(const ResultsFile *rf);

/* Reader: 1 when path now names another file than the one open (a writer
 * replaced it at the end of its structural phase): close and reopen to
 * follow the sweep. 0 otherwise, and always for a writer. */
int results_replaced(const ResultsFile *rf);

/* Every summary row, fresh from the file. *rows (n entries) is owned by
 * the caller (free()); NULL when n is 0. */
NnStatus results_read_summary(ResultsFile *rf, ResultsRow **rows, size_t *n, NnError *err);

/* One run's summary row, fresh; NN_ERR_INPUT when there is no such run. */
NnStatus results_get_row(ResultsFile *rf, const char *run_id, ResultsRow *row, NnError *err);

/* Number of metrics rows the run's current attempt has now. */
NnStatus results_run_rows(ResultsFile *rf, const char *run_id, size_t *n_rows, NnError *err);

/* Every sweep with its attributes, in name order; owned by the caller
 * (results_sweeps_free). */
NnStatus results_list_sweeps(ResultsFile *rf, ResultsSweep **sweeps, int *n, NnError *err);
void results_sweeps_free(ResultsSweep *sweeps, int n); /* accepts NULL */

/* The run's config JSON (train runs: canonical, config_from_json reads it);
 * *json owned by the caller (free()). */
NnStatus results_read_config(ResultsFile *rf, const char *run_id, char **json, NnError *err);

/* What the run reported at its end (results_set_outputs), or NULL when
 * nothing; *json owned by the caller (free()). */
NnStatus results_read_outputs(ResultsFile *rf, const char *run_id, char **json, NnError *err);

/* The metrics rows of the run's current attempt, epoch 0 first; *rows (n
 * entries) owned by the caller (free()), NULL when n is 0. */
NnStatus results_read_metrics(ResultsFile *rf, const char *run_id, EpochMetrics **rows,
                              size_t *n, NnError *err);

/* The logged values of the run's current attempt in the order logged
 * (none in a schema-1 file); *rows (n entries) owned by the caller
 * (free()), NULL when n is 0. */
NnStatus results_read_logs(ResultsFile *rf, const char *run_id, ResultsLog **rows, size_t *n,
                           NnError *err);

/* The run's stored weights as one host vector in model_state layout
 * (*state, n_state floats) and, when tensors is not NULL, its table in
 * layer order (*tensors, n_tensors entries). Both owned by the caller
 * (free()). NN_ERR_INPUT when the run has no stored weights. */
NnStatus results_read_weights(ResultsFile *rf, const char *run_id, float **state,
                              size_t *n_state, TensorInfo **tensors, int *n_tensors,
                              NnError *err);

#endif
