/* ref_fused.c - the fused ops of the reference backend (backend.h, "fused
 * ops"): each is the sequence of plain ref ops (ref.c) it is specified by,
 * with the intermediate tensors in the workspace.
 * They are the specification the other backends' fused ops are tested
 * against (tests/unit/backend_fused_tests.h), and are checked themselves
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

/* The backward of act + (pool > 1) max pool over (B, C, H, W), from dy and
 * y of the pooled output: maxpool2d_backward_ref, then act_backward_ref.
 * The activation's output is put back where each window took its max (the
 * same maxpool2d_backward_ref applied to y) and is 0 elsewhere, where the
 * incoming gradient is 0 too; the activation's input is taken to be its
 * output, which act_backward accepts for every kind but GELU. Returns the
 * gradient of the activation's input, the first of ws's two (B, C, H, W)
 * tensors. */
static float *act_pool_backward(const float *dy, const float *y, const int32_t *idx, int B, int C,
                                int H, int W, ActKind act, int pool, float *ws)
{
    size_t n = (size_t)B * C * H * W;
    float *d = ws, *y_full = ws + n;
    if (pool > 1) {
        PoolShape ps = {B, C, H, W, pool, H / pool, W / pool};
        maxpool2d_backward_ref(dy, idx, d, &ps);
        maxpool2d_backward_ref(y, idx, y_full, &ps);
    } else {
        memcpy(d, dy, n * sizeof(float));
        memcpy(y_full, y, n * sizeof(float));
    }
    act_backward_ref(act, y_full, y_full, d, d, n);
    return d;
}

/* conv2d_forward_ref, act_forward_ref in place, then (pool > 1)
 * maxpool2d_forward_ref; the intermediate tensor in ws. */
void conv2d_forward_act_pool_ref(const float *x, const float *w, const float *bias, float *y,
                                 int32_t *idx, const ConvShape *s, ActKind act, int pool, float *ws)
{
    size_t n = (size_t)s->B * s->OC * s->OH * s->OW;
    float *t = pool > 1 ? ws : y; /* (B, OC, OH, OW) */
    conv2d_forward_ref(x, w, bias, t, s, NULL);
    act_forward_ref(act, t, t, n);
    if (pool > 1) {
        PoolShape ps = {s->B, s->OC, s->OH, s->OW, pool, s->OH / pool, s->OW / pool};
        maxpool2d_forward_ref(t, y, idx, &ps);
    }
}

/* act_pool_backward, then conv2d_backward_ref. */
void conv2d_backward_act_pool_ref(const float *dy, const float *y, const int32_t *idx,
                                  const float *x, const float *w, float *dx, float *dw, float *db,
                                  const ConvShape *s, ActKind act, int pool, float *ws)
{
    float *d = act_pool_backward(dy, y, idx, s->B, s->OC, s->OH, s->OW, act, pool, ws);
    conv2d_backward_ref(d, x, w, dx, dw, db, s, NULL);
}

/* Two tensors of (B, C, H, W) for the intermediate results below. */
size_t batchnorm_act_pool_workspace_floats_ref(int B, int C, int H, int W)
{
    return 2 * (size_t)B * C * H * W;
}

/* batchnorm_forward_train_ref (or _eval_ref), act_forward_ref in place,
 * then (pool > 1) maxpool2d_forward_ref. */
void batchnorm_act_pool_forward_ref(const float *x, const float *gamma, const float *beta, float *y,
                                    int32_t *idx, float *save_mean, float *save_invstd,
                                    float *running_mean, float *running_var, int train, int B,
                                    int C, int H, int W, float momentum, float eps, ActKind act,
                                    int pool, float *ws)
{
    size_t n = (size_t)B * C * H * W;
    float *t = pool > 1 ? ws : y; /* (B, C, H, W) */
    if (train)
        batchnorm_forward_train_ref(x, gamma, beta, t, save_mean, save_invstd, running_mean,
                                   running_var, B, C, H * W, momentum, eps);
    else
        batchnorm_forward_eval_ref(x, gamma, beta, running_mean, running_var, t, B, C, H * W, eps);
    act_forward_ref(act, t, t, n);
    if (pool > 1) {
        PoolShape ps = {B, C, H, W, pool, H / pool, W / pool};
        maxpool2d_forward_ref(t, y, idx, &ps);
    }
}

/* act_pool_backward, then batchnorm_backward_ref. */
void batchnorm_act_pool_backward_ref(const float *dy, const float *y, const int32_t *idx,
                                     const float *x, const float *gamma, const float *save_mean,
                                     const float *save_invstd, float *dx, float *dgamma,
                                     float *dbeta, int B, int C, int H, int W, ActKind act,
                                     int pool, float *ws)
{
    float *d = act_pool_backward(dy, y, idx, B, C, H, W, act, pool, ws);
    batchnorm_backward_ref(d, x, gamma, save_mean, save_invstd, dx, dgamma, dbeta, B, C, H * W);
}

/* batchnorm_act_pool_backward_ref into dz (the first tensor of ws), then
 * conv2d_backward_ref(dz); z is read where zp was taken (zp unused). */
void conv2d_backward_bn_act_pool_ref(const float *dy, const float *y, const int32_t *idx,
                                     const float *zp, const float *z, const float *gamma,
                                     const float *save_mean, const float *save_invstd,
                                     float *dgamma, float *dbeta, const float *x, const float *w,
                                     float *dx, float *dw, float *db, const ConvShape *s,
                                     ActKind act, int pool, float *ws)
{
    (void)zp;
    float *dz = ws;
    batchnorm_act_pool_backward_ref(dy, y, idx, z, gamma, save_mean, save_invstd, dz, dgamma,
                                   dbeta, s->B, s->OC, s->OH, s->OW, act, pool,
                                   dz + (size_t)s->B * s->OC * s->OH * s->OW);
    conv2d_backward_ref(dz, x, w, dx, dw, db, s, NULL);
}

/* conv2d_forward_ref into z, then batchnorm_act_pool_forward_ref (train);
 * zp[t] = z at idx[t] of the same plane. */
void conv2d_forward_bn_act_pool_ref(const float *x, const float *w, const float *b, float *z,
                                    const float *gamma, const float *beta, float *y, int32_t *idx,
                                    float *zp, float *save_mean, float *save_invstd,
                                    float *running_mean, float *running_var, const ConvShape *s,
                                    float momentum, float eps, ActKind act, int pool, float *ws)
{
    conv2d_forward_ref(x, w, b, z, s, NULL);
    batchnorm_act_pool_forward_ref(z, gamma, beta, y, idx, save_mean, save_invstd, running_mean,
                                  running_var, 1, s->B, s->OC, s->OH, s->OW, momentum, eps, act,
                                  pool, ws);
    if (pool == 1) return;
    size_t P = (size_t)s->OH * s->OW, yp = (size_t)(s->OH / pool) * (s->OW / pool);
    for (size_t plane = 0; plane < (size_t)s->B * s->OC; plane++)
        for (size_t t = 0; t < yp; t++)
            zp[plane * yp + t] = z[plane * P + (size_t)idx[plane * yp + t]];
}
