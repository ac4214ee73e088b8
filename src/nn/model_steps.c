/* model_steps.c - the layers as backend calls: the model's steps (Step,
 * model_impl.h), built once by model_create. step_kind is the one place
 * where fusion is decided: where the backend has a fused op (backend.h,
 * "fused ops") for a layer and the ones after it, one step runs them all;
 * a NULL table entry means the plain ops, one step per layer, which compute
 * the same thing (which path ran never shows in the results beyond float
 * rounding). NNSWEEP_FUSED=0 runs the plain ops only, to measure what
 * fusion brings (bench/README.md).
 */
#include <stdlib.h>

#include "model_impl.h"

/* An activation whose backward can be computed from its output alone:
 * relu, tanh, sigmoid use y; leaky ReLU uses x > 0, which is y > 0. GELU
 * needs its input, which a fused op does not keep. */
static int act_from_output(ActKind k) { return k != ACT_GELU; }

static const Layer *layer_at(const Model *m, int i)
{
    return i < m->n_layers ? &m->layers[i] : NULL;
}

/* Layer i is an activation that a fused op can compute. */
static int fusable_act(const Model *m, int i)
{
    const Layer *l = layer_at(m, i);
    return l && l->kind == LAYER_ACT && act_from_output(l->act);
}

/* Layers of the activation at i and the max pool after it, if any. */
static int act_pool_layers(const Model *m, int i)
{
    const Layer *p = layer_at(m, i + 1);
    return p && p->kind == LAYER_MAXPOOL2D ? 2 : 1;
}

/* Layer i is a batch norm 2d that the backend runs with the activation
 * (and max pool) after it. */
static int bn_group_at(const Model *m, int i)
{
    const Backend *be = m->be;
    const Layer *l = layer_at(m, i);
    return l && l->kind == LAYER_BATCHNORM && l->H * l->W > 1 && fusable_act(m, i + 1) &&
           be->batchnorm_act_pool_forward && be->batchnorm_act_pool_backward &&
           be->batchnorm_act_pool_workspace_floats;
}

/* The kind of the step that starts at layer i, and in *n how many layers
 * it computes. */
static StepKind step_kind(const Model *m, int i, int *n)
{
    const Backend *be = m->be;
    const Layer *l = &m->layers[i];
    *n = 1;
    if (m->fused && l->kind == LAYER_LINEAR && fusable_act(m, i + 1) && be->linear_forward_act) {
        *n = 2; /* forward only: the backward runs act, then linear */
        return STEP_LINEAR_ACT;
    }
    if (m->fused && l->kind == LAYER_CONV2D && fusable_act(m, i + 1) &&
        be->conv2d_forward_act_pool && be->conv2d_backward_act_pool) {
        *n = 1 + act_pool_layers(m, i + 1);
        return STEP_CONV_ACT_POOL;
    }
    if (m->fused && l->kind == LAYER_CONV2D && bn_group_at(m, i + 1) &&
        be->conv2d_forward_bn_act_pool && be->conv2d_backward_bn_act_pool) {
        *n = 2 + act_pool_layers(m, i + 2);
        return STEP_CONV_BN_ACT_POOL;
    }
    if (m->fused && bn_group_at(m, i)) {
        *n = 1 + act_pool_layers(m, i + 1);
        return STEP_BN_ACT_POOL;
    }
    switch (l->kind) {
    case LAYER_LINEAR: return STEP_LINEAR;
    case LAYER_CONV2D: return STEP_CONV;
    case LAYER_MAXPOOL2D: return STEP_POOL;
    case LAYER_BATCHNORM: return STEP_BN;
    case LAYER_ACT: return STEP_ACT;
    case LAYER_DROPOUT: break;
    }
    return STEP_DROPOUT;
}

/* The descriptor of a step at max_batch (B): the shape of its first
 * layer (a linear one as a 1x1 conv), the activation and pooling of its
 * group. */
static FusedGroup step_group(const Model *m, const Step *st)
{
    const Layer *l = st->l, *last = &m->layers[st->first + st->n_layers - 1];
    FusedGroup g = {{m->max_batch, l->C, l->H, l->W, l->OC, l->K, l->pad, l->OH, l->OW},
                    l->act, 1, NN_BN_MOMENTUM, NN_BN_EPS};
    if (l->kind == LAYER_BATCHNORM) g.s.K = 1; /* a batch norm group: C = OC, H = OH, W = OW */
    if (l->kind == LAYER_MAXPOOL2D) g.pool = l->P;
    for (int i = st->first + 1; i < st->first + st->n_layers; i++)
        if (m->layers[i].kind == LAYER_ACT) g.act = m->layers[i].act;
    if (st->n_layers > 1 && last->kind == LAYER_MAXPOOL2D) g.pool = last->P;
    return g;
}

static size_t step_workspace_floats(const Backend *be, const Step *st)
{
    switch (st->kind) {
    case STEP_CONV:
    case STEP_CONV_ACT_POOL: return be->conv2d_workspace_floats(&st->g.s);
    case STEP_CONV_BN_ACT_POOL: return conv2d_bn_workspace_floats(be, &st->g);
    case STEP_BN_ACT_POOL: return be->batchnorm_act_pool_workspace_floats(&st->g);
    default: return 0;
    }
}

void model_plan_steps(Model *m)
{
    const char *env = getenv("NNSWEEP_FUSED");
    m->fused = !(env && env[0] == '0');
    m->steps = nn_calloc((size_t)(m->n_layers ? m->n_layers : 1), sizeof *m->steps);
    m->n_steps = 0;
    int i = 0;
    while (i < m->n_layers) {
        Step *st = &m->steps[m->n_steps++];
        st->kind = step_kind(m, i, &st->n_layers);
        st->first = i;
        st->l = &m->layers[i];
        st->g = step_group(m, st);
        st->out_size = m->layers[i + st->n_layers - 1].out_size;
        st->ws_floats = step_workspace_floats(m->be, st);
        i += st->n_layers;
    }
}

static void add_param(Step *st, float *w, float *g, size_t n)
{
    NN_CHECK(st->n_params < (int)(sizeof st->params / sizeof *st->params), "step of layer %s",
             st->l->name);
    st->params[st->n_params++] = (StepParam){w, g, n};
}

/* The tensors of a batch norm layer into t, its parameters into st. */
static void bind_batchnorm(Step *st, const Layer *bn)
{
    FusedTensors *t = &st->t;
    t->gamma = bn->w;
    t->beta = bn->b;
    t->running_mean = bn->rmean;
    t->running_var = bn->rvar;
    t->save_mean = bn->save;
    t->save_invstd = bn->save + bn->C;
    t->dgamma = bn->dw;
    t->dbeta = bn->db;
    add_param(st, bn->w, bn->dw, (size_t)bn->C);
    add_param(st, bn->b, bn->db, (size_t)bn->C);
}

/* The weight and bias of a linear or conv layer into t, its parameters
 * into st. */
static void bind_weights(Step *st, const Layer *l)
{
    FusedTensors *t = &st->t;
    t->w = l->w;
    t->b = l->b;
    t->dw = l->dw;
    t->db = l->db;
    add_param(st, l->w, l->dw, (size_t)l->OC * l->C * (l->kind == LAYER_CONV2D ? l->K * l->K : 1));
    add_param(st, l->b, l->db, (size_t)l->OC);
}

void model_bind_steps(Model *m)
{
    for (int i = 0; i < m->n_steps; i++) {
        Step *st = &m->steps[i];
        const Layer *l = st->l, *last = &m->layers[st->first + st->n_layers - 1];
        FusedTensors *t = &st->t;
        *t = (FusedTensors){.y = last->y, .idx = last->idx, .ws = m->ws};
        st->n_params = 0;
        switch (st->kind) {
        case STEP_LINEAR:
        case STEP_LINEAR_ACT:
        case STEP_CONV:
        case STEP_CONV_ACT_POOL: bind_weights(st, l); break;
        case STEP_CONV_BN_ACT_POOL: {
            /* z: the conv's own output; zp (z where the pooling took its
             * max): the batch norm's output buffer, which the step does
             * not use otherwise */
            const Layer *bn = &m->layers[st->first + 1];
            bind_batchnorm(st, bn);
            bind_weights(st, l);
            t->z = l->y;
            t->zp = st->g.pool > 1 ? bn->y : NULL;
            break;
        }
        case STEP_BN:
        case STEP_BN_ACT_POOL: bind_batchnorm(st, l); break;
        case STEP_DROPOUT: st->mask = l->save; break;
        case STEP_POOL:
        case STEP_ACT: break;
        }
    }
}
