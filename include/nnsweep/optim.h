/* optim.h - optimizers and learning-rate schedules with PyTorch's semantics.
 *
 *   sgd   torch.optim.SGD(lr, momentum, dampening=0, weight_decay, nesterov)
 *   adam  torch.optim.Adam(lr, betas, eps, weight_decay)  (coupled L2)
 *   adamw torch.optim.AdamW(lr, betas, eps, weight_decay) (decoupled)
 *
 * Weight decay applies to every parameter (biases and batch-norm affine
 * parameters too), as it does in PyTorch when one parameter group is used.
 * The optimizer state (momentum buffer, Adam moments) is one arena of the
 * backend, allocated in optim_create.
 */
#ifndef NNSWEEP_OPTIM_H
#define NNSWEEP_OPTIM_H

#include "nnsweep/config.h"
#include "nnsweep/model.h"

typedef struct Optimizer Optimizer;

/* Creates the optimizer of c for m's parameters. NN_ERR_RUN when the
 * backend is out of memory. *out is owned by the caller (optim_free). */
NnStatus optim_create(const RunConfig *c, Model *m, Optimizer **out, NnError *err);
void optim_free(Optimizer *o); /* accepts NULL */

/* One update of all parameters from model_grads with learning rate lr. */
void optim_step(Optimizer *o, float lr);

/* model_backward(m, B) then optim_step(o, lr), as one call: for SGD
 * without momentum, on a backend with Backend.linear_backward_sgd, the
 * update is fused into the backward pass (model_backward_sgd: model_grads
 * is then not written); otherwise the two steps run. The training loop's
 * step. */
void optim_backward_step(Optimizer *o, int B, float lr);

/* Learning rate for training step `step` (0-based, counted over the whole
 * run) with steps_per_epoch steps in an epoch:
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
double optim_lr_at(const RunConfig *c, long step, long steps_per_epoch);

#endif
