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
 * status RUN_DIVERGED; an allocation failure with RUN_FAILED.
 *
 * The per-epoch callback lets an MPI worker stream every epoch as it ends
 * and lets rank 0 ask a run to stop (SIGTERM) by returning nonzero.
 *
 * A run is planned once (RunPlan: the run config checked and translated
 * into nn's specs, and the model's plan); its caller hands the plan to
 * train_run or train_evaluate. The outcome types (EpochMetrics, RunStatus,
 * RunResult) are in outcome.h.
 */
#ifndef NNSWEEP_TRAIN_H
#define NNSWEEP_TRAIN_H

#include <stddef.h>

#include "nnsweep/backend.h"
#include "nnsweep/config.h"
#include "nnsweep/data.h"
#include "nnsweep/model.h"
#include "nnsweep/optim.h"
#include "nnsweep/outcome.h"

/* One run's plan: its config, nn's specs made from it, the model's plan. */
typedef struct RunPlan {
    const RunConfig *config; /* borrowed: must outlive the plan */
    ModelSpec model;         /* its arrays point into *config */
    OptimSpec optim;
    LrSpec lr;
    ModelPlan *mplan;        /* owned (run_plan_free) */
} RunPlan;

/* config_validate(c), then the specs and model_plan_create: every input
 * error of a run config, shapes included, comes out of this one call
 * (NN_ERR_INPUT, *out zeroed). c is borrowed: it must outlive *out. */
NnStatus run_plan_create(const RunConfig *c, RunPlan *out, NnError *err);
void run_plan_free(RunPlan *p); /* accepts NULL and a zeroed plan */

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

/* Trains the run of plan p on the data. Never aborts for a failed run:
 * the outcome is in *out (status, message). Returns NN_ERR_INPUT only when
 * the run cannot start at all (a precision the backend lacks, a data split
 * the dataset cannot give: the message in err and out->message). */
NnStatus train_run(const RunPlan *p, const Cifar10 *data, const TrainOptions *opt,
                   RunResult *out, NnError *err);

/* The training step's backward pass and update after model_forward(train
 * = 1) and model_loss(grad = 1), as train_run does it: for plain SGD
 * (optim_is_plain_sgd) on a backend with linear_backward_sgd, the update
 * is fused into the backward pass (model_backward_sgd: model_grads is then
 * not written); otherwise model_backward, then optim_step over all
 * parameters. */
void train_backward_update(Model *m, Optimizer *o, int B, float lr);

/* Result of evaluating stored weights on the test images. */
typedef struct EvalResult {
    int n;            /* test images evaluated */
    double loss;      /* mean cross-entropy */
    double accuracy;
    long confusion[10][10]; /* rows: true class, columns: predicted */
} EvalResult;

/* Evaluates a state (model_state layout, host memory, n_state floats) of
 * the run of plan p on the test images its config selects (test_images),
 * normalized as the run was (meanstd statistics from its training images),
 * in eval mode. NN_ERR_INPUT when the state does not fit the model. */
NnStatus train_evaluate(const RunPlan *p, const float *state, size_t n_state,
                        const Cifar10 *data, const Backend *be, EvalResult *out, NnError *err);

#endif
