/* test_search.c - the search's numeric pieces: W&B's distributions
 * (src/sweep/dist.c) against scipy's values in tests/fixtures/search_ref.txt
 * (tests/search_fixture.py) and by sampling statistics, their checks, and
 * the CPU-independent exp/log/normal CDF (detmath.c) against libm. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nnsweep/rng.h"
#include "sweep/detmath.h"
#include "sweep/sweep_dist.h"

/* |got - ref| <= atol + rtol |ref|, printed with its context when not. */
#define CLOSE(got, ref, atol, rtol, ...)                                       \
    do {                                                                       \
        double g_ = (got), r_ = (ref);                                         \
        int ok_ = fabs(g_ - r_) <= (atol) + (rtol) * fabs(r_);                 \
        if (!ok_)                                                              \
            fprintf(stderr, "got %.17g, expected %.17g:\n", g_, r_);           \
        CHECK(ok_, __VA_ARGS__);                                               \
    } while (0)

static void test_fixture(void)
{
    FILE *f = fopen(NN_FIXTURES_DIR "/search_ref.txt", "r");
    CHECK(f != NULL, "cannot open %s", NN_FIXTURES_DIR "/search_ref.txt");
    if (!f)
        return;
    char line[1024], op[16], name[64];
    int n_ppf = 0, n_cdf = 0;
    while (fgets(line, sizeof line, f)) {
        DistSpec s;
        double mn, mx, mu, sigma, q, a, b, arg, want;
        if (sscanf(line, "%15s %63s %lf %lf %lf %lf %lf %lf %lf %lf %lf", op, name, &mn, &mx, &mu,
                   &sigma, &q, &a, &b, &arg, &want) != 11 ||
            (strcmp(op, "ppf") && strcmp(op, "cdf")))
            continue;
        DistKind kind;
        CHECK(dist_kind_from_name(name, &kind) == 0, "unknown kind %s", name);
        dist_spec_init(&s, kind);
        s.min = mn, s.max = mx, s.mu = mu, s.sigma = sigma, s.q = q, s.a = a, s.b = b;
        NnError err;
        CHECK(dist_check(&s, &err) == NN_OK, "%s: %s", name, err.msg);
        if (strcmp(op, "ppf") == 0) {
            /* sampling and the unit map back are both the quantile */
            CLOSE(dist_sample(&s, arg), want, 1e-300, 1e-10, "ppf %s at %g", name, arg);
            CLOSE(dist_from_unit(&s, arg), want, 1e-300, 1e-10, "from_unit %s at %g", name, arg);
            n_ppf++;
        } else {
            CLOSE(dist_to_unit(&s, arg), want, 1e-14, 1e-10, "cdf %s at %g", name, arg);
            n_cdf++;
        }
    }
    fclose(f);
    CHECK(n_ppf >= 150 && n_cdf >= 300, "fixture: %d ppf and %d cdf lines", n_ppf, n_cdf);
}

/* A spec from a kind and the fields that matter for the check tests. */
static DistSpec spec(DistKind kind, double mn, double mx)
{
    DistSpec s;
    dist_spec_init(&s, kind);
    s.min = mn;
    s.max = mx;
    return s;
}

static void expect_error(const DistSpec *s, const char *prefix)
{
    NnError err = {{0}};
    NnStatus st = dist_check(s, &err);
    CHECK(st == NN_ERR_INPUT, "%s: expected NN_ERR_INPUT, got %d", dist_kind_name(s->kind), st);
    CHECK(strncmp(err.msg, prefix, strlen(prefix)) == 0, "%s: message \"%s\" should start with \"%s\"",
          dist_kind_name(s->kind), err.msg, prefix);
}

static void test_checks(void)
{
    for (int k = 0; k < DIST_N_KINDS; k++) {
        DistKind back;
        CHECK(dist_kind_from_name(dist_kind_name((DistKind)k), &back) == 0 && back == (DistKind)k,
              "name round trip of %d", k);
    }
    DistKind none;
    CHECK(dist_kind_from_name("loguniform", &none) == -1, "an unknown name is rejected");

    DistSpec s = spec(DIST_UNIFORM, 1, 1);
    expect_error(&s, "max: expected a number greater than min (1), found 1");
    s = spec(DIST_LOG_UNIFORM, 3, -1);
    expect_error(&s, "max: expected a number greater than min");
    s = spec(DIST_LOG_UNIFORM, -9, -2); /* exponents may be negative */
    CHECK(dist_check(&s, NULL) == NN_OK, "log_uniform with negative exponents");
    s = spec(DIST_LOG_UNIFORM_VALUES, 0, 1);
    expect_error(&s, "min: expected a number greater than 0");
    s = spec(DIST_INV_LOG_UNIFORM_VALUES, -1, 1);
    expect_error(&s, "min: expected a number greater than 0");
    s = spec(DIST_Q_LOG_UNIFORM_VALUES, 1, 100);
    s.q = 0;
    expect_error(&s, "q: expected a number greater than 0, found 0");
    s = spec(DIST_INT_UNIFORM, 1, 2.5);
    expect_error(&s, "max: expected an integer, found 2.5");
    s = spec(DIST_UNIFORM, NAN, 1);
    expect_error(&s, "min: expected a finite number");
    s = spec(DIST_NORMAL, 0, 0);
    s.sigma = 0;
    expect_error(&s, "sigma: expected a number greater than 0");
    s = spec(DIST_Q_BETA, 0, 0);
    s.b = -1;
    expect_error(&s, "b: expected a number greater than 0, found -1");
    s = spec(DIST_CATEGORICAL, 0, 0);
    expect_error(&s, "values: expected a non-empty list");

    double p_ok[3] = {0.2, 0.5, 0.3}, p_sum[3] = {0.2, 0.5, 0.31}, p_neg[3] = {0.6, -0.1, 0.5};
    s = spec(DIST_CATEGORICAL_PROB, 0, 0);
    s.n_values = 3;
    s.n_probabilities = 3;
    s.probabilities = p_ok;
    CHECK(dist_check(&s, NULL) == NN_OK, "probabilities summing to 1");
    double p_close[3] = {0.2, 0.5, 0.300005}; /* within numpy.isclose */
    s.probabilities = p_close;
    CHECK(dist_check(&s, NULL) == NN_OK, "a sum within 1e-5 of 1");
    s.probabilities = p_sum;
    expect_error(&s, "probabilities: expected a sum of 1, found 1.01");
    s.probabilities = p_neg;
    expect_error(&s, "probabilities[1]: expected a number >= 0, found -0.1");
    s.probabilities = p_ok;
    s.n_probabilities = 2;
    expect_error(&s, "probabilities: expected 3 numbers (one per value), found 2");
}

/* Levels sit at bin centres; every sample maps to the cube and back. */
static void test_unit_maps(void)
{
    DistSpec s = spec(DIST_INT_UNIFORM, -2, 3);
    for (int v = -2; v <= 3; v++) {
        double u = dist_to_unit(&s, v);
        CLOSE(u, (v + 2 + 0.5) / 6, 0, 1e-15, "int level %d", v);
        CHECK(dist_from_unit(&s, u) == v, "int round trip %d", v);
    }
    CHECK(dist_from_unit(&s, 0) == -2 && dist_from_unit(&s, 1) == 3, "int ends");
    BayesDim dim;
    CHECK(dist_bayes_dim(&s, &dim) == 1 && dim.kind == BAYES_LEVELS && dim.n_levels == 6,
          "int_uniform is 6 levels");
    s = spec(DIST_CATEGORICAL, 0, 0);
    s.n_values = 4;
    for (int i = 0; i < 4; i++)
        CHECK(dist_from_unit(&s, dist_to_unit(&s, i)) == i, "categorical round trip %d", i);
    CHECK(dist_bayes_dim(&s, &dim) == 1 && dim.kind == BAYES_CATEGORICAL && dim.n_levels == 4,
          "categorical is 4 choices");
    s.n_values = 1;
    CHECK(dist_bayes_dim(&s, &dim) == 0, "one value is no dimension");
    s = spec(DIST_CONSTANT, 0, 0);
    CHECK(dist_bayes_dim(&s, &dim) == 0, "a constant is no dimension");

    /* quantized and continuous kinds: from_unit(to_unit(sample)) == sample */
    static const DistKind kinds[] = {DIST_Q_UNIFORM, DIST_Q_LOG_UNIFORM_VALUES, DIST_Q_NORMAL,
                                     DIST_Q_BETA, DIST_LOG_UNIFORM, DIST_INV_LOG_UNIFORM};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        s = spec(kinds[k], 1, 4);
        s.q = kinds[k] == DIST_Q_BETA ? 0.1 : 0.5;
        s.mu = 3;
        for (int i = 0; i < 200; i++) {
            uint32_t w[4];
            rng_philox(5, rng_stream(RNG_STREAM_TEST, 40 + k), (uint64_t)i, w);
            double v = dist_sample(&s, dist_u01(w[0], w[1]));
            double back = dist_from_unit(&s, dist_to_unit(&s, v));
            CLOSE(back, v, 1e-12, 1e-12, "%s round trip of %g", dist_kind_name(kinds[k]), v);
            if (kinds[k] != DIST_LOG_UNIFORM && kinds[k] != DIST_INV_LOG_UNIFORM)
                CLOSE(nearbyint(v / s.q) * s.q, v, 1e-12, 0, "%s: a multiple of q", dist_kind_name(kinds[k]));
        }
    }
}

/* Means, quantiles and frequencies over many Philox draws; each tolerance
 * is 4-5 standard errors and far below what a wrong transform gives. */
static void test_sampling(void)
{
    enum { N = 40000 };
    double *v = malloc(sizeof(double) * N);
    DistSpec s;
    double p3[3] = {0.2, 0.5, 0.3};
    struct {
        DistKind kind;
        double mn, mx, mu, sigma, a, b;
    } cases[] = {
        {DIST_NORMAL, 0, 0, 1, 2, 1, 1},     {DIST_LOG_NORMAL, 0, 0, -1, 0.5, 1, 1},
        {DIST_BETA, 0, 0, 0, 1, 2, 5},       {DIST_LOG_UNIFORM_VALUES, 1e-4, 1, 0, 1, 1, 1},
        {DIST_INV_LOG_UNIFORM, 1, 3, 0, 1, 1, 1}, {DIST_INT_UNIFORM, 1, 6, 0, 1, 1, 1},
        {DIST_CATEGORICAL_PROB, 0, 0, 0, 1, 1, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        dist_spec_init(&s, cases[c].kind);
        s.min = cases[c].mn, s.max = cases[c].mx, s.mu = cases[c].mu, s.sigma = cases[c].sigma;
        s.a = cases[c].a, s.b = cases[c].b;
        s.n_values = s.n_probabilities = 3;
        s.probabilities = p3;
        double mean = 0, m2 = 0, lmean = 0, count[6] = {0};
        for (int i = 0; i < N; i++) {
            uint32_t w[4];
            rng_philox(11, rng_stream(RNG_STREAM_TEST, 100 + c), (uint64_t)i, w);
            v[i] = dist_sample(&s, dist_u01(w[0], w[1]));
            mean += v[i] / N;
            m2 += v[i] * v[i] / N;
            lmean += (v[i] > 0 ? log(v[i]) : 0) / N;
            if (cases[c].kind == DIST_INT_UNIFORM)
                count[(int)v[i] - 1] += 1.0 / N;
            if (cases[c].kind == DIST_CATEGORICAL_PROB)
                count[(int)v[i]] += 1.0 / N;
        }
        double sd = sqrt(m2 - mean * mean);
        const char *name = dist_kind_name(cases[c].kind);
        switch (cases[c].kind) {
        case DIST_NORMAL:
            CLOSE(mean, 1, 0.045, 0, "%s mean", name);
            CLOSE(sd, 2, 0.04, 0, "%s sd", name);
            break;
        case DIST_LOG_NORMAL: /* log of the value ~ N(-1, 0.5^2) */
            CLOSE(lmean, -1, 0.012, 0, "%s mean of log", name);
            CLOSE(mean, exp(-1 + 0.125), 0.006, 0, "%s mean", name);
            break;
        case DIST_BETA: /* mean a / (a + b), variance ab / ((a+b)^2 (a+b+1)) */
            CLOSE(mean, 2.0 / 7, 0.004, 0, "%s mean", name);
            CLOSE(sd, sqrt(10.0 / (49 * 8)), 0.003, 0, "%s sd", name);
            break;
        case DIST_LOG_UNIFORM_VALUES: /* log10 uniform on [-4, 0] */
            CLOSE(lmean / log(10), -2, 0.025, 0, "%s mean of log10", name);
            CLOSE(sd, sqrt((1 - 1e-8) / (2 * log(1e4)) - pow((1 - 1e-4) / log(1e4), 2)), 0.004, 0,
                  "%s sd", name);
            break;
        case DIST_INV_LOG_UNIFORM: /* exp(-U), U uniform on [1, 3] */
            CLOSE(lmean, -2, 0.012, 0, "%s mean of log", name);
            CLOSE(mean, (exp(-1) - exp(-3)) / 2, 0.002, 0, "%s mean", name);
            break;
        case DIST_INT_UNIFORM:
            for (int i = 0; i < 6; i++)
                CLOSE(count[i], 1.0 / 6, 0.009, 0, "%s frequency of %d", name, i + 1);
            break;
        default:
            for (int i = 0; i < 3; i++)
                CLOSE(count[i], p3[i], 0.011, 0, "%s frequency of %d", name, i);
            break;
        }
    }
    free(v);
}

static void test_detmath(void)
{
    double worst = 0;
    for (double x = -745; x < 709.7; x += 0.0731)
        if (exp(x) > 1e-300)
            worst = fmax(worst, fabs(det_exp(x) - exp(x)) / exp(x));
    CHECK(worst < 2e-15, "det_exp: max relative error %g", worst);
    CHECK(det_exp(710) == INFINITY && det_exp(-746) == 0 && isnan(det_exp(NAN)), "det_exp ends");
    worst = 0;
    for (double x = 1e-300; x < 1e300; x *= 1.0973)
        worst = fmax(worst, fabs(det_log(x) - log(x)) / fmax(fabs(log(x)), 1e-300));
    for (double x = 0.5; x < 2; x += 1.3e-4)
        if (x != 1)
            worst = fmax(worst, fabs(det_log(x) - log(x)) / fabs(log(x)));
    CHECK(worst < 2e-15, "det_log: max relative error %g", worst);
    CHECK(det_log(1) == 0 && det_log(0) == -INFINITY && isnan(det_log(-1)), "det_log ends");
    worst = 0;
    for (double x = -37; x < 9; x += 0.0071) {
        double ref = 0.5 * erfc(-x / sqrt(2));
        worst = fmax(worst, fabs(det_norm_cdf(x) - ref) / ref * (fabs(x) > 10 ? 0.1 : 1));
    }
    CHECK(worst < 5e-14, "det_norm_cdf: max relative error %g (x 10 beyond |x| > 10)", worst);
    /* log(phi(z) + z Phi(z)) against libm where the direct form is exact
     * enough, then finite and decreasing far into the tail */
    for (double z = -5; z < 6; z += 0.013) {
        double ref = log(exp(-0.5 * z * z) / sqrt(2 * M_PI) + z * 0.5 * erfc(-z / sqrt(2)));
        CLOSE(det_log_ei_h(z), ref, 1e-12, 2e-9, "det_log_ei_h(%g)", z);
    }
    double prev = det_log_ei_h(-2.4);
    for (double z = -2.6; z > -1e140; z *= 1.7) {
        double h = det_log_ei_h(z);
        CHECK(isfinite(h) && h < prev, "det_log_ei_h(%g) = %g, after %g", z, h, prev);
        /* asymptotically log phi(z) - 2 log|z| */
        if (z < -100)
            CLOSE(h, -0.5 * z * z - 0.5 * log(2 * M_PI) - 2 * log(-z), 0, 1e-6, "tail at %g", z);
        prev = h;
    }
}

int main(void)
{
    test_fixture();
    test_checks();
    test_unit_maps();
    test_sampling();
    test_detmath();
    return check_exit_code();
}
