/* dist.c - W&B's parameter distributions: checks, samples, unit maps
 * (contracts in sweep_dist.h). */
#include "sweep/sweep_dist.h"

#include <math.h>
#include <string.h>

static const char *const kind_names[DIST_N_KINDS] = {
    [DIST_CONSTANT] = "constant",
    [DIST_CATEGORICAL] = "categorical",
    [DIST_CATEGORICAL_PROB] = "categorical_w_probabilities",
    [DIST_INT_UNIFORM] = "int_uniform",
    [DIST_UNIFORM] = "uniform",
    [DIST_Q_UNIFORM] = "q_uniform",
    [DIST_LOG_UNIFORM] = "log_uniform",
    [DIST_LOG_UNIFORM_VALUES] = "log_uniform_values",
    [DIST_Q_LOG_UNIFORM] = "q_log_uniform",
    [DIST_Q_LOG_UNIFORM_VALUES] = "q_log_uniform_values",
    [DIST_INV_LOG_UNIFORM] = "inv_log_uniform",
    [DIST_INV_LOG_UNIFORM_VALUES] = "inv_log_uniform_values",
    [DIST_NORMAL] = "normal",
    [DIST_Q_NORMAL] = "q_normal",
    [DIST_LOG_NORMAL] = "log_normal",
    [DIST_Q_LOG_NORMAL] = "q_log_normal",
    [DIST_BETA] = "beta",
    [DIST_Q_BETA] = "q_beta",
};

const char *dist_kind_name(DistKind kind)
{
    NN_CHECK(kind >= 0 && kind < DIST_N_KINDS, "dist_kind_name: bad kind %d", (int)kind);
    return kind_names[kind];
}

int dist_kind_from_name(const char *name, DistKind *kind)
{
    for (int k = 0; k < DIST_N_KINDS; k++) {
        if (strcmp(name, kind_names[k]) == 0) {
            *kind = (DistKind)k;
            return 0;
        }
    }
    return -1;
}

void dist_spec_init(DistSpec *spec, DistKind kind)
{
    memset(spec, 0, sizeof *spec);
    spec->kind = kind;
    spec->sigma = 1;
    spec->q = 1;
    spec->a = 1;
    spec->b = 1;
    if (kind == DIST_CONSTANT)
        spec->n_values = 1;
}

static int is_quantized(DistKind k)
{
    return k == DIST_Q_UNIFORM || k == DIST_Q_LOG_UNIFORM || k == DIST_Q_LOG_UNIFORM_VALUES ||
           k == DIST_Q_NORMAL || k == DIST_Q_LOG_NORMAL || k == DIST_Q_BETA;
}

static NnStatus need_positive(const char *field, double v, NnError *err)
{
    if (!isfinite(v) || !(v > 0))
        return nn_error_set(err, NN_ERR_INPUT, "%s: expected a number greater than 0, found %g",
                            field, v);
    return NN_OK;
}

static NnStatus check_min_max(const DistSpec *s, int positive, NnError *err)
{
    if (!isfinite(s->min))
        return nn_error_set(err, NN_ERR_INPUT, "min: expected a finite number, found %g", s->min);
    if (!isfinite(s->max))
        return nn_error_set(err, NN_ERR_INPUT, "max: expected a finite number, found %g", s->max);
    if (positive && !(s->min > 0))
        return nn_error_set(err, NN_ERR_INPUT,
                            "min: expected a number greater than 0 (%s takes values, not "
                            "exponents), found %g",
                            kind_names[s->kind], s->min);
    if (!(s->min < s->max))
        return nn_error_set(err, NN_ERR_INPUT, "max: expected a number greater than min (%g), found %g",
                            s->min, s->max);
    return NN_OK;
}

static NnStatus check_probabilities(const DistSpec *s, NnError *err)
{
    if (s->n_probabilities != s->n_values || !s->probabilities)
        return nn_error_set(err, NN_ERR_INPUT,
                            "probabilities: expected %d numbers (one per value), found %d",
                            s->n_values, s->n_probabilities);
    double sum = 0;
    for (int i = 0; i < s->n_probabilities; i++) {
        double p = s->probabilities[i];
        if (!isfinite(p) || p < 0)
            return nn_error_set(err, NN_ERR_INPUT,
                                "probabilities[%d]: expected a number >= 0, found %g", i, p);
        sum += p;
    }
    /* numpy.isclose(sum, 1): |sum - 1| <= 1e-8 + 1e-5 * 1 */
    if (!(fabs(sum - 1) <= 1e-8 + 1e-5))
        return nn_error_set(err, NN_ERR_INPUT, "probabilities: expected a sum of 1, found %.9g",
                            sum);
    return NN_OK;
}

NnStatus dist_check(const DistSpec *s, NnError *err)
{
    NnStatus st = NN_OK;
    if (s->kind < 0 || s->kind >= DIST_N_KINDS)
        return nn_error_set(err, NN_ERR_INPUT, "distribution: unknown kind %d", (int)s->kind);
    if (is_quantized(s->kind) && (st = need_positive("q", s->q, err)))
        return st;
    switch (s->kind) {
    case DIST_CONSTANT:
        return NN_OK;
    case DIST_CATEGORICAL:
    case DIST_CATEGORICAL_PROB:
        if (s->n_values < 1)
            return nn_error_set(err, NN_ERR_INPUT, "values: expected a non-empty list");
        return s->kind == DIST_CATEGORICAL_PROB ? check_probabilities(s, err) : NN_OK;
    case DIST_INT_UNIFORM:
        if ((st = check_min_max(s, 0, err)))
            return st;
        if (s->min != floor(s->min) || fabs(s->min) > 9007199254740992.0)
            return nn_error_set(err, NN_ERR_INPUT, "min: expected an integer, found %g", s->min);
        if (s->max != floor(s->max) || fabs(s->max) > 9007199254740992.0)
            return nn_error_set(err, NN_ERR_INPUT, "max: expected an integer, found %g", s->max);
        return NN_OK;
    case DIST_UNIFORM:
    case DIST_Q_UNIFORM:
    case DIST_LOG_UNIFORM:
    case DIST_Q_LOG_UNIFORM:
    case DIST_INV_LOG_UNIFORM:
        return check_min_max(s, 0, err);
    case DIST_LOG_UNIFORM_VALUES:
    case DIST_Q_LOG_UNIFORM_VALUES:
    case DIST_INV_LOG_UNIFORM_VALUES:
        return check_min_max(s, 1, err);
    case DIST_NORMAL:
    case DIST_Q_NORMAL:
    case DIST_LOG_NORMAL:
    case DIST_Q_LOG_NORMAL:
        if (!isfinite(s->mu))
            return nn_error_set(err, NN_ERR_INPUT, "mu: expected a finite number, found %g", s->mu);
        return need_positive("sigma", s->sigma, err);
    case DIST_BETA:
    case DIST_Q_BETA:
        if ((st = need_positive("a", s->a, err)))
            return st;
        return need_positive("b", s->b, err);
    case DIST_N_KINDS:
        break;
    }
    return nn_error_set(err, NN_ERR_INPUT, "distribution: unknown kind %d", (int)s->kind);
}

double dist_u01(uint32_t w0, uint32_t w1)
{
    uint64_t bits = ((uint64_t)w0 << 21) ^ (w1 >> 11); /* 53 bits */
    bits &= (1ull << 53) - 1;
    /* above 2^52 the half step rounds (to even): the top value would be 1 */
    return dist_clamp_u(((double)bits + 0.5) * (1.0 / 9007199254740992.0));
}

double dist_clamp_u(double u)
{
    return !(u > DIST_U_LO) ? DIST_U_LO : u > DIST_U_HI ? DIST_U_HI : u;
}

/* ---- standard normal and beta ------------------------------------------ */

double dist_norm_cdf(double x)
{
    return 0.5 * erfc(-x * 0.70710678118654752440);
}

static double norm_pdf(double x)
{
    return 0.39894228040143267794 * exp(-0.5 * x * x);
}

double dist_norm_ppf(double p)
{
    if (!(p > 0))
        return p == 0 ? -INFINITY : NAN;
    if (!(p < 1))
        return p == 1 ? INFINITY : NAN;
    if (p > 0.5)
        return -dist_norm_ppf(1 - p); /* 1 - p is exact for p >= 0.5 */
    /* Start: Abramowitz & Stegun 26.2.23 (|error| < 4.5e-4), then Newton on
     * the CDF, which erfc gives to full relative precision in the tail. */
    double t = sqrt(-2 * log(p));
    double x = -(t - (2.515517 + t * (0.802853 + t * 0.010328)) /
                         (1 + t * (1.432788 + t * (0.189269 + t * 0.001308))));
    for (int it = 0; it < 50; it++) {
        double dx = (dist_norm_cdf(x) - p) / norm_pdf(x);
        x -= dx;
        if (fabs(dx) <= 1e-15 * fabs(x) + 1e-300)
            break;
    }
    return x;
}

static double log_beta_fn(double a, double b)
{
    return lgamma(a) + lgamma(b) - lgamma(a + b);
}

/* Continued fraction of I_x(a, b) (modified Lentz), valid for
 * x < (a + 1) / (a + b + 2). */
static double beta_cf(double x, double a, double b)
{
    const double tiny = 1e-300;
    double c = 1, d = 1 - (a + b) * x / (a + 1);
    if (fabs(d) < tiny)
        d = tiny;
    d = 1 / d;
    double f = d;
    for (int m = 1; m <= 500; m++) {
        double m2 = 2.0 * m;
        double even = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
        d = 1 + even * d;
        c = 1 + even / c;
        d = fabs(d) < tiny ? 1 / tiny : 1 / d;
        if (fabs(c) < tiny)
            c = tiny;
        f *= d * c;
        double odd = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
        d = 1 + odd * d;
        c = 1 + odd / c;
        d = fabs(d) < tiny ? 1 / tiny : 1 / d;
        if (fabs(c) < tiny)
            c = tiny;
        double delta = d * c;
        f *= delta;
        if (fabs(delta - 1) < 1e-16)
            break;
    }
    return f;
}

double dist_beta_cdf(double x, double a, double b)
{
    if (!(x > 0))
        return 0;
    if (!(x < 1))
        return 1;
    double front = exp(a * log(x) + b * log1p(-x) - log_beta_fn(a, b));
    if (x < (a + 1) / (a + b + 2))
        return front * beta_cf(x, a, b) / a;
    return 1 - front * beta_cf(1 - x, b, a) / b;
}

double dist_beta_ppf(double p, double a, double b)
{
    if (!(p > 0))
        return 0;
    if (!(p < 1))
        return 1;
    /* Newton safeguarded by bisection on the bracket [lo, hi]. */
    double lo = 0, hi = 1, x = a / (a + b);
    double lb = log_beta_fn(a, b);
    for (int it = 0; it < 300; it++) {
        double f = dist_beta_cdf(x, a, b) - p;
        if (f < 0)
            lo = x;
        else
            hi = x;
        double pdf = exp((a - 1) * log(x) + (b - 1) * log1p(-x) - lb);
        double next = pdf > 0 && isfinite(pdf) ? x - f / pdf : -1;
        if (!(next > lo && next < hi))
            next = 0.5 * (lo + hi);
        if (fabs(next - x) <= 1e-15 * x || hi - lo <= 1e-300)
            return next;
        x = next;
    }
    return x;
}

/* ---- quantiles and CDFs of the unquantized distributions ---------------- */

static double clamp01(double u)
{
    return u < 0 ? 0 : u > 1 ? 1 : u;
}

static double quantize(double v, double q)
{
    return nearbyint(v / q) * q; /* ties to even, as numpy.round */
}

/* Number of levels of an int_uniform or categorical kind. */
static double n_levels(const DistSpec *s)
{
    return s->kind == DIST_INT_UNIFORM ? s->max - s->min + 1 : (double)s->n_values;
}

/* Quantile at u of the continuous (unquantized) distribution. */
static double continuous_ppf(const DistSpec *s, double u)
{
    switch (s->kind) {
    case DIST_UNIFORM:
    case DIST_Q_UNIFORM:
        return s->min + u * (s->max - s->min);
    case DIST_LOG_UNIFORM:
    case DIST_Q_LOG_UNIFORM:
        return exp(s->min + u * (s->max - s->min));
    case DIST_LOG_UNIFORM_VALUES:
    case DIST_Q_LOG_UNIFORM_VALUES:
    case DIST_INV_LOG_UNIFORM_VALUES: {
        double lmin = log(s->min), lmax = log(s->max);
        return exp(lmin + u * (lmax - lmin));
    }
    case DIST_INV_LOG_UNIFORM:
        return exp(-s->max + u * (s->max - s->min));
    case DIST_NORMAL:
    case DIST_Q_NORMAL:
        return s->mu + s->sigma * dist_norm_ppf(u);
    case DIST_LOG_NORMAL:
    case DIST_Q_LOG_NORMAL:
        return exp(s->mu + s->sigma * dist_norm_ppf(u));
    case DIST_BETA:
    case DIST_Q_BETA:
        return dist_beta_ppf(u, s->a, s->b);
    default:
        nn_fatal("continuous_ppf: %s is not continuous", dist_kind_name(s->kind));
    }
}

static double continuous_cdf(const DistSpec *s, double x)
{
    switch (s->kind) {
    case DIST_UNIFORM:
    case DIST_Q_UNIFORM:
        return (x - s->min) / (s->max - s->min);
    case DIST_LOG_UNIFORM:
    case DIST_Q_LOG_UNIFORM:
        return x > 0 ? (log(x) - s->min) / (s->max - s->min) : 0;
    case DIST_LOG_UNIFORM_VALUES:
    case DIST_Q_LOG_UNIFORM_VALUES:
    case DIST_INV_LOG_UNIFORM_VALUES: {
        double lmin = log(s->min), lmax = log(s->max);
        return x > 0 ? (log(x) - lmin) / (lmax - lmin) : 0;
    }
    case DIST_INV_LOG_UNIFORM:
        return x > 0 ? (log(x) + s->max) / (s->max - s->min) : 0;
    case DIST_NORMAL:
    case DIST_Q_NORMAL:
        return dist_norm_cdf((x - s->mu) / s->sigma);
    case DIST_LOG_NORMAL:
    case DIST_Q_LOG_NORMAL:
        return x > 0 ? dist_norm_cdf((log(x) - s->mu) / s->sigma) : 0;
    case DIST_BETA:
    case DIST_Q_BETA:
        return dist_beta_cdf(x, s->a, s->b);
    default:
        nn_fatal("continuous_cdf: %s is not continuous", dist_kind_name(s->kind));
    }
}

/* Level index floor(u k) clamped to [0, k-1]. */
static double level_of(double u, double k)
{
    double i = floor(u * k);
    return i < 0 ? 0 : i > k - 1 ? k - 1 : i;
}

double dist_sample(const DistSpec *s, double u)
{
    switch (s->kind) {
    case DIST_CONSTANT:
        return 0;
    case DIST_CATEGORICAL:
        return level_of(u, s->n_values);
    case DIST_CATEGORICAL_PROB: {
        /* W&B: the first index whose cumulative probability exceeds u; past
         * a sum just under 1, the last value with a positive probability */
        double cum = 0;
        int last = 0;
        for (int i = 0; i < s->n_values; i++) {
            if (s->probabilities[i] > 0)
                last = i;
            cum += s->probabilities[i];
            if (u < cum && s->probabilities[i] > 0)
                return i;
        }
        return last;
    }
    case DIST_INT_UNIFORM:
        return s->min + level_of(u, n_levels(s));
    default: {
        double v = continuous_ppf(s, u);
        return is_quantized(s->kind) ? quantize(v, s->q) : v;
    }
    }
}

double dist_to_unit(const DistSpec *s, double value)
{
    switch (s->kind) {
    case DIST_CONSTANT:
        return 0;
    case DIST_CATEGORICAL:
    case DIST_CATEGORICAL_PROB:
        return (value + 0.5) / n_levels(s);
    case DIST_INT_UNIFORM:
        return (value - s->min + 0.5) / n_levels(s);
    default:
        return clamp01(continuous_cdf(s, value));
    }
}

double dist_from_unit(const DistSpec *s, double u)
{
    u = clamp01(u);
    switch (s->kind) {
    case DIST_CONSTANT:
        return 0;
    case DIST_CATEGORICAL:
    case DIST_CATEGORICAL_PROB:
        return level_of(u, n_levels(s));
    case DIST_INT_UNIFORM:
        return s->min + level_of(u, n_levels(s));
    default: {
        double v = continuous_ppf(s, u);
        return is_quantized(s->kind) ? quantize(v, s->q) : v;
    }
    }
}

int dist_bayes_dim(const DistSpec *s, BayesDim *dim)
{
    switch (s->kind) {
    case DIST_CONSTANT:
        return 0;
    case DIST_CATEGORICAL:
    case DIST_CATEGORICAL_PROB:
        if (s->n_values < 2)
            return 0;
        dim->kind = BAYES_CATEGORICAL;
        dim->n_levels = s->n_values;
        return 1;
    case DIST_INT_UNIFORM:
        if (n_levels(s) > 1e6) { /* levels finer than the search resolves */
            dim->kind = BAYES_CONTINUOUS;
            dim->n_levels = 0;
        } else {
            dim->kind = BAYES_LEVELS;
            dim->n_levels = (int)n_levels(s);
        }
        return 1;
    default:
        dim->kind = BAYES_CONTINUOUS;
        dim->n_levels = 0;
        return 1;
    }
}
