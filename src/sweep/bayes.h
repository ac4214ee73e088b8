/* bayes.h - Gaussian-process Bayesian optimization over a unit cube, the
 * engine behind `method: bayes` (W&B's semantics: each parameter enters
 * through its distribution's CDF, sweep_dist.h; smaller y is better).
 *
 * Usage: the caller maps each searchable parameter to a BayesDim
 * (dist_bayes_dim), creates one Bayes per sweep, and then alternates
 *   bayes_propose(b, pending, n_pending, u)  -> the next run's coordinates
 *   bayes_observe(b, u, y)                   -> a finished run
 * where u holds one coordinate in [0, 1] per dimension (dist_from_unit maps
 * it to a value, dist_to_unit back). A nested W&B parameter group adds its
 * leaves as further dimensions. Constant parameters are not dimensions.
 *
 * Coordinates: a BAYES_LEVELS or BAYES_CATEGORICAL dimension with k levels
 * has level i at (i + 0.5) / k; any u passed in is snapped to its level
 * (floor(u k)), and proposals are always level centres.
 *
 * y: already oriented so that smaller is better (negate a metric to
 * maximize). A failed or diverged run must be observed too, or the search
 * will propose its neighbourhood again: pass W&B's `impute: worst`, the
 * largest y observed so far among finished runs (0 when there is none,
 * as W&B). y must be finite (NN_CHECK).
 *
 * Reproducibility: the proposal is a pure function of (dims, seed,
 * options, the observations in order, the pending points in order): no
 * hidden counters, so a resumed sweep that re-observes its finished runs
 * proposes what the first process would have. Bit-identical on every
 * x86-64 CPU: plain double arithmetic, no BLAS or threads, exp/log from
 * detmath.h, files compiled with -ffp-contract=off.
 *
 * Method (choices and why; figures in bench/README.md, "Search"):
 *  - Initial design: a Latin hypercube of n_init points (default
 *    clamp(2 D + 1, 5, 12)), handed out while fewer than n_init runs are
 *    observed plus pending: space-filling, where a GP fitted to 1-2 points
 *    has nothing to say (W&B starts from 2 random points).
 *  - Model: GP with a Matern 5/2 kernel and one lengthscale per dimension
 *    (ARD): twice differentiable like most loss surfaces, and per-dimension
 *    scales let irrelevant parameters fade (W&B: Matern 3/2 with one
 *    shared lengthscale). Categorical dimensions use the one-hot (overlap)
 *    distance with their own lengthscale, so no order is invented between
 *    choices; integer dimensions are continuous in the model and snapped
 *    to their levels wherever the acquisition is evaluated.
 *  - Outputs standardized (mean 0, standard deviation 1), as W&B. (A log
 *    warp of y did not help on the benchmarks.)
 *  - Hyperparameters: MAP (log marginal likelihood + weak log-normal
 *    priors, gp.h) by L-BFGS with the analytic gradient from 3 starts (the
 *    prior's median and two random ones, seeded by the state): ML-II is
 *    cheap and stable with priors; slice sampling would cost 10-100x per
 *    proposal for little at these budgets. Refitted at every proposal,
 *    on at most 200 observations (the best 100 and an even spread of the
 *    rest); the GP is conditioned on all of them.
 *  - Acquisition: log expected improvement over the best y (observed or
 *    believed, below), computed without underflow (detmath.h) so flat
 *    regions still rank. Every second proposal after the design (by the
 *    parity of observed + pending - n_init) instead minimizes the
 *    posterior mean: pure exploitation, which refines a found basin in
 *    fewer runs (Branin: within 1% after a median 24 evaluations instead
 *    of 27.5, 20 seeds) and costs nothing on Hartmann-6 and the mixed
 *    function. Both are maximized over n_candidates uniform random points
 *    plus 102 perturbations of each of the 5 best observations (at 0.03,
 *    0.15 and 0.5 of their lengthscales, categories redrawn with
 *    probability 1 / max(D, 2)); the 5 best candidates are refined by a
 *    pattern search (continuous dimensions: steps halving from 0.05 to
 *    1e-5; levels: one up or down; categories: each other one).
 *  - Pending points: kriging believer (a constant liar whose lie is the
 *    posterior mean): the GP is conditioned on the pending points with y
 *    set to its own mean, hyperparameters fixed, and the believed values
 *    count for the incumbent. The mean is unchanged, the variance
 *    collapses around each pending point, so EI there drops to 0 and the
 *    next proposal goes elsewhere; unlike a fixed lie (min or max y) it
 *    biases neither toward nor away from a pending point's basin, and
 *    unlike Monte-Carlo fantasies it is deterministic and costs one more
 *    factorization. An exploiting proposal that lands within 1e-3 of a
 *    pending point (the mean ignores them) is replaced by the EI one.
 */
#ifndef NNSWEEP_SWEEP_BAYES_H
#define NNSWEEP_SWEEP_BAYES_H

#include <stdint.h>

typedef enum BayesDimKind {
    BAYES_CONTINUOUS = 0, /* any u in [0, 1] */
    BAYES_LEVELS,         /* k ordered levels (int_uniform) */
    BAYES_CATEGORICAL     /* k unordered choices */
} BayesDimKind;

typedef struct BayesDim {
    BayesDimKind kind;
    int n_levels; /* k >= 2 for LEVELS and CATEGORICAL; unused otherwise */
} BayesDim;

/* Tuning; a zero field takes its default. */
typedef struct BayesOptions {
    int n_init;       /* initial design size; default clamp(2 D + 1, 5, 12) */
    int n_candidates; /* random candidates per proposal; default 1000 */
} BayesOptions;

typedef struct Bayes Bayes;

/* A search over n_dims >= 1 dimensions (dims copied); opt may be NULL.
 * Owned by the caller: bayes_free. Aborts on invalid dims (a programmer
 * error: the sweep parser has checked the file). */
Bayes *bayes_create(const BayesDim *dims, int n_dims, uint64_t seed, const BayesOptions *opt);
void bayes_free(Bayes *b); /* accepts NULL */

/* Adds a finished run: u (n_dims coordinates, copied) and its y. */
void bayes_observe(Bayes *b, const double *u, double y);

/* The next point to run, into u_out (n_dims): a design point while fewer
 * than n_init runs are observed plus pending, then the maximizer of log EI
 * under the GP conditioned on the observations and the pending points
 * (pending[i]: n_dims coordinates of a run handed out and not finished;
 * pending may be NULL when n_pending is 0). Always produces a point.
 * Cost (CPU time, bench_search -c, Hartmann-6): about 30 ms after 50
 * observations, 0.65 s after 200, 1.1 s after 500 (the hyperparameter fit
 * dominates: O(n^3) per L-BFGS step on up to 200 points). */
void bayes_propose(Bayes *b, const double *const *pending, int n_pending, double *u_out);

/* Number of observations so far. */
int bayes_n_observed(const Bayes *b);

/* The initial design size for n_dims dimensions: clamp(2 n_dims + 1, 5, 12). */
int bayes_default_n_init(int n_dims);

#endif
