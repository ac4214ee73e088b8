/* model_impl.h - the model's private structures, shared by model_plan.c
 * (layers, shapes, state layout), model.c (arenas, initialization, state)
 * and model_pass.c (forward, loss, backward). */
#ifndef NNSWEEP_MODEL_IMPL_H
#define NNSWEEP_MODEL_IMPL_H

#include "nnsweep/model.h"

/* One layer. A plan's layers (model_plan_create) hold the kinds and shapes
 * only: fusion fields 0 (fused_head -1) and views NULL. model_create copies
 * them and fills the rest. */
typedef struct Layer {
    LayerKind kind;
    char name[32];      /* block name: "conv0", "fc1", "out" */
    int C, H, W;        /* input per image (linear: C features, H = W = 1) */
    int OC, OH, OW;     /* output per image */
    int K, pad, P;      /* conv kernel and padding; pool size */
    ActKind act;
    float p;            /* dropout rate */
    int group;          /* dropout: values per draw (1, or H*W for dropout2d) */
    int dropout_index;  /* dropout: rank among dropout layers (rng stream) */
    int first_tensor;   /* index of its first TensorInfo; -1 if none */
    /* fused ops (model_pass.c, set by model_create from the backend):
     * fuse_next: how many of the following layers this layer's forward op
     * also computes (linear + act; conv or batch norm 2d + act (+ maxpool));
     * fused_head: for a layer whose backward is done by an earlier layer's
     * fused op, that layer's index (the conv or batch norm of a group of
     * conv/bn + act + pool, or the conv before a batch norm group), else -1;
     * fuse_bn: a conv whose backward also does the batch norm + act (+
     * maxpool) group after it (conv2d_backward_bn_act_pool), and whose
     * train forward does too (conv2d_forward_bn_act_pool; evaluation: the
     * two ops) */
    int fuse_next, fused_head, fuse_bn;
    size_t in_size, out_size; /* floats per image */
    /* views into the arenas (NULL where the layer has no such tensor) */
    float *w, *b;       /* weight/bias; batch norm: gamma/beta */
    float *dw, *db;
    float *rmean, *rvar; /* batch norm running statistics (C) */
    float *y;           /* (max_batch, OC, OH, OW) output; a batch norm whose conv
                         * does its group's ops (fuse_bn): z at the pooled maxima */
    float *save;        /* batch norm: mean (C) then invstd (C); dropout: mask (max_batch, out_size) */
    int32_t *idx;       /* max pool: argmax (max_batch, OC, OH, OW) */
    const float *x;     /* input of the last forward pass (backend memory) */
} Layer;

struct Model {
    const Backend *be;
    uint64_t seed;          /* the plan's: dropout draws */
    int max_batch;
    int n_layers;
    Layer *layers;          /* (n_layers), host: a copy of the plan's, with views */
    int n_tensors;
    TensorInfo *tensors;    /* (n_tensors), host: a copy of the plan's table */
    size_t n_params, n_state;
    int replay_masks;
    int fused_sgd;          /* linear_backward_sgd may be used (model_plan_fusion) */
    /* backend memory */
    float *state;           /* (n_state) params, then buffers */
    float *grads;           /* (n_params) */
    void *work;             /* the work arena as allocated; the views below
                             * (and the layers' y, save, idx) lie in it, each
                             * at a NN_MODEL_ALIGN boundary (model.c) */
    float *input;           /* (max_batch, 3, 32, 32) */
    int32_t *labels;        /* (max_batch) */
    float *g[2];            /* (max_batch, max_act) ping-pong gradients */
    float *ws;              /* (ws_floats) conv workspace; NULL when 0 */
    const float *logits;    /* output of the last layer in the last forward */
    size_t ws_floats, max_act;
    /* model_profile: seconds per layer, forward and backward (host,
     * (n_layers, 2)); NULL when profiling is off */
    double *prof;
    long prof_passes[2];
};

/* Floats per image of max_batch of the layer outputs, dropout masks and
 * max-pool argmaxes; *max_act gets the largest layer output (or input
 * image) per image (model_plan.c). */
size_t model_act_floats_per_image(const Layer *layers, int n_layers, size_t *max_act);

/* Sets fuse_next, fused_head and fuse_bn of every layer for the fused ops that the
 * model's backend has (model_pass.c). */
void model_plan_fusion(Model *m);

#endif
