/* ref.c - the reference backend: plain loops that are the specification of
 * every op in backend.h. The cpu and cuda backends are tested against it,
 * and it is tested by finite differences (tests/unit/test_gradcheck.c) and
 * against PyTorch.
 *
 * Rules of this file: obvious index arithmetic, one op per function, no
 * tuning. Sums and transcendental functions are evaluated in double and
 * rounded once to float, so that ref is at least as accurate as the
 * backends checked against it. Shapes and layouts as in backend.h. The
 * fused ops are in ref_fused.c, the table in ref_table.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/ref/ref.h"
#include "nnsweep/rng.h"

/* ---- memory (host) -------------------------------------------------------- */

/* Zeroed host memory, NULL when out of memory. */
void *alloc_ref(size_t bytes) { return calloc(bytes ? bytes : 1, 1); }

void free_ref(void *p) { free(p); }

void upload_ref(void *dst, const void *host_src, size_t bytes)
{
    if (bytes) memcpy(dst, host_src, bytes);
}

void download_ref(void *host_dst, const void *src, size_t bytes)
{
    if (bytes) memcpy(host_dst, src, bytes);
}

void copy_ref(void *dst, const void *src, size_t bytes)
{
    if (bytes && dst != src) memmove(dst, src, bytes);
}

void zero_ref(void *p, size_t bytes)
{
    if (bytes) memset(p, 0, bytes);
}

void sync_ref(void) {}

/* ---- batches -------------------------------------------------------------- */

/* x[i] = (crop_flip(images[idx[i]]) / 255 - mean) / std, y[i] = labels[idx[i]];
 * draw i = rng_u32_at(seed, hi, i): flip when bit 0 is set, crop window at row
 * (draw >> 1) % 9, column (draw >> 5) % 9 of the zero-padded 40x40 image. */
void gather_batch_ref(const uint8_t *images, const uint8_t *labels, const int32_t *idx,
                      int B, const BatchSpec *spec, float *x /* (B, 3, 32, 32) */,
                      int32_t *y /* (B) */)
{
    const int S = NN_IMG_SIDE;
    for (int i = 0; i < B; i++) {
        const uint8_t *img = images + (size_t)idx[i] * NN_IMG_PIXELS; /* (3, 32, 32) */
        uint32_t draw = 0;
        if (spec->augment != AUG_NONE) draw = rng_u32_at(spec->seed, spec->hi, (uint64_t)i);
        int flip = spec->augment != AUG_NONE && (draw & 1u);
        /* top-left corner of the window in the padded image; NN_CROP_PAD = no shift */
        int row0 = NN_CROP_PAD, col0 = NN_CROP_PAD;
        if (spec->augment == AUG_CROP_FLIP) {
            row0 = (int)((draw >> 1) % NN_CROP_SPAN);
            col0 = (int)((draw >> 5) % NN_CROP_SPAN);
        }
        for (int c = 0; c < NN_IMG_CH; c++) {
            for (int h = 0; h < S; h++) {
                for (int w = 0; w < S; w++) {
                    int wc = flip ? S - 1 - w : w;          /* column of the cropped image */
                    int rh = row0 + h - NN_CROP_PAD;        /* row in the raw image */
                    int rw = col0 + wc - NN_CROP_PAD;       /* column in the raw image */
                    int inside = rh >= 0 && rh < S && rw >= 0 && rw < S;
                    uint8_t v = inside ? img[(c * S + rh) * S + rw] : 0;
                    x[(((size_t)i * NN_IMG_CH + c) * S + h) * S + w] =
                        ((float)v / 255.0f - spec->mean[c]) / spec->std[c];
                }
            }
        }
        y[i] = labels[idx[i]];
    }
}

/* ---- dense layer ------------------------------------------------------------ */

/* y[b][o] = bias[o] + sum_c x[b][c] * w[o][c]  (bias may be NULL)
 * https://pytorch.org/docs/stable/generated/torch.nn.Linear.html */
void linear_forward_ref(const float *x /* (B, C) */, const float *w /* (OC, C) */,
                        const float *bias /* (OC) */, float *y /* (B, OC) */, int B, int C,
                        int OC)
{
    for (int b = 0; b < B; b++) {
        for (int o = 0; o < OC; o++) {
            double acc = bias ? bias[o] : 0.0;
            for (int c = 0; c < C; c++) acc += (double)x[(size_t)b * C + c] * w[(size_t)o * C + c];
            y[(size_t)b * OC + o] = (float)acc;
        }
    }
}

/* dx[b][c] = sum_o dy[b][o] w[o][c] (also ref_fused.c's) */
void linear_backward_dx_ref(const float *dy /* (B, OC) */, const float *w /* (OC, C) */,
                            float *dx /* (B, C) */, int B, int C, int OC)
{
    for (int b = 0; b < B; b++) {
        for (int c = 0; c < C; c++) {
            double acc = 0.0;
            for (int o = 0; o < OC; o++) acc += (double)dy[(size_t)b * OC + o] * w[(size_t)o * C + c];
            dx[(size_t)b * C + c] = (float)acc;
        }
    }
}

/* dx as linear_backward_dx_ref;  dw[o][c] = sum_b dy[b][o] x[b][c];
 * db[o] = sum_b dy[b][o]  (dx, db may be NULL) */
void linear_backward_ref(const float *dy /* (B, OC) */, const float *x /* (B, C) */,
                         const float *w /* (OC, C) */, float *dx /* (B, C) */,
                         float *dw /* (OC, C) */, float *db /* (OC) */, int B, int C, int OC)
{
    if (dx) linear_backward_dx_ref(dy, w, dx, B, C, OC);
    for (int o = 0; o < OC; o++) {
        for (int c = 0; c < C; c++) {
            double acc = 0.0;
            for (int b = 0; b < B; b++) acc += (double)dy[(size_t)b * OC + o] * x[(size_t)b * C + c];
            dw[(size_t)o * C + c] = (float)acc;
        }
    }
    if (db) {
        for (int o = 0; o < OC; o++) {
            double acc = 0.0;
            for (int b = 0; b < B; b++) acc += dy[(size_t)b * OC + o];
            db[o] = (float)acc;
        }
    }
}

/* ---- convolution -------------------------------------------------------------- */

/* Index helpers for NCHW and (OC, C, K, K) layouts. */
#define AT4(n1, n2, n3, i0, i1, i2, i3) ((((size_t)(i0) * (n1) + (i1)) * (n2) + (i2)) * (n3) + (i3))

/* The direct convolution needs no scratch space; the fused ops of
 * ref_fused.c keep their intermediate tensors there (two of (B, OC, OH, OW)). */
size_t conv2d_workspace_floats_ref(const ConvShape *s)
{
    return 2 * (size_t)s->B * s->OC * s->OH * s->OW;
}

/* y[b][o][i][j] = bias[o] + sum_{c,p,q} x[b][c][i+p-pad][j+q-pad] w[o][c][p][q]
 * (zero outside x); https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html */
void conv2d_forward_ref(const float *x /* (B, C, H, W) */, const float *w /* (OC, C, K, K) */,
                        const float *bias /* (OC) */, float *y /* (B, OC, OH, OW) */,
                        const ConvShape *s, float *ws)
{
    (void)ws;
    for (int b = 0; b < s->B; b++)
        for (int o = 0; o < s->OC; o++)
            for (int i = 0; i < s->OH; i++)
                for (int j = 0; j < s->OW; j++) {
                    double acc = bias ? bias[o] : 0.0;
                    for (int c = 0; c < s->C; c++)
                        for (int p = 0; p < s->K; p++)
                            for (int q = 0; q < s->K; q++) {
                                int h = i + p - s->pad, v = j + q - s->pad;
                                if (h < 0 || h >= s->H || v < 0 || v >= s->W) continue;
                                acc += (double)x[AT4(s->C, s->H, s->W, b, c, h, v)] *
                                       w[AT4(s->C, s->K, s->K, o, c, p, q)];
                            }
                    y[AT4(s->OC, s->OH, s->OW, b, o, i, j)] = (float)acc;
                }
}

/* dx[b][c][h][v] = sum_{o,p,q} dy[b][o][h-p+pad][v-q+pad] w[o][c][p][q];
 * dw[o][c][p][q] = sum_{b,i,j} dy[b][o][i][j] x[b][c][i+p-pad][j+q-pad];
 * db[o] = sum_{b,i,j} dy[b][o][i][j]  (dx, db may be NULL) */
void conv2d_backward_ref(const float *dy /* (B, OC, OH, OW) */, const float *x,
                         const float *w, float *dx /* (B, C, H, W) */,
                         float *dw /* (OC, C, K, K) */, float *db /* (OC) */,
                         const ConvShape *s, float *ws)
{
    (void)ws;
    if (dx) {
        for (int b = 0; b < s->B; b++)
            for (int c = 0; c < s->C; c++)
                for (int h = 0; h < s->H; h++)
                    for (int v = 0; v < s->W; v++) {
                        double acc = 0.0;
                        for (int o = 0; o < s->OC; o++)
                            for (int p = 0; p < s->K; p++)
                                for (int q = 0; q < s->K; q++) {
                                    int i = h - p + s->pad, j = v - q + s->pad;
                                    if (i < 0 || i >= s->OH || j < 0 || j >= s->OW) continue;
                                    acc += (double)dy[AT4(s->OC, s->OH, s->OW, b, o, i, j)] *
                                           w[AT4(s->C, s->K, s->K, o, c, p, q)];
                                }
                        dx[AT4(s->C, s->H, s->W, b, c, h, v)] = (float)acc;
                    }
    }
    for (int o = 0; o < s->OC; o++)
        for (int c = 0; c < s->C; c++)
            for (int p = 0; p < s->K; p++)
                for (int q = 0; q < s->K; q++) {
                    double acc = 0.0;
                    for (int b = 0; b < s->B; b++)
                        for (int i = 0; i < s->OH; i++)
                            for (int j = 0; j < s->OW; j++) {
                                int h = i + p - s->pad, v = j + q - s->pad;
                                if (h < 0 || h >= s->H || v < 0 || v >= s->W) continue;
                                acc += (double)dy[AT4(s->OC, s->OH, s->OW, b, o, i, j)] *
                                       x[AT4(s->C, s->H, s->W, b, c, h, v)];
                            }
                    dw[AT4(s->C, s->K, s->K, o, c, p, q)] = (float)acc;
                }
    if (db) {
        for (int o = 0; o < s->OC; o++) {
            double acc = 0.0;
            for (int b = 0; b < s->B; b++)
                for (int i = 0; i < s->OH; i++)
                    for (int j = 0; j < s->OW; j++) acc += dy[AT4(s->OC, s->OH, s->OW, b, o, i, j)];
            db[o] = (float)acc;
        }
    }
}

/* ---- max pooling ------------------------------------------------------------ */

/* y = max over each PxP window; idx = h*W+w of the first max in scan order,
 * a NaN replaces the running max (PyTorch: `if (v > max || isnan(v))`, so
 * with several NaNs the last one's index is kept).
 * https://pytorch.org/docs/stable/generated/torch.nn.MaxPool2d.html */
void maxpool2d_forward_ref(const float *x /* (B, C, H, W) */, float *y /* (B, C, OH, OW) */,
                           int32_t *idx /* (B, C, OH, OW) or NULL */, const PoolShape *s)
{
    for (int n = 0; n < s->B * s->C; n++) {
        const float *plane = x + (size_t)n * s->H * s->W;
        for (int i = 0; i < s->OH; i++)
            for (int j = 0; j < s->OW; j++) {
                float best = -INFINITY;
                int best_at = (i * s->P) * s->W + j * s->P;
                for (int p = 0; p < s->P; p++)
                    for (int q = 0; q < s->P; q++) {
                        int at = (i * s->P + p) * s->W + (j * s->P + q);
                        float v = plane[at];
                        if (v > best || isnan(v)) {
                            best = v;
                            best_at = at;
                        }
                    }
                size_t o = ((size_t)n * s->OH + i) * s->OW + j;
                y[o] = best;
                if (idx) idx[o] = best_at;
            }
    }
}

/* dx[plane][idx] += dy, zero elsewhere */
void maxpool2d_backward_ref(const float *dy /* (B, C, OH, OW) */, const int32_t *idx,
                            float *dx /* (B, C, H, W) */, const PoolShape *s)
{
    memset(dx, 0, sizeof(float) * (size_t)s->B * s->C * s->H * s->W);
    for (int n = 0; n < s->B * s->C; n++)
        for (int k = 0; k < s->OH * s->OW; k++) {
            size_t o = (size_t)n * s->OH * s->OW + k;
            dx[(size_t)n * s->H * s->W + idx[o]] += dy[o];
        }
}

/* ---- batch norm, x (B, C, HW) ------------------------------------------------- */

#define BN_AT(b, c, i) (((size_t)(b) * C + (c)) * HW + (i))

/* mean = E[x], var = E[(x - mean)^2] over (B, HW);
 * y = (x - mean) / sqrt(var + eps) * gamma + beta;
 * running = (1 - m) running + m stat, with var * N / (N - 1) for running_var.
 * N == 1 (PyTorch refuses it in training) keeps the biased 0 instead of 0/0.
 * https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html */
void batchnorm_forward_train_ref(const float *x, const float *gamma, const float *beta,
                                 float *y, float *save_mean, float *save_invstd,
                                 float *running_mean, float *running_var, int B, int C,
                                 int HW, float momentum, float eps)
{
    double N = (double)B * HW;
    for (int c = 0; c < C; c++) {
        double sum = 0.0;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < HW; i++) sum += x[BN_AT(b, c, i)];
        double mean = sum / N;
        double sq = 0.0;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < HW; i++) {
                double d = x[BN_AT(b, c, i)] - mean;
                sq += d * d;
            }
        double var = sq / N;
        double invstd = 1.0 / sqrt(var + (double)eps);
        for (int b = 0; b < B; b++)
            for (int i = 0; i < HW; i++)
                y[BN_AT(b, c, i)] =
                    (float)((x[BN_AT(b, c, i)] - mean) * invstd * gamma[c] + beta[c]);
        save_mean[c] = (float)mean;
        save_invstd[c] = (float)invstd;
        double unbiased = N > 1 ? var * N / (N - 1) : var;
        running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mean);
        running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unbiased);
    }
}

/* y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta */
void batchnorm_forward_eval_ref(const float *x, const float *gamma, const float *beta,
                                const float *running_mean, const float *running_var,
                                float *y, int B, int C, int HW, float eps)
{
    for (int c = 0; c < C; c++) {
        double invstd = 1.0 / sqrt((double)running_var[c] + eps);
        for (int b = 0; b < B; b++)
            for (int i = 0; i < HW; i++)
                y[BN_AT(b, c, i)] = (float)((x[BN_AT(b, c, i)] - (double)running_mean[c]) * invstd *
                                                gamma[c] + beta[c]);
    }
}

/* xhat = (x - mean) invstd; dbeta = sum dy; dgamma = sum dy xhat;
 * dx = gamma invstd (dy - dbeta / N - xhat dgamma / N) */
void batchnorm_backward_ref(const float *dy, const float *x, const float *gamma,
                            const float *save_mean, const float *save_invstd, float *dx,
                            float *dgamma, float *dbeta, int B, int C, int HW)
{
    double N = (double)B * HW;
    for (int c = 0; c < C; c++) {
        double mean = save_mean[c], invstd = save_invstd[c];
        double sdy = 0.0, sdyx = 0.0;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < HW; i++) {
                double g = dy[BN_AT(b, c, i)];
                sdy += g;
                sdyx += g * (x[BN_AT(b, c, i)] - mean) * invstd;
            }
        for (int b = 0; b < B; b++)
            for (int i = 0; i < HW; i++) {
                double xhat = (x[BN_AT(b, c, i)] - mean) * invstd;
                dx[BN_AT(b, c, i)] = (float)(gamma[c] * invstd *
                                             (dy[BN_AT(b, c, i)] - sdy / N - xhat * sdyx / N));
            }
        dgamma[c] = (float)sdyx;
        dbeta[c] = (float)sdy;
    }
}

#undef BN_AT

/* ---- activations ------------------------------------------------------------- */

#define NN_SQRT1_2 0.70710678118654752440
#define NN_INV_SQRT_2PI 0.39894228040143267794

/* relu max(x, 0) (NaN passes); tanh; sigmoid 1 / (1 + e^-x);
 * gelu x Phi(x) = x (1 + erf(x / sqrt 2)) / 2; leaky x > 0 ? x : 0.01 x
 * https://pytorch.org/docs/stable/generated/torch.nn.GELU.html, torch.nn.LeakyReLU.html, ... */
static float act_value_ref(ActKind k, float xf)
{
    double x = xf;
    switch (k) {
    case ACT_RELU: return xf < 0.0f ? 0.0f : xf;
    case ACT_TANH: return (float)tanh(x);
    case ACT_SIGMOID: return (float)(1.0 / (1.0 + exp(-x)));
    case ACT_GELU: return (float)(0.5 * x * (1.0 + erf(x * NN_SQRT1_2)));
    case ACT_LEAKY_RELU: return xf > 0.0f ? xf : xf * NN_LEAKY_SLOPE;
    default: nn_fatal("activation kind %d out of range", (int)k);
    }
}

/* f'(x) as PyTorch's backward kernels: relu y <= 0 ? 0 : 1 (on the output);
 * tanh 1 - y^2; sigmoid y (1 - y); gelu Phi(x) + x phi(x); leaky x > 0 ? 1 : 0.01 */
static float act_grad_ref(ActKind k, float xf, float yf, float g)
{
    double x = xf, y = yf;
    switch (k) {
    case ACT_RELU: return yf <= 0.0f ? 0.0f : g;
    case ACT_TANH: return (float)(g * (1.0 - y * y));
    case ACT_SIGMOID: return (float)(g * (1.0 - y) * y);
    case ACT_GELU: {
        double cdf = 0.5 * (1.0 + erf(x * NN_SQRT1_2));
        double pdf = NN_INV_SQRT_2PI * exp(-0.5 * x * x);
        return (float)(g * (cdf + x * pdf));
    }
    case ACT_LEAKY_RELU: return xf > 0.0f ? g : g * NN_LEAKY_SLOPE;
    default: nn_fatal("activation kind %d out of range", (int)k);
    }
}

/* y = f(x) */
void act_forward_ref(ActKind k, const float *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = act_value_ref(k, x[i]);
}

/* dx = dy * f'(x) */
void act_backward_ref(ActKind k, const float *x, const float *y, const float *dy, float *dx,
                      size_t n)
{
    for (size_t i = 0; i < n; i++) dx[i] = act_grad_ref(k, x[i], y[i], dy[i]);
}

/* ---- dropout and elementwise product ------------------------------------------ */

/* group g = i / group kept when rng_uniform_at(seed, hi, g) >= p;
 * mask = kept / (1 - p) (0 when p >= 1), y = x * mask
 * https://pytorch.org/docs/stable/generated/torch.nn.Dropout.html, torch.nn.Dropout2d.html */
void dropout_forward_ref(const float *x, float *y, float *mask, size_t n, int group, float p,
                         uint64_t seed, uint64_t hi)
{
    NN_CHECK(group >= 1, "dropout: group %d < 1", group);
    float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    for (size_t i = 0; i < n; i++) {
        uint64_t g = i / (size_t)group;
        int kept = rng_uniform_at(seed, hi, g) >= p;
        mask[i] = kept ? scale : 0.0f;
        y[i] = x[i] * mask[i];
    }
}

/* y = a * b */
void mul_ref(const float *a, const float *b, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = a[i] * b[i];
}

/* ---- loss ------------------------------------------------------------------------ */

/* logp = l - logsumexp(l); loss = -(1 - ls) logp[label] - ls / K sum_k logp[k];
 * dlogits = (softmax - ((1 - ls) onehot + ls / K)) / B;
 * acc[0] += sum loss, acc[1] += (first argmax == label)
 * https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html */
void softmax_xent_ref(const float *logits /* (B, K) */, const int32_t *labels /* (B) */,
                      int B, int K, float label_smoothing, float *dlogits /* (B, K) */,
                      double *acc /* [2] */)
{
    double ls = label_smoothing;
    for (int b = 0; b < B; b++) {
        const float *l = logits + (size_t)b * K;
        int label = labels[b];
        NN_CHECK(label >= 0 && label < K, "softmax_xent: label %d of sample %d not in [0, %d)", label,
                 b, K);
        int arg = 0;
        for (int k = 1; k < K; k++)
            if (l[k] > l[arg]) arg = k;
        double m = l[arg], sum_exp = 0.0;
        for (int k = 0; k < K; k++) sum_exp += exp(l[k] - m);
        double lse = m + log(sum_exp);
        double sum_logp = 0.0;
        for (int k = 0; k < K; k++) sum_logp += l[k] - lse;
        acc[0] += -(1.0 - ls) * (l[label] - lse) - ls / K * sum_logp;
        acc[1] += arg == label;
        if (dlogits) {
            for (int k = 0; k < K; k++) {
                double target = (k == label ? 1.0 - ls : 0.0) + ls / K;
                dlogits[(size_t)b * K + k] = (float)((exp(l[k] - lse) - target) / B);
            }
        }
    }
}

/* ---- optimizers --------------------------------------------------------------------- */

/* g' = g + wd w; buf = first ? g' : momentum buf + g';
 * d = nesterov ? g' + momentum buf : buf (g' when momentum == 0); w -= lr d
 * https://pytorch.org/docs/stable/generated/torch.optim.SGD.html (dampening 0) */
void sgd_step_ref(float *w, const float *g, float *buf, size_t n, float lr, float momentum,
                  float wd, int nesterov, int first)
{
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        if (wd != 0.0f) gi = gi + wd * w[i];
        float d = gi;
        if (momentum != 0.0f) {
            buf[i] = first ? gi : momentum * buf[i] + gi;
            d = nesterov ? gi + momentum * buf[i] : buf[i];
        }
        w[i] = w[i] - lr * d;
    }
}

/* Adam (decoupled = 0: g' = g + wd w) or AdamW (decoupled = 1: w *= 1 - lr wd);
 * m = b1 m + (1 - b1) g'; v = b2 v + (1 - b2) g'^2;
 * w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * https://pytorch.org/docs/stable/generated/torch.optim.Adam.html, torch.optim.AdamW.html */
void adam_step_ref(float *w, const float *g, float *m, float *v, size_t n, float lr,
                   float beta1, float beta2, float eps, float wd, int decoupled, int step)
{
    NN_CHECK(step >= 1, "adam_step: step %d, counts from 1", step);
    /* scalars in double, rounded once, as PyTorch computes them in Python */
    double bc1 = 1.0 - pow(beta1, step), bc2 = 1.0 - pow(beta2, step);
    float step_size = (float)(lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
    float decay = (float)(1.0 - (double)lr * wd);
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        if (wd != 0.0f) {
            if (decoupled)
                w[i] = w[i] * decay;
            else
                gi = gi + wd * w[i];
        }
        m[i] = beta1 * m[i] + (1.0f - beta1) * gi;
        v[i] = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        w[i] = w[i] - step_size * m[i] / denom;
    }
}
