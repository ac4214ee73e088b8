/* backend.h - the table of operations that layers, model, optimizer and
 * training are written against (DESIGN.md, Backend).
 *
 * One implementation per backend:
 *   ref  - plain, readable C loops: the specification. Tested by finite
 *          differences and against PyTorch.
 *   cpu  - OpenBLAS + a thread pool of its own; tested op by op against ref.
 *   cuda - cuBLAS, cuDNN and own kernels; tested op by op against ref.
 * A NULL table entry means "not compiled in"; backend_get() returns NULL for
 * a backend that is not built, and a backend that is built but cannot run
 * (no GPU) reports it through backend_available().
 *
 * Conventions for every op:
 *  - All float/int pointers are memory of that backend (host memory for ref
 *    and cpu, device memory for cuda), allocated with its alloc().
 *  - Layouts match PyTorch: dense weight (OC, C), conv weight (OC, C, K, K),
 *    activations NCHW (B, C, H, W), flattened features (B, C*H*W).
 *  - Gradients are written, not accumulated (every parameter is used once
 *    per step), so there is no zero_grad.
 *  - Ops never allocate: scratch space is passed in (workspace), sized by
 *    the *_workspace_floats queries when the model is built.
 *  - Ops are asynchronous on devices that can be (cuda): results read back
 *    with download() are complete when it returns.
 *
 * Semantics follow PyTorch; each op cites its documentation page.
 */
#ifndef NNSWEEP_BACKEND_H
#define NNSWEEP_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "nnsweep/core.h"

typedef enum ActKind {
    ACT_RELU = 0,
    ACT_TANH,
    ACT_SIGMOID,
    ACT_GELU,       /* exact erf form, torch.nn.GELU(approximate='none') */
    ACT_LEAKY_RELU, /* negative_slope 0.01, torch.nn.LeakyReLU default */
    ACT_COUNT
} ActKind;

#define NN_LEAKY_SLOPE 0.01f

/* Shape of a 2-d convolution, stride 1, square kernel, zero padding:
 * x (B, C, H, W) * w (OC, C, K, K) + b (OC) -> y (B, OC, OH, OW),
 * OH = H + 2*pad - K + 1, OW = W + 2*pad - K + 1. */
typedef struct ConvShape {
    int B, C, H, W;
    int OC, K, pad;
    int OH, OW;
} ConvShape;

/* Max pooling, kernel = stride = P, no padding, floor mode:
 * x (B, C, H, W) -> y (B, C, H/P, W/P). */
typedef struct PoolShape {
    int B, C, H, W;
    int P;
    int OH, OW;
} PoolShape;

/* A fused group (the fused ops of the table, below): a conv or a batch
 * norm, then an activation, then, when pool > 1, max pooling.
 *  s:    the conv's shape. The batch norm, the activation and the pooling
 *        run over s's output (B, OC, OH, OW), so that a conv + batch norm
 *        group gives both of its parts one descriptor; a group without a
 *        conv (batch norm + act) describes its input x (B, C, H, W) as
 *        {B, C, H, W, OC = C, K = 1, pad = 0, OH = H, OW = W}.
 *  act:  the activation; not ACT_GELU (its backward needs its input, which
 *        a fused op does not keep).
 *  pool: max pooling P = pool (kernel = stride, as PoolShape) after the
 *        activation; 1: none.
 *  momentum, eps: the batch norm's (torch.nn.BatchNorm2d's).
 * The group's output y is (B, OC, OH/pool, OW/pool) ("Y" below; with pool
 * 1, (B, OC, OH, OW)). */
typedef struct FusedGroup {
    ConvShape s;
    ActKind act;
    int pool;
    float momentum, eps;
} FusedGroup;

/* The tensors of a fused op: one bundle for every fused op, each reading
 * and writing the fields its comment in the table names (the others are
 * ignored and may be NULL). Backend memory, shapes as FusedGroup:
 * x (B, C, H, W) is the group's input, Z = (B, OC, OH, OW) the conv's
 * output, Y the group's output. */
typedef struct FusedTensors {
    const float *x;                    /* (B, C, H, W) the group's input */
    const float *w, *b;                /* conv weight (OC, C, K, K), bias (OC) */
    const float *gamma, *beta;         /* batch norm weight and bias (OC) */
    float *running_mean, *running_var; /* batch norm (OC): read in evaluation,
                                        * updated by a train forward */
    float *save_mean, *save_invstd;    /* batch norm (OC): the batch statistics,
                                        * written by a train forward for its backward */
    float *z;                          /* Z: the conv's output = the batch norm's input */
    float *y;                          /* Y: the group's output */
    int32_t *idx;                      /* Y: where each pooling window took its max, as
                                        * maxpool2d_forward (NULL in evaluation; unused
                                        * when pool == 1) */
    float *zp;                         /* Y: z at idx (pool > 1; NULL when pool == 1) */
    const float *dy;                   /* Y: the gradient of y */
    float *dx;                         /* (B, C, H, W): the gradient of x; NULL = not
                                        * wanted (a first layer), where the op says so */
    float *dw, *db;                    /* conv (OC, C, K, K), (OC) */
    float *dgamma, *dbeta;             /* batch norm (OC) */
    float *ws;                         /* workspace, sized by the op's query */
} FusedTensors;

/* How a training batch is made from the uint8 dataset (data augmentation
 * and normalization). mean/std are per channel, applied after x/255. */
typedef enum Augment { AUG_NONE = 0, AUG_FLIP, AUG_CROP_FLIP } Augment;
typedef struct BatchSpec {
    float mean[3], std[3];
    Augment augment;
    uint64_t seed; /* rng key: the run's seed */
    uint64_t hi;   /* rng stream: rng_stream(RNG_STREAM_AUGMENT, epoch << 32 | batch) */
} BatchSpec;

typedef struct Backend {
    const char *name;
    /* 1 when backend memory is host memory (ref, cpu): reading a scalar
     * back costs nothing, so the train loop checks the loss every batch. */
    int host_memory;

    /* ---- memory ----------------------------------------------------- */
    /* Zeroed memory of this backend, or NULL when it cannot be had (device
     * out of memory: the run fails, the process goes on). */
    void *(*alloc)(size_t bytes);
    void (*free)(void *p); /* accepts NULL */
    void (*upload)(void *dst, const void *host_src, size_t bytes);
    void (*download)(void *host_dst, const void *src, size_t bytes);
    void (*copy)(void *dst, const void *src, size_t bytes);
    void (*zero)(void *p, size_t bytes);
    void (*sync)(void);

    /* ---- batches ------------------------------------------------------ */
    /* x[i] = normalize(augment(images[idx[i]])), y[i] = labels[idx[i]].
     * images (N, 3, 32, 32) uint8, labels (N) uint8, idx (B) int32,
     * x (B, 3, 32, 32), y (B) int32.
     * With draw i = rng_u32_at(seed, hi, i) for batch position i:
     * flip (AUG_FLIP, AUG_CROP_FLIP): mirrored left-right when bit 0 of the
     * draw is set; crop (AUG_CROP_FLIP): the raw image padded with 4 zero
     * pixels on each side (black, as torchvision's RandomCrop(32, padding=4)
     * before ToTensor), then the 32x32 window at row (draw >> 1) % 9 and
     * column (draw >> 5) % 9 of the 40x40 padded image; crop before flip.
     * Then x = (v / 255 - mean[c]) / std[c]. */
    void (*gather_batch)(const uint8_t *images, const uint8_t *labels, const int32_t *idx, int B,
                         const BatchSpec *spec, float *x, int32_t *y);

    /* ---- dense layer (torch.nn.Linear) --------------------------------
     * y (B, OC) = x (B, C) . w (OC, C)^T + b (OC) */
    void (*linear_forward)(const float *x, const float *w, const float *b, float *y, int B, int C,
                           int OC);
    /* dx (B, C) = dy . w  (skipped when dx is NULL: first layer)
     * dw (OC, C) = dy^T . x;  db (OC) = sum_b dy */
    void (*linear_backward)(const float *dy, const float *x, const float *w, float *dx, float *dw,
                            float *db, int B, int C, int OC);

    /* ---- convolution (torch.nn.Conv2d, stride 1, dilation 1) ---------- */
    size_t (*conv2d_workspace_floats)(const ConvShape *s);
    void (*conv2d_forward)(const float *x, const float *w, const float *b, float *y,
                           const ConvShape *s, float *ws);
    /* dx (skipped when NULL), dw (OC, C, K, K), db (OC) */
    void (*conv2d_backward)(const float *dy, const float *x, const float *w, float *dx, float *dw,
                            float *db, const ConvShape *s, float *ws);

    /* ---- max pooling (torch.nn.MaxPool2d(P, P)) ------------------------
     * idx (B, C, OH, OW) int32: flat h*W+w of the max within its plane
     * (the first one in scan order on ties; NaN wins, as PyTorch).
     * idx may be NULL in evaluation. Backward writes every element of dx
     * (zero where no window took it). */
    void (*maxpool2d_forward)(const float *x, float *y, int32_t *idx, const PoolShape *s);
    void (*maxpool2d_backward)(const float *dy, const int32_t *idx, float *dx, const PoolShape *s);

    /* ---- batch norm (torch.nn.BatchNorm1d/2d), x (B, C, HW) -----------
     * train: batch statistics over (B, HW); y = (x - mean) * invstd *
     * gamma + beta with the biased variance; running_mean/var updated in
     * place with momentum (running = (1 - m) * running + m * stat) and the
     * unbiased variance; save_mean/save_invstd (C) kept for backward. */
    void (*batchnorm_forward_train)(const float *x, const float *gamma, const float *beta, float *y,
                                    float *save_mean, float *save_invstd, float *running_mean,
                                    float *running_var, int B, int C, int HW, float momentum,
                                    float eps);
    void (*batchnorm_forward_eval)(const float *x, const float *gamma, const float *beta,
                                   const float *running_mean, const float *running_var, float *y,
                                   int B, int C, int HW, float eps);
    void (*batchnorm_backward)(const float *dy, const float *x, const float *gamma,
                               const float *save_mean, const float *save_invstd, float *dx,
                               float *dgamma, float *dbeta, int B, int C, int HW);

    /* ---- activations, elementwise over n ------------------------------
     * y = f(x); backward dx = dy * f'(x) (x and y both given so that each
     * kind uses whichever is cheaper). */
    void (*act_forward)(ActKind k, const float *x, float *y, size_t n);
    void (*act_backward)(ActKind k, const float *x, const float *y, const float *dy, float *dx,
                         size_t n);

    /* ---- dropout (torch.nn.Dropout, Dropout2d), inverted ---------------
     * Elements come in groups of `group` consecutive values sharing one
     * draw (1 for Dropout, H*W for Dropout2d). Group g is kept when
     * rng_uniform_at(seed, hi, g) >= p; mask = kept / (1 - p), y = x * mask.
     * mask (n) is kept for backward. */
    void (*dropout_forward)(const float *x, float *y, float *mask, size_t n, int group, float p,
                            uint64_t seed, uint64_t hi);
    /* y = a * b elementwise: dropout backward (dy * mask) and mask replay. */
    void (*mul)(const float *a, const float *b, float *y, size_t n);

    /* ---- loss (torch.nn.CrossEntropyLoss, mean, label_smoothing) ------
     * logits (B, K), labels (B) int32. Adds to acc (double[2], this
     * backend's memory): acc[0] += sum of per-sample losses, acc[1] +=
     * number of samples whose argmax (first max on ties) is the label.
     * When dlogits (B, K) is not NULL it receives d(mean loss)/d(logits) =
     * (softmax - target) / B, target = (1 - ls) * onehot + ls / K. */
    void (*softmax_xent)(const float *logits, const int32_t *labels, int B, int K,
                         float label_smoothing, float *dlogits, double *acc);

    /* ---- optimizers, over n contiguous parameters ---------------------
     * torch.optim.SGD (dampening 0): g' = g + wd * w; buf = first ? g' :
     * momentum * buf + g'; d = nesterov ? g' + momentum * buf : buf (or g'
     * when momentum == 0, buf unused); w -= lr * d. */
    void (*sgd_step)(float *w, const float *g, float *buf, size_t n, float lr, float momentum,
                     float wd, int nesterov, int first);
    /* torch.optim.Adam (decoupled = 0: g' = g + wd * w) and AdamW
     * (decoupled = 1: w *= 1 - lr * wd first). step counts from 1. */
    void (*adam_step)(float *w, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                      float beta2, float eps, float wd, int decoupled, int step);

    /* ---- precision (may be NULL: fp32 only) -----------------------------
     * Precision of the GEMMs and convolutions that follow, as config.h's
     * Precision: 0 fp32 (exact; TF32 off), 1 tf32 (tensor cores round the
     * inputs to TF32), 2 bf16 (mixed precision: inputs rounded to bfloat16,
     * fp32 accumulation, fp32 storage, weights and optimizer). Everything
     * else stays fp32. Set before model_create (it sizes workspaces). NULL
     * for ref and cpu, which compute in fp32 only. */
    void (*set_precision)(int precision);

    /* ---- fused ops ------------------------------------------------------
     * Each is specified as the sequence of plain ops above that it
     * replaces, and is tested against that sequence on ref
     * (tests/unit/backend_ops_fused.c). NULL means "not available": the
     * model then runs the plain ops (src/nn/model_steps.c decides), so a
     * backend adds them when it has them. New entries go at the end.
     * The dense layer's two take the plain op's parameters and one or two
     * more; those of a conv or batch norm group take its descriptor and
     * tensors (FusedGroup, FusedTensors above). */

    /* linear_forward, then act_forward(act) on its output in place:
     * y (B, OC) = act(x (B, C) . w (OC, C)^T + b (OC)). */
    void (*linear_forward_act)(const float *x, const float *w, const float *b, float *y, int B,
                               int C, int OC, ActKind act);
    /* linear_backward, then sgd_step with momentum 0 (plain SGD, learning
     * rate lr, weight decay wd) on w and on b, without writing dw or db:
     * dx (B, C) = dy . w with w before the update (skipped when dx is NULL);
     * w -= lr * (dy^T . x + wd * w); b -= lr * (sum over rows of dy + wd * b).
     * (train_backward_update uses it for SGD without momentum.) */
    void (*linear_backward_sgd)(const float *dy, const float *x, float *w, float *b, float *dx,
                                int B, int C, int OC, float lr, float wd);
    /* conv2d_forward, then act_forward(act), then, when pool > 1,
     * maxpool2d_forward (P = pool) on its output: y = maxpool(act(conv(x)
     * + b)). Reads x, w, b; writes y and, with pool > 1, idx unless it is
     * NULL (evaluation). Workspace: conv2d_workspace_floats(&g->s), which
     * covers these ops too. */
    void (*conv2d_forward_act_pool)(const FusedGroup *g, const FusedTensors *t);
    /* Its backward, from dy and the forward's y and idx: maxpool2d_backward,
     * act_backward, conv2d_backward. The activation's output is needed only
     * where a window took its max, and there it is y (elsewhere the
     * gradient is zero), so nothing else is kept. Reads dy, y, idx, x, w;
     * writes dx (skipped when NULL: a first layer, as conv2d_backward), dw,
     * db. Workspace as the forward. */
    void (*conv2d_backward_act_pool)(const FusedGroup *g, const FusedTensors *t);
    /* Batch norm over x (B, OC, OH, OW) (train: batchnorm_forward_train,
     * with save_mean/save_invstd written and the running statistics
     * updated; else batchnorm_forward_eval, save_* unused), then
     * act_forward(act), then, when pool > 1, maxpool2d_forward (P = pool).
     * Reads x, gamma, beta, the running statistics; writes y, idx (pool > 1,
     * unless NULL: evaluation), and in training save_mean, save_invstd and
     * the running statistics. Scratch: ws of
     * batchnorm_act_pool_workspace_floats(g) floats. */
    size_t (*batchnorm_act_pool_workspace_floats)(const FusedGroup *g);
    void (*batchnorm_act_pool_forward)(const FusedGroup *g, const FusedTensors *t, int train);
    /* Its backward after a train forward, from dy, y and idx:
     * maxpool2d_backward, act_backward (the activation's output is y where a
     * window took its max; elsewhere the gradient is zero), then
     * batchnorm_backward. Reads dy, y, idx, x, gamma, save_mean,
     * save_invstd; writes dx (never NULL here), dgamma, dbeta. */
    void (*batchnorm_act_pool_backward)(const FusedGroup *g, const FusedTensors *t);
    /* The backward of conv2d_forward (output z) followed by
     * batchnorm_act_pool_forward (train; input z, output y, idx), after
     * conv2d_forward_bn_act_pool (below): batchnorm_act_pool_backward into
     * dz (the gradient of z), then conv2d_backward(dz). Reads dy, y, idx,
     * zp, z, gamma, save_mean, save_invstd, x, w; writes dgamma, dbeta, dx
     * (skipped when NULL: a first layer), dw, db. dz is not an output, so a
     * backend need not write it out. Workspace:
     * conv2d_bn_workspace_floats(be, g) below. */
    void (*conv2d_backward_bn_act_pool)(const FusedGroup *g, const FusedTensors *t);
    /* The train forward that backward follows: conv2d_forward (output z),
     * then batchnorm_act_pool_forward (train) on z, with z, y, idx,
     * save_mean, save_invstd and the running statistics as those two ops
     * leave them (up to rounding: a backend may sum the statistics in
     * another order); when pool > 1, also zp: z at the place each window
     * took its max (idx), which the backward's sums read instead of z.
     * Reads x, w, b, gamma, beta, the running statistics; writes z, y, idx,
     * zp (pool > 1), save_mean, save_invstd, the running statistics.
     * Evaluation keeps the two ops (the running statistics need no pass
     * over z). Workspace: conv2d_bn_workspace_floats(be, g). */
    void (*conv2d_forward_bn_act_pool)(const FusedGroup *g, const FusedTensors *t);
} Backend;

/* The workspace of conv2d_backward_bn_act_pool and
 * conv2d_forward_bn_act_pool on backend be: the conv's, the batch norm's,
 * one tensor of the conv's output (the sequence's dz) and 4 floats per
 * output plane, plus 16 (the forward's statistics per plane, aligned). */
size_t conv2d_bn_workspace_floats(const Backend *be, const FusedGroup *g);

typedef enum BackendKind { BACKEND_REF = 0, BACKEND_CPU, BACKEND_CUDA } BackendKind;

/* The device a run asks for (run config key `device`). */
typedef enum DeviceKind { DEVICE_AUTO = 0, DEVICE_CPU, DEVICE_CUDA } DeviceKind;

/* The device policy, the one answer every path uses (the MPI worker, the
 * in-process driver, `nnsweep train`, rank 0's summary rows): a run that
 * asks for `want` on a process that has a usable GPU (gpu != 0) or not
 * trains on
 *   cpu  -> DEVICE_CPU;
 *   cuda -> DEVICE_CUDA, also without a GPU: the run then fails with
 *           backend_for_device's message (it never falls back to the CPU);
 *   auto -> DEVICE_CUDA with a GPU, else DEVICE_CPU. */
DeviceKind backend_resolve_device(DeviceKind want, int gpu);

/* The backend of the policy for this process: gpu is "the CUDA backend is
 * compiled in and a GPU is visible". NULL with NN_ERR_RUN in err when the
 * run asked for cuda and cannot have it (the message says why: not
 * compiled in, or no GPU visible with CUDA_VISIBLE_DEVICES). */
const Backend *backend_for_device(DeviceKind want, NnError *err);

/* 1 when this process can use the CUDA backend (compiled in, a GPU is
 * visible and usable). */
int backend_gpu_usable(void);

/* CPUs this process may use (its affinity mask; at least 1). */
int backend_cpu_cores(void);

/* The table of a backend, or NULL when it is not compiled in. Static
 * storage: never freed. */
const Backend *backend_get(BackendKind kind);

/* Looks a backend up by name ("ref", "cpu", "cuda"); NULL if unknown or not
 * compiled in. */
const Backend *backend_by_name(const char *name);

/* Nonzero when the backend can run here (cuda: a GPU is visible). */
int backend_available(BackendKind kind);

/* A failed run inside the ops (STYLE.md, Errors 3): the table's ops return
 * nothing, so an op of be that could not complete for a reason that ends
 * the run but not the process (cuda: out of GPU memory inside cuDNN or
 * cuBLAS, no convolution algorithm that runs, a misaligned operand)
 * records it, and the ops after it have no meaningful results. This takes
 * the recorded failure: NN_ERR_RUN with its message in err (which may be
 * NULL), and be is ready for the next run; NN_OK when there is none. A
 * host-flag test, cheap enough for every training step; ref and cpu never
 * record one. */
NnStatus backend_take_failure(const Backend *be, NnError *err);

/* Why the cuda backend cannot run here although an NVIDIA driver is
 * installed (e.g. a driver too old for the CUDA runtime nnsweep was built
 * with: both versions and what is needed); "" when it can run, when no
 * driver is installed (a CPU machine) or when cuda is not compiled in.
 * Static storage. */
const char *backend_cuda_unusable_reason(void);

/* GPUs visible to this process (honouring CUDA_VISIBLE_DEVICES); 0 when
 * the CUDA backend is not compiled in or no GPU is present. */
int backend_cuda_device_count(void);
/* Makes GPU i (0 <= i < backend_cuda_device_count()) the one this process's
 * cuda backend uses; call before the first cuda allocation. */
void backend_cuda_use_device(int i);

/* Threads used by the cpu backend (its pool; OpenBLAS is kept at one
 * thread); n <= 0 means all cores of this process's affinity mask. Returns
 * the number in effect. Results are the same bits from run to run and for
 * any number of threads (src/backend/cpu/cpu_pool.c); they may differ between
 * CPUs, whose OpenBLAS kernels (OPENBLAS_CORETYPE) and AVX2 paths
 * (NNSWEEP_AVX2) round differently. */
int backend_cpu_set_threads(int n);

#endif
