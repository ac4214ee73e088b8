/* model_pass.c - forward pass, loss and backward pass over the layer list.
 * Everything runs on the model's backend into memory allocated by
 * model_create: nothing is allocated here.
 *
 * Fused ops (backend.h, "fused ops"): where the backend has one, a layer
 * and the activation after it run as one op, and the backward pass can
 * apply plain SGD as it goes (model_backward_sgd). A NULL table entry means
 * the plain ops, which compute the same thing; which path ran never shows
 * in the results beyond float rounding.
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

/* Adds the time since *t0 to layer i's pass (0 forward, 1 backward). */
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

static ConvShape conv_shape(const Layer *l, int B)
{
    return (ConvShape){B, l->C, l->H, l->W, l->OC, l->K, l->pad, l->OH, l->OW};
}

static PoolShape pool_shape(const Layer *l, int B)
{
    return (PoolShape){B, l->C, l->H, l->W, l->P, l->OH, l->OW};
}

/* An activation whose backward can be computed from its output alone:
 * relu, tanh, sigmoid use y; leaky ReLU uses x > 0, which is y > 0. GELU
 * needs its input, which a fused op does not keep. */
static int act_from_output(ActKind k) { return k != ACT_GELU; }

void model_plan_fusion(Model *m)
{
    const Backend *be = m->be;
    for (int i = 0; i < m->n_layers; i++) {
        m->layers[i].fuse_next = m->layers[i].fuse_bn = 0;
        m->layers[i].fused_head = -1;
    }
    /* NNSWEEP_FUSED=0: the plain ops only, to measure what fusion brings */
    const char *env = getenv("NNSWEEP_FUSED");
    m->fused_sgd = !(env && env[0] == '0');
    if (!m->fused_sgd) return;
    for (int i = 0; i < m->n_layers; i++) {
        Layer *l = &m->layers[i];
        int act = i + 1 < m->n_layers && m->layers[i + 1].kind == LAYER_ACT &&
                  act_from_output(m->layers[i + 1].act);
        if (l->kind == LAYER_LINEAR && act && be->linear_forward_act) {
            l->fuse_next = 1; /* forward only: the backward runs act, then linear */
        } else if ((l->kind == LAYER_CONV2D && act && be->conv2d_forward_act_pool &&
                    be->conv2d_backward_act_pool) ||
                   (l->kind == LAYER_BATCHNORM && l->H * l->W > 1 && act &&
                    be->batchnorm_act_pool_forward && be->batchnorm_act_pool_backward &&
                    be->batchnorm_act_pool_workspace_floats)) {
            /* conv or batch norm 2d + activation (+ max pool), both passes */
            int pool = i + 2 < m->n_layers && m->layers[i + 2].kind == LAYER_MAXPOOL2D;
            l->fuse_next = pool ? 2 : 1;
            for (int k = 1; k <= l->fuse_next; k++) m->layers[i + k].fused_head = i;
        }
    }
    /* conv + (batch norm + act (+ max pool)): one backward op, and one
     * train forward op */
    for (int i = 0; i + 1 < m->n_layers; i++) {
        Layer *l = &m->layers[i], *bn = &m->layers[i + 1];
        if (l->kind != LAYER_CONV2D || l->fuse_next || bn->kind != LAYER_BATCHNORM ||
            !bn->fuse_next || !be->conv2d_backward_bn_act_pool || !be->conv2d_forward_bn_act_pool)
            continue;
        l->fuse_bn = 1;
        for (int k = 1; k <= 1 + bn->fuse_next; k++) m->layers[i + k].fused_head = i;
    }
}

/* The pooling size of a fused group whose last layer is `last` (1: the
 * group ends with its activation). */
static int group_pool(const Layer *last)
{
    return last->kind == LAYER_MAXPOOL2D ? last->P : 1;
}

void model_forward(Model *m, int B, int train, uint64_t step)
{
    NN_CHECK(B >= 1 && B <= m->max_batch, "batch %d outside 1..%d", B, m->max_batch);
    const Backend *be = m->be;
    const float *x = m->input; /* (B, 3, 32, 32) */
    double t0 = m->prof ? nn_now() : 0;
    for (int i = 0; i < m->n_layers; i++) {
        int first = i;
        Layer *l = &m->layers[i];
        l->x = x;
        switch (l->kind) {
        case LAYER_LINEAR:
            if (l->fuse_next) {
                /* linear + activation: the activation's output only; its
                 * backward reads y for x (act_from_output) */
                Layer *a = &m->layers[++i];
                be->linear_forward_act(x, l->w, l->b, a->y, B, l->C, l->OC, a->act);
                a->x = a->y;
                l = a;
            } else {
                be->linear_forward(x, l->w, l->b, l->y, B, l->C, l->OC);
            }
            break;
        case LAYER_CONV2D: {
            ConvShape s = conv_shape(l, B);
            if (l->fuse_next) {
                /* conv + activation (+ max pool): the last layer's output
                 * (and argmax) only */
                const Layer *a = &m->layers[i + 1];
                Layer *last = &m->layers[i + l->fuse_next];
                int pool = group_pool(last);
                be->conv2d_forward_act_pool(x, l->w, l->b, last->y, train ? last->idx : NULL, &s,
                                            a->act, pool, m->ws);
                i += l->fuse_next;
                l = last;
            } else if (l->fuse_bn && train) {
                /* conv + (batch norm + act (+ max pool)): z (the batch
                 * norm's input) and the last layer's output; zp (z where
                 * the pooling took its max) in the batch norm's own output
                 * buffer, which the group does not use otherwise */
                Layer *bn = &m->layers[i + 1], *last = &m->layers[i + 1 + bn->fuse_next];
                int pool = group_pool(last);
                be->conv2d_forward_bn_act_pool(x, l->w, l->b, l->y, bn->w, bn->b, last->y,
                                               last->idx, pool > 1 ? bn->y : NULL, bn->save,
                                               bn->save + bn->C, bn->rmean, bn->rvar, &s,
                                               NN_BN_MOMENTUM, NN_BN_EPS, m->layers[i + 2].act,
                                               pool, m->ws);
                bn->x = l->y;
                i += 1 + bn->fuse_next;
                l = last;
            } else {
                be->conv2d_forward(x, l->w, l->b, l->y, &s, m->ws);
            }
            break;
        }
        case LAYER_MAXPOOL2D: {
            PoolShape s = pool_shape(l, B);
            be->maxpool2d_forward(x, l->y, train ? l->idx : NULL, &s);
            break;
        }
        case LAYER_BATCHNORM:
            if (l->fuse_next) {
                /* batch norm + activation (+ max pool), as for conv */
                const Layer *a = &m->layers[i + 1];
                Layer *last = &m->layers[i + l->fuse_next];
                int pool = group_pool(last);
                be->batchnorm_act_pool_forward(x, l->w, l->b, last->y, train ? last->idx : NULL,
                                               l->save, l->save + l->C, l->rmean, l->rvar, train,
                                               B, l->C, l->H, l->W, NN_BN_MOMENTUM, NN_BN_EPS,
                                               a->act, pool, m->ws);
                i += l->fuse_next;
                l = last;
            } else if (train)
                be->batchnorm_forward_train(x, l->w, l->b, l->y, l->save, l->save + l->C, l->rmean,
                                            l->rvar, B, l->C, l->H * l->W, NN_BN_MOMENTUM,
                                            NN_BN_EPS);
            else
                be->batchnorm_forward_eval(x, l->w, l->b, l->rmean, l->rvar, l->y, B, l->C,
                                           l->H * l->W, NN_BN_EPS);
            break;
        case LAYER_ACT: be->act_forward(l->act, x, l->y, (size_t)B * l->out_size); break;
        case LAYER_DROPOUT:
            if (!train) {
                l = NULL; /* identity in eval mode: the next layer reads x */
            } else if (m->replay_masks) {
                be->mul(x, l->save, l->y, (size_t)B * l->out_size);
            } else {
                be->dropout_forward(x, l->y, l->save, (size_t)B * l->out_size, l->group, l->p,
                                    m->seed,
                                    rng_stream(RNG_STREAM_DROPOUT,
                                               (uint64_t)l->dropout_index << 40 | step));
            }
            break;
        }
        if (l) x = l->y;
        if (m->prof) prof_add(m, first, 0, &t0);
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

/* w -= lr (g + wd w) over n parameters: sgd_step with momentum 0. */
static void sgd_apply(const Backend *be, float *w, const float *g, size_t n, const SgdFuse *sgd)
{
    be->sgd_step(w, g, NULL, n, sgd->lr, 0.0f, sgd->wd, 0, 1);
}

/* The backward pass; with sgd, each layer's parameters are updated as soon
 * as its gradients are known (after its dx, which reads the old weights). */
static void backward_pass(Model *m, int B, const SgdFuse *sgd)
{
    const Backend *be = m->be;
    int cur = 0; /* m->g[cur] holds d(loss)/d(output of layer i) */
    double t0 = m->prof ? nn_now() : 0;
    for (int i = m->n_layers - 1; i >= 0; i--) {
        Layer *l = &m->layers[i];
        const float *dy = m->g[cur];
        const Layer *last = l;
        if (l->fused_head >= 0) { /* the group's fused op, from its last layer's gradient */
            i = l->fused_head;
            l = &m->layers[i];
        }
        /* the first layer's input is the image batch: no gradient needed */
        float *dx = i > 0 ? m->g[cur ^ 1] : NULL;
        size_t n = (size_t)B * l->out_size;
        switch (l->kind) {
        case LAYER_LINEAR:
            if (sgd && be->linear_backward_sgd && m->fused_sgd) {
                be->linear_backward_sgd(dy, l->x, l->w, l->b, dx, B, l->C, l->OC, sgd->lr,
                                        sgd->wd);
                break;
            }
            be->linear_backward(dy, l->x, l->w, dx, l->dw, l->db, B, l->C, l->OC);
            if (sgd) {
                sgd_apply(be, l->w, l->dw, (size_t)l->OC * l->C, sgd);
                sgd_apply(be, l->b, l->db, (size_t)l->OC, sgd);
            }
            break;
        case LAYER_CONV2D: {
            ConvShape s = conv_shape(l, B);
            if (l->fuse_bn) {
                Layer *bn = &m->layers[i + 1];
                int pool = group_pool(last);
                be->conv2d_backward_bn_act_pool(dy, last->y, last->idx, pool > 1 ? bn->y : NULL,
                                                bn->x, bn->w, bn->save, bn->save + bn->C, bn->dw,
                                                bn->db, l->x, l->w, dx, l->dw, l->db, &s,
                                                m->layers[i + 2].act, pool, m->ws);
                if (sgd) {
                    sgd_apply(be, bn->w, bn->dw, (size_t)bn->C, sgd);
                    sgd_apply(be, bn->b, bn->db, (size_t)bn->C, sgd);
                }
            } else if (last != l) {
                int pool = group_pool(last);
                be->conv2d_backward_act_pool(dy, last->y, last->idx, l->x, l->w, dx, l->dw, l->db,
                                             &s, m->layers[i + 1].act, pool, m->ws);
            } else {
                be->conv2d_backward(dy, l->x, l->w, dx, l->dw, l->db, &s, m->ws);
            }
            if (sgd) {
                sgd_apply(be, l->w, l->dw, (size_t)l->OC * l->C * l->K * l->K, sgd);
                sgd_apply(be, l->b, l->db, (size_t)l->OC, sgd);
            }
            break;
        }
        case LAYER_MAXPOOL2D: {
            if (!dx) break;
            PoolShape s = pool_shape(l, B);
            be->maxpool2d_backward(dy, l->idx, dx, &s);
            break;
        }
        case LAYER_BATCHNORM:
            /* dgamma/dbeta are needed even for a first layer: dx must be
             * written somewhere, so use the free buffer */
            if (last != l) {
                int pool = group_pool(last);
                be->batchnorm_act_pool_backward(dy, last->y, last->idx, l->x, l->w, l->save,
                                                l->save + l->C, m->g[cur ^ 1], l->dw, l->db, B,
                                                l->C, l->H, l->W, m->layers[i + 1].act, pool,
                                                m->ws);
            } else {
                be->batchnorm_backward(dy, l->x, l->w, l->save, l->save + l->C, m->g[cur ^ 1],
                                       l->dw, l->db, B, l->C, l->H * l->W);
            }
            if (sgd) {
                sgd_apply(be, l->w, l->dw, (size_t)l->C, sgd);
                sgd_apply(be, l->b, l->db, (size_t)l->C, sgd);
            }
            break;
        case LAYER_ACT:
            if (dx) be->act_backward(l->act, l->x, l->y, dy, dx, n);
            break;
        case LAYER_DROPOUT:
            if (dx) be->mul(dy, l->save, dx, n);
            break;
        }
        cur ^= 1;
        if (m->prof) prof_add(m, i, 1, &t0);
    }
    if (m->prof) m->prof_passes[1]++;
}

void model_backward(Model *m, int B) { backward_pass(m, B, NULL); }

void model_backward_sgd(Model *m, int B, float lr, float weight_decay)
{
    SgdFuse sgd = {lr, weight_decay};
    backward_pass(m, B, &sgd);
}
