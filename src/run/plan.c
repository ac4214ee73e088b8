/* plan.c - a run's plan: the run config checked and translated into nn's
 * own specs (ModelSpec, OptimSpec, LrSpec), and the model planned once
 * (train.h, RunPlan). */
#include <string.h>

#include "nnsweep/train.h"

NnStatus run_plan_create(const RunConfig *c, RunPlan *out, NnError *err)
{
    memset(out, 0, sizeof *out);
    NnStatus st = config_validate(c, err);
    if (st != NN_OK) return st;
    ModelSpec *m = &out->model;
    m->n_conv = c->model == MODEL_CNN ? c->n_conv : 0;
    m->conv_channels = c->conv_layers;
    m->kernel_size = c->kernel_size;
    m->padding = c->padding;
    m->pool_size = c->pool_size;
    m->n_hidden = c->n_hidden;
    m->hidden_widths = c->hidden_layers;
    m->activation = c->activation;
    m->batchnorm = c->batchnorm;
    m->dropout = (float)c->dropout;
    m->seed = (uint64_t)c->seed;
    out->optim = (OptimSpec){.kind = c->optimizer,
                             .momentum = c->momentum,
                             .nesterov = c->nesterov,
                             .betas = {c->betas[0], c->betas[1]},
                             .eps = c->eps,
                             .weight_decay = c->weight_decay};
    out->lr = (LrSpec){.schedule = c->lr_schedule,
                       .lr = c->learning_rate,
                       .warmup_epochs = c->warmup_epochs,
                       .lr_step_epochs = c->lr_step_epochs,
                       .lr_gamma = c->lr_gamma,
                       .epochs = c->epochs};
    st = model_plan_create(m, &out->mplan, err);
    if (st != NN_OK) {
        memset(out, 0, sizeof *out);
        return st;
    }
    out->config = c;
    return NN_OK;
}

void run_plan_free(RunPlan *p)
{
    if (!p) return;
    model_plan_free(p->mplan);
    memset(p, 0, sizeof *p);
}
