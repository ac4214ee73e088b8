/* cpu_norm.c - batch norm of the cpu backend; the specification is ref.c
 * (batchnorm_*_ref). x (B, C, HW):
 *  - HW == 1 (BatchNorm1d after a dense layer): x is (B, C) row-major, so
 *    the loops run over rows with the channels innermost (contiguous,
 *    vectorized); items are blocks of channels;
 *  - HW > 1 (BatchNorm2d): one item per channel, planes of HW contiguous
 *    floats summed in eight lanes (cpu_sum*), the planes' sums in double;
 *    the fused batchnorm_act_pool passes that follow a conv run by image
 *    instead (an image's planes are one contiguous stream), with the
 *    per-channel work done before (statistics) or after (adding the
 *    planes' sums in image order).
 * Statistics use two passes (mean, then squared deviations) as ref does;
 * after a convolution (conv2d_forward_bn_act_pool_cpu) each plane's two
 * passes run while the conv's item has it in cache, and they are merged
 * here (bn_merged_stats).
 * Every channel is reduced by one item, in a fixed order, so the results do
 * not depend on the number of threads. The per-channel outputs (save_mean,
 * save_invstd, dgamma, dbeta) double as accumulators: nothing is allocated.
 */
#include <math.h>
#include <string.h>

#include "backend/cpu/cpu.h"

typedef struct BnJob {
    const float *x, *dy, *gamma, *beta, *mean, *invstd;
    float *y, *dx, *save_mean, *save_invstd, *running_mean, *running_var, *dgamma, *dbeta;
    const float *rmean, *rvar;
    /* batchnorm_act_pool train after a conv: the planes' cpu_bn_plane_sums
     * (NULL: two passes over x), and x at the pooled places written to zpw
     * (NULL: not kept); its backward's sums read them from zp (NULL: x at
     * idx) */
    const double *pstats;
    double *psums; /* cpu_bn_act_pool_sums: each plane's sums (B, C, 2) */
    float *zpw;
    const float *zp;
    int B, C, HW, per_item;
    float momentum, eps;
    /* batchnorm_act_pool_*: planes (H, W), act, pool, argmax, scratch */
    int H, W, pool, train;
    ActKind act;
    int32_t *idx;
    const int32_t *cidx;
    const float *yc;
    float *ws;
} BnJob;

/* The dx pass of batchnorm_act_pool_backward_cpu: the group, its tensors,
 * one plane of scratch per slot. */
typedef struct BnDxJob {
    const FusedGroup *g;
    const FusedTensors *t;
    float *ws;
} BnDxJob;

/* Items of whole channels: per channel for HW > 1; blocks of >= 16
 * channels (about CPU_CHUNK values each) for HW == 1. */
static int bn_items(int B, int C, int HW, int *per_item)
{
    if (HW > 1) {
        *per_item = 1;
        return C;
    }
    size_t per = CPU_CHUNK / (size_t)(B > 0 ? B : 1);
    per = (per + 15) / 16 * 16;
    if (per < 16) per = 16;
    *per_item = (int)per;
    return (int)(((size_t)C + per - 1) / per);
}

static void bn_range(const BnJob *j, int item, int *lo, int *hi)
{
    *lo = item * j->per_item;
    *hi = *lo + j->per_item < j->C ? *lo + j->per_item : j->C;
}

/* running = (1 - m) running + m stat (unbiased variance; biased when N == 1) */
static void bn_update_running(float *running_mean, float *running_var, int c, double mean,
                              double var, double N, float momentum)
{
    double unbiased = N > 1 ? var * N / (N - 1) : var;
    running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mean);
    running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unbiased);
}

/* Channel c's mean and squared deviations sq (from that mean) over N
 * values into mean, invstd and the running statistics. */
static void bn_finish_stats(const BnJob *j, int c, float mean, double sq, double N,
                            float *mean_out, float *invstd_out)
{
    double var = sq / N;
    *mean_out = mean;
    *invstd_out = (float)(1.0 / sqrt(var + (double)j->eps));
    bn_update_running(j->running_mean, j->running_var, c, mean, var, N, j->momentum);
}

/* Channel c's batch statistics over (B, HW) planes, as ref: the mean,
 * then the squared deviations from it; running statistics updated. */
static void bn_plane_stats(const BnJob *j, int c, float *mean_out, float *invstd_out)
{
    const int B = j->B, C = j->C, HW = j->HW;
    const double N = (double)B * HW;
    double sum = 0.0;
    for (int b = 0; b < B; b++) sum += cpu_sum(j->x + ((size_t)b * C + c) * HW, (size_t)HW);
    float mean = (float)(sum / N);
    double sq = 0.0;
    for (int b = 0; b < B; b++)
        sq += cpu_sum_sqdev(j->x + ((size_t)b * C + c) * HW, (size_t)HW, mean);
    bn_finish_stats(j, c, mean, sq, N, mean_out, invstd_out);
}

void cpu_bn_plane_sums(const float *r, size_t n, double sums[2])
{
    sums[0] = cpu_sum(r, n);
    sums[1] = cpu_sum_sqdev(r, n, (float)(sums[0] / (double)n));
}

/* bn_plane_stats from the planes' sums (j->pstats) instead of a pass over
 * them: the mean from the same plane sums in the same order (the same
 * bits), the squared deviations from it by plane as those from the
 * plane's own mean m_b (so they stay small where the mean is large
 * against the spread) plus the shift: sum (x - mean)^2 = sq_b + HW (m_b -
 * mean)^2 + 2 (m_b - mean) sum (x - m_b), whose last sum is zero up to the
 * rounding of m_b and is left out. */
static void bn_merged_stats(const BnJob *j, int c, float *mean_out, float *invstd_out)
{
    const int B = j->B, C = j->C;
    const double HW = j->HW, N = (double)B * HW;
    double sum = 0.0;
    for (int b = 0; b < B; b++) sum += j->pstats[2 * ((size_t)b * C + c)];
    float mean = (float)(sum / N);
    double sq = 0.0;
    for (int b = 0; b < B; b++) {
        const double *p = j->pstats + 2 * ((size_t)b * C + c);
        double d = (float)(p[0] / HW) - mean;
        sq += p[1] + HW * d * d;
    }
    bn_finish_stats(j, c, mean, sq > 0.0 ? sq : 0.0, N, mean_out, invstd_out);
}

static void bn_train_item(void *ctx, int item, int slot)
{
    (void)slot;
    const BnJob *j = ctx;
    const int B = j->B, C = j->C, HW = j->HW;
    const double N = (double)B * HW;
    int lo, hi;
    bn_range(j, item, &lo, &hi);
    if (HW == 1) {
        float *sum = j->save_mean, *sq = j->save_invstd; /* accumulators, then the outputs */
        for (int c = lo; c < hi; c++) sum[c] = sq[c] = 0.0f;
        for (int b = 0; b < B; b++) {
            const float *r = j->x + (size_t)b * C;
            for (int c = lo; c < hi; c++) sum[c] += r[c];
        }
        for (int c = lo; c < hi; c++) sum[c] = (float)(sum[c] / N);
        for (int b = 0; b < B; b++) {
            const float *r = j->x + (size_t)b * C;
            for (int c = lo; c < hi; c++) {
                float d = r[c] - sum[c];
                sq[c] += d * d;
            }
        }
        for (int c = lo; c < hi; c++) {
            double var = sq[c] / N;
            sq[c] = (float)(1.0 / sqrt(var + (double)j->eps));
            bn_update_running(j->running_mean, j->running_var, c, sum[c], var, N, j->momentum);
        }
        for (int b = 0; b < B; b++) {
            const float *r = j->x + (size_t)b * C;
            float *o = j->y + (size_t)b * C;
            for (int c = lo; c < hi; c++)
                o[c] = (r[c] - sum[c]) * (sq[c] * j->gamma[c]) + j->beta[c];
        }
        return;
    }
    for (int c = lo; c < hi; c++) {
        float mean, invstd;
        bn_plane_stats(j, c, &mean, &invstd);
        float a = invstd * j->gamma[c], bc = j->beta[c];
        for (int b = 0; b < B; b++) {
            const float *r = j->x + ((size_t)b * C + c) * HW;
            float *o = j->y + ((size_t)b * C + c) * HW;
            for (int i = 0; i < HW; i++) o[i] = (r[i] - mean) * a + bc;
        }
        j->save_mean[c] = mean;
        j->save_invstd[c] = invstd;
    }
}

/* Batch statistics over (B, HW), y = (x - mean) invstd gamma + beta. */
void batchnorm_forward_train_cpu(const float *x, const float *gamma, const float *beta, float *y,
                                 float *save_mean, float *save_invstd, float *running_mean,
                                 float *running_var, int B, int C, int HW, float momentum,
                                 float eps)
{
    BnJob j = {.x = x, .gamma = gamma, .beta = beta, .y = y, .save_mean = save_mean,
               .save_invstd = save_invstd, .running_mean = running_mean,
               .running_var = running_var, .B = B, .C = C, .HW = HW, .momentum = momentum,
               .eps = eps};
    cpu_parallel(bn_train_item, &j, bn_items(B, C, HW, &j.per_item), 0);
}

static void bn_eval_item(void *ctx, int item, int slot)
{
    (void)slot;
    const BnJob *j = ctx;
    const int B = j->B, C = j->C, HW = j->HW;
    int lo, hi;
    bn_range(j, item, &lo, &hi);
    if (HW == 1) {
        for (int b = 0; b < B; b++) {
            const float *r = j->x + (size_t)b * C;
            float *o = j->y + (size_t)b * C;
            for (int c = lo; c < hi; c++) {
                float invstd = 1.0f / sqrtf(j->rvar[c] + j->eps);
                o[c] = (r[c] - j->rmean[c]) * (invstd * j->gamma[c]) + j->beta[c];
            }
        }
        return;
    }
    for (int c = lo; c < hi; c++) {
        float a = 1.0f / sqrtf(j->rvar[c] + j->eps) * j->gamma[c];
        float m = j->rmean[c], bc = j->beta[c];
        for (int b = 0; b < B; b++) {
            const float *r = j->x + ((size_t)b * C + c) * HW;
            float *o = j->y + ((size_t)b * C + c) * HW;
            for (int i = 0; i < HW; i++) o[i] = (r[i] - m) * a + bc;
        }
    }
}

/* y = (x - running_mean) gamma / sqrt(running_var + eps) + beta */
void batchnorm_forward_eval_cpu(const float *x, const float *gamma, const float *beta,
                                const float *running_mean, const float *running_var, float *y,
                                int B, int C, int HW, float eps)
{
    BnJob j = {.x = x, .gamma = gamma, .beta = beta, .rmean = running_mean, .rvar = running_var,
               .y = y, .B = B, .C = C, .HW = HW, .eps = eps};
    cpu_parallel(bn_eval_item, &j, bn_items(B, C, HW, &j.per_item), 0);
}

static void bn_backward_item(void *ctx, int item, int slot)
{
    (void)slot;
    const BnJob *j = ctx;
    const int B = j->B, C = j->C, HW = j->HW;
    const double N = (double)B * HW;
    const float *gamma = j->gamma, *save_mean = j->mean, *save_invstd = j->invstd;
    float *dgamma = j->dgamma, *dbeta = j->dbeta;
    int lo, hi;
    bn_range(j, item, &lo, &hi);
    if (HW == 1) {
        for (int c = lo; c < hi; c++) dgamma[c] = dbeta[c] = 0.0f;
        for (int b = 0; b < B; b++) {
            const float *g = j->dy + (size_t)b * C, *r = j->x + (size_t)b * C;
            for (int c = lo; c < hi; c++) {
                dbeta[c] += g[c];
                dgamma[c] += g[c] * ((r[c] - save_mean[c]) * save_invstd[c]);
            }
        }
        float invN = (float)(1.0 / N);
        for (int b = 0; b < B; b++) {
            const float *g = j->dy + (size_t)b * C, *r = j->x + (size_t)b * C;
            float *d = j->dx + (size_t)b * C;
            for (int c = lo; c < hi; c++) {
                float xhat = (r[c] - save_mean[c]) * save_invstd[c];
                d[c] = gamma[c] * save_invstd[c] *
                       (g[c] - dbeta[c] * invN - xhat * (dgamma[c] * invN));
            }
        }
        return;
    }
    for (int c = lo; c < hi; c++) {
        float mean = save_mean[c], invstd = save_invstd[c];
        double sdy = 0.0, sdyx = 0.0;
        for (int b = 0; b < B; b++) {
            float p1, p2;
            size_t at = ((size_t)b * C + c) * HW;
            cpu_sum_dot_dev(j->dy + at, j->x + at, (size_t)HW, mean, invstd, &p1, &p2);
            sdy += p1;
            sdyx += p2;
        }
        float mdy = (float)(sdy / N), mdyx = (float)(sdyx / N), a = gamma[c] * invstd;
        for (int b = 0; b < B; b++) {
            size_t at = ((size_t)b * C + c) * HW;
            const float *g = j->dy + at, *r = j->x + at;
            float *d = j->dx + at;
            for (int i = 0; i < HW; i++) {
                float xhat = (r[i] - mean) * invstd;
                d[i] = a * (g[i] - mdy - xhat * mdyx);
            }
        }
        dgamma[c] = (float)sdyx;
        dbeta[c] = (float)sdy;
    }
}

/* dbeta = sum dy; dgamma = sum dy xhat;
 * dx = gamma invstd (dy - dbeta / N - xhat dgamma / N) */
void batchnorm_backward_cpu(const float *dy, const float *x, const float *gamma,
                            const float *save_mean, const float *save_invstd, float *dx,
                            float *dgamma, float *dbeta, int B, int C, int HW)
{
    BnJob j = {.x = x, .dy = dy, .gamma = gamma, .mean = save_mean, .invstd = save_invstd,
               .dx = dx, .dgamma = dgamma, .dbeta = dbeta, .B = B, .C = C, .HW = HW};
    cpu_parallel(bn_backward_item, &j, bn_items(B, C, HW, &j.per_item), 0);
}

/* ---- batch norm + activation + max pool (batchnorm_act_pool_*) ------------------ */

/* The backward's per-plane sums (B, C, 2 doubles), in floats, rounded up
 * to whole cache lines. */
static size_t bn_psums_floats(int B, int C) { return ((size_t)B * C * 4 + 15) / 16 * 16; }

/* The forward: one (H, W) plane of scratch per thread slot; the backward:
 * the per-plane sums, then one plane per slot. */
size_t batchnorm_act_pool_workspace_floats_cpu(const FusedGroup *g)
{
    const ConvShape *s = &g->s;
    return bn_psums_floats(s->B, s->OC) + (size_t)cpu_ws_slots() * s->OH * s->OW;
}

/* The job of a batch norm group: x (B, OC, OH, OW) of g is the batch
 * norm's input t->x, with the other tensors of t; ws and the fields of one
 * pass are the caller's. */
static BnJob bn_group_job(const FusedGroup *g, const FusedTensors *t)
{
    const ConvShape *s = &g->s;
    return (BnJob){.x = t->x, .dy = t->dy, .gamma = t->gamma, .beta = t->beta,
                   .mean = t->save_mean, .invstd = t->save_invstd, .y = t->y, .dx = t->dx,
                   .save_mean = t->save_mean, .save_invstd = t->save_invstd,
                   .running_mean = t->running_mean, .running_var = t->running_var,
                   .dgamma = t->dgamma, .dbeta = t->dbeta, .rmean = t->running_mean,
                   .rvar = t->running_var, .B = s->B, .C = s->OC, .HW = s->OH * s->OW,
                   .momentum = g->momentum, .eps = g->eps, .H = s->OH, .W = s->OW,
                   .pool = g->pool, .act = g->act, .idx = t->idx, .cidx = t->idx, .yc = t->y};
}

/* Floats of a plane after the pooling (the plane's own without it). */
static size_t bn_pooled_floats(const BnJob *j)
{
    return j->pool > 1 ? (size_t)(j->H / j->pool) * (j->W / j->pool) : (size_t)j->HW;
}

/* Channel c's batch statistics: from the planes' sums (j->pstats) or two
 * passes over its planes; running statistics updated. */
static void bn_stats_item(void *ctx, int c, int slot)
{
    (void)slot;
    const BnJob *j = ctx;
    if (j->pstats)
        bn_merged_stats(j, c, &j->save_mean[c], &j->save_invstd[c]);
    else
        bn_plane_stats(j, c, &j->save_mean[c], &j->save_invstd[c]);
}

/* Image b, channel by channel: the normalized plane (into scratch), the
 * activation and the pooling. By image rather than by channel: the image's
 * planes are contiguous (one stream to read, not B strided ones), and the
 * conv before wrote them by image too. */
static void bn_act_pool_item(void *ctx, int b, int slot)
{
    const BnJob *j = ctx;
    const int C = j->C, HW = j->HW, P = j->pool;
    size_t yp = bn_pooled_floats(j);
    float *t = j->ws + (size_t)slot * HW;
    for (int c = 0; c < C; c++) {
        /* the same expressions as the plain ops: train (x - mean) * (invstd
         * * gamma) + beta; eval (x - mean) * (1 / sqrt(var + eps) * gamma)
         * + beta */
        float mean, invstd;
        if (j->train) {
            mean = j->save_mean[c];
            invstd = j->save_invstd[c];
        } else {
            mean = j->rmean[c];
            invstd = 1.0f / sqrtf(j->rvar[c] + j->eps);
        }
        float a = invstd * j->gamma[c], bc = j->beta[c];
        const float *r = j->x + ((size_t)b * C + c) * HW;
        size_t at = ((size_t)b * C + c) * yp;
        float *o = P > 1 ? t : j->y + at;
        for (int i = 0; i < HW; i++) o[i] = (r[i] - mean) * a + bc;
        cpu_act_forward_range(j->act, o, o, (size_t)HW);
        if (P > 1)
            cpu_maxpool_plane(t, j->zpw ? r : NULL, j->H, j->W, P, j->y + at,
                              j->idx ? j->idx + at : NULL, j->zpw ? j->zpw + at : NULL);
    }
}

/* batchnorm_act_pool_forward_cpu, and with pstats (train) its statistics
 * from the planes' sums (a few flops per plane: no threads); zp: x at the
 * pooled places (NULL: not kept) */
static void bn_act_pool_forward(const FusedGroup *g, const FusedTensors *t, int train,
                                const double *pstats, float *zp, float *ws)
{
    NN_CHECK(g->act != ACT_GELU, "batchnorm_act_pool_forward: GELU is not fused");
    BnJob j = bn_group_job(g, t);
    j.pstats = pstats;
    j.zpw = zp;
    j.train = train;
    j.ws = ws;
    if (train) cpu_parallel(bn_stats_item, &j, j.C, pstats ? 1 : 0);
    cpu_parallel(bn_act_pool_item, &j, j.B, cpu_ws_slots());
}

void batchnorm_act_pool_forward_cpu(const FusedGroup *g, const FusedTensors *t, int train)
{
    bn_act_pool_forward(g, t, train, NULL, NULL, t->ws);
}

void cpu_bn_act_pool_train_planes(const FusedGroup *g, const FusedTensors *t,
                                  const double *pstats, float *ws)
{
    bn_act_pool_forward(g, t, 1, pstats, g->pool > 1 ? t->zp : NULL, ws);
}

/* Plane (b, c)'s sums of the batch norm's output gradient, which is
 * act_backward of the pooled gradient where a window took its max and 0
 * elsewhere: over those places only (cpu_sum_dot_dev), s[0] = sum dy,
 * s[1] = sum dy xhat. The gradients at the pooled places go to g (yp
 * floats); without zp, x at those places is gathered into v (yp floats). */
static void bn_pool_plane_sums(const BnJob *j, int b, int c, float *g, float *v, double s[2])
{
    const int C = j->C, HW = j->HW;
    size_t yp = bn_pooled_floats(j), at = ((size_t)b * C + c) * yp;
    /* the values at the pooled places: kept (zp), every place, or gathered at idx */
    const float *r = j->zp ? j->zp + at : j->x + ((size_t)b * C + c) * HW;
    if (j->pool > 1 && !j->zp) {
        for (size_t t = 0; t < yp; t++) v[t] = r[j->cidx[at + t]];
        r = v;
    }
    float s1, s2;
    cpu_act_backward_range(j->act, j->yc + at, j->yc + at, j->dy + at, g, yp);
    cpu_sum_dot_dev(g, r, yp, j->mean[c], j->invstd[c], &s1, &s2);
    s[0] = s1;
    s[1] = s2;
}

/* dx = a g + c0 - (x - mean) c1 over plane r (HW floats), with the
 * gradients g at the pooled places idx (yp of them; NULL: every place):
 * the part without g everywhere, then a g added at idx. */
static void bn_pool_plane_dx(const float *r, const float *g, const int32_t *idx, size_t HW,
                             size_t yp, float mean, const float coef[3], float *d)
{
    const float a = coef[0], c0 = coef[1], c1 = coef[2];
    if (!idx) { /* every place has its gradient */
        for (size_t i = 0; i < HW; i++) d[i] = a * g[i] + (c0 - (r[i] - mean) * c1);
        return;
    }
    for (size_t i = 0; i < HW; i++) d[i] = c0 - (r[i] - mean) * c1;
    for (size_t t = 0; t < yp; t++) d[idx[t]] += a * g[t];
}

void cpu_bn_act_pool_plane_dx(const FusedGroup *g, const FusedTensors *t, size_t plane,
                              float *gs, float *dx)
{
    const ConvShape *s = &g->s;
    const int pool = g->pool, C = s->OC;
    const size_t HW = (size_t)s->OH * s->OW;
    const size_t yp = pool > 1 ? (size_t)(s->OH / pool) * (s->OW / pool) : HW;
    const int c = (int)(plane % (size_t)C);
    /* coef = {a, c0, c1} = {gamma invstd, -a dbeta / N, a invstd dgamma / N}, N = B H W */
    const double N = (double)s->B * HW, a = (double)t->gamma[c] * t->save_invstd[c];
    const float coef[3] = {(float)a, (float)(-a * t->dbeta[c] / N),
                           (float)(a * t->save_invstd[c] * t->dgamma[c] / N)};
    const float *y = t->y + plane * yp;
    cpu_act_backward_range(g->act, y, y, t->dy + plane * yp, gs, yp);
    bn_pool_plane_dx(t->x + plane * HW, gs, pool > 1 ? t->idx + plane * yp : NULL, HW, yp,
                     t->save_mean[c], coef, dx);
}

/* Image b: each channel's plane sums (bn_pool_plane_sums) into the
 * partials j->psums (B, C, 2). */
static void bn_pool_sums_item(void *ctx, int b, int slot)
{
    const BnJob *j = ctx;
    size_t yp = bn_pooled_floats(j);
    float *g = j->ws + (size_t)slot * j->HW; /* 2 yp <= HW when pooling */
    for (int c = 0; c < j->C; c++)
        bn_pool_plane_sums(j, b, c, g, g + yp, j->psums + 2 * ((size_t)b * j->C + c));
}

/* The sums by image (the planes of dy, y, idx and zp are contiguous
 * there), then per channel the planes' in double in image order. ws: the
 * partials, then the slots' scratch. */
void cpu_bn_act_pool_sums(const FusedGroup *g, const FusedTensors *t, const float *zp, float *ws)
{
    BnJob j = bn_group_job(g, t);
    j.zp = g->pool > 1 ? zp : NULL;
    j.psums = (double *)ws;
    j.ws = ws + bn_psums_floats(j.B, j.C);
    cpu_parallel(bn_pool_sums_item, &j, j.B, cpu_ws_slots());
    for (int c = 0; c < j.C; c++) {
        double sdy = 0.0, sdyx = 0.0;
        for (int b = 0; b < j.B; b++) {
            sdy += j.psums[2 * ((size_t)b * j.C + c)];
            sdyx += j.psums[2 * ((size_t)b * j.C + c) + 1];
        }
        t->dgamma[c] = (float)sdyx;
        t->dbeta[c] = (float)sdy;
    }
}

/* Image b: the dx planes of its channels (cpu_bn_act_pool_plane_dx). */
static void bn_act_pool_dx_item(void *ctx, int b, int slot)
{
    const BnDxJob *j = ctx;
    size_t HW = (size_t)j->g->s.OH * j->g->s.OW;
    for (int c = 0; c < j->g->s.OC; c++) {
        size_t plane = (size_t)b * j->g->s.OC + c;
        cpu_bn_act_pool_plane_dx(j->g, j->t, plane, j->ws + (size_t)slot * HW, j->t->dx + plane * HW);
    }
}

/* The sums (x gathered at idx), then dx by image, as the conv's op does. */
void batchnorm_act_pool_backward_cpu(const FusedGroup *g, const FusedTensors *t)
{
    NN_CHECK(g->act != ACT_GELU, "batchnorm_act_pool_backward: GELU is not fused");
    cpu_bn_act_pool_sums(g, t, NULL, t->ws);
    BnDxJob j = {g, t, t->ws + bn_psums_floats(g->s.B, g->s.OC)};
    cpu_parallel(bn_act_pool_dx_item, &j, g->s.B, cpu_ws_slots());
}
