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
 * The hooks (run.h) let a worker stream every epoch as it ends, and let the
 * scheduler end a run after an epoch (stopped early: RUN_STOPPED; cancelled:
 * RUN_INTERRUPTED) or cancel it before any batch (RUN_INTERRUPTED). A run
 * that reaches its last epoch is done whatever the last verdict.
 *
 * A run is planned once (RunPlan: the run config checked and translated
 * into nn's specs, and the model's plan); its caller hands the plan to
 * train_run or train_evaluate. The outcome types (EpochMetrics, RunStatus,
 * RunSummary, RunOutcome) are in outcome.h.
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
#include "nnsweep/run.h"

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

/* The dataset as a run reads it: the host copy (splits, statistics,
 * labels) and the same arrays in the memory of the run's backend (the host
 * copy's own arrays for ref and cpu; a worker's resident device copy for
 * cuda, run.h). */
typedef struct TrainData {
    const Cifar10 *host;
    const uint8_t *images; /* (n_train + n_test, 3, 32, 32), backend memory */
    const uint8_t *labels; /* (n_train + n_test), backend memory */
} TrainData;

/* The dataset of worker h (run.h) as a run on backend be reads it: the host
 * arrays, or the GPU copy that the first run on the GPU uploads and every
 * later one shares. NN_ERR_RUN when the device has no memory for it. */
NnStatus run_host_data(RunHost *h, const Backend *be, TrainData *out, NnError *err);

/* Trains the run of plan p on backend be, calling hooks (may be NULL) after
 * every epoch and before every batch (run.h: the verdicts). eval_batch:
 * images per evaluation batch, 0 = as many as fit a memory budget. Never
 * fails as a call: the outcome is in *out (status, message, best epoch and
 * weights; n_params and n_state from the plan; device is the caller's to
 * fill). A backend without the precision asked for, a split the dataset
 * cannot give, out of memory: a failed run with the message. */
void train_run(const RunPlan *p, const TrainData *data, const Backend *be, const RunHooks *hooks,
               int eval_batch, RunOutcome *out);

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
 * in eval mode. NN_ERR_INPUT when the state does not fit the model;
 * NN_ERR_RUN when the backend ran out of memory or an op of it failed. */
NnStatus train_evaluate(const RunPlan *p, const float *state, size_t n_state,
                        const TrainData *data, const Backend *be, EvalResult *out, NnError *err);

#endif
