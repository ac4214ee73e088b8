/* optim.c - SGD, Adam, AdamW over the model's contiguous parameters, and
 * the learning-rate schedules. */
#include "nnsweep/optim.h"

#include <math.h>
#include <stdlib.h>

struct Optimizer {
    RunConfig cfg;
    Model *model;
    const Backend *be;
    float *m;  /* (n_params) momentum buffer (sgd) or first moment (adam) */
    float *v;  /* (n_params) second moment (adam) */
    long step; /* updates done */
};

NnStatus optim_create(const RunConfig *c, Model *model, Optimizer **out, NnError *err)
{
    *out = NULL;
    Optimizer *o = nn_calloc(1, sizeof *o);
    o->cfg = *c;
    o->model = model;
    o->be = model_backend(model);
    size_t bytes = (model_n_params(model) ? model_n_params(model) : 1) * sizeof(float);
    int need_m = c->optimizer != OPT_SGD || c->momentum > 0;
    if (need_m) o->m = o->be->alloc(bytes);
    if (c->optimizer != OPT_SGD) o->v = o->be->alloc(bytes);
    if ((need_m && !o->m) || (c->optimizer != OPT_SGD && !o->v)) {
        optim_free(o);
        return nn_error_set(err, NN_ERR_RUN, "out of memory on backend %s for the optimizer state",
                            model_backend(model)->name);
    }
    *out = o;
    return NN_OK;
}

void optim_free(Optimizer *o)
{
    if (!o) return;
    o->be->free(o->m);
    o->be->free(o->v);
    free(o);
}

void optim_step(Optimizer *o, float lr)
{
    const RunConfig *c = &o->cfg;
    float *w = model_state(o->model);
    const float *g = model_grads(o->model);
    size_t n = model_n_params(o->model);
    o->step++;
    switch (c->optimizer) {
    case OPT_SGD:
        o->be->sgd_step(w, g, o->m, n, lr, (float)c->momentum, (float)c->weight_decay,
                        c->nesterov, o->step == 1);
        break;
    case OPT_ADAM:
    case OPT_ADAMW:
        o->be->adam_step(w, g, o->m, o->v, n, lr, (float)c->betas[0], (float)c->betas[1],
                         (float)c->eps, (float)c->weight_decay, c->optimizer == OPT_ADAMW,
                         (int)o->step);
        break;
    }
}

void optim_backward_step(Optimizer *o, int B, float lr)
{
    const RunConfig *c = &o->cfg;
    /* fused where the backend can fuse the dense layers' update into their
     * backward; elsewhere one update over all parameters is cheaper than
     * one per tensor (a kernel launch each on a device) */
    if (c->optimizer == OPT_SGD && c->momentum == 0 && o->be->linear_backward_sgd) {
        model_backward_sgd(o->model, B, lr, (float)c->weight_decay);
        o->step++;
        return;
    }
    model_backward(o->model, B);
    optim_step(o, lr);
}

double optim_lr_at(const RunConfig *c, long step, long steps_per_epoch)
{
    const double pi = 3.14159265358979323846;
    double lr = c->learning_rate;
    long total = (long)c->epochs * steps_per_epoch;
    long warm = (long)llround(c->warmup_epochs * (double)steps_per_epoch);

    if (c->lr_schedule == LR_ONECYCLE) {
        /* torch OneCycleLR, two phases, cosine annealing: up from
         * lr/div_factor to lr over pct_start*total - 1 steps, then down to
         * lr/div_factor/final_div_factor at step total - 1 */
        double pct = c->warmup_epochs > 0 ? c->warmup_epochs / c->epochs : 0.3;
        double initial = lr / 25.0, final = initial / 1e4;
        double up_end = pct * (double)total - 1.0, down_end = (double)total - 1.0;
        double s = (double)step;
        if (s <= up_end) {
            double t = up_end > 0 ? s / up_end : 1.0;
            return initial + (lr - initial) * (1.0 - cos(pi * t)) / 2.0;
        }
        double t = down_end > up_end ? (s - up_end) / (down_end - up_end) : 1.0;
        if (t > 1.0) t = 1.0;
        return final + (lr - final) * (1.0 + cos(pi * t)) / 2.0;
    }

    if (step < warm) return lr * (double)(step + 1) / (double)warm;

    switch (c->lr_schedule) {
    case LR_STEP: {
        long epoch = step / steps_per_epoch;
        return lr * pow(c->lr_gamma, (double)(epoch / c->lr_step_epochs));
    }
    case LR_COSINE: {
        long span = total - warm;
        double t = span > 0 ? (double)(step - warm) / (double)span : 0.0;
        return lr * (1.0 + cos(pi * t)) / 2.0;
    }
    default: return lr;
    }
}
