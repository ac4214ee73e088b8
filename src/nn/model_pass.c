/* model_pass.c - forward pass, loss and backward pass: flat loops over the
 * model's steps (model_steps.c), each step one backend call (or a short
 * fixed sequence: model_impl.h, StepKind) on tensors resolved when the
 * model was built. Everything runs on the model's backend into memory
 * allocated by model_create: nothing is allocated here. The backward pass
 * can apply plain SGD as it goes (model_backward_sgd).
 */
#include <stdlib.h>

#include "model_impl.h"
#include "nnsweep/rng.h"

/* ---- profiling (model_profile) ------------------------------------------ */

void model_profile(Model *m, int on)
{
    free(m->prof);
    m->prof = on ? nn_calloc((size_t)m->n_layers * 2, sizeof(double)) : NULL;
    m->prof_passes[0] = m->prof_passes[1] = 0;
}

/* Adds the time since *t0 to layer i's pass (0 forward, 1 backward): a
 * step's time goes to its first layer. */
static void prof_add(Model *m, int i, int pass, double *t0)
{
    m->be->sync();
    double t = nn_now();
    m->prof[2 * i + pass] += t - *t0;
    *t0 = t;
}

void model_profile_print(const Model *m, NnBuf *out)
{
    if (!m->prof) return;
    for (int i = 0; i < m->n_layers; i++) {
        double f = m->prof_passes[0] ? m->prof[2 * i] / m->prof_passes[0] : 0;
        double b = m->prof_passes[1] ? m->prof[2 * i + 1] / m->prof_passes[1] : 0;
        nn_buf_printf(out, "  %-12s forward %8.3f ms  backward %8.3f ms\n", m->layers[i].name,
                      1e3 * f, 1e3 * b);
    }
}

static PoolShape pool_shape(const FusedGroup *g)
{
    const ConvShape *s = &g->s;
    return (PoolShape){s->B, s->C, s->H, s->W, g->pool, s->OH, s->OW};
}

/* The forward of step st on its input x (B images): its output, or x for
 * a step that is the identity (dropout in evaluation). */
static const float *step_forward(Model *m, Step *st, const float *x, int B, int train,
                                 uint64_t step)
{
    const Backend *be = m->be;
    FusedGroup g = st->g;
    g.s.B = B;
    FusedTensors *t = &st->t, u = st->t; /* u: a pass's own copy (evaluation: no idx) */
    if (!train) u.idx = NULL;
    t->x = u.x = x;
    const int HW = g.s.H * g.s.W;
    size_t n = (size_t)B * st->out_size;
    switch (st->kind) {
    case STEP_LINEAR: be->linear_forward(x, t->w, t->b, t->y, B, g.s.C, g.s.OC); break;
    case STEP_LINEAR_ACT:
        /* the activation's output only; its backward reads y for x
         * (act_from_output, model_steps.c) */
        be->linear_forward_act(x, t->w, t->b, t->y, B, g.s.C, g.s.OC, g.act);
        break;
    case STEP_CONV: be->conv2d_forward(x, t->w, t->b, t->y, &g.s, t->ws); break;
    case STEP_CONV_ACT_POOL: be->conv2d_forward_act_pool(&g, &u); break;
    case STEP_CONV_BN_ACT_POOL:
        if (train) {
            be->conv2d_forward_bn_act_pool(&g, t);
            break;
        }
        be->conv2d_forward(x, t->w, t->b, t->z, &g.s, t->ws);
        u.x = t->z;
        be->batchnorm_act_pool_forward(&g, &u, 0);
        break;
    case STEP_BN:
        if (train)
            be->batchnorm_forward_train(x, t->gamma, t->beta, t->y, t->save_mean, t->save_invstd,
                                        t->running_mean, t->running_var, B, g.s.C, HW,
                                        g.momentum, g.eps);
        else
            be->batchnorm_forward_eval(x, t->gamma, t->beta, t->running_mean, t->running_var,
                                       t->y, B, g.s.C, HW, g.eps);
        break;
    case STEP_BN_ACT_POOL: be->batchnorm_act_pool_forward(&g, &u, train); break;
    case STEP_POOL: {
        PoolShape ps = pool_shape(&g);
        be->maxpool2d_forward(x, t->y, u.idx, &ps);
        break;
    }
    case STEP_ACT: be->act_forward(g.act, x, t->y, n); break;
    case STEP_DROPOUT:
        if (!train) return x; /* identity in eval mode: the next step reads x */
        if (m->replay_masks) {
            be->mul(x, st->mask, t->y, n);
        } else {
            const Layer *l = st->l;
            be->dropout_forward(x, t->y, st->mask, n, l->group, l->p, m->seed,
                                rng_stream(RNG_STREAM_DROPOUT,
                                           (uint64_t)l->dropout_index << 40 | step));
        }
        break;
    }
    return t->y;
}

void model_forward(Model *m, int B, int train, uint64_t step)
{
    NN_CHECK(B >= 1 && B <= m->max_batch, "batch %d outside 1..%d", B, m->max_batch);
    const float *x = m->input; /* (B, 3, 32, 32) */
    double t0 = m->prof ? nn_now() : 0;
    for (int i = 0; i < m->n_steps; i++) {
        x = step_forward(m, &m->steps[i], x, B, train, step);
        if (m->prof) prof_add(m, m->steps[i].first, 0, &t0);
    }
    if (m->prof) m->prof_passes[0]++;
    m->logits = x;
}

void model_loss(Model *m, int B, float label_smoothing, int grad, double *acc)
{
    m->be->softmax_xent(m->logits, m->labels, B, NN_N_CLASSES, label_smoothing,
                        grad ? m->g[0] : NULL, acc);
}

/* Plain SGD applied during the backward pass (model_backward_sgd). */
typedef struct SgdFuse {
    float lr, wd;
} SgdFuse;

/* The dense layer's backward from dy into dx (NULL: not wanted); with sgd
 * its update too: fused where the backend can (linear_backward_sgd), else
 * after it. */
static void linear_backward(const Model *m, const Step *st, const float *dy, float *dx, int B,
                            const SgdFuse *sgd)
{
    const Backend *be = m->be;
    const FusedTensors *t = &st->t;
    const ConvShape *s = &st->g.s;
    if (sgd && m->fused && be->linear_backward_sgd) {
        be->linear_backward_sgd(dy, t->x, st->params[0].w, st->params[1].w, dx, B, s->C, s->OC,
                                sgd->lr, sgd->wd);
        return;
    }
    be->linear_backward(dy, t->x, t->w, dx, t->dw, t->db, B, s->C, s->OC);
    for (int k = 0; sgd && k < st->n_params; k++)
        be->sgd_step(st->params[k].w, st->params[k].g, NULL, st->params[k].n, sgd->lr, 0.0f,
                     sgd->wd, 0, 1);
}

/* The backward of step st from the gradient of its output in g[*cur],
 * into the other buffer (the step's dx; the first layer's input is the
 * image batch, whose gradient is not computed); *cur then names the
 * buffer that holds it. With sgd, the step's parameters are updated as
 * soon as their gradients are known (after its dx, which reads the old
 * weights). */
static void step_backward(Model *m, Step *st, int B, int *cur, const SgdFuse *sgd)
{
    const Backend *be = m->be;
    FusedGroup g = st->g;
    g.s.B = B;
    FusedTensors *t = &st->t;
    float *dy = m->g[*cur], *other = m->g[*cur ^ 1];
    t->dy = dy;
    t->dx = st->first > 0 ? other : NULL;
    size_t n = (size_t)B * st->out_size;
    int updated = 0; /* the step's own op applied sgd */
    switch (st->kind) {
    case STEP_LINEAR:
        linear_backward(m, st, dy, t->dx, B, sgd);
        updated = 1;
        break;
    case STEP_LINEAR_ACT:
        /* act into the other buffer, then linear back into this one */
        be->act_backward(g.act, t->y, t->y, dy, other, n);
        linear_backward(m, st, other, st->first > 0 ? dy : NULL, B, sgd);
        *cur ^= 1; /* the dx is in g[*cur] again after the flip below */
        updated = 1;
        break;
    case STEP_CONV: be->conv2d_backward(dy, t->x, t->w, t->dx, t->dw, t->db, &g.s, t->ws); break;
    case STEP_CONV_ACT_POOL: be->conv2d_backward_act_pool(&g, t); break;
    case STEP_CONV_BN_ACT_POOL: be->conv2d_backward_bn_act_pool(&g, t); break;
    case STEP_BN:
    case STEP_BN_ACT_POOL:
        /* dgamma/dbeta are needed even for a first layer: dx must be
         * written somewhere, so use the free buffer */
        t->dx = other;
        if (st->kind == STEP_BN_ACT_POOL)
            be->batchnorm_act_pool_backward(&g, t);
        else
            be->batchnorm_backward(dy, t->x, t->gamma, t->save_mean, t->save_invstd, other,
                                   t->dgamma, t->dbeta, B, g.s.C, g.s.H * g.s.W);
        break;
    case STEP_POOL:
        if (t->dx) {
            PoolShape ps = pool_shape(&g);
            be->maxpool2d_backward(dy, t->idx, t->dx, &ps);
        }
        break;
    case STEP_ACT:
        if (t->dx) be->act_backward(g.act, t->x, t->y, dy, t->dx, n);
        break;
    case STEP_DROPOUT:
        if (t->dx) be->mul(dy, st->mask, t->dx, n);
        break;
    }
    for (int k = 0; sgd && !updated && k < st->n_params; k++)
        be->sgd_step(st->params[k].w, st->params[k].g, NULL, st->params[k].n, sgd->lr, 0.0f,
                     sgd->wd, 0, 1);
    *cur ^= 1;
}

static void backward_pass(Model *m, int B, const SgdFuse *sgd)
{
    int cur = 0; /* m->g[cur] holds d(loss)/d(output of the step) */
    double t0 = m->prof ? nn_now() : 0;
    for (int i = m->n_steps - 1; i >= 0; i--) {
        step_backward(m, &m->steps[i], B, &cur, sgd);
        if (m->prof) prof_add(m, m->steps[i].first, 1, &t0);
    }
    if (m->prof) m->prof_passes[1]++;
}

void model_backward(Model *m, int B) { backward_pass(m, B, NULL); }

void model_backward_sgd(Model *m, int B, float lr, float weight_decay)
{
    SgdFuse sgd = {lr, weight_decay};
    backward_pass(m, B, &sgd);
}
