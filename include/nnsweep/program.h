/* program.h - runs of a user's own program: a W&B sweep file's `program`
 * and `command`, started by the worker that was handed the run, its
 * metrics streamed back over a channel (RUN_KIND_PROGRAM of run.h).
 *
 * ======================================================================
 * Starting the program (program_execute, on the worker)
 * ======================================================================
 * Command: the sweep's `command` (a list of strings; default W&B's
 * [${env}, ${interpreter}, ${program}, ${args}]) with W&B's macros, each
 * macro a whole element of the list:
 *   ${env}                    /usr/bin/env
 *   ${interpreter}            python3 (W&B: python, which Debian lacks)
 *   ${program}                the `program` value as written (./program
 *                             when it is what the command executes and
 *                             has no '/': run from the working directory,
 *                             not looked up on PATH)
 *   ${args}                   --name=value per parameter
 *   ${args_no_hyphens}        name=value per parameter
 *   ${args_no_boolean_flags}  as ${args}, but a true boolean is --name
 *                             alone and a false one is left out
 *   ${args_no_equals}         --name and value as two elements
 *   ${args_json}              one element: the config as JSON
 *   ${args_json_file}         the path of a file holding that JSON
 *                             (args.json in the run's directory)
 * and, anywhere inside an element, ${envvar:NAME}: the worker's $NAME (NAME
 * itself when unset, as W&B). Parameters come in the sweep file's order;
 * a value is written as Python's str() writes it (W&B's agent does
 * f"--{name}={value}"): 0.001, 1e-05, 100.0, 32, True, None, a string as
 * is, a list [1, 'a'], and a nested parameter group as the dict of its
 * values, {'lr': 0.01, 'nadam': {'beta': 0.9}}. The config JSON is
 * Python's json.dumps of the same dict (", " and ": " separators, ASCII).
 * The command is run directly (execvpe: no shell; PATH searched), in its
 * own process group.
 *
 * Working directory: the directory of the sweep file, where a relative
 * `program` is looked for (W&B's agent uses its own working directory,
 * which is normally where the sweep file is). Before any run starts (the
 * sweep file's load), the program must exist (a regular file), and the
 * command's executable - the first element, or the one after ${env} - must
 * be found (a path, or on PATH) and be executable; else the load fails
 * naming file:line (exit 2). A node that lacks them later fails the run.
 *
 * Files: the run's directory, <results file>.runs/<run id>/ (absolute; on
 * the worker's node at the same path, so beside the results file on a
 * shared file system), holds stdout and stderr (the program's output,
 * appended attempt after attempt, each attempt after a line "==== nnsweep:
 * run ID attempt on HOST at TIME ====") and args.json when the command
 * asks for it. The program may keep its own files there
 * ($NNSWEEP_RUN_DIR). stdin is /dev/null.
 *
 * Environment: the worker's, plus
 *   NNSWEEP_RUN_ID       the run's id        NNSWEEP_SWEEP  the sweep's name
 *   NNSWEEP_RUN_DIR      the run's directory (for checkpoints)
 *   NNSWEEP_CONFIG       the config JSON (as ${args_json})
 *   NNSWEEP_FD           the channel's file descriptor number (3)
 *   NNSWEEP_THREADS, OMP_NUM_THREADS, MKL_NUM_THREADS,
 *   OPENBLAS_NUM_THREADS the CPU threads the worker may use (its share of
 *                        the node, or --threads)
 *   CUDA_VISIBLE_DEVICES a GPU worker's device (several workers may share
 *                        one: worker k of a node gets GPU k % n); left as
 *                        it is where the node has no GPU
 *   PYTHONPATH           nnsweep's python/ folder first, so that `import
 *                        nnsweep_run` works without installing anything
 *
 * Ending it: the program ends the run by exiting. The worker ends it with
 * SIGTERM to its process group, then SIGKILL to the group after the grace
 * period, when the sweep's stopping rule stops it (`stopped`), the sweep
 * is stopped (`interrupted`), it runs past the time limit or writes
 * garbage on the channel (`failed`). After the program exits, whatever it
 * left running in its group is killed. The program gets
 * PR_SET_PDEATHSIG = SIGKILL, and a small keeper process (in a process
 * group of its own, holding a socket to the worker) kills the program's
 * group when the worker dies, kill -9 included: no program outlives its
 * worker.
 *
 * Outcome: done when it exits 0 having logged the sweep metric (or the
 * sweep has none); failed, with a message naming the cause and the last
 * lines of its stderr, when it exits non-zero, dies of a signal, runs past
 * the time limit, writes garbage on the channel, cannot be started, or
 * exits 0 without ever logging the sweep metric. best_step/best_value: the
 * row with the best value of the sweep metric (the first on ties; NaN and
 * infinite values do not count); epochs_done: the number of rows logged; outputs
 * (RunOutcome): {"summary": {name: number, ...}, "artifacts": [{"name":
 * ..., "path": absolute path}, ...]} when it wrote either.
 *
 * ======================================================================
 * The channel (wire format, version 1)
 * ======================================================================
 * A pipe: the program writes to file descriptor $NNSWEEP_FD, nnsweep
 * reads. One JSON object per line ('\n'), UTF-8, at most 1 MiB per line;
 * write each line with one write(2) (lines up to 4096 bytes are then never
 * interleaved). Each line is one of:
 *   {"log": {"val_loss": 0.52, "val_acc": 0.81}, "step": 3}
 *       a row of metrics: "step" (an integer >= 0) is optional, by default
 *       the previous row's step + 1 (the first row's: 0), and must be
 *       greater than the previous row's; the names as in RunRow
 *       (outcome.h: 1..63 bytes, not "step"), each once; the values numbers, true/false (1/0), or
 *       NaN, Infinity, -Infinity (Python's json writes these).
 *   {"summary": {"test_acc": 0.91}}
 *       numbers that describe the whole run (W&B's run.summary); a name
 *       written again replaces its value. Recorded when the run ends.
 *   {"artifact": "checkpoints/best.pt", "name": "best"}
 *       a file the program saved (relative to its working directory or
 *       absolute; "name" optional, default the file's name): its absolute
 *       path is recorded when the run ends (the file stays where it is).
 * Anything else (not JSON, another key, a string where a number goes, a
 * step that does not grow, a line over 1 MiB) is garbage: the run fails
 * with the line's number and text, and the program is ended. Rows before
 * the garbage are kept. A row reaches rank 0 and the results file at once
 * (no buffering in nnsweep); when rank 0 cannot keep up, the pipe fills
 * and the program's writes wait. From a shell:
 *     echo "{\"log\": {\"loss\": $loss}, \"step\": $i}" >&"$NNSWEEP_FD"
 * python/nnsweep_run.py does this for Python programs.
 */
#ifndef NNSWEEP_PROGRAM_H
#define NNSWEEP_PROGRAM_H

#include <stddef.h>

#include "nnsweep/core.h"
#include "nnsweep/outcome.h"
#include "nnsweep/run.h"
#include "nnsweep/yamltree.h"

#define PROGRAM_FD 3                  /* NNSWEEP_FD */
#define PROGRAM_LINE_MAX (1 << 20)    /* bytes of one channel line */
#define PROGRAM_MAX_METRICS 4096      /* names in one row */

/* What a sweep file says about its program (sweep.h: Sweep.program).
 * Strings owned (program_spec_free). */
typedef struct ProgramSpec {
    char *program;   /* the `program` value as written */
    char *dir;       /* the working directory: the sweep file's, absolute */
    int n_command;   /* 0: W&B's default command */
    char **command;  /* (n_command) elements as written */
    int line;        /* of the `program` key (messages) */
    int command_line; /* of the `command` key, or 0 */
} ProgramSpec;

void program_spec_free(ProgramSpec *p); /* accepts NULL; zeroes *p */

/* Checks a spec before any run starts: every element of `command` that
 * looks like a macro ("${...}") is one of the macros above; the program
 * (dir/program) is a regular file; the executable is found and may be
 * executed. NN_ERR_INPUT "file:line: program: ..." otherwise. */
NnStatus program_check(const ProgramSpec *p, const char *file, NnError *err);

/* Per-job settings of program runs (nnsweep sweep's options). */
typedef struct ProgramLimits {
    double time_limit; /* seconds a run may take; 0: none */
    double grace;      /* seconds between SIGTERM and SIGKILL */
} ProgramLimits;

/* The request of one run (rank 0 -> worker: RunRequest.json of
 * RUN_KIND_PROGRAM): the spec, where its files go (run_dir, absolute), its
 * config (canonical JSON: program_config_json), the sweep's metric name
 * ("" or NULL: none) and goal, and the limits. Appended to out. */
void program_request_json(const ProgramSpec *p, const char *sweep, const char *run_id,
                          const char *run_dir, const char *config_json, const char *metric,
                          int minimize, const ProgramLimits *lim, NnBuf *out);

/* Runs a program request on h (run_execute calls it): starts, feeds the
 * rows to hooks->on_rows, ends it as the hooks, the time limit or the
 * channel say, and fills out (status, message, best_step/best_value,
 * epochs_done, wall_seconds, device). Never fails as a call. */
void program_execute(RunHost *h, const RunRequest *req, const RunHooks *hooks, RunOutcome *out);

/* ---- values as W&B passes them (program_args.c) ------------------------ */

/* The canonical JSON of a value tree (a YAML/JSON node as the sweep file
 * or the request gives it): Python's json.dumps of the value W&B would
 * hold (PyYAML's types: unquoted integers, numbers and true/false/null as
 * such, everything else a string; floats as Python's repr writes them).
 * Appended to out. */
void program_value_json(const YNode *v, NnBuf *out);

/* Python's repr of a double ("0.1", "1e-05", "100.0", "inf", "nan") into
 * buf (at least 32 bytes). */
void program_py_float(double x, char *buf, size_t size);

/* The command's argv for config (a mapping node: the run's config JSON
 * parsed): the macros expanded as above. args_json_file is the path that
 * ${args_json_file} stands for. *argv (NULL-terminated, *argc elements)
 * and its strings are owned by the caller (program_argv_free).
 * NN_ERR_INPUT for an unknown macro. */
NnStatus program_argv(const ProgramSpec *p, const YNode *config, const char *args_json_file,
                      char ***argv, int *argc, NnError *err);
void program_argv_free(char **argv); /* accepts NULL */

/* 1 when the command uses ${args_json_file}. */
int program_uses_json_file(const ProgramSpec *p);

/* The directory that holds the runs' directories of a results file at
 * results_path: its absolute path (symbolic links resolved, as its side
 * files) + ".runs"; NULL: the working directory's "nnsweep.runs". Owned by
 * the caller (free()). */
char *program_run_dirs(const char *results_path);

/* GPUs that programs can be given on this node: CUDA_VISIBLE_DEVICES's
 * entries when set, else the NVIDIA driver's (/proc/driver/nvidia/gpus),
 * without initializing CUDA; 0 when none. */
int program_gpu_count(void);
/* The CUDA_VISIBLE_DEVICES value of visible GPU i (the i-th entry of the
 * worker's own CUDA_VISIBLE_DEVICES, else "i") into out. */
void program_gpu_label(int i, char *out, size_t size);

#endif
