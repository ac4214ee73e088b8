/* optim.c - SGD, Adam, AdamW over a contiguous parameter vector, and the
 * learning-rate schedules. */
#include "nnsweep/optim.h"

#include <math.h>
#include <stdlib.h>

struct Optimizer {
    OptimSpec spec;
    const Backend *be;
    size_t n;  /* parameters */
    float *m;  /* (n) momentum buffer (sgd) or first moment (adam) */
    float *v;  /* (n) second moment (adam) */
    long step; /* updates done by optim_step */
};

NnStatus optim_create(const OptimSpec *s, const Backend *be, size_t n_params, Optimizer **out,
                      NnError *err)
{
    *out = NULL;
    Optimizer *o = nn_calloc(1, sizeof *o);
    o->spec = *s;
    o->be = be;
    o->n = n_params;
    size_t bytes = (n_params ? n_params : 1) * sizeof(float);
    int need_m = s->kind != OPT_SGD || s->momentum > 0;
    if (need_m) o->m = be->alloc(bytes);
    if (s->kind != OPT_SGD) o->v = be->alloc(bytes);
    if ((need_m && !o->m) || (s->kind != OPT_SGD && !o->v)) {
        optim_free(o);
        return nn_error_set(err, NN_ERR_RUN, "out of memory on backend %s for the optimizer state",
                            be->name);
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

void optim_step(Optimizer *o, float *w, const float *g, float lr)
{
    const OptimSpec *s = &o->spec;
    o->step++;
    switch (s->kind) {
    case OPT_SGD:
        o->be->sgd_step(w, g, o->m, o->n, lr, (float)s->momentum, (float)s->weight_decay,
                        s->nesterov, o->step == 1);
        break;
    case OPT_ADAM:
    case OPT_ADAMW:
        o->be->adam_step(w, g, o->m, o->v, o->n, lr, (float)s->betas[0], (float)s->betas[1],
                         (float)s->eps, (float)s->weight_decay, s->kind == OPT_ADAMW,
                         (int)o->step);
        break;
    }
}

int optim_is_plain_sgd(const Optimizer *o, float *weight_decay)
{
    if (o->spec.kind != OPT_SGD || o->spec.momentum != 0) return 0;
    *weight_decay = (float)o->spec.weight_decay;
    return 1;
}

double optim_lr_at(const LrSpec *s, long step, long steps_per_epoch)
{
    const double pi = 3.14159265358979323846;
    double lr = s->lr;
    long total = (long)s->epochs * steps_per_epoch;
    long warm = (long)llround(s->warmup_epochs * (double)steps_per_epoch);

    if (s->schedule == LR_ONECYCLE) {
        /* torch OneCycleLR, two phases, cosine annealing: up from
         * lr/div_factor to lr over pct_start*total - 1 steps, then down to
         * lr/div_factor/final_div_factor at step total - 1 */
        double pct = s->warmup_epochs > 0 ? s->warmup_epochs / s->epochs : 0.3;
        double initial = lr / 25.0, final = initial / 1e4;
        double up_end = pct * (double)total - 1.0, down_end = (double)total - 1.0;
        double x = (double)step;
        if (x <= up_end) {
            double t = up_end > 0 ? x / up_end : 1.0;
            return initial + (lr - initial) * (1.0 - cos(pi * t)) / 2.0;
        }
        double t = down_end > up_end ? (x - up_end) / (down_end - up_end) : 1.0;
        if (t > 1.0) t = 1.0;
        return final + (lr - final) * (1.0 + cos(pi * t)) / 2.0;
    }

    if (step < warm) return lr * (double)(step + 1) / (double)warm;

    switch (s->schedule) {
    case LR_STEP: {
        long epoch = step / steps_per_epoch;
        return lr * pow(s->lr_gamma, (double)(epoch / s->lr_step_epochs));
    }
    case LR_COSINE: {
        long span = total - warm;
        double t = span > 0 ? (double)(step - warm) / (double)span : 0.0;
        return lr * (1.0 + cos(pi * t)) / 2.0;
    }
    default: return lr;
    }
}
