/* ref_fused.c - the fused ops of the reference backend (backend.h, "fused
 * ops"): each is the sequence of plain ref ops (ref.c) it is specified by,
 * with the intermediate tensors in the workspace.
 * They are the specification the other backends' fused ops are tested
 * against (tests/unit/backend_ops_fused.c), and are checked themselves
 * against the same sequence written out in the test.
 */
#include <string.h>

#include "backend/ref/ref.h"

/* linear_forward_ref, then act_forward_ref on y in place */
void linear_forward_act_ref(const float *x, const float *w, const float *bias, float *y, int B,
                            int C, int OC, ActKind act)
{
    linear_forward_ref(x, w, bias, y, B, C, OC);
    act_forward_ref(act, y, y, (size_t)B * OC);
}

/* linear_backward_ref, then sgd_step_ref (momentum 0) element by element:
 * each gradient is computed as linear_backward_ref computes it and used at
 * once, so no gradient array is needed. dx first, from w before the update. */
void linear_backward_sgd_ref(const float *dy /* (B, OC) */, const float *x /* (B, C) */,
                             float *w /* (OC, C) */, float *bias /* (OC) */, float *dx /* (B, C) */,
                             int B, int C, int OC, float lr, float wd)
{
    if (dx) linear_backward_dx_ref(dy, w, dx, B, C, OC);
    for (int o = 0; o < OC; o++) {
        for (int c = 0; c < C; c++) {
            double acc = 0.0;
            for (int b = 0; b < B; b++)
                acc += (double)dy[(size_t)b * OC + o] * x[(size_t)b * C + c];
            float g = (float)acc;
            sgd_step_ref(&w[(size_t)o * C + c], &g, NULL, 1, lr, 0.0f, wd, 0, 1);
        }
        double acc = 0.0;
        for (int b = 0; b < B; b++) acc += dy[(size_t)b * OC + o];
        float g = (float)acc;
        sgd_step_ref(&bias[o], &g, NULL, 1, lr, 0.0f, wd, 0, 1);
    }
}

/* The conv's output (B, OC, OH, OW), over which the batch norm, the
 * activation and the pooling of a group run, and the pooling's shape. */
static size_t group_out_floats(const FusedGroup *g)
{
    return (size_t)g->s.B * g->s.OC * g->s.OH * g->s.OW;
}

static PoolShape group_pool_shape(const FusedGroup *g)
{
    const ConvShape *s = &g->s;
    return (PoolShape){s->B, s->OC, s->OH, s->OW, g->pool, s->OH / g->pool, s->OW / g->pool};
}

/* act_forward_ref on t (B, OC, OH, OW) in place, then (pool > 1)
 * maxpool2d_forward_ref of t into y and idx. */
static void act_pool_forward(const FusedGroup *g, float *t, float *y, int32_t *idx)
{
    act_forward_ref(g->act, t, t, group_out_floats(g));
    if (g->pool > 1) {
        PoolShape ps = group_pool_shape(g);
        maxpool2d_forward_ref(t, y, idx, &ps);
    }
}

/* The backward of act + (pool > 1) max pool over (B, OC, OH, OW), from dy
 * and y of the pooled output: maxpool2d_backward_ref, then
 * act_backward_ref. The activation's output is put back where each window
 * took its max (the same maxpool2d_backward_ref applied to y) and is 0
 * elsewhere, where the incoming gradient is 0 too; the activation's input
 * is taken to be its output, which act_backward accepts for every kind but
 * GELU. Returns the gradient of the activation's input, the first of ws's
 * two (B, OC, OH, OW) tensors. */
static float *act_pool_backward(const FusedGroup *g, const FusedTensors *t, float *ws)
{
    size_t n = group_out_floats(g);
    float *d = ws, *y_full = ws + n;
    if (g->pool > 1) {
        PoolShape ps = group_pool_shape(g);
        maxpool2d_backward_ref(t->dy, t->idx, d, &ps);
        maxpool2d_backward_ref(t->y, t->idx, y_full, &ps);
    } else {
        memcpy(d, t->dy, n * sizeof(float));
        memcpy(y_full, t->y, n * sizeof(float));
    }
    act_backward_ref(g->act, y_full, y_full, d, d, n);
    return d;
}

/* conv2d_forward_ref, then act_pool_forward; the intermediate tensor in
 * ws when pooling, else y itself. */
void conv2d_forward_act_pool_ref(const FusedGroup *g, const FusedTensors *t)
{
    float *c = g->pool > 1 ? t->ws : t->y; /* (B, OC, OH, OW) */
    conv2d_forward_ref(t->x, t->w, t->b, c, &g->s, NULL);
    act_pool_forward(g, c, t->y, t->idx);
}

/* act_pool_backward, then conv2d_backward_ref. */
void conv2d_backward_act_pool_ref(const FusedGroup *g, const FusedTensors *t)
{
    float *d = act_pool_backward(g, t, t->ws);
    conv2d_backward_ref(d, t->x, t->w, t->dx, t->dw, t->db, &g->s, NULL);
}

/* Two tensors of (B, OC, OH, OW) for the intermediate results below. */
size_t batchnorm_act_pool_workspace_floats_ref(const FusedGroup *g)
{
    return 2 * group_out_floats(g);
}

/* batchnorm_forward_train_ref (or _eval_ref), then act_pool_forward. */
void batchnorm_act_pool_forward_ref(const FusedGroup *g, const FusedTensors *t, int train)
{
    const ConvShape *s = &g->s;
    int HW = s->OH * s->OW;
    float *n = g->pool > 1 ? t->ws : t->y; /* (B, OC, OH, OW) */
    if (train)
        batchnorm_forward_train_ref(t->x, t->gamma, t->beta, n, t->save_mean, t->save_invstd,
                                    t->running_mean, t->running_var, s->B, s->OC, HW,
                                    g->momentum, g->eps);
    else
        batchnorm_forward_eval_ref(t->x, t->gamma, t->beta, t->running_mean, t->running_var, n,
                                   s->B, s->OC, HW, g->eps);
    act_pool_forward(g, n, t->y, t->idx);
}

/* act_pool_backward, then batchnorm_backward_ref. */
void batchnorm_act_pool_backward_ref(const FusedGroup *g, const FusedTensors *t)
{
    const ConvShape *s = &g->s;
    float *d = act_pool_backward(g, t, t->ws);
    batchnorm_backward_ref(d, t->x, t->gamma, t->save_mean, t->save_invstd, t->dx, t->dgamma,
                           t->dbeta, s->B, s->OC, s->OH * s->OW);
}

/* batchnorm_act_pool_backward_ref over z into dz (the first tensor of ws),
 * then conv2d_backward_ref(dz); z is read where zp was taken (zp unused). */
void conv2d_backward_bn_act_pool_ref(const FusedGroup *g, const FusedTensors *t)
{
    float *dz = t->ws;
    FusedTensors bn = *t; /* the batch norm's part: input z, gradient dz */
    bn.x = t->z;
    bn.dx = dz;
    bn.ws = dz + group_out_floats(g);
    batchnorm_act_pool_backward_ref(g, &bn);
    conv2d_backward_ref(dz, t->x, t->w, t->dx, t->dw, t->db, &g->s, NULL);
}

/* conv2d_forward_ref into z, then batchnorm_act_pool_forward_ref (train)
 * on z; zp[t] = z at idx[t] of the same plane. */
void conv2d_forward_bn_act_pool_ref(const FusedGroup *g, const FusedTensors *t)
{
    const ConvShape *s = &g->s;
    conv2d_forward_ref(t->x, t->w, t->b, t->z, s, NULL);
    FusedTensors bn = *t; /* the batch norm's part: input z */
    bn.x = t->z;
    batchnorm_act_pool_forward_ref(g, &bn, 1);
    if (g->pool == 1) return;
    size_t P = (size_t)s->OH * s->OW, yp = (size_t)(s->OH / g->pool) * (s->OW / g->pool);
    for (size_t plane = 0; plane < (size_t)s->B * s->OC; plane++)
        for (size_t k = 0; k < yp; k++)
            t->zp[plane * yp + k] = t->z[plane * P + (size_t)t->idx[plane * yp + k]];
}
