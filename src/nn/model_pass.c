/* model_pass.c - forward pass, loss and backward pass over the layer list.
 * Everything runs on the model's backend into memory allocated by
 * model_create: nothing is allocated here. */
#include "model_impl.h"
#include "nnsweep/rng.h"

static ConvShape conv_shape(const Layer *l, int B)
{
    return (ConvShape){B, l->C, l->H, l->W, l->OC, l->K, l->pad, l->OH, l->OW};
}

static PoolShape pool_shape(const Layer *l, int B)
{
    return (PoolShape){B, l->C, l->H, l->W, l->P, l->OH, l->OW};
}

void model_forward(Model *m, int B, int train, uint64_t step)
{
    NN_CHECK(B >= 1 && B <= m->max_batch, "batch %d outside 1..%d", B, m->max_batch);
    const Backend *be = m->be;
    const float *x = m->input; /* (B, 3, 32, 32) */
    for (int i = 0; i < m->n_layers; i++) {
        Layer *l = &m->layers[i];
        l->x = x;
        switch (l->kind) {
        case LAYER_LINEAR: be->linear_forward(x, l->w, l->b, l->y, B, l->C, l->OC); break;
        case LAYER_CONV2D: {
            ConvShape s = conv_shape(l, B);
            be->conv2d_forward(x, l->w, l->b, l->y, &s, m->ws);
            break;
        }
        case LAYER_MAXPOOL2D: {
            PoolShape s = pool_shape(l, B);
            be->maxpool2d_forward(x, l->y, train ? l->idx : NULL, &s);
            break;
        }
        case LAYER_BATCHNORM:
            if (train)
                be->batchnorm_forward_train(x, l->w, l->b, l->y, l->save, l->save + l->C, l->rmean,
                                            l->rvar, B, l->C, l->H * l->W, NN_BN_MOMENTUM,
                                            NN_BN_EPS);
            else
                be->batchnorm_forward_eval(x, l->w, l->b, l->rmean, l->rvar, l->y, B, l->C,
                                           l->H * l->W, NN_BN_EPS);
            break;
        case LAYER_ACT: be->act_forward(l->act, x, l->y, (size_t)B * l->out_size); break;
        case LAYER_DROPOUT:
            if (!train) continue; /* identity in eval mode: the next layer reads x */
            if (m->replay_masks)
                be->mul(x, l->save, l->y, (size_t)B * l->out_size);
            else
                be->dropout_forward(x, l->y, l->save, (size_t)B * l->out_size, l->group, l->p,
                                    (uint64_t)m->cfg.seed,
                                    rng_stream(RNG_STREAM_DROPOUT,
                                               (uint64_t)l->dropout_index << 40 | step));
            break;
        }
        x = l->y;
    }
    m->logits = x;
}

void model_loss(Model *m, int B, float label_smoothing, int grad, double *acc)
{
    m->be->softmax_xent(m->logits, m->labels, B, NN_N_CLASSES, label_smoothing,
                        grad ? m->g[0] : NULL, acc);
}

void model_backward(Model *m, int B)
{
    const Backend *be = m->be;
    int cur = 0; /* m->g[cur] holds d(loss)/d(output of layer i) */
    for (int i = m->n_layers - 1; i >= 0; i--) {
        Layer *l = &m->layers[i];
        const float *dy = m->g[cur];
        /* the first layer's input is the image batch: no gradient needed */
        float *dx = i > 0 ? m->g[cur ^ 1] : NULL;
        size_t n = (size_t)B * l->out_size;
        switch (l->kind) {
        case LAYER_LINEAR:
            be->linear_backward(dy, l->x, l->w, dx, l->dw, l->db, B, l->C, l->OC);
            break;
        case LAYER_CONV2D: {
            ConvShape s = conv_shape(l, B);
            be->conv2d_backward(dy, l->x, l->w, dx, l->dw, l->db, &s, m->ws);
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
            be->batchnorm_backward(dy, l->x, l->w, l->save, l->save + l->C, m->g[cur ^ 1], l->dw,
                                   l->db, B, l->C, l->H * l->W);
            break;
        case LAYER_ACT:
            if (dx) be->act_backward(l->act, l->x, l->y, dy, dx, n);
            break;
        case LAYER_DROPOUT:
            if (dx) be->mul(dy, l->save, dx, n);
            break;
        }
        cur ^= 1;
    }
}
