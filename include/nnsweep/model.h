/* model.h - MLPs and CNNs: described by a ModelSpec, planned once
 * (ModelPlan: layers, shapes, state layout, sizes), built on one backend
 * (Model).
 *
 *   mlp: flatten -> [linear -> batchnorm1d? -> act -> dropout?] x hidden
 *        -> linear(10)
 *   cnn: [conv -> batchnorm2d? -> act -> maxpool -> dropout2d?] x conv
 *        -> flatten -> [linear -> batchnorm1d? -> act -> dropout?] x hidden
 *        -> linear(10)
 *
 * The plan is the one place of the shape arithmetic: a run computes it
 * once (run_plan_create, train.h) and hands it to validation, the sweep's
 * cost, the results file's layout, the evaluation batch size, model_create
 * and model_plan_describe.
 *
 * Memory (STYLE.md): one arena for the state (every parameter, then every
 * batch-norm buffer), one for gradients (same layout as the parameters),
 * one work arena for the rest (the input batch and its labels, every
 * layer's output and saved tensors, the two ping-pong gradient buffers,
 * the conv workspace); all allocated by model_create through the backend,
 * so that a training step allocates nothing. Layers hold views into the
 * arenas. Every view of the work arena starts at a NN_MODEL_ALIGN-byte
 * boundary whatever the layer widths (cuDNN and cuBLAS want it; the arena
 * is sized for the padding). The state and gradients are not padded: their
 * tensors lie contiguous, in floats, at the offsets of the TensorInfo
 * table (the layout of model_get_state, the results file, MPI and the
 * parity fixtures), so a parameter's view is only float-aligned.
 *
 * Initialization is PyTorch's default (torch.nn.Linear / Conv2d
 * reset_parameters: kaiming_uniform(a=sqrt(5)) for weights, which is
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same bound for biases;
 * batch norm gamma 1, beta 0, running mean 0, running var 1).
 */
#ifndef NNSWEEP_MODEL_H
#define NNSWEEP_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "nnsweep/backend.h"
#include "nnsweep/core.h"
#include "nnsweep/tensor.h"

#define NN_N_CLASSES 10
#define NN_BN_MOMENTUM 0.1f
#define NN_BN_EPS 1e-5f

typedef enum LayerKind {
    LAYER_LINEAR = 0,
    LAYER_CONV2D,
    LAYER_MAXPOOL2D,
    LAYER_BATCHNORM,
    LAYER_ACT,
    LAYER_DROPOUT,
} LayerKind;

/* Alignment in bytes of every view of the model's work arena. */
#define NN_MODEL_ALIGN 256

/* What a model is: nn's own small config (run_plan_create fills it from a
 * run config). The arrays are borrowed: they must live as long as the spec
 * is used (model_plan_create copies what it needs). */
typedef struct ModelSpec {
    int n_conv;                /* conv blocks; 0 = an MLP */
    const int *conv_channels;  /* (n_conv) output channels of each conv block */
    int kernel_size, padding, pool_size; /* of every conv block (pool 1: none) */
    int n_hidden;
    const int *hidden_widths;  /* (n_hidden) widths of the hidden linear layers */
    ActKind activation;
    int batchnorm;             /* after every conv and hidden linear layer */
    float dropout;             /* rate; dropout2d after conv blocks; 0 = none */
    uint64_t seed;             /* initialization and dropout draws */
} ModelSpec;

/* The shape inference of a spec, computed once: read-only for its users,
 * owned by whoever created it (model_plan_free). The conv workspace is not
 * in it: its size depends on the backend and on which fused ops that
 * backend has, so model_create sizes it from the plan's shapes. */
typedef struct ModelPlan {
    int n_layers;
    struct Layer *layers;    /* (n_layers) kinds and shapes, private to nn
                              * (src/nn/model_impl.h) */
    int n_tensors;
    TensorInfo *tensors;     /* (n_tensors) in state order: every parameter
                              * in layer order, then every buffer */
    size_t n_params;         /* trainable floats (tensors with is_buffer 0) */
    size_t n_state;          /* params + buffers */
    /* Flops of one training step per image: 2 x 3 x the multiply-adds of
     * the conv and linear layers' forward pass (forward, dx, dw), for
     * scheduling the most expensive runs first and for reports. */
    double train_flops_per_image;
    /* Backend memory per image of a model's max_batch: layer outputs,
     * dropout masks and max-pool argmaxes, the two gradient buffers, the
     * input and the label (not the workspace, the batch-norm statistics
     * nor the alignment padding, which do not grow with the batch): for
     * choosing an evaluation batch that fits a memory budget. */
    size_t bytes_per_image;
    uint64_t seed;           /* the spec's seed */
} ModelPlan;

typedef struct Model Model;

/* Plans the model of spec s: *out owned by the caller (model_plan_free).
 * NN_ERR_INPUT when s gives an impossible shape (a feature map below 1x1:
 * the message starts "conv_layers: " and names the layer and sizes). */
NnStatus model_plan_create(const ModelSpec *s, ModelPlan **out, NnError *err);
void model_plan_free(ModelPlan *p); /* accepts NULL */

/* One line per layer with output shapes and parameter counts, and the
 * totals (for `nnsweep train`); the text is appended to out. */
void model_plan_describe(const ModelPlan *p, NnBuf *out);

/* Builds the model of plan p on backend be for batches of up to max_batch
 * images and initializes it from p->seed. The model copies what it needs
 * of p (p may be freed afterwards). NN_ERR_RUN when the backend is out of
 * memory. *out is owned by the caller (model_free). */
NnStatus model_create(const ModelPlan *p, const Backend *be, int max_batch, Model **out,
                      NnError *err);
void model_free(Model *m); /* accepts NULL */

/* Re-initializes every parameter and buffer as PyTorch would, from seed. */
void model_init(Model *m, uint64_t seed);

const Backend *model_backend(const Model *m);
int model_max_batch(const Model *m);
size_t model_n_params(const Model *m); /* trainable floats */
size_t model_n_state(const Model *m);  /* params + buffers */
int model_n_tensors(const Model *m);
const TensorInfo *model_tensor(const Model *m, int i); /* the plan's table; NULL out of range */

/* Backend memory owned by the model. */
float *model_input(Model *m);      /* (max_batch, 3, 32, 32) */
int32_t *model_labels(Model *m);   /* (max_batch) */
float *model_state(Model *m);      /* (n_state): params, then buffers */
float *model_grads(Model *m);      /* (n_params), same layout as params */
const float *model_logits(const Model *m); /* (B, 10) after forward */

/* Forward pass of the first B images of model_input. train = 1 uses batch
 * statistics and dropout (masks drawn from (seed, step)); train = 0 is
 * eval mode. step numbers the training steps of the run (dropout draws,
 * with the plan's seed). */
void model_forward(Model *m, int B, int train, uint64_t step);

/* Cross-entropy of the logits against model_labels; adds to acc (double[2]
 * of backend memory: loss sum, correct count); with grad = 1 also writes
 * d(mean loss)/d(logits) for model_backward. */
void model_loss(Model *m, int B, float label_smoothing, int grad, double *acc);

/* Backward pass after model_forward(train = 1) and model_loss(grad = 1):
 * fills model_grads. */
void model_backward(Model *m, int B);

/* The backward pass with plain SGD (torch.optim.SGD with momentum 0, the
 * given learning rate and weight decay) applied to each layer's parameters
 * as soon as their gradients are known: the same update as model_backward
 * followed by sgd_step over all parameters, but the backend's fused ops
 * (linear_backward_sgd) can then skip writing gradients, so model_grads is
 * not filled (use model_backward when the gradients are wanted). Batch-norm
 * buffers are updated by the forward pass, as always. */
void model_backward_sgd(Model *m, int B, float lr, float weight_decay);

/* Copies the whole state to/from host memory (n_state floats): the best
 * weights snapshot, weight export and loading stored weights are each one
 * call. */
void model_get_state(const Model *m, float *host);
void model_set_state(Model *m, const float *host);

/* Dropout mask replay for parity tests: with replay on, dropout layers use
 * the masks already in their buffers instead of drawing new ones. The
 * mask of dropout layer j (in layer order, counting dropout layers only)
 * is (max_batch, features) of backend memory; NULL if there is no such
 * layer. */
void model_set_mask_replay(Model *m, int on);
float *model_dropout_mask(Model *m, int j);

/* Per-layer timing for benchmarks (bench_train --profile): while on, every
 * layer's forward and backward is timed, with a backend sync after each,
 * and accumulated; turning it on again starts from zero. Off by default
 * (then it costs one test per pass). model_profile_print appends one line
 * per layer: milliseconds per pass, forward and backward. */
void model_profile(Model *m, int on);
void model_profile_print(const Model *m, NnBuf *out);

#endif
