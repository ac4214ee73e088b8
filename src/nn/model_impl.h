/* model_impl.h - the model's private structures, shared by model_plan.c
 * (layers, shapes, state layout), model.c (arenas, initialization, state),
 * model_steps.c (the layers as backend calls: fusion) and model_pass.c
 * (forward, loss, backward over the steps). */
#ifndef NNSWEEP_MODEL_IMPL_H
#define NNSWEEP_MODEL_IMPL_H

#include "nnsweep/model.h"

/* One layer. A plan's layers (model_plan_create) hold the kinds and shapes
 * only (views NULL); model_create copies them and fills the views. How the
 * layers run (which backend call computes which layers) is the model's
 * steps (Step, below), not the layers'. */
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
    size_t in_size, out_size; /* floats per image */
    /* views into the arenas (NULL where the layer has no such tensor) */
    float *w, *b;       /* weight/bias; batch norm: gamma/beta */
    float *dw, *db;
    float *rmean, *rvar; /* batch norm running statistics (C) */
    float *y;           /* (max_batch, OC, OH, OW) output (unused by a layer
                         * inside a fused step but for the step's own use:
                         * model_steps.c) */
    float *save;        /* batch norm: mean (C) then invstd (C); dropout: mask (max_batch, out_size) */
    int32_t *idx;       /* max pool: argmax (max_batch, OC, OH, OW) */
} Layer;

/* What one step of a pass runs: one backend call, or for a few kinds a
 * fixed short sequence (named below). model_steps.c builds the steps from
 * the layers once, at model_create; the one place where fusion is
 * decided. */
typedef enum StepKind {
    STEP_LINEAR,           /* linear_forward; linear_backward (with SGD:
                            * linear_backward_sgd, or sgd_step after it) */
    STEP_LINEAR_ACT,       /* linear + act: linear_forward_act; backward
                            * act_backward then linear_backward */
    STEP_CONV,             /* conv2d_forward; conv2d_backward */
    STEP_CONV_ACT_POOL,    /* conv + act (+ maxpool): conv2d_forward_act_pool;
                            * conv2d_backward_act_pool */
    STEP_CONV_BN_ACT_POOL, /* conv + batch norm 2d + act (+ maxpool): train
                            * conv2d_forward_bn_act_pool, evaluation
                            * conv2d_forward then batchnorm_act_pool_forward;
                            * conv2d_backward_bn_act_pool */
    STEP_BN,               /* batchnorm_forward_train / _eval; batchnorm_backward */
    STEP_BN_ACT_POOL,      /* batch norm 2d + act (+ maxpool):
                            * batchnorm_act_pool_forward; _backward */
    STEP_POOL,             /* maxpool2d_forward; maxpool2d_backward */
    STEP_ACT,              /* act_forward; act_backward */
    STEP_DROPOUT,          /* dropout_forward (mask replay: mul; evaluation:
                            * nothing, the next step reads the input); mul */
} StepKind;

/* A parameter tensor and its gradient, for the SGD applied during the
 * backward pass (model_backward_sgd). */
typedef struct StepParam {
    float *w, *g;
    size_t n;
} StepParam;

/* One step: its layers, its descriptor and every tensor it reads or
 * writes, resolved when the model is built. g.s is at max_batch (a pass
 * sets B); for a linear step it is the 1x1 conv shape (B, C, 1, 1) ->
 * (B, OC, 1, 1), for pooling, activation and dropout steps its input's
 * shape (C, H, W) -> (OC, OH, OW). t.x is set by each forward (the step's
 * input then, which its backward reads), t.dy, t.dx by each backward. */
typedef struct Step {
    StepKind kind;
    int first, n_layers;  /* the layers it computes: [first, first + n_layers) */
    FusedGroup g;
    FusedTensors t;
    size_t out_size;      /* floats per image of its output t.y */
    const Layer *l;       /* its first layer (dropout: rate, group, index) */
    float *mask;          /* dropout: (max_batch, out_size) */
    size_t ws_floats;     /* the workspace its ops need at max_batch */
    int n_params;
    StepParam params[4];  /* in update order */
} Step;

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
    int fused;              /* fused ops may run (NNSWEEP_FUSED is not 0) */
    int n_steps;
    Step *steps;            /* (n_steps), host: the passes' backend calls */
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

/* The steps of a model (model_steps.c), in two parts around the work
 * arena's placement: model_plan_steps sets m->fused and m->steps from
 * m->layers for m's backend (kinds, layers, descriptors, each step's
 * workspace need), model_bind_steps then each step's tensors and
 * parameters from the layers' views. */
void model_plan_steps(Model *m);
void model_bind_steps(Model *m);

#endif
