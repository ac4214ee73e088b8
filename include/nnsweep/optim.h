/* optim.h - optimizers and learning-rate schedules with PyTorch's semantics,
 * over one contiguous vector of parameters and one of their gradients.
 *
 *   sgd   torch.optim.SGD(lr, momentum, dampening=0, weight_decay, nesterov)
 *   adam  torch.optim.Adam(lr, betas, eps, weight_decay)  (coupled L2)
 *   adamw torch.optim.AdamW(lr, betas, eps, weight_decay) (decoupled)
 *
 * Weight decay applies to every parameter (biases and batch-norm affine
 * parameters too), as it does in PyTorch when one parameter group is used.
 * The optimizer state (momentum buffer, Adam moments) is one arena of the
 * backend, allocated in optim_create. The optimizer does not know the
 * model: the caller passes the parameters and gradients (model_state and
 * model_grads) to each step. Its own small specs (OptimSpec, LrSpec) are
 * filled from a run config by run_plan_create (train.h).
 */
#ifndef NNSWEEP_OPTIM_H
#define NNSWEEP_OPTIM_H

#include <stddef.h>

#include "nnsweep/backend.h"
#include "nnsweep/core.h"

typedef enum OptimKind { OPT_SGD = 0, OPT_ADAM, OPT_ADAMW } OptimKind;
typedef enum LrSchedule { LR_CONSTANT = 0, LR_STEP, LR_COSINE, LR_ONECYCLE } LrSchedule;

/* What an optimizer is (the learning rate comes with each step). */
typedef struct OptimSpec {
    OptimKind kind;
    double momentum;     /* sgd */
    int nesterov;        /* sgd, needs momentum > 0 */
    double betas[2], eps; /* adam, adamw */
    double weight_decay;
} OptimSpec;

/* A learning-rate schedule (optim_lr_at). */
typedef struct LrSpec {
    LrSchedule schedule;
    double lr;            /* the base (peak for onecycle) learning rate */
    double warmup_epochs; /* may be fractional */
    int lr_step_epochs;   /* step: epochs between decays */
    double lr_gamma;      /* step: factor per decay */
    int epochs;           /* of the whole run */
} LrSpec;

typedef struct Optimizer Optimizer;

/* Creates an optimizer of spec s for n_params parameters on backend be (s
 * is copied). NN_ERR_RUN when the backend is out of memory. *out is owned
 * by the caller (optim_free). */
NnStatus optim_create(const OptimSpec *s, const Backend *be, size_t n_params, Optimizer **out,
                      NnError *err);
void optim_free(Optimizer *o); /* accepts NULL */

/* One update of params (n_params floats of backend memory) from grads
 * with learning rate lr. */
void optim_step(Optimizer *o, float *params, const float *grads, float lr);

/* 1 when o is plain SGD (momentum 0: no state), whose update the backward
 * pass may apply itself as soon as each layer's gradients are known
 * (model_backward_sgd with lr and *weight_decay) instead of calling
 * optim_step; 0 otherwise (*weight_decay untouched). Such fused updates
 * are not counted by o, which needs no count for plain SGD. */
int optim_is_plain_sgd(const Optimizer *o, float *weight_decay);

/* Learning rate of schedule s for training step `step` (0-based, counted
 * over the whole run) with steps_per_epoch steps in an epoch:
 *   warmup: linear from lr/(warmup steps) up to lr over warmup_epochs
 *           (constant, step, cosine; onecycle has its own warmup);
 *   constant: lr;
 *   step:     lr * lr_gamma ^ floor(epoch / lr_step_epochs)  (StepLR);
 *   cosine:   lr * (1 + cos(pi * t / T)) / 2 over the steps after warmup
 *             (CosineAnnealingLR with eta_min 0, stepped per batch);
 *   onecycle: torch.optim.lr_scheduler.OneCycleLR(max_lr=lr, total_steps,
 *             pct_start = warmup_epochs / epochs or 0.3 when 0,
 *             anneal_strategy='cos', div_factor=25, final_div_factor=1e4,
 *             three_phase=False, cycle_momentum=False), stepped per batch. */
double optim_lr_at(const LrSpec *s, long step, long steps_per_epoch);

#endif
