/* gp.h - Gaussian-process regression on the unit cube for the Bayesian
 * search (bayes.c): a Matern 5/2 kernel with one lengthscale per
 * dimension, hyperparameters by MAP (log marginal likelihood plus log
 * priors) with L-BFGS, and the posterior mean and variance.
 *
 * Kernel: k(x, x') = sf2 (1 + sqrt5 r + 5 r^2 / 3) exp(-sqrt5 r),
 *   r^2 = sum_d delta_d(x, x')^2 / l_d^2, where delta_d = x_d - x'_d on a
 *   continuous or integer-grained dimension and delta_d = [level differs]
 *   on a categorical one (the one-hot distance over sqrt 2, so the kernel
 *   stays positive definite), plus noise sn2 on the diagonal.
 * theta (GP_N_THETA(D) doubles): log l_1 .. log l_D, log sf2, log sn2.
 * Targets are expected standardized (mean 0, variance 1).
 *
 * All arithmetic is plain double loops (no BLAS, no threads, exp/log from
 * detmath.h), so results are bit-identical on every x86-64 CPU. Matrices
 * are row-major. Everything allocated here is owned by the Gp and released
 * by gp_free.
 */
#ifndef NNSWEEP_SWEEP_GP_H
#define NNSWEEP_SWEEP_GP_H

#include <stdint.h>

#define GP_N_THETA(n_dims) ((n_dims) + 2)

/* Observations the GP is fitted or conditioned on (all borrowed). */
typedef struct GpData {
    int n, n_dims;
    const double *X;                  /* (n, n_dims) points in [0, 1] */
    const double *y;                  /* (n) standardized targets */
    const unsigned char *categorical; /* (n_dims) 1 for categorical dims */
} GpData;

/* A GP conditioned on data with fixed hyperparameters. */
typedef struct Gp {
    int n, n_dims;
    const unsigned char *categorical; /* (n_dims), borrowed */
    double *theta;  /* (n_dims + 2) */
    double *inv_l2; /* (n_dims) 1 / l_d^2 */
    double sf2;     /* signal variance */
    double *X;      /* (n, n_dims) copy */
    double *L;      /* (n, n) lower Cholesky factor of K + (sn2 + jitter) I */
    double *alpha;  /* (n) (K + (sn2 + jitter) I)^-1 y */
    double jitter;  /* added to the diagonal beyond sn2 to factor K */
} Gp;

/* MAP objective: log p(y | X, theta) + log prior(theta), and its gradient
 * into grad (GP_N_THETA doubles; may be NULL). Returns -inf when the
 * kernel matrix cannot be factored even with jitter. The priors (gp.c):
 * log l_d ~ N(0, 1), log sf2 ~ N(0, 1), log sn2 ~ N(log 1e-4, 2^2) - weak,
 * they keep the fit finite on 3 points and on constant data. */
double gp_objective(const GpData *d, const double *theta, double *grad);

/* Box of theta: lower and upper bounds for index i (gp_fit clips to it). */
void gp_theta_bounds(int n_dims, int i, double *lo, double *hi);

/* Fits theta by maximizing gp_objective with L-BFGS from each of n_starts
 * starting points (starts: (n_starts, GP_N_THETA) doubles, clipped to the
 * box) for at most max_iter iterations each; the best end point goes to
 * theta_out. Deterministic: same inputs, same output. */
void gp_fit(const GpData *d, const double *starts, int n_starts, int max_iter, double *theta_out);

/* Conditions a GP on d with hyperparameters theta: *gp is filled (owned
 * memory; gp_free releases it). Duplicate points and ill-conditioned
 * kernels are factored by adding jitter to the diagonal (from 1e-10 of the
 * signal variance in tenfold steps, as far as needed: gp->jitter); aborts
 * only on NaN in the data (a programmer error). */
void gp_condition(Gp *gp, const GpData *d, const double *theta);
void gp_free(Gp *gp); /* accepts NULL and a zeroed Gp */

/* Posterior mean and variance (of the latent function, without noise) at
 * x; work holds gp->n doubles. The variance is clamped at 1e-12 sf2. */
void gp_predict(const Gp *gp, const double *x, double *mean, double *var, double *work);

#endif
