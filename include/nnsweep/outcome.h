/* outcome.h - what a run reports: one metrics row per epoch and one outcome
 * record when it ends. Both are plain structs that travel unchanged from the
 * training loop over the wire (MPI_BYTE: every rank runs the same binary)
 * into the results writer, which turns them into HDF5 rows (results.h). The
 * status is an enum everywhere in memory; its name is used only at the HDF5
 * boundary and in messages.
 *
 * This header depends on core.h only, so that the results file and the
 * scheduler can take runs' records without knowing models or trainers.
 */
#ifndef NNSWEEP_OUTCOME_H
#define NNSWEEP_OUTCOME_H

#include <stdint.h>

#include "nnsweep/core.h"

typedef enum RunStatus {
    RUN_PENDING = 0,
    RUN_RUNNING,
    RUN_DONE,        /* trained to its last epoch, or stopped by its patience */
    RUN_DIVERGED,    /* the training loss stopped being finite */
    RUN_FAILED,      /* an error (out of memory, no GPU, ...): the message says */
    RUN_INTERRUPTED, /* stopped before it ended (signal, lost worker): rerun on resume */
    RUN_STOPPED,     /* ended early by its sweep's stopping rule (hyperband): final */
    RUN_STATUS_COUNT
} RunStatus;

/* "pending", "running", "done", "diverged", "failed", "interrupted",
 * "stopped"; "unknown" for anything else. */
const char *run_status_name(RunStatus s);
/* RUN_STATUS_COUNT when unknown. */
RunStatus run_status_from_name(const char *name);
/* A status that ends a run for good (done, diverged, failed, stopped): such
 * a run is never run again, not even by --resume. interrupted is not final. */
int run_status_is_final(RunStatus s);

/* One row of a run's metrics (results.h: /metrics).
 * Losses and accuracies are NaN where a split is empty (val without
 * val_split). */
typedef struct EpochMetrics {
    int epoch; /* 0 = before training */
    double train_loss, train_accuracy;
    double val_loss, val_accuracy;
    double test_loss, test_accuracy;
    double top_accuracy; /* best select_on value so far */
    double learning_rate;
    double seconds; /* wall time of this epoch (train + evaluation) */
} EpochMetrics;

/* One row that a program run logged (program.h: its channel): a step and
 * named numbers, in the order the program wrote them. Names are 1 ..
 * RUN_METRIC_NAME_MAX bytes of UTF-8 without control characters, not
 * "step" (the readers' step column), distinct within a row; values may be
 * NaN or infinite. step >= 0 grows strictly from row to row of a run. The
 * pointers are borrowed for the call that passes the row. */
#define RUN_METRIC_NAME_MAX 63
typedef struct RunRow {
    int64_t step;
    int n;
    const char *const *names; /* (n) */
    const double *values;     /* (n) */
} RunRow;

#define RUN_DEVICE_LEN 16
#define RUN_MESSAGE_LEN 512

/* How a run ended: the fields of its /summary row that the run itself
 * knows. */
typedef struct RunSummary {
    RunStatus status;
    int32_t epochs_done; /* last completed epoch */
    int32_t best_epoch;  /* -1 when it has none */
    double best_val_accuracy, best_test_accuracy; /* at best_epoch (NaN: none) */
    /* the best value of the sweep's metric and its step (train runs: its
     * epoch); -1 and NaN when not known (run_summary_init) */
    int64_t best_step;
    double best_value;
    double wall_seconds;
    int64_t n_params;    /* trainable parameters (0 when the model was not built) */
    int64_t n_state;     /* floats of the best-weights vector (params + buffers) */
    char device[RUN_DEVICE_LEN];   /* where it trained: "cpu", "cuda:0" ("" unknown) */
    char message[RUN_MESSAGE_LEN]; /* why it diverged, failed, stopped or was
                                      interrupted; empty when done */
} RunSummary;

/* A summary with nothing known yet: status, best_epoch and best_step -1,
 * NaN accuracies and best_value. */
void run_summary_init(RunSummary *s, RunStatus status);
/* Sets the message from a printf format, cut to fit. */
void run_summary_message(RunSummary *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The outcome of one run on the worker that trained it. */
typedef struct RunOutcome {
    RunSummary s;
    /* Best weights: s.n_state floats on the host in model_state layout,
     * owned by the outcome (run_outcome_free); NULL when the run has none
     * (save_weights_min_accuracy not reached, or it failed first). */
    float *best_state;
    /* What a program reported for the whole run (program.h: its summary
     * values and artifacts) as a JSON object, owned by the outcome; NULL
     * when nothing (always for the built-in trainer). */
    char *outputs;
} RunOutcome;

void run_outcome_free(RunOutcome *o); /* frees best_state and outputs; accepts NULL */

#endif
