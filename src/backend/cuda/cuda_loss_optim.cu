/* cuda_loss_optim.cu - softmax cross-entropy with the accuracy count, and the
 * optimizer updates of the cuda backend. Specification: ref.c.
 *
 * softmax_xent adds the batch's loss sum and correct count to acc, a
 * double[2] in device memory, so that a training step reads nothing back;
 * train.c downloads acc every 100 batches. One block does the whole batch
 * (B <= a few thousand, K = 10: a few microseconds) and sums in a fixed
 * tree order: the result is deterministic, no atomics.
 *
 * The optimizers update all parameters of the model in one kernel per step
 * (the parameters are one contiguous array, model_state); the per-step
 * scalars (Adam's bias corrections) are computed on the host in double as
 * cpu_elem.c does.
 */
#include <stdio.h>

#include "backend/cuda/cuda_common.cuh"
#include "backend/shared_math.h"

#define NN_XENT_THREADS 256

/* ---- loss ---------------------------------------------------------------------------- */

/* As softmax_xent_cpu: per sample by xent_sample (shared_math.h), sums in double. */
static __global__ void softmax_xent_kernel(const float *logits /* (B, K) */, const int32_t *labels,
                                           int B, int K, float ls,
                                           float *dlogits /* (B, K) or NULL */,
                                           double *acc /* [2] */)
{
    __shared__ double s_loss[NN_XENT_THREADS], s_hits[NN_XENT_THREADS];
    double loss = 0.0, hits = 0.0;
    for (int b = threadIdx.x; b < B; b += blockDim.x) {
        int label = labels[b], correct;
        if (label < 0 || label >= K) {
            printf("softmax_xent: label %d of sample %d not in [0, %d)\n", label, b, K);
            __trap();
        }
        loss += xent_sample(logits + (size_t)b * K, label, K, ls, B,
                            dlogits ? dlogits + (size_t)b * K : NULL, &correct);
        hits += correct;
    }
    int t = threadIdx.x;
    s_loss[t] = loss;
    s_hits[t] = hits;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
        if (t < half) {
            s_loss[t] += s_loss[t + half];
            s_hits[t] += s_hits[t + half];
        }
        __syncthreads();
    }
    if (t == 0) {
        acc[0] += s_loss[0];
        acc[1] += s_hits[0];
    }
}

extern "C" void softmax_xent_cuda(const float *logits, const int32_t *labels, int B, int K,
                                  float label_smoothing, float *dlogits, double *acc)
{
    NN_CHECK(K >= 1, "softmax_xent: K %d < 1", K);
    if (B <= 0) return;
    softmax_xent_kernel<<<1, NN_XENT_THREADS, 0, nn_cuda_stream()>>>(logits, labels, B, K,
                                                                     label_smoothing, dlogits, acc);
    NN_CUDA_LAUNCHED();
}

/* ---- optimizers -------------------------------------------------------------------------- */

/* As sgd_step_cpu: momentum == 0 never touches buf (it may be NULL). */
static __global__ void sgd_kernel(float *w, const float *g, float *buf, size_t n, float lr,
                                  float momentum, float wd, int nesterov, int first)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float gi = wd != 0.0f ? g[i] + wd * w[i] : g[i];
        float d = gi;
        if (momentum != 0.0f) {
            float bi = first ? gi : momentum * buf[i] + gi;
            buf[i] = bi;
            d = nesterov ? gi + momentum * bi : bi;
        }
        w[i] = w[i] - lr * d;
    }
}

extern "C" void sgd_step_cuda(float *w, const float *g, float *buf, size_t n, float lr,
                              float momentum, float wd, int nesterov, int first)
{
    if (!n) return;
    sgd_kernel<<<nn_cuda_blocks(n, NN_CUDA_THREADS), NN_CUDA_THREADS, 0, nn_cuda_stream()>>>(
        w, g, buf, n, lr, momentum, wd, nesterov, first);
    NN_CUDA_LAUNCHED();
}

/* As adam_step_cpu: wmul = 1 - lr wd for AdamW (else 1), l2 = wd for Adam
 * (else 0). */
static __global__ void adam_kernel(float *w, const float *g, float *m, float *v, size_t n,
                                   float beta1, float beta2, float eps, float step_size,
                                   float bc2_sqrt, float wmul, float l2)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        adam_update(&w[i], g[i], &m[i], &v[i], beta1, beta2, eps, step_size, bc2_sqrt, wmul, l2);
}

extern "C" void adam_step_cuda(float *w, const float *g, float *m, float *v, size_t n, float lr,
                               float beta1, float beta2, float eps, float wd, int decoupled,
                               int step)
{
    NN_CHECK(step >= 1, "adam_step: step %d, counts from 1", step);
    if (!n) return;
    double bc1 = 1.0 - pow((double)beta1, (double)step);
    double bc2 = 1.0 - pow((double)beta2, (double)step);
    float step_size = (float)(lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
    float decay = (float)(1.0 - (double)lr * wd);
    float l2 = decoupled ? 0.0f : wd;
    float wmul = decoupled && wd != 0.0f ? decay : 1.0f;
    adam_kernel<<<nn_cuda_blocks(n, NN_CUDA_THREADS), NN_CUDA_THREADS, 0, nn_cuda_stream()>>>(
        w, g, m, v, n, beta1, beta2, eps, step_size, bc2_sqrt, wmul, l2);
    NN_CUDA_LAUNCHED();
}
