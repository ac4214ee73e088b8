/* sweep_dist.h - every parameter distribution of a W&B sweep file as pure
 * functions over a DistSpec: validation, sampling, and the map between a
 * value and the unit interval that the Bayesian search works in.
 *
 * Semantics follow W&B's sweep engine (wandb/sweeps, params.py and
 * config/schema.json): a sample is the distribution's quantile function
 * (ppf) at one uniform draw u; the Bayesian search sees each parameter
 * through its CDF.
 *
 *   kind                    value                              spec fields
 *   constant                the one value                      -
 *   categorical             values[i], i uniform               n_values
 *   categorical_w_probabilities values[i] with P(i) = probabilities[i]
 *                                                              n_values, probabilities
 *   int_uniform             integer in [min, max]              min, max (integers)
 *   uniform                 real in [min, max)                 min, max
 *   q_uniform               round(uniform / q) * q             min, max, q
 *   log_uniform             exp(uniform(min, max)): min, max are natural-log
 *                           exponents, the value lies in [e^min, e^max)
 *   log_uniform_values      log-uniform in [min, max)          0 < min < max
 *   q_log_uniform           round(log_uniform / q) * q         min, max (exponents), q
 *   q_log_uniform_values    round(log_uniform_values / q) * q  0 < min < max, q
 *   inv_log_uniform         exp(-uniform(min, max)): log-uniform in
 *                           (e^-max, e^-min]                   min, max (exponents)
 *   inv_log_uniform_values  log-uniform in [min, max) (W&B's ppf reduces to
 *                           log_uniform_values'; kept as its own name)
 *   normal                  N(mu, sigma^2)                     mu, sigma
 *   q_normal                round(normal / q) * q              mu, sigma, q
 *   log_normal              exp(N(mu, sigma^2))                mu, sigma
 *   q_log_normal            round(log_normal / q) * q          mu, sigma, q
 *   beta                    Beta(a, b) on [0, 1]               a, b
 *   q_beta                  round(beta / q) * q                a, b, q
 *
 * Rounding is to nearest, ties to even (numpy's round). As in W&B, a
 * quantized value may fall outside [min, max] by up to q/2 (q_uniform with
 * min 0, max 1, q 0.3 gives 0, 0.3, 0.6, 0.9; max 1.05 could give 1.2).
 * Defaults (W&B's schema): mu 0, sigma 1, q 1, a 1, b 1 (dist_spec_init).
 *
 * Categorical kinds work on the index of a value: dist_sample returns it as
 * a double, and the caller keeps the values themselves (YAML nodes).
 */
#ifndef NNSWEEP_SWEEP_DIST_H
#define NNSWEEP_SWEEP_DIST_H

#include <stdint.h>

#include "nnsweep/core.h"
#include "sweep/bayes.h"

typedef enum DistKind {
    DIST_CONSTANT = 0,
    DIST_CATEGORICAL,
    DIST_CATEGORICAL_PROB, /* categorical_w_probabilities */
    DIST_INT_UNIFORM,
    DIST_UNIFORM,
    DIST_Q_UNIFORM,
    DIST_LOG_UNIFORM,
    DIST_LOG_UNIFORM_VALUES,
    DIST_Q_LOG_UNIFORM,
    DIST_Q_LOG_UNIFORM_VALUES,
    DIST_INV_LOG_UNIFORM,
    DIST_INV_LOG_UNIFORM_VALUES,
    DIST_NORMAL,
    DIST_Q_NORMAL,
    DIST_LOG_NORMAL,
    DIST_Q_LOG_NORMAL,
    DIST_BETA,
    DIST_Q_BETA,
    DIST_N_KINDS
} DistKind;

/* One parameter's distribution, fields named as in W&B's sweep files. */
typedef struct DistSpec {
    DistKind kind;
    double min, max; /* uniform kinds; exponents for log_uniform, q_log_uniform, inv_log_uniform */
    double mu, sigma; /* normal kinds */
    double q;         /* quantized kinds */
    double a, b;      /* beta kinds */
    int n_values;     /* categorical kinds: number of values (constant: 1) */
    int n_probabilities;         /* categorical_w_probabilities: length of the list */
    const double *probabilities; /* (n_probabilities), borrowed; NULL otherwise */
} DistSpec;

/* The W&B name of a kind ("q_log_uniform_values", ...), and the kind of a
 * name: 0 and *kind set, or -1 when the name is not one of W&B's. */
const char *dist_kind_name(DistKind kind);
int dist_kind_from_name(const char *name, DistKind *kind);

/* Zeroes *spec, sets kind and W&B's defaults (mu 0, sigma 1, q 1, a 1, b 1). */
void dist_spec_init(DistSpec *spec, DistKind kind);

/* Checks a spec with W&B's rules plus what the math needs: finite numbers,
 * min < max, integer min/max for int_uniform, 0 < min for *_values kinds,
 * q > 0, sigma > 0, a > 0, b > 0 (W&B's schema allows 0 for the last three,
 * a degenerate distribution scipy rejects), at least one value, one
 * probability per value, each >= 0, summing to 1 within numpy.isclose's
 * tolerance (1e-8 + 1e-5). NN_ERR_INPUT with a message that starts with the
 * field ("max: expected a number greater than min (3), found 1"); the
 * caller prefixes file:line: key.path. */
NnStatus dist_check(const DistSpec *spec, NnError *err);

/* A uniform double in (0, 1) from two 32-bit Philox words: 53 bits, offset
 * by half a step so that neither 0 nor 1 comes out (rng_u01's 24-bit floats
 * would cut normal samples off at 5.3 sigma), within [DIST_U_LO, DIST_U_HI].
 * Every u a sweep maps to a value (a random draw, a Bayesian proposal) is
 * clamped to that range first, so that the extremes dist_from_unit gives
 * there are the extremes of every value (the sweep parser checks them
 * against the key's range) and the unbounded kinds stay finite. */
#define DIST_U_LO 0x1p-54                 /* the smallest dist_u01 */
#define DIST_U_HI 0x1.fffffffffffffp-1    /* the largest double below 1 */
double dist_u01(uint32_t w0, uint32_t w1);
double dist_clamp_u(double u); /* u clamped to [DIST_U_LO, DIST_U_HI]; NaN -> DIST_U_LO */

/* A sample from one uniform u in (0, 1) (dist_u01): the quantile function
 * at u for every kind, the normal and beta ones included (one draw each,
 * no rejection), so the sample is a pure function of the draw. Categorical
 * kinds return the index; int_uniform returns min + floor(u (max-min+1))
 * (W&B's randint.ppf but at bin edges, which have probability 0). The
 * spec must have passed dist_check. */
double dist_sample(const DistSpec *spec, double u);

/* The Bayesian search's unit coordinate of a value, and back.
 *   continuous and quantized kinds: the CDF of the unquantized
 *     distribution (W&B's HyperParameter.cdf), clamped to [0, 1]; back is
 *     the quantile at u, then quantized, so dist_from_unit(dist_to_unit(v))
 *     == v for every value a sample can take (up to rounding of the CDF).
 *   int_uniform, categorical kinds: level i of k (index i, or min + i) sits
 *     at the centre of its bin, (i + 0.5) / k, and back is floor(u k)
 *     clamped to [0, k-1]. (W&B puts a level at its bin's top, (i+1)/k;
 *     the centre keeps the levels symmetric in the cube and the round trip
 *     away from bin edges.) Probabilities do not move a categorical's
 *     levels: its dimension is unordered (BAYES_CATEGORICAL).
 *   constant: 0, and back the constant's index 0.
 * Categorical values are passed and returned as their index. */
double dist_to_unit(const DistSpec *spec, double value);
double dist_from_unit(const DistSpec *spec, double u);

/* How the Bayesian search models the parameter: *dim is filled and 1
 * returned, or 0 for a constant (no dimension). int_uniform is BAYES_LEVELS
 * with max - min + 1 levels (BAYES_CONTINUOUS beyond 10^6 levels, which
 * dist_from_unit still rounds); categorical kinds BAYES_CATEGORICAL with
 * n_values levels (1 value: no dimension); everything else
 * BAYES_CONTINUOUS (quantized kinds are rounded after the map back). */
int dist_bayes_dim(const DistSpec *spec, BayesDim *dim);

/* Standard normal CDF and quantile (exported for the tests). */
double dist_norm_cdf(double x);
double dist_norm_ppf(double p);
/* Regularized incomplete beta I_x(a, b) and its inverse in x. */
double dist_beta_cdf(double x, double a, double b);
double dist_beta_ppf(double p, double a, double b);

#endif
