/* gp.c - Gaussian-process regression for the Bayesian search (gp.h). */
#include "sweep/gp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nnsweep/core.h"
#include "sweep/detmath.h"

/* Priors and box of the hyperparameters (inputs in [0, 1], targets
 * standardized). The lengthscale prior's median 1 with a factor-e spread
 * spans "a few bumps over the cube" to "nearly linear" (median 0.5 wasted
 * early proposals on the cube's corners: bench/README.md); the box keeps l in
 * [0.01, 30] (beyond 30 a dimension is flat), sf2 in [0.01, 100], sn2 in
 * [1e-8, 1]: a noise floor of 1e-4 standard deviations resolves the last
 * 1% of a smooth optimum, and jitter covers the conditioning. */
#define GP_LOG_LS_MU 0.0 /* log 1 */
#define GP_LOG_LS_SD 1.0
#define GP_LOG_SF2_SD 1.0
#define GP_LOG_SN2_MU (-9.210340371976184) /* log 1e-4 */
#define GP_LOG_SN2_SD 2.0
#define SQRT5 2.23606797749978969641

void gp_theta_bounds(int n_dims, int i, double *lo, double *hi)
{
    if (i < n_dims) {
        *lo = -4.605170185988091; /* log 0.01 */
        *hi = 3.4011973816621555; /* log 30 */
    } else if (i == n_dims) {
        *lo = -4.605170185988091; /* log 0.01 */
        *hi = 4.605170185988091;  /* log 100 */
    } else {
        *lo = -18.420680743952367; /* log 1e-8 */
        *hi = 0;
    }
}

/* Scaled squared distance r^2 with inv_l2[d] = 1 / l_d^2. */
static double dist2(const double *inv_l2, const unsigned char *cat, int n_dims, const double *x,
                    const double *x2)
{
    double r2 = 0;
    for (int d = 0; d < n_dims; d++) {
        double delta = cat[d] ? (x[d] != x2[d]) : x[d] - x2[d];
        r2 += delta * delta * inv_l2[d];
    }
    return r2;
}

static double matern52(double r2, double sf2)
{
    double s5r = SQRT5 * sqrt(r2);
    return sf2 * (1 + s5r + (5.0 / 3.0) * r2) * det_exp(-s5r);
}

static void inv_lengthscales2(const double *theta, int n_dims, double *inv_l2)
{
    for (int d = 0; d < n_dims; d++)
        inv_l2[d] = det_exp(-2 * theta[d]);
}

/* K (lower triangle, row-major, n x n) without noise. */
static void gram(const GpData *d, const double *theta, double *K)
{
    int n = d->n, D = d->n_dims;
    double *inv_l2 = nn_malloc(sizeof(double) * (size_t)D);
    inv_lengthscales2(theta, D, inv_l2);
    double sf2 = det_exp(theta[D]);
    for (int i = 0; i < n; i++)
        for (int j = 0; j <= i; j++)
            K[(size_t)i * n + j] =
                matern52(dist2(inv_l2, d->categorical, D, d->X + (size_t)i * D, d->X + (size_t)j * D), sf2);
    free(inv_l2);
}

/* In-place lower Cholesky of the lower triangle of A (n x n); 0, or -1 when
 * a pivot is not positive. */
static int cholesky(double *A, int n)
{
    for (int i = 0; i < n; i++) {
        double *ri = A + (size_t)i * n;
        for (int j = 0; j <= i; j++) {
            const double *rj = A + (size_t)j * n;
            double s = ri[j];
            for (int k = 0; k < j; k++)
                s -= ri[k] * rj[k];
            if (j < i) {
                ri[j] = s / rj[j];
            } else {
                if (!(s > 0))
                    return -1;
                ri[i] = sqrt(s);
            }
        }
    }
    return 0;
}

/* Factors K + (sn2 + jitter) I into L (from K's lower triangle), raising
 * jitter from 0 by tenfold steps from 1e-10 sf2 up to max_jitter; returns
 * the jitter, or -1 when even the largest fails. */
static double factor(const double *K, int n, double sn2, double sf2, double max_jitter, double *L)
{
    double jit = 0;
    for (;;) {
        memcpy(L, K, sizeof(double) * (size_t)n * n);
        for (int i = 0; i < n; i++)
            L[(size_t)i * n + i] += sn2 + jit;
        if (cholesky(L, n) == 0)
            return jit;
        jit = jit == 0 ? 1e-10 * sf2 : jit * 10;
        if (jit > max_jitter)
            return -1;
    }
}

/* Solves L z = b in place (forward), then L^T z = b (backward) when both. */
static void solve_lower(const double *L, int n, double *b)
{
    for (int i = 0; i < n; i++) {
        const double *ri = L + (size_t)i * n;
        double s = b[i];
        for (int k = 0; k < i; k++)
            s -= ri[k] * b[k];
        b[i] = s / ri[i];
    }
}

static void solve_upper_t(const double *L, int n, double *b)
{
    for (int i = n - 1; i >= 0; i--) {
        b[i] /= L[(size_t)i * n + i];
        double bi = b[i];
        const double *ri = L + (size_t)i * n;
        for (int k = 0; k < i; k++)
            b[k] -= ri[k] * bi;
    }
}

/* Kinv (lower triangle) = (L L^T)^-1 via M = L^-1 (rows by axpy) and
 * Kinv = M^T M as rank-one updates, all rows contiguous. M is n x n work. */
static void chol_inverse(const double *L, int n, double *M, double *Kinv)
{
    memset(M, 0, sizeof(double) * (size_t)n * n);
    for (int i = 0; i < n; i++) {
        double *mi = M + (size_t)i * n;
        const double *li = L + (size_t)i * n;
        mi[i] = 1;
        for (int k = 0; k < i; k++) {
            double c = li[k];
            const double *mk = M + (size_t)k * n;
            for (int j = 0; j <= k; j++)
                mi[j] -= c * mk[j];
        }
        double inv = 1 / li[i];
        for (int j = 0; j <= i; j++)
            mi[j] *= inv;
    }
    memset(Kinv, 0, sizeof(double) * (size_t)n * n);
    for (int k = 0; k < n; k++) {
        const double *mk = M + (size_t)k * n;
        for (int i = 0; i <= k; i++) {
            double c = mk[i];
            double *ki = Kinv + (size_t)i * n;
            for (int j = 0; j <= i; j++)
                ki[j] += c * mk[j];
        }
    }
}

static double normal_logpdf_unnorm(double x, double mu, double sd, double *dx)
{
    double z = (x - mu) / sd;
    *dx = -z / sd;
    return -0.5 * z * z;
}

static double log_prior(int D, const double *theta, double *grad)
{
    double lp = 0, g;
    for (int d = 0; d < D; d++) {
        lp += normal_logpdf_unnorm(theta[d], GP_LOG_LS_MU, GP_LOG_LS_SD, &g);
        if (grad)
            grad[d] += g;
    }
    lp += normal_logpdf_unnorm(theta[D], 0, GP_LOG_SF2_SD, &g);
    if (grad)
        grad[D] += g;
    lp += normal_logpdf_unnorm(theta[D + 1], GP_LOG_SN2_MU, GP_LOG_SN2_SD, &g);
    if (grad)
        grad[D + 1] += g;
    return lp;
}

double gp_objective(const GpData *d, const double *theta, double *grad)
{
    int n = d->n, D = d->n_dims;
    size_t nn = (size_t)n * n;
    double sf2 = det_exp(theta[D]), sn2 = det_exp(theta[D + 1]);
    double *K = nn_malloc(sizeof(double) * nn * 3 + sizeof(double) * (size_t)(n + D));
    double *L = K + nn, *M = L + nn, *alpha = M + nn, *inv_l2 = alpha + n;
    gram(d, theta, K);
    double jit = factor(K, n, sn2, sf2, 1e-2 * sf2, L);
    if (jit < 0) {
        free(K);
        if (grad)
            memset(grad, 0, sizeof(double) * (size_t)GP_N_THETA(D));
        return -INFINITY;
    }
    memcpy(alpha, d->y, sizeof(double) * (size_t)n);
    solve_lower(L, n, alpha);
    double fit = 0, logdet = 0;
    for (int i = 0; i < n; i++) {
        fit += alpha[i] * alpha[i];
        logdet += det_log(L[(size_t)i * n + i]);
    }
    double lml = -0.5 * fit - logdet - 0.9189385332046727 * n;
    if (grad) {
        memset(grad, 0, sizeof(double) * (size_t)GP_N_THETA(D));
        solve_upper_t(L, n, alpha);
        double *Kinv = K; /* K's values are recomputed below, pair by pair */
        chol_inverse(L, n, M, Kinv);
        inv_lengthscales2(theta, D, inv_l2);
        /* W = alpha alpha^T - Kinv; grad = 0.5 tr(W dK) */
        double tr_w = 0;
        for (int i = 0; i < n; i++) {
            const double *xi = d->X + (size_t)i * D;
            tr_w += alpha[i] * alpha[i] - Kinv[(size_t)i * n + i];
            for (int j = 0; j < i; j++) {
                const double *xj = d->X + (size_t)j * D;
                double w = alpha[i] * alpha[j] - Kinv[(size_t)i * n + j];
                double r2 = dist2(inv_l2, d->categorical, D, xi, xj);
                double s5r = SQRT5 * sqrt(r2), e = det_exp(-s5r);
                grad[D] += w * sf2 * (1 + s5r + (5.0 / 3.0) * r2) * e;
                double gcommon = w * sf2 * (5.0 / 3.0) * (1 + s5r) * e;
                for (int k = 0; k < D; k++) {
                    double delta = d->categorical[k] ? (xi[k] != xj[k]) : xi[k] - xj[k];
                    grad[k] += gcommon * delta * delta * inv_l2[k];
                }
            }
        }
        grad[D] += 0.5 * tr_w * sf2;
        grad[D + 1] += 0.5 * tr_w * sn2;
    }
    free(K);
    return lml + log_prior(D, theta, grad);
}

/* ---- L-BFGS on the box --------------------------------------------------- */

#define LBFGS_M 6

static void clip_theta(int D, double *t)
{
    for (int i = 0; i < GP_N_THETA(D); i++) {
        double lo, hi;
        gp_theta_bounds(D, i, &lo, &hi);
        t[i] = t[i] < lo ? lo : t[i] > hi ? hi : t[i];
    }
}

static double dot(const double *a, const double *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* Minimizes f = -objective from x (in place); returns f at the end. */
static double lbfgs(const GpData *d, double *x, int max_iter)
{
    int D = d->n_dims, p = GP_N_THETA(D);
    double *buf = nn_malloc(sizeof(double) * (size_t)p * (2 * LBFGS_M + 4));
    double *S = buf, *Y = S + LBFGS_M * p, *g = Y + LBFGS_M * p, *dir = g + p, *xn = dir + p,
           *gn = xn + p;
    double a[LBFGS_M], rho[LBFGS_M];
    int n_pairs = 0, head = 0;
    clip_theta(D, x);
    double f = -gp_objective(d, x, g);
    for (int i = 0; i < p; i++)
        g[i] = -g[i];
    for (int it = 0; it < max_iter && isfinite(f); it++) {
        /* two-loop recursion: dir = -H g */
        for (int i = 0; i < p; i++)
            dir[i] = -g[i];
        for (int k = 0; k < n_pairs; k++) {
            int j = (head - 1 - k + LBFGS_M) % LBFGS_M;
            a[k] = rho[j] * dot(S + j * p, dir, p);
            for (int i = 0; i < p; i++)
                dir[i] -= a[k] * Y[j * p + i];
        }
        if (n_pairs) {
            int j = (head - 1 + LBFGS_M) % LBFGS_M;
            double gamma = dot(S + j * p, Y + j * p, p) / dot(Y + j * p, Y + j * p, p);
            for (int i = 0; i < p; i++)
                dir[i] *= gamma;
        }
        for (int k = n_pairs - 1; k >= 0; k--) {
            int j = (head - 1 - k + LBFGS_M) % LBFGS_M;
            double b = rho[j] * dot(Y + j * p, dir, p);
            for (int i = 0; i < p; i++)
                dir[i] += (a[k] - b) * S[j * p + i];
        }
        if (dot(dir, g, p) >= 0) { /* not a descent direction: restart */
            n_pairs = 0;
            for (int i = 0; i < p; i++)
                dir[i] = -g[i];
        }
        double step = 1;
        if (!n_pairs) { /* first step at most 1 in the largest coordinate */
            double mx = 0;
            for (int i = 0; i < p; i++)
                mx = fmax(mx, fabs(dir[i]));
            step = mx > 1 ? 1 / mx : 1;
        }
        double fn = INFINITY;
        int accepted = 0;
        for (int ls = 0; ls < 25; ls++, step *= 0.5) {
            for (int i = 0; i < p; i++)
                xn[i] = x[i] + step * dir[i];
            clip_theta(D, xn);
            double decrease = 0;
            for (int i = 0; i < p; i++)
                decrease += g[i] * (xn[i] - x[i]);
            fn = -gp_objective(d, xn, gn);
            if (isfinite(fn) && fn <= f + 1e-4 * decrease) {
                accepted = 1;
                break;
            }
        }
        if (!accepted)
            break;
        for (int i = 0; i < p; i++)
            gn[i] = -gn[i];
        double *s = S + head * p, *yv = Y + head * p;
        for (int i = 0; i < p; i++) {
            s[i] = xn[i] - x[i];
            yv[i] = gn[i] - g[i];
        }
        double sy = dot(s, yv, p);
        if (sy > 1e-12) {
            rho[head] = 1 / sy;
            head = (head + 1) % LBFGS_M;
            if (n_pairs < LBFGS_M)
                n_pairs++;
        }
        double df = f - fn;
        memcpy(x, xn, sizeof(double) * (size_t)p);
        memcpy(g, gn, sizeof(double) * (size_t)p);
        f = fn;
        if (df <= 1e-9 * (1 + fabs(f)))
            break;
    }
    free(buf);
    return f;
}

void gp_fit(const GpData *d, const double *starts, int n_starts, int max_iter, double *theta_out)
{
    int p = GP_N_THETA(d->n_dims);
    double *x = nn_malloc(sizeof(double) * (size_t)p);
    double best = INFINITY;
    for (int s = 0; s < n_starts; s++) {
        memcpy(x, starts + (size_t)s * p, sizeof(double) * (size_t)p);
        double f = lbfgs(d, x, max_iter);
        if (f < best || s == 0) {
            best = f;
            memcpy(theta_out, x, sizeof(double) * (size_t)p);
        }
    }
    free(x);
}

void gp_condition(Gp *gp, const GpData *d, const double *theta)
{
    int n = d->n, D = d->n_dims;
    size_t nn = (size_t)n * n;
    gp->n = n;
    gp->n_dims = D;
    gp->categorical = d->categorical;
    gp->theta = nn_malloc(sizeof(double) * (size_t)GP_N_THETA(D));
    memcpy(gp->theta, theta, sizeof(double) * (size_t)GP_N_THETA(D));
    gp->inv_l2 = nn_malloc(sizeof(double) * (size_t)D);
    inv_lengthscales2(theta, D, gp->inv_l2);
    gp->sf2 = det_exp(theta[D]);
    gp->X = nn_malloc(sizeof(double) * ((size_t)n * D + 1));
    memcpy(gp->X, d->X, sizeof(double) * (size_t)n * D);
    gp->L = nn_malloc(sizeof(double) * (nn + 1));
    gp->alpha = nn_malloc(sizeof(double) * ((size_t)n + 1));
    double *K = nn_malloc(sizeof(double) * (nn + 1));
    gram(d, theta, K);
    double sf2 = det_exp(theta[D]), sn2 = det_exp(theta[D + 1]);
    /* K + j I is positive definite for any j > 0; only rounding makes a
     * factorization fail, and a diagonal of 1e6 sf2 dominates any K. */
    gp->jitter = factor(K, n, sn2, sf2, 1e6 * sf2, gp->L);
    NN_CHECK(gp->jitter >= 0, "gp_condition: kernel matrix not factored (NaN in the data?)");
    free(K);
    memcpy(gp->alpha, d->y, sizeof(double) * (size_t)n);
    solve_lower(gp->L, n, gp->alpha);
    solve_upper_t(gp->L, n, gp->alpha);
}

void gp_free(Gp *gp)
{
    if (!gp)
        return;
    free(gp->theta);
    free(gp->inv_l2);
    free(gp->X);
    free(gp->L);
    free(gp->alpha);
    memset(gp, 0, sizeof *gp);
}

void gp_predict(const Gp *gp, const double *x, double *mean, double *var, double *work)
{
    int n = gp->n, D = gp->n_dims;
    double sf2 = gp->sf2;
    double m = 0;
    for (int i = 0; i < n; i++) {
        work[i] = matern52(dist2(gp->inv_l2, gp->categorical, D, gp->X + (size_t)i * D, x), sf2);
        m += work[i] * gp->alpha[i];
    }
    solve_lower(gp->L, n, work);
    double v = sf2 - dot(work, work, n);
    *mean = m;
    *var = v > 1e-12 * sf2 ? v : 1e-12 * sf2;
}
