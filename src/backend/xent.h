/* xent.h - softmax cross-entropy of one sample, as the cpu backend and the
 * cuda kernel compute it (the specification is softmax_xent_ref in ref.c):
 * static inline and plain C so that .cu files use it in device code too,
 * as rng.h. In float per sample, with log-probabilities as (l - max) - log
 * sum exp(l - max), exact for the largest logit; the loss in double.
 */
#ifndef NNSWEEP_XENT_H
#define NNSWEEP_XENT_H

#include <math.h>

#ifdef __CUDACC__
#define NN_XENT_QUALIFIER static inline __host__ __device__
#else
#define NN_XENT_QUALIFIER static inline
#endif

/* The loss of a sample with logits l (K) and label (in [0, K), checked by
 * the caller), label smoothing ls; *correct = whether the largest logit
 * (the first of equal ones) is the label. d (K), unless NULL, receives the
 * gradient of the batch's mean loss: (softmax(l) - target) / B. */
NN_XENT_QUALIFIER double xent_sample(const float *l, int label, int K, float ls, int B, float *d,
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

#endif
