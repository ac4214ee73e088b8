/* bayes.c - GP Bayesian optimization: design, fit, log EI, pending points
 * (method and contracts in bayes.h). */
#include "sweep/bayes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nnsweep/core.h"
#include "nnsweep/rng.h"
#include "sweep/detmath.h"
#include "sweep/gp.h"

#define BAYES_FIT_MAX 200   /* observations the hyperparameters are fitted on */
#define BAYES_FIT_ITER 50   /* L-BFGS iterations per start */
#define BAYES_N_TOP 5       /* observations whose neighbourhoods are searched */
#define BAYES_N_LOCAL 102   /* candidates around each (3 scales x 34) */
#define BAYES_N_REFINE 5    /* candidates refined by pattern search */
#define BAYES_REFINE_EVALS 200

/* Random-stream purposes (rng.h: hi = RNG_STREAM_BAYES | purpose << 48 |
 * state, state = n_observed << 20 | n_pending). */
enum { R_DESIGN_PERM = 1, R_DESIGN_JITTER, R_CANDIDATES, R_LOCAL, R_STARTS, R_FALLBACK };

struct Bayes {
    int n_dims;
    BayesDim *dims;       /* (n_dims) */
    unsigned char *cat;   /* (n_dims) 1 for categorical dims */
    uint64_t seed;
    int n_init, n_cand;
    int n, cap;
    double *X; /* (cap, n_dims) observed points */
    double *y; /* (cap) */
};

static double urand(const Bayes *b, int purpose, uint64_t state, uint64_t i)
{
    uint64_t hi = rng_stream(RNG_STREAM_BAYES, (uint64_t)purpose << 48 | state);
    return rng_uniform_at(b->seed, hi, i);
}

/* Snaps u (n_dims) into the cube and levelled dimensions to level centres. */
static void snap(const Bayes *b, double *u)
{
    for (int d = 0; d < b->n_dims; d++) {
        double v = u[d] < 0 ? 0 : u[d] > 1 ? 1 : u[d];
        if (b->dims[d].kind != BAYES_CONTINUOUS) {
            double k = b->dims[d].n_levels, i = floor(v * k);
            i = i > k - 1 ? k - 1 : i;
            v = (i + 0.5) / k;
        }
        u[d] = v;
    }
}

Bayes *bayes_create(const BayesDim *dims, int n_dims, uint64_t seed, const BayesOptions *opt)
{
    NN_CHECK(n_dims >= 1, "bayes_create: need at least one dimension, got %d", n_dims);
    Bayes *b = nn_calloc(1, sizeof *b);
    b->n_dims = n_dims;
    b->dims = nn_malloc(sizeof(BayesDim) * (size_t)n_dims);
    memcpy(b->dims, dims, sizeof(BayesDim) * (size_t)n_dims);
    b->cat = nn_malloc((size_t)n_dims);
    for (int d = 0; d < n_dims; d++) {
        NN_CHECK(dims[d].kind == BAYES_CONTINUOUS || dims[d].n_levels >= 2,
                 "bayes_create: dimension %d has %d levels", d, dims[d].n_levels);
        b->cat[d] = dims[d].kind == BAYES_CATEGORICAL;
    }
    b->seed = seed;
    b->n_init = opt && opt->n_init > 0 ? opt->n_init : bayes_default_n_init(n_dims);
    b->n_cand = opt && opt->n_candidates > 0 ? opt->n_candidates : 1000;
    return b;
}

void bayes_free(Bayes *b)
{
    if (!b)
        return;
    free(b->dims);
    free(b->cat);
    free(b->X);
    free(b->y);
    free(b);
}

int bayes_default_n_init(int n_dims)
{
    int n = 2 * n_dims + 1;
    return n < 5 ? 5 : n > 12 ? 12 : n;
}

int bayes_n_observed(const Bayes *b)
{
    return b->n;
}

void bayes_observe(Bayes *b, const double *u, double y)
{
    NN_CHECK(isfinite(y), "bayes_observe: y must be finite (impute failed runs), got %g", y);
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 32;
        b->X = nn_realloc(b->X, sizeof(double) * (size_t)b->cap * b->n_dims);
        b->y = nn_realloc(b->y, sizeof(double) * (size_t)b->cap);
    }
    double *x = b->X + (size_t)b->n * b->n_dims;
    for (int d = 0; d < b->n_dims; d++) {
        NN_CHECK(isfinite(u[d]), "bayes_observe: coordinate %d is %g", d, u[d]);
        x[d] = u[d];
    }
    snap(b, x);
    b->y[b->n++] = y;
}

/* Point j of the Latin hypercube design (depends on the seed only). */
static void design_point(const Bayes *b, int j, double *u)
{
    int m = b->n_init;
    int *perm = nn_malloc(sizeof(int) * (size_t)m);
    for (int d = 0; d < b->n_dims; d++) {
        uint64_t hi = rng_stream(RNG_STREAM_BAYES, (uint64_t)R_DESIGN_PERM << 48 | (uint64_t)d);
        for (int i = 0; i < m; i++)
            perm[i] = i;
        for (int i = m - 1; i > 0; i--) { /* Fisher-Yates */
            int k = (int)rng_below_at(b->seed, hi, (uint64_t)i, (uint32_t)(i + 1));
            int t = perm[i];
            perm[i] = perm[k];
            perm[k] = t;
        }
        u[d] = (perm[j] + urand(b, R_DESIGN_JITTER, (uint64_t)d, (uint64_t)j)) / m;
    }
    free(perm);
    snap(b, u);
}

/* ---- the model ------------------------------------------------------------ */

typedef struct Model {
    Gp gp;        /* on observations and pending points */
    double fbest; /* best standardized observed y */
    int exploit;  /* the acquisition is -mean instead of log EI */
    double *work; /* (gp.n) */
} Model;

/* Indices of the observations the hyperparameters are fitted on: all up to
 * BAYES_FIT_MAX, else the best half of that and an even spread of the rest
 * (index order). Returns the count. */
static int fit_subset(const Bayes *b, int *idx)
{
    int n = b->n;
    if (n <= BAYES_FIT_MAX) {
        for (int i = 0; i < n; i++)
            idx[i] = i;
        return n;
    }
    int *order = nn_malloc(sizeof(int) * (size_t)n);
    unsigned char *taken = nn_calloc((size_t)n, 1);
    for (int i = 0; i < n; i++) /* insertion sort by y, stable */
    {
        int j = i;
        while (j > 0 && b->y[order[j - 1]] > b->y[i]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    int half = BAYES_FIT_MAX / 2, m = 0;
    for (int i = 0; i < half; i++)
        taken[order[i]] = 1;
    for (int i = 0; i < n; i++)
        if (taken[i])
            idx[m++] = i;
    int rest = n - half, r = 0, want = BAYES_FIT_MAX - half;
    for (int i = 0; i < n && m < BAYES_FIT_MAX; i++) {
        if (taken[i])
            continue;
        /* the r-th remaining index is kept when it starts a new stride */
        if ((long long)r * want / rest != (long long)(r + 1) * want / rest || r == 0)
            idx[m++] = i;
        r++;
    }
    free(order);
    free(taken);
    return m;
}

/* Standardized y, fitted hyperparameters, GP with the pending points as
 * kriging believers. */
static void model_build(const Bayes *b, const double *const *pending, int n_pending, Model *mo)
{
    int n = b->n, D = b->n_dims, p = GP_N_THETA(D), n_all = n + n_pending;
    double mean = 0, var = 0;
    for (int i = 0; i < n; i++)
        mean += b->y[i];
    mean /= n;
    for (int i = 0; i < n; i++)
        var += (b->y[i] - mean) * (b->y[i] - mean);
    double sd = sqrt(var / n);
    if (!(sd > 1e-12 * (1 + fabs(mean))))
        sd = 1; /* all equal: the GP is flat and EI follows the variance */
    double *X = nn_malloc(sizeof(double) * (size_t)n_all * D);
    double *y = nn_malloc(sizeof(double) * (size_t)n_all);
    memcpy(X, b->X, sizeof(double) * (size_t)n * D);
    mo->fbest = INFINITY;
    for (int i = 0; i < n; i++) {
        y[i] = (b->y[i] - mean) / sd;
        mo->fbest = fmin(mo->fbest, y[i]);
    }

    /* hyperparameters: MAP from the prior's median and two random starts,
     * drawn by the observations' count only: pending points do not change
     * the fit */
    int *idx = nn_malloc(sizeof(int) * (size_t)n);
    int m = fit_subset(b, idx);
    double *Xf = nn_malloc(sizeof(double) * (size_t)m * D), *yf = nn_malloc(sizeof(double) * m);
    for (int i = 0; i < m; i++) {
        memcpy(Xf + (size_t)i * D, X + (size_t)idx[i] * D, sizeof(double) * (size_t)D);
        yf[i] = y[idx[i]];
    }
    GpData fd = {m, D, Xf, yf, b->cat};
    double *starts = nn_malloc(sizeof(double) * (size_t)4 * p), *theta = starts + 3 * p;
    for (int s = 0; s < 3; s++) {
        double *t = starts + (size_t)s * p;
        for (int d = 0; d < D; d++)
            t[d] = s == 0 ? 0 /* the prior's median, l = 1 */
                          : -3 + 3.7 * urand(b, R_STARTS, (uint64_t)n << 20, (uint64_t)(s * p + d)); /* l in [0.05, 2] */
        t[D] = s == 0 ? 0 : -1 + 2 * urand(b, R_STARTS, (uint64_t)n << 20, (uint64_t)(s * p + D));
        t[D + 1] = s == 0 ? -9.210340371976184 /* log 1e-4 */
                          : -13.8 + 9.2 * urand(b, R_STARTS, (uint64_t)n << 20, (uint64_t)(s * p + D + 1));
    }
    gp_fit(&fd, starts, 3, BAYES_FIT_ITER, theta);
    free(Xf);
    free(yf);
    free(idx);

    GpData od = {n, D, X, y, b->cat};
    gp_condition(&mo->gp, &od, theta);
    mo->work = nn_malloc(sizeof(double) * ((size_t)n_all + 1));
    if (n_pending > 0) {
        for (int j = 0; j < n_pending; j++) {
            double *xp = X + (size_t)(n + j) * D, v;
            memcpy(xp, pending[j], sizeof(double) * (size_t)D);
            snap(b, xp);
            gp_predict(&mo->gp, xp, &y[n + j], &v, mo->work);
            /* believed, so the incumbent too: else EI at a pending point
             * below the best y is its whole (believed) improvement */
            mo->fbest = fmin(mo->fbest, y[n + j]);
        }
        gp_free(&mo->gp);
        GpData ad = {n_all, D, X, y, b->cat};
        gp_condition(&mo->gp, &ad, theta);
    }
    free(starts);
    free(X);
    free(y);
}

static void model_free(Model *mo)
{
    gp_free(&mo->gp);
    free(mo->work);
}

/* log EI at x (standardized units), or -mean when exploiting. */
static double acquisition(const Model *mo, const double *x)
{
    double mu, var;
    gp_predict(&mo->gp, x, &mu, &var, mo->work);
    if (mo->exploit)
        return -mu;
    double sigma = sqrt(var);
    return det_log(sigma) + det_log_ei_h((mo->fbest - mu) / sigma);
}

/* Pattern search from x (value *v), in place: continuous dimensions move by
 * +-h with h halving from 0.05 down to 1e-5, levels by one level,
 * categories to any other; first improvement is taken. */
static void refine(const Bayes *b, const Model *mo, double *x, double *v, double *trial)
{
    int D = b->n_dims, evals = 0, has_cont = 0;
    for (int d = 0; d < D; d++)
        has_cont |= b->dims[d].kind == BAYES_CONTINUOUS;
    double h = 0.05;
    while (evals < BAYES_REFINE_EVALS) {
        int improved = 0;
        for (int d = 0; d < D && evals < BAYES_REFINE_EVALS; d++) {
            int k = b->dims[d].n_levels;
            int n_moves = b->dims[d].kind == BAYES_CATEGORICAL ? k - 1 : 2;
            for (int mv = 0; mv < n_moves; mv++) {
                memcpy(trial, x, sizeof(double) * (size_t)D);
                if (b->dims[d].kind == BAYES_CATEGORICAL) {
                    int cur = (int)floor(x[d] * k);
                    trial[d] = ((cur + 1 + mv) % k + 0.5) / k;
                } else {
                    double step = b->dims[d].kind == BAYES_LEVELS ? 1.0 / k : h;
                    trial[d] = x[d] + (mv ? -step : step);
                    if (trial[d] < 0 || trial[d] > 1)
                        continue;
                }
                snap(b, trial);
                double tv = acquisition(mo, trial);
                evals++;
                if (tv > *v) {
                    memcpy(x, trial, sizeof(double) * (size_t)D);
                    *v = tv;
                    improved = 1;
                    break;
                }
            }
        }
        if (!improved) {
            if (!has_cont || h < 1e-5)
                break;
            h *= 0.5;
        }
    }
}

/* Indices of the k largest values of v[0..n) into top (ties: lower index). */
static int top_k(const double *v, int n, int k, int *top)
{
    int m = 0;
    for (int i = 0; i < n; i++) {
        int j;
        if (m < k)
            j = m++;
        else if (v[i] > v[top[k - 1]])
            j = k - 1;
        else
            continue;
        while (j > 0 && v[i] > v[top[j - 1]]) {
            top[j] = top[j - 1];
            j--;
        }
        top[j] = i;
    }
    return m;
}

/* The acquisition's maximizer into u_out: candidates uniform and around
 * the best observations, the best few refined by pattern search. */
static void maximize(const Bayes *b, const Model *mo, uint64_t state, double *u_out)
{
    int D = b->n_dims, n = b->n;
    int n_top_obs = n < BAYES_N_TOP ? n : BAYES_N_TOP;
    int n_c = b->n_cand + n_top_obs * BAYES_N_LOCAL;
    double *C = nn_malloc(sizeof(double) * (size_t)n_c * D), *val = nn_malloc(sizeof(double) * n_c);
    for (int c = 0; c < b->n_cand; c++)
        for (int d = 0; d < D; d++)
            C[(size_t)c * D + d] = urand(b, R_CANDIDATES, state, (uint64_t)c * D + d);
    int best_obs[BAYES_N_TOP];
    double *neg_y = nn_malloc(sizeof(double) * n);
    for (int i = 0; i < n; i++)
        neg_y[i] = -b->y[i];
    top_k(neg_y, n, n_top_obs, best_obs);
    free(neg_y);
    static const double scales[3] = {0.03, 0.15, 0.5};
    for (int t = 0; t < n_top_obs; t++) {
        const double *xo = b->X + (size_t)best_obs[t] * D;
        for (int j = 0; j < BAYES_N_LOCAL; j++) {
            int c = b->n_cand + t * BAYES_N_LOCAL + j;
            double s = scales[j % 3];
            for (int d = 0; d < D; d++) {
                uint64_t i = ((uint64_t)c * D + d) * 2;
                double r = urand(b, R_LOCAL, state, i), r2 = urand(b, R_LOCAL, state, i + 1);
                double *x = C + (size_t)c * D + d;
                if (b->cat[d]) {
                    int k = b->dims[d].n_levels;
                    *x = r2 < 1.0 / (D > 2 ? D : 2) ? (floor(r * k) + 0.5) / k : xo[d];
                } else {
                    double l = det_exp(mo->gp.theta[d]);
                    *x = xo[d] + (2 * r - 1) * s * (l < 1 ? l : 1);
                }
            }
        }
    }
    for (int c = 0; c < n_c; c++) {
        snap(b, C + (size_t)c * D);
        val[c] = acquisition(mo, C + (size_t)c * D);
    }
    int top[BAYES_N_REFINE];
    int n_ref = top_k(val, n_c, BAYES_N_REFINE, top);
    double *x = nn_malloc(sizeof(double) * (size_t)D * 2), best_v = -INFINITY;
    for (int r = 0; r < n_ref; r++) {
        memcpy(x, C + (size_t)top[r] * D, sizeof(double) * (size_t)D);
        double v = val[top[r]];
        refine(b, mo, x, &v, x + D);
        if (v > best_v || r == 0) {
            best_v = v;
            memcpy(u_out, x, sizeof(double) * (size_t)D);
        }
    }
    free(x);
    free(C);
    free(val);
}

/* Whether u is within 1e-3 (max norm) of a pending point. */
static int near_pending(const Bayes *b, const double *u, const double *const *pending, int n_pending)
{
    for (int j = 0; j < n_pending; j++) {
        double dmax = 0;
        for (int d = 0; d < b->n_dims; d++)
            dmax = fmax(dmax, fabs(u[d] - pending[j][d]));
        if (dmax < 1e-3)
            return 1;
    }
    return 0;
}

void bayes_propose(Bayes *b, const double *const *pending, int n_pending, double *u_out)
{
    int D = b->n_dims, n = b->n;
    uint64_t state = (uint64_t)n << 20 | (uint64_t)n_pending;
    if (n + n_pending < b->n_init) {
        design_point(b, n + n_pending, u_out);
        return;
    }
    if (n < 2) { /* more pending than the design: nothing to model yet */
        for (int d = 0; d < D; d++)
            u_out[d] = urand(b, R_FALLBACK, state, (uint64_t)d);
        snap(b, u_out);
        return;
    }
    Model mo;
    model_build(b, pending, n_pending, &mo);
    /* every second proposal exploits (bayes.h); the posterior mean ignores
     * pending points, so one that sits on a pending point gives way to EI */
    mo.exploit = (n + n_pending - b->n_init) % 2 == 1;
    maximize(b, &mo, state, u_out);
    if (mo.exploit && near_pending(b, u_out, pending, n_pending)) {
        mo.exploit = 0;
        maximize(b, &mo, state, u_out);
    }
    model_free(&mo);
}
