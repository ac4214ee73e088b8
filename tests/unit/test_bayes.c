/* test_bayes.c - the GP (src/sweep/gp.c) against numpy's posterior in
 * tests/fixtures/search_ref.txt, its MAP gradient against central
 * differences, robustness (duplicates, constant y), and the Bayesian
 * search (bayes.c): reproducible, moved by pending points, level centres,
 * converging on a 1-d function. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nnsweep/rng.h"
#include "sweep/bayes.h"
#include "sweep/gp.h"

#define CLOSE(got, ref, atol, rtol, ...)                                       \
    do {                                                                       \
        double g_ = (got), r_ = (ref);                                         \
        int ok_ = fabs(g_ - r_) <= (atol) + (rtol) * fabs(r_);                 \
        if (!ok_)                                                              \
            fprintf(stderr, "got %.17g, expected %.17g:\n", g_, r_);           \
        CHECK(ok_, __VA_ARGS__);                                               \
    } while (0)

static double unif(uint64_t sub, uint64_t i)
{
    return rng_uniform_at(3, rng_stream(RNG_STREAM_TEST, sub), i);
}

static void test_posterior_fixture(void)
{
    FILE *f = fopen(NN_FIXTURES_DIR "/search_ref.txt", "r");
    CHECK(f != NULL, "cannot open the fixture");
    if (!f)
        return;
    enum { D = 3, MAXN = 16 };
    const unsigned char cat[D] = {0, 0, 1};
    double theta[GP_N_THETA(D)], X[MAXN * D], y[MAXN], obj = NAN;
    double T[8][D], mean[8], var[8];
    int n = 0, n_t = 0, have_theta = 0;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "gp_theta ", 9) == 0)
            have_theta = sscanf(line + 9, "%lf %lf %lf %lf %lf", &theta[0], &theta[1], &theta[2],
                                &theta[3], &theta[4]) == 5;
        else if (strncmp(line, "gp_obs ", 7) == 0 && n < MAXN)
            n += sscanf(line + 7, "%lf %lf %lf %lf", &X[n * D], &X[n * D + 1], &X[n * D + 2],
                        &y[n]) == 4;
        else if (strncmp(line, "gp_test ", 8) == 0 && n_t < 8)
            n_t += sscanf(line + 8, "%lf %lf %lf %lf %lf", &T[n_t][0], &T[n_t][1], &T[n_t][2],
                          &mean[n_t], &var[n_t]) == 5;
        else if (strncmp(line, "gp_objective ", 13) == 0)
            obj = atof(line + 13);
    }
    fclose(f);
    CHECK(have_theta && n == 9 && n_t == 5 && !isnan(obj), "fixture: theta %d, %d obs, %d tests",
          have_theta, n, n_t);
    GpData d = {n, D, X, y, cat};
    CLOSE(gp_objective(&d, theta, NULL), obj, 0, 1e-10, "MAP objective");
    Gp gp;
    gp_condition(&gp, &d, theta);
    CHECK(gp.jitter == 0, "no jitter needed, got %g", gp.jitter);
    double work[MAXN];
    for (int i = 0; i < n_t; i++) {
        double m, v;
        gp_predict(&gp, T[i], &m, &v, work);
        CLOSE(m, mean[i], 1e-12, 1e-9, "posterior mean at test %d", i);
        /* test 0 is an observation: its variance (~noise) loses digits */
        CLOSE(v, var[i], i == 0 ? 1e-9 : 1e-12, 1e-8, "posterior variance at test %d", i);
    }
    gp_free(&gp);
}

/* Gradient of the MAP objective against central differences, on random
 * data with a categorical dimension and a duplicated point. */
static void test_gradient(void)
{
    enum { N = 12, D = 3, P = GP_N_THETA(3) };
    const unsigned char cat[D] = {0, 1, 0};
    double X[N * D], y[N];
    for (int i = 0; i < N; i++) {
        X[i * D] = unif(1, (uint64_t)i);
        X[i * D + 1] = (floor(unif(2, (uint64_t)i) * 4) + 0.5) / 4;
        X[i * D + 2] = unif(3, (uint64_t)i);
        y[i] = sin(4 * X[i * D]) + X[i * D + 1] - X[i * D + 2] * X[i * D + 2];
    }
    memcpy(X + (N - 1) * D, X, sizeof(double) * D); /* a duplicate, other y */
    GpData d = {N, D, X, y, cat};
    double theta[P] = {-1.0, 0.3, -0.4, 0.2, -5.0}, grad[P];
    gp_objective(&d, theta, grad);
    for (int k = 0; k < P; k++) {
        double h = 1e-5, tp[P], tm[P];
        memcpy(tp, theta, sizeof tp);
        memcpy(tm, theta, sizeof tm);
        tp[k] += h;
        tm[k] -= h;
        double fd = (gp_objective(&d, tp, NULL) - gp_objective(&d, tm, NULL)) / (2 * h);
        CLOSE(grad[k], fd, 1e-6, 1e-5, "d objective / d theta[%d]", k);
    }
}

/* 40 copies of one point with y alternating -1, 1 and a noise floor of
 * 1e-8: predictions stay finite, the mean at the average. */
static void test_robust(void)
{
    enum { N = 40, D = 2 };
    const unsigned char cat[D] = {0, 0};
    double X[N * D], y[N];
    for (int i = 0; i < N; i++) {
        X[i * D] = 0.5;
        X[i * D + 1] = 0.25;
        y[i] = i % 2 ? 1 : -1;
    }
    GpData d = {N, D, X, y, cat};
    double theta[GP_N_THETA(D)] = {0, 0, 0, -18.4};
    Gp gp;
    gp_condition(&gp, &d, theta);
    double m, v, work[N], x[D] = {0.3, 0.7};
    gp_predict(&gp, x, &m, &v, work);
    CHECK(fabs(m) < 1e-3 && isfinite(v) && v > 0, "duplicates: mean %g (expected ~0) var %g", m, v);
    gp_free(&gp);
    double fitted[GP_N_THETA(D)];
    gp_fit(&d, theta, 1, 30, fitted);
    for (int k = 0; k < GP_N_THETA(D); k++)
        CHECK(isfinite(fitted[k]), "fit on duplicates: theta[%d] = %g", k, fitted[k]);

    /* the search on constant y and on duplicated observations */
    BayesDim dims[D] = {{BAYES_CONTINUOUS, 0}, {BAYES_LEVELS, 3}};
    Bayes *b = bayes_create(dims, D, 9, NULL);
    for (int i = 0; i < 12; i++) {
        double u[D] = {i < 6 ? 0.5 : unif(4, (uint64_t)i), 0.5};
        bayes_observe(b, u, 2.5);
    }
    double u[D];
    bayes_propose(b, NULL, 0, u);
    CHECK(u[0] >= 0 && u[0] <= 1 && (u[1] == 0.5 / 3 || u[1] == 1.5 / 3 || u[1] == 2.5 / 3),
          "constant y: proposal (%g, %g)", u[0], u[1]);
    bayes_free(b);
}

static double f1(double x)
{
    return (x - 0.3) * (x - 0.3) + 0.1 * sin(9 * x);
}

/* n proposals and observations of a 3-d mixed function; the proposals are
 * written to out (n * 3). */
static void run_mixed(uint64_t seed, int n, double *out)
{
    BayesDim dims[3] = {{BAYES_CONTINUOUS, 0}, {BAYES_LEVELS, 5}, {BAYES_CATEGORICAL, 3}};
    Bayes *b = bayes_create(dims, 3, seed, NULL);
    for (int i = 0; i < n; i++) {
        double *u = out + i * 3;
        bayes_propose(b, NULL, 0, u);
        double y = f1(u[0]) + (u[1] - 0.5) * (u[1] - 0.5) + (u[2] > 0.5 ? 0.2 : 0);
        bayes_observe(b, u, y);
    }
    bayes_free(b);
}

static void test_search(void)
{
    enum { N = 16 };
    double a[N * 3], b2[N * 3], c[N * 3];
    run_mixed(42, N, a);
    run_mixed(42, N, b2);
    run_mixed(43, N, c);
    CHECK(memcmp(a, b2, sizeof a) == 0, "same seed and calls: bit-identical proposals");
    CHECK(memcmp(a, c, sizeof a) != 0, "another seed: other proposals");
    for (int i = 0; i < N; i++) {
        double l = a[i * 3 + 1] * 5 - 0.5, k = a[i * 3 + 2] * 3 - 0.5;
        CHECK(l == floor(l) && k == floor(k), "proposal %d on level centres: (%g, %g)", i,
              a[i * 3 + 1], a[i * 3 + 2]);
    }

    /* a pending point moves the proposal off itself (kriging believer takes
     * away its uncertainty and improvement; a point next to it may still
     * win where the model is sure of the minimum), and the proposal is a
     * pure function of observations + pending */
    BayesDim dim = {BAYES_CONTINUOUS, 0};
    for (int step = 0; step < 2; step++) { /* an EI step and an exploiting one */
        Bayes *b = bayes_create(&dim, 1, 5, NULL);
        for (int i = 0; i < 10 + step; i++) {
            double u = (i + 0.37) / (10 + step);
            bayes_observe(b, &u, f1(u));
        }
        double free_u, pend_u, again_u;
        bayes_propose(b, NULL, 0, &free_u);
        const double *pending[1] = {&free_u};
        bayes_propose(b, pending, 1, &pend_u);
        bayes_propose(b, pending, 1, &again_u);
        CHECK(pend_u != free_u, "step %d: pending %g moved the proposal to %g", step, free_u, pend_u);
        CHECK(pend_u == again_u, "step %d: same state, same proposal (%g, %g)", step, pend_u,
              again_u);
        bayes_free(b);
    }

    /* converges on a 1-d function (minimum near x = 0.3663) */
    Bayes *b = bayes_create(&dim, 1, 1, NULL);
    double best = INFINITY, best_u = -1;
    for (int i = 0; i < 15; i++) {
        double u;
        bayes_propose(b, NULL, 0, &u);
        double y = f1(u);
        bayes_observe(b, &u, y);
        if (y < best) {
            best = y;
            best_u = u;
        }
    }
    double xs = 0.3663; /* grid search of f1 on 1e-4 steps */
    for (double x = 0; x <= 1; x += 1e-4)
        xs = f1(x) < f1(xs) ? x : xs;
    CHECK(best - f1(xs) < 1e-4 && fabs(best_u - xs) < 0.01,
          "1-d: best %.6f at %.4f after 15, minimum %.6f at %.4f", best, best_u, f1(xs), xs);
    CHECK(bayes_n_observed(b) == 15, "15 observed");
    bayes_free(b);
}

int main(void)
{
    test_posterior_fixture();
    test_gradient();
    test_robust();
    test_search();
    return check_exit_code();
}
