/* shared_math.h - per-element math that the cpu backend and the cuda
 * kernels compute the same way (the specifications are in ref.c): static
 * inline and plain C so that .cu files use it in device code too, as rng.h.
 */
#ifndef NNSWEEP_SHARED_MATH_H
#define NNSWEEP_SHARED_MATH_H

#include <math.h>

#ifdef __CUDACC__
#define NN_SHARED_QUALIFIER static inline __host__ __device__
#else
#define NN_SHARED_QUALIFIER static inline
#endif

/* Softmax cross-entropy (softmax_xent_ref), in float per sample, with
 * log-probabilities as (l - max) - log sum exp(l - max), exact for the
 * largest logit; the loss in double.
 * The loss of a sample with logits l (K) and label (in [0, K), checked by
 * the caller), label smoothing ls; *correct = whether the largest logit
 * (the first of equal ones) is the label. d (K), unless NULL, receives the
 * gradient of the batch's mean loss: (softmax(l) - target) / B. */
NN_SHARED_QUALIFIER double xent_sample(const float *l, int label, int K, float ls, int B, float *d,
                                     int *correct)
{
    float smooth = ls / (float)K;
    int arg = 0;
    for (int k = 1; k < K; k++)
        if (l[k] > l[arg]) arg = k;
    float m = l[arg], sum_exp = 0.0f, sum_d = 0.0f;
    for (int k = 0; k < K; k++) {
        sum_exp += expf(l[k] - m);
        sum_d += l[k] - m;
    }
    float log_sum = logf(sum_exp);
    if (d)
        for (int k = 0; k < K; k++) {
            float target = (k == label ? 1.0f - ls : 0.0f) + smooth;
            d[k] = (expf((l[k] - m) - log_sum) - target) / (float)B;
        }
    *correct = arg == label;
    /* sum_k logp[k] = sum_k (l[k] - m) - K log_sum */
    double sum_logp = (double)sum_d - (double)K * log_sum;
    double logp_label = (double)((l[label] - m) - log_sum);
    return -(1.0 - ls) * logp_label - (double)smooth * sum_logp;
}

/* One element of Adam or AdamW (adam_step_ref): w is first scaled by wmul
 * (AdamW's 1 - lr wd, else 1) and l2 w added to the gradient g (Adam's wd,
 * else 0); step_size = lr / (1 - beta1^t), bc2_sqrt = sqrt(1 - beta2^t). */
NN_SHARED_QUALIFIER void adam_update(float *w, float g, float *m, float *v, float beta1,
                                     float beta2, float eps, float step_size, float bc2_sqrt,
                                     float wmul, float l2)
{
    float wi = *w * wmul;
    float gi = l2 != 0.0f ? g + l2 * wi : g;
    float mi = beta1 * *m + (1.0f - beta1) * gi;
    float vi = beta2 * *v + (1.0f - beta2) * gi * gi;
    *m = mi;
    *v = vi;
    *w = wi - step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
}

#endif
