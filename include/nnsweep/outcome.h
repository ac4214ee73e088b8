/* outcome.h - what one training run reports: a row of metrics per epoch and
 * the run's result. The train loop (train.h) fills them; the MPI protocol,
 * the scheduler and the results file (results.h) carry them without knowing
 * the model. run_status_name and run_result_free are in src/run/outcome.c. */
#ifndef NNSWEEP_OUTCOME_H
#define NNSWEEP_OUTCOME_H

#include <stddef.h>

#include "nnsweep/core.h"

typedef enum RunStatus {
    RUN_PENDING = 0,
    RUN_RUNNING,
    RUN_DONE,
    RUN_DIVERGED,
    RUN_FAILED,
    RUN_INTERRUPTED,
    RUN_STATUS_COUNT
} RunStatus;

/* "pending", "running", "done", "diverged", "failed", "interrupted" */
const char *run_status_name(RunStatus s);
/* RUN_STATUS_COUNT when unknown. */
RunStatus run_status_from_name(const char *name);

/* One row of a run's metrics table (results.h: /runs/<id>/metrics).
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

typedef struct RunResult {
    RunStatus status;
    char message[512]; /* why it diverged or failed; empty when done */
    int epochs_done;   /* last completed epoch */
    int best_epoch;
    double best_val_accuracy, best_test_accuracy; /* at best_epoch */
    double wall_seconds;
    size_t n_params;
    /* Best weights: n_state floats on the host in model_state layout (the
     * offsets of the run's TensorInfo table), owned by the result
     * (run_result_free); NULL when save_weights_min_accuracy was not
     * reached. */
    float *best_state;
    size_t n_state;
} RunResult;

void run_result_free(RunResult *r); /* frees best_state; accepts NULL */

#endif
