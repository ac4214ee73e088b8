/* cpu_norm.c - batch norm of the cpu backend; the specification is ref.c
 * (batchnorm_*_ref). x (B, C, HW):
 *  - HW == 1 (BatchNorm1d after a dense layer): x is (B, C) row-major, so
 *    the loops run over rows with the channels innermost (contiguous,
 *    vectorized), each thread owning a range of channels;
 *  - HW > 1 (BatchNorm2d): one channel per iteration, planes of HW
 *    contiguous floats summed with simd reductions into double.
 * Statistics use two passes (mean, then squared deviations) as ref does.
 * The per-channel outputs (save_mean, save_invstd, dgamma, dbeta) double as
 * accumulators, so nothing is allocated.
 */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "backend/backend_impl.h"

/* Channel range [*lo, *hi) of thread t of nt. */
static void channel_range(int C, int t, int nt, int *lo, int *hi)
{
    *lo = (int)((long)C * t / nt);
    *hi = (int)((long)C * (t + 1) / nt);
}

/* running = (1 - m) running + m stat (unbiased variance; biased when N == 1) */
static void bn_update_running(float *running_mean, float *running_var, int c, double mean,
                              double var, double N, float momentum)
{
    double unbiased = N > 1 ? var * N / (N - 1) : var;
    running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mean);
    running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unbiased);
}

/* Batch statistics over (B, HW), y = (x - mean) invstd gamma + beta. */
void batchnorm_forward_train_cpu(const float *x, const float *gamma, const float *beta, float *y,
                                 float *save_mean, float *save_invstd, float *running_mean,
                                 float *running_var, int B, int C, int HW, float momentum,
                                 float eps)
{
    double N = (double)B * HW;
    size_t n = (size_t)B * C * HW;
    if (HW == 1) {
#pragma omp parallel if (n >= CPU_PAR_MIN)
        {
            int lo, hi;
            channel_range(C, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
            float *sum = save_mean, *sq = save_invstd; /* accumulators, then the outputs */
            for (int c = lo; c < hi; c++) sum[c] = sq[c] = 0.0f;
            for (int b = 0; b < B; b++) {
                const float *r = x + (size_t)b * C;
                for (int c = lo; c < hi; c++) sum[c] += r[c];
            }
            for (int c = lo; c < hi; c++) sum[c] = (float)(sum[c] / N);
            for (int b = 0; b < B; b++) {
                const float *r = x + (size_t)b * C;
                for (int c = lo; c < hi; c++) {
                    float d = r[c] - sum[c];
                    sq[c] += d * d;
                }
            }
            for (int c = lo; c < hi; c++) {
                double var = sq[c] / N;
                sq[c] = (float)(1.0 / sqrt(var + (double)eps));
                bn_update_running(running_mean, running_var, c, save_mean[c], var, N, momentum);
            }
            for (int b = 0; b < B; b++) {
                const float *r = x + (size_t)b * C;
                float *o = y + (size_t)b * C;
                for (int c = lo; c < hi; c++)
                    o[c] = (r[c] - save_mean[c]) * (save_invstd[c] * gamma[c]) + beta[c];
            }
        }
        return;
    }
#pragma omp parallel for schedule(static) if (n >= CPU_PAR_MIN)
    for (int c = 0; c < C; c++) {
        double sum = 0.0;
        for (int b = 0; b < B; b++) {
            const float *r = x + ((size_t)b * C + c) * HW;
            float part = 0.0f;
#pragma omp simd reduction(+ : part)
            for (int i = 0; i < HW; i++) part += r[i];
            sum += part;
        }
        float mean = (float)(sum / N);
        double sq = 0.0;
        for (int b = 0; b < B; b++) {
            const float *r = x + ((size_t)b * C + c) * HW;
            float part = 0.0f;
#pragma omp simd reduction(+ : part)
            for (int i = 0; i < HW; i++) {
                float d = r[i] - mean;
                part += d * d;
            }
            sq += part;
        }
        double var = sq / N;
        float invstd = (float)(1.0 / sqrt(var + (double)eps));
        float a = invstd * gamma[c], bc = beta[c];
        for (int b = 0; b < B; b++) {
            const float *r = x + ((size_t)b * C + c) * HW;
            float *o = y + ((size_t)b * C + c) * HW;
            for (int i = 0; i < HW; i++) o[i] = (r[i] - mean) * a + bc;
        }
        save_mean[c] = mean;
        save_invstd[c] = invstd;
        bn_update_running(running_mean, running_var, c, mean, var, N, momentum);
    }
}

/* y = (x - running_mean) gamma / sqrt(running_var + eps) + beta */
void batchnorm_forward_eval_cpu(const float *x, const float *gamma, const float *beta,
                                const float *running_mean, const float *running_var, float *y,
                                int B, int C, int HW, float eps)
{
    size_t n = (size_t)B * C * HW;
    if (HW == 1) {
#pragma omp parallel for schedule(static) if (n >= CPU_PAR_MIN)
        for (int b = 0; b < B; b++) {
            const float *r = x + (size_t)b * C;
            float *o = y + (size_t)b * C;
            for (int c = 0; c < C; c++) {
                float invstd = 1.0f / sqrtf(running_var[c] + eps);
                o[c] = (r[c] - running_mean[c]) * (invstd * gamma[c]) + beta[c];
            }
        }
        return;
    }
#pragma omp parallel for schedule(static) if (n >= CPU_PAR_MIN)
    for (int k = 0; k < B * C; k++) {
        int c = k % C;
        float a = 1.0f / sqrtf(running_var[c] + eps) * gamma[c];
        float m = running_mean[c], bc = beta[c];
        const float *r = x + (size_t)k * HW;
        float *o = y + (size_t)k * HW;
        for (int i = 0; i < HW; i++) o[i] = (r[i] - m) * a + bc;
    }
}

/* dbeta = sum dy; dgamma = sum dy xhat;
 * dx = gamma invstd (dy - dbeta / N - xhat dgamma / N) */
void batchnorm_backward_cpu(const float *dy, const float *x, const float *gamma,
                            const float *save_mean, const float *save_invstd, float *dx,
                            float *dgamma, float *dbeta, int B, int C, int HW)
{
    double N = (double)B * HW;
    size_t n = (size_t)B * C * HW;
    if (HW == 1) {
#pragma omp parallel if (n >= CPU_PAR_MIN)
        {
            int lo, hi;
            channel_range(C, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
            for (int c = lo; c < hi; c++) dgamma[c] = dbeta[c] = 0.0f;
            for (int b = 0; b < B; b++) {
                const float *g = dy + (size_t)b * C, *r = x + (size_t)b * C;
                for (int c = lo; c < hi; c++) {
                    dbeta[c] += g[c];
                    dgamma[c] += g[c] * ((r[c] - save_mean[c]) * save_invstd[c]);
                }
            }
            float invN = (float)(1.0 / N);
            for (int b = 0; b < B; b++) {
                const float *g = dy + (size_t)b * C, *r = x + (size_t)b * C;
                float *d = dx + (size_t)b * C;
                for (int c = lo; c < hi; c++) {
                    float xhat = (r[c] - save_mean[c]) * save_invstd[c];
                    d[c] = gamma[c] * save_invstd[c] *
                           (g[c] - dbeta[c] * invN - xhat * (dgamma[c] * invN));
                }
            }
        }
        return;
    }
#pragma omp parallel for schedule(static) if (n >= CPU_PAR_MIN)
    for (int c = 0; c < C; c++) {
        float mean = save_mean[c], invstd = save_invstd[c];
        double sdy = 0.0, sdyx = 0.0;
        for (int b = 0; b < B; b++) {
            const float *g = dy + ((size_t)b * C + c) * HW, *r = x + ((size_t)b * C + c) * HW;
            float p1 = 0.0f, p2 = 0.0f;
#pragma omp simd reduction(+ : p1, p2)
            for (int i = 0; i < HW; i++) {
                p1 += g[i];
                p2 += g[i] * ((r[i] - mean) * invstd);
            }
            sdy += p1;
            sdyx += p2;
        }
        float mdy = (float)(sdy / N), mdyx = (float)(sdyx / N), a = gamma[c] * invstd;
        for (int b = 0; b < B; b++) {
            const float *g = dy + ((size_t)b * C + c) * HW, *r = x + ((size_t)b * C + c) * HW;
            float *d = dx + ((size_t)b * C + c) * HW;
            for (int i = 0; i < HW; i++) {
                float xhat = (r[i] - mean) * invstd;
                d[i] = a * (g[i] - mdy - xhat * mdyx);
            }
        }
        dgamma[c] = (float)sdyx;
        dbeta[c] = (float)sdy;
    }
}
