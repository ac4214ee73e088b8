/* model.h - MLPs and CNNs built from a run config, on one backend.
 *
 *   mlp: flatten -> [linear -> batchnorm1d? -> act -> dropout?] x hidden
 *        -> linear(10)
 *   cnn: [conv -> batchnorm2d? -> act -> maxpool -> dropout2d?] x conv
 *        -> flatten -> [linear -> batchnorm1d? -> act -> dropout?] x hidden
 *        -> linear(10)
 *
 * Memory (STYLE.md): one arena for the state (every parameter, then every
 * batch-norm buffer), one for gradients (same layout as the parameters),
 * one for activations and saved tensors, one workspace; all allocated by
 * model_create through the backend, so that a training step allocates
 * nothing. Layers hold views into the arenas.
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
#include "nnsweep/config.h"

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

/* A named tensor of the model's state: what is written to the results
 * file, sent over MPI and compared in parity tests. */
typedef struct ModelTensor {
    char name[48];   /* e.g. "conv0.weight", "bn2.running_var", "fc1.bias" */
    int ndim;
    int shape[4];
    size_t offset;   /* in floats, into the state (model_state layout) */
    size_t n;        /* number of floats */
    int is_buffer;   /* batch-norm running statistics: no gradient */
} ModelTensor;

typedef struct Model Model;

/* The state layout of c's model without building it: *tensors (n entries,
 * owned by the caller, free()) in layer order, parameters first then
 * buffers, as model_state lays them out. Same shape errors as
 * model_create. */
NnStatus model_layout(const RunConfig *c, ModelTensor **tensors, int *n, size_t *n_params,
                      size_t *n_state, NnError *err);

/* Bytes of backend memory a model of c needs per image of max_batch
 * (activations, saved tensors, gradient buffers, input), for choosing an
 * evaluation batch that fits a memory budget. 0 on a shape error. */
size_t model_bytes_per_image(const RunConfig *c);

/* Builds the model of c on backend be for batches of up to max_batch
 * images and initializes it from c->seed. Returns NN_ERR_INPUT when the
 * config gives an impossible shape (e.g. a feature map below 1x1: the
 * message names the layer and sizes), NN_ERR_RUN when the backend is out
 * of memory. *out is owned by the caller (model_free). */
NnStatus model_create(const RunConfig *c, const Backend *be, int max_batch, Model **out,
                      NnError *err);
void model_free(Model *m); /* accepts NULL */

/* Re-initializes every parameter and buffer as PyTorch would, from seed. */
void model_init(Model *m, uint64_t seed);

const Backend *model_backend(const Model *m);
int model_max_batch(const Model *m);
size_t model_n_params(const Model *m); /* trainable floats */
size_t model_n_state(const Model *m);  /* params + buffers */
int model_n_tensors(const Model *m);
const ModelTensor *model_tensor(const Model *m, int i);

/* Backend memory owned by the model. */
float *model_input(Model *m);      /* (max_batch, 3, 32, 32) */
int32_t *model_labels(Model *m);   /* (max_batch) */
float *model_state(Model *m);      /* (n_state): params, then buffers */
float *model_grads(Model *m);      /* (n_params), same layout as params */
const float *model_logits(const Model *m); /* (B, 10) after forward */

/* Forward pass of the first B images of model_input. train = 1 uses batch
 * statistics and dropout (masks drawn from (seed, step)); train = 0 is
 * eval mode. step numbers the training steps of the run (dropout draws). */
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

/* One line per layer with output shapes and parameter counts (for
 * `nnsweep train`); the text is appended to out. */
void model_describe(const Model *m, NnBuf *out);

#endif
