/* train.h - the train/evaluate loop of one run.
 *
 * Epoch 0 holds the metrics of the initialized model before any training
 * (train metrics then come from an evaluation pass over the training set,
 * as the seed study did). Each later epoch: one pass over the shuffled
 * training images in training mode (loss and accuracy accumulated over the
 * epoch's batches, per image), then validation and test in eval mode, the
 * running top value of `select_on`, the learning rate of the epoch's last
 * step and the epoch's seconds. The best epoch is the first with the
 * highest `select_on` accuracy; its weights and batch-norm buffers are kept
 * as one host copy. Early stopping: after `patience` epochs without a
 * higher value (0 = never). A NaN or Inf training loss ends the run with
 * status RUN_DIVERGED; an allocation failure, or an op of the backend that
 * failed (backend_take_failure, checked after every training step and
 * every evaluation: e.g. out of GPU memory inside cuDNN), with RUN_FAILED
 * and its message (the epoch in which an op failed is not reported). The
 * backend is then ready for the next run.
 *
 * The per-epoch callback lets an MPI worker stream every epoch as it ends
 * and lets rank 0 ask a run to stop (SIGTERM) by returning nonzero.
 */
#ifndef NNSWEEP_TRAIN_H
#define NNSWEEP_TRAIN_H

#include <stddef.h>

#include "nnsweep/backend.h"
#include "nnsweep/config.h"
#include "nnsweep/data.h"

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
    /* Best weights: model_n_state floats on the host in model_state
     * layout, owned by the result (run_result_free); NULL when
     * save_weights_min_accuracy was not reached. */
    float *best_state;
    size_t n_state;
} RunResult;

void run_result_free(RunResult *r); /* frees best_state; accepts NULL */

/* Called after each epoch (epoch 0 included). Returns 0 to go on, nonzero
 * to stop the run now (it ends RUN_INTERRUPTED). */
typedef int (*EpochCallback)(const EpochMetrics *m, void *user);

/* Called before every training batch; nonzero stops the run at once (it
 * ends RUN_INTERRUPTED with the epochs completed so far). Must be cheap:
 * a flag test or an MPI_Iprobe. */
typedef int (*StopCheck)(void *user);

typedef struct TrainOptions {
    const Backend *backend;
    EpochCallback on_epoch; /* may be NULL */
    StopCheck should_stop;  /* may be NULL */
    void *user;             /* passed to both */
    int eval_batch; /* images per evaluation batch; 0 = automatic */
} TrainOptions;

/* Trains one run of c on the data. Never aborts for a failed run: the
 * outcome is in *out (status, message). Returns NN_ERR_INPUT only when c
 * cannot be built at all (the message in err and out->message). */
NnStatus train_run(const RunConfig *c, const Cifar10 *data, const TrainOptions *opt,
                   RunResult *out, NnError *err);

/* Result of evaluating stored weights on the test images. */
typedef struct EvalResult {
    int n;            /* test images evaluated */
    double loss;      /* mean cross-entropy */
    double accuracy;
    long confusion[10][10]; /* rows: true class, columns: predicted */
} EvalResult;

/* Evaluates a state (model_state layout, host memory, n_state floats) of
 * run config c on the test images c selects (test_images), normalized as
 * the run was (meanstd statistics from its training images), in eval mode.
 * NN_ERR_INPUT when the state does not fit c's model; NN_ERR_RUN when the
 * backend ran out of memory or an op of it failed. */
NnStatus train_evaluate(const RunConfig *c, const float *state, size_t n_state,
                        const Cifar10 *data, const Backend *be, EvalResult *out, NnError *err);

#endif
