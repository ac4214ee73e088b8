/* run.h - one way to run a run: what a worker holds across runs (the
 * dataset, resident once; its device) and the one function that runs a run
 * from its canonical config JSON to one outcome record. The MPI worker, the
 * in-process driver of a one-rank sweep and `nnsweep train` all call
 * run_execute, so they choose the device the same way (backend.h's device
 * policy), build the same model and record the same outcome.
 *
 * A run streams its metrics as it goes through RunHooks and answers to the
 * scheduler there: after each epoch the hook says whether the run goes on,
 * stops early (the sweep's stopping rule: the run ends `stopped` and keeps
 * its best weights) or is cancelled (a stop signal: `interrupted`).
 *
 * Kinds of run: RUN_KIND_TRAIN is the built-in trainer (train.h) on the
 * worker's resident CIFAR-10; RUN_KIND_PROGRAM is a user's own program
 * (program.h: W&B's program/command) that the worker starts, whose rows
 * it streams through on_rows and which it ends when a hook says so. Both
 * take the same path through the scheduler: same request, same hooks,
 * same outcome.
 */
#ifndef NNSWEEP_RUN_H
#define NNSWEEP_RUN_H

#include "nnsweep/backend.h"
#include "nnsweep/core.h"
#include "nnsweep/data.h"
#include "nnsweep/outcome.h"

/* The answer of a run's epoch hook. */
typedef enum RunVerdict {
    RUN_GO_ON = 0,
    RUN_STOP_EARLY, /* the run ends now, `stopped` */
    RUN_CANCEL,     /* the run ends now, `interrupted` */
} RunVerdict;

typedef struct RunHooks {
    /* After each epoch's metrics (epoch 0 first, in order); NULL: go on. */
    RunVerdict (*on_epoch)(const EpochMetrics *m, void *user);
    /* Before every training batch: nonzero cancels the run at once (it
     * ends `interrupted`). Must be cheap (a flag, an MPI_Iprobe); may be
     * NULL. */
    int (*should_cancel)(void *user);
    /* Programs: rows the program logged, in order (n >= 1: what one read
     * of its channel held). The answer: RUN_GO_ON, or RUN_STOP_EARLY /
     * RUN_CANCEL to end the program (SIGTERM, then SIGKILL after the
     * grace period). NULL: the rows are dropped. */
    RunVerdict (*on_rows)(const RunRow *rows, int n, void *user);
    /* Programs: asked at least every 20 ms while the program runs, for an
     * answer that comes later than its rows (a stopping rule's verdict
     * over MPI, a cancel); answers as on_rows. NULL: should_cancel's
     * answer (RUN_CANCEL when nonzero). */
    RunVerdict (*poll)(void *user);
    void *user;
} RunHooks;

typedef enum RunKind {
    RUN_KIND_TRAIN = 0, /* json: the canonical run config (config.h) */
    RUN_KIND_PROGRAM,   /* json: a program request (program.h) */
} RunKind;

typedef struct RunRequest {
    RunKind kind;
    const char *id;    /* the run's id (messages) */
    const char *json;  /* as its kind says */
} RunRequest;

/* What a worker holds from one run to the next. */
typedef struct RunHost {
    int has_data;     /* data holds the dataset (built-in runs can run) */
    Cifar10 data;     /* the dataset, read once */
    int gpu;          /* the CUDA backend can run here (backend_gpu_usable) */
    char device[RUN_DEVICE_LEN]; /* "cuda:N" with a GPU, else "cpu" */
    /* for programs: the CPU threads this worker may use (0: not said) and
     * the GPU they get as CUDA_VISIBLE_DEVICES ("" : none, the variable is
     * removed) */
    int threads;
    char cuda_visible[64];
    /* the dataset on the GPU: uploaded by the first CUDA run, then shared
     * by every later one (NULL until then) */
    uint8_t *gpu_images, *gpu_labels;
} RunHost;

/* Reads the dataset of data_dir (cifar10_default_dir applies) and notes the
 * device: gpu_index >= 0 selects that GPU when the CUDA backend can run
 * (backend_cuda_use_device), -1 keeps the default. NN_ERR_INPUT naming the
 * dataset file when it cannot be read (nothing held then). *h is released
 * with run_host_free. */
NnStatus run_host_init(RunHost *h, const char *data_dir, int gpu_index, NnError *err);

/* A host without the dataset, for workers of jobs that run programs only:
 * nothing is read and no GPU is touched. gpu_index >= 0 gives programs
 * that GPU of the visible ones (program_gpu_count, program.h). Built-in
 * runs on it fail with a message. Never fails. */
void run_host_init_programs(RunHost *h, int gpu_index);
void run_host_free(RunHost *h); /* accepts NULL and a zeroed host */

/* Runs the request on h, calling hooks (may be NULL) as it goes. Never
 * fails as a call: a config that cannot be read or built, a device it
 * cannot have, out of memory, a diverged loss are all in out->s (status
 * and message); out->s.device says where it trained. *out is owned by the
 * caller (run_outcome_free). */
void run_execute(RunHost *h, const RunRequest *req, const RunHooks *hooks, RunOutcome *out);

#endif
