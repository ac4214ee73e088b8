/* bench_search.c - nnsweep's bayes and random search on synthetic
 * functions, no training (bench/README.md, "Search"). Prints one TSV row
 * per (function, method, seed): the evaluation at which the best value
 * first came within 1% of the optimum (|f - f*| <= 0.01 |f*|; -1: never),
 * the best value after 20 and after n evaluations, and the mean and
 * largest CPU time of one proposal in ms (CPU, not wall time: the search
 * is single-threaded, and a shared machine's load does not count).
 *
 *   bench_search [-n evals] [-s seeds] [-f branin,hartmann6,mixed]
 *                [-m bayes,random,bayes_async4] [-i n_init]
 *   bench_search -c     cost of one proposal after 50, 200 and 500 random
 *                       observations of Hartmann-6 (3 repeats each)
 *
 * Functions (values in each parameter's own units, through sweep_dist.h's
 * maps from the unit cube, as a sweep would give them):
 *   branin     x1 uniform [-5, 10], x2 uniform [0, 15]; f* = 0.397887 at
 *              (-pi, 12.275), (pi, 2.275), (9.42478, 2.475)
 *   hartmann6  x1..x6 uniform [0, 1]; f* = -3.32237 at (0.20169, 0.150011,
 *              0.476874, 0.275332, 0.311652, 0.6573)
 *   mixed      opt categorical {a, b, c}, lr log_uniform_values [1e-5, 1],
 *              w uniform [0, 1], layers int_uniform [1, 6]:
 *              f = off[opt] + 0.5 (log10 lr - t[opt])^2 + 4 (w - w0[opt])^2
 *                  + 0.6 (log10 lr - t[opt]) (w - w0[opt]) + 0.1 (layers - 3)^2
 *              off = (1, 1.2, 1.5), t = (-3, -1.5, -4.5), w0 = (0.3, 0.7, 0.5);
 *              f* = 1 at opt a, lr 1e-3, w 0.3, layers 3 (the quadratic form
 *              is positive definite: 0.5 * 4 > 0.3^2).
 * Methods: bayes (sequential), random (dist_sample of Philox draws), and
 * bayes_async4: five runs in flight, finished oldest first, so that every
 * proposal after the first five sees four pending points.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nnsweep/core.h"
#include "nnsweep/rng.h"
#include "sweep/bayes.h"
#include "sweep/sweep_dist.h"

#define MAX_DIMS 6

typedef struct Func {
    const char *name;
    int n_dims;
    DistSpec spec[MAX_DIMS];
    double fstar;
    double (*f)(const double *v);
} Func;

static double branin(const double *v)
{
    const double pi = 3.14159265358979323846;
    double x1 = v[0], x2 = v[1];
    double b = 5.1 / (4 * pi * pi), c = 5 / pi, t = 1 / (8 * pi);
    double a = x2 - b * x1 * x1 + c * x1 - 6;
    return a * a + 10 * (1 - t) * cos(x1) + 10;
}

static double hartmann6(const double *v)
{
    static const double alpha[4] = {1.0, 1.2, 3.0, 3.2};
    static const double A[4][6] = {{10, 3, 17, 3.5, 1.7, 8},
                                   {0.05, 10, 17, 0.1, 8, 14},
                                   {3, 3.5, 1.7, 10, 17, 8},
                                   {17, 8, 0.05, 10, 0.1, 14}};
    static const double P[4][6] = {{0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886},
                                   {0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991},
                                   {0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650},
                                   {0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381}};
    double s = 0;
    for (int i = 0; i < 4; i++) {
        double e = 0;
        for (int j = 0; j < 6; j++)
            e += A[i][j] * (v[j] - P[i][j]) * (v[j] - P[i][j]);
        s += alpha[i] * exp(-e);
    }
    return -s;
}

static double mixed(const double *v)
{
    static const double off[3] = {1, 1.2, 1.5}, t0[3] = {-3, -1.5, -4.5}, w0[3] = {0.3, 0.7, 0.5};
    int c = (int)v[0];
    double dt = log10(v[1]) - t0[c], dw = v[2] - w0[c], dl = v[3] - 3;
    return off[c] + 0.5 * dt * dt + 4 * dw * dw + 0.6 * dt * dw + 0.1 * dl * dl;
}

static void make_funcs(Func *fs)
{
    memset(fs, 0, sizeof(Func) * 3);
    fs[0].name = "branin";
    fs[0].n_dims = 2;
    dist_spec_init(&fs[0].spec[0], DIST_UNIFORM);
    fs[0].spec[0].min = -5;
    fs[0].spec[0].max = 10;
    dist_spec_init(&fs[0].spec[1], DIST_UNIFORM);
    fs[0].spec[1].max = 15;
    fs[0].fstar = 0.397887;
    fs[0].f = branin;

    fs[1].name = "hartmann6";
    fs[1].n_dims = 6;
    for (int d = 0; d < 6; d++) {
        dist_spec_init(&fs[1].spec[d], DIST_UNIFORM);
        fs[1].spec[d].max = 1;
    }
    fs[1].fstar = -3.32237;
    fs[1].f = hartmann6;

    fs[2].name = "mixed";
    fs[2].n_dims = 4;
    dist_spec_init(&fs[2].spec[0], DIST_CATEGORICAL);
    fs[2].spec[0].n_values = 3;
    dist_spec_init(&fs[2].spec[1], DIST_LOG_UNIFORM_VALUES);
    fs[2].spec[1].min = 1e-5;
    fs[2].spec[1].max = 1;
    dist_spec_init(&fs[2].spec[2], DIST_UNIFORM);
    fs[2].spec[2].max = 1;
    dist_spec_init(&fs[2].spec[3], DIST_INT_UNIFORM);
    fs[2].spec[3].min = 1;
    fs[2].spec[3].max = 6;
    fs[2].fstar = 1;
    fs[2].f = mixed;
}

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static double eval_unit(const Func *fn, const double *u)
{
    double v[MAX_DIMS];
    for (int d = 0; d < fn->n_dims; d++)
        v[d] = dist_from_unit(&fn->spec[d], u[d]);
    return fn->f(v);
}

typedef struct Result {
    int hit;                  /* evaluation (1-based) within 1%, or -1 */
    double best20, best_n;    /* best after 20 and after n evaluations */
    double ms_mean, ms_max;   /* per proposal */
} Result;

static void record(const Func *fn, int i, double y, double *best, Result *r)
{
    *best = i == 0 || y < *best ? y : *best;
    if (r->hit < 0 && fabs(*best - fn->fstar) <= 0.01 * fabs(fn->fstar))
        r->hit = i + 1;
    if (i == 19)
        r->best20 = *best;
    r->best_n = *best;
}

static Result run(const Func *fn, const char *method, uint64_t seed, int n_evals, int n_init)
{
    Result r = {-1, NAN, NAN, 0, 0};
    int D = fn->n_dims;
    double best = INFINITY, t_sum = 0;
    if (strcmp(method, "random") == 0) {
        for (int i = 0; i < n_evals; i++) {
            double t0 = cpu_ms(), v[MAX_DIMS];
            for (int d = 0; d < D; d++) {
                uint32_t w[4];
                rng_philox(seed, rng_stream(RNG_STREAM_TEST, (uint64_t)d), (uint64_t)i, w);
                v[d] = dist_sample(&fn->spec[d], dist_u01(w[0], w[1]));
            }
            double dt = cpu_ms() - t0;
            t_sum += dt;
            r.ms_max = fmax(r.ms_max, dt);
            record(fn, i, fn->f(v), &best, &r);
        }
        r.ms_mean = t_sum / n_evals;
        return r;
    }
    BayesDim dims[MAX_DIMS];
    int nd = 0;
    for (int d = 0; d < D; d++)
        nd += dist_bayes_dim(&fn->spec[d], &dims[nd]);
    NN_CHECK(nd == D, "bench: every parameter must be a dimension");
    BayesOptions opt = {.n_init = n_init};
    Bayes *b = bayes_create(dims, D, seed, &opt);
    int in_flight = strcmp(method, "bayes_async4") == 0 ? 5 : 1;
    double queue[8][MAX_DIMS]; /* runs in flight, oldest first */
    int n_q = 0, n_done = 0, n_prop = 0;
    while (n_done < n_evals) {
        while (n_q < in_flight && n_prop < n_evals) {
            const double *pend[8];
            for (int j = 0; j < n_q; j++)
                pend[j] = queue[j];
            double t0 = cpu_ms();
            bayes_propose(b, pend, n_q, queue[n_q]);
            double dt = cpu_ms() - t0;
            t_sum += dt;
            r.ms_max = fmax(r.ms_max, dt);
            n_q++;
            n_prop++;
        }
        double y = eval_unit(fn, queue[0]);
        bayes_observe(b, queue[0], y);
        record(fn, n_done++, y, &best, &r);
        memmove(queue[0], queue[1], sizeof(queue[0]) * (size_t)(n_q - 1));
        n_q--;
    }
    r.ms_mean = t_sum / n_prop;
    bayes_free(b);
    return r;
}

static int listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)); p += n)
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == 0))
            return 1;
    return 0;
}

/* Wall time of bayes_propose after n random observations of fn. */
static void cost(const Func *fn, int n)
{
    BayesDim dims[MAX_DIMS];
    for (int d = 0; d < fn->n_dims; d++)
        dist_bayes_dim(&fn->spec[d], &dims[d]);
    Bayes *b = bayes_create(dims, fn->n_dims, 1, NULL);
    for (int i = 0; i < n; i++) {
        double u[MAX_DIMS];
        for (int d = 0; d < fn->n_dims; d++)
            u[d] = rng_uniform_at(7, rng_stream(RNG_STREAM_TEST, (uint64_t)d), (uint64_t)i);
        bayes_observe(b, u, eval_unit(fn, u));
    }
    printf("%s\tpropose_after_%d", fn->name, n);
    for (int r = 0; r < 3; r++) {
        double u[MAX_DIMS], t0 = cpu_ms();
        bayes_propose(b, NULL, 0, u);
        printf("\t%.1f ms", cpu_ms() - t0);
    }
    printf("\n");
    bayes_free(b);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "-c") == 0) {
        Func fs[3];
        make_funcs(fs);
        for (int n = 50; n <= 500; n = n == 50 ? 200 : 500) {
            cost(&fs[1], n);
            if (n == 500)
                break;
        }
        return 0;
    }
    int n_evals = 60, n_seeds = 10, n_init = 0;
    const char *funcs = "branin,hartmann6,mixed", *methods = "bayes,random,bayes_async4";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "-n") == 0)
            n_evals = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "-s") == 0)
            n_seeds = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "-f") == 0)
            funcs = argv[i + 1];
        else if (strcmp(argv[i], "-m") == 0)
            methods = argv[i + 1];
        else if (strcmp(argv[i], "-i") == 0)
            n_init = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: %s [-n evals] [-s seeds] [-f funcs] [-m methods] [-i n_init]\n",
                    argv[0]);
            return 2;
        }
    }
    if (n_evals < 20 || n_seeds < 1) {
        fprintf(stderr, "bench_search: need -n >= 20 and -s >= 1\n");
        return 2;
    }
    Func fs[3];
    make_funcs(fs);
    static const char *all_methods[3] = {"bayes", "random", "bayes_async4"};
    printf("function\tmethod\tseed\thit_1pct\tbest_20\tbest_n\tms_mean\tms_max\n");
    for (int f = 0; f < 3; f++) {
        if (!listed(funcs, fs[f].name))
            continue;
        for (int m = 0; m < 3; m++) {
            if (!listed(methods, all_methods[m]) || (m == 2 && f != 0))
                continue;
            for (int s = 0; s < n_seeds; s++) {
                Result r = run(&fs[f], all_methods[m], (uint64_t)s + 1, n_evals, n_init);
                printf("%s\t%s\t%d\t%d\t%.6g\t%.6g\t%.3f\t%.3f\n", fs[f].name, all_methods[m], s,
                       r.hit, r.best20, r.best_n, r.ms_mean, r.ms_max);
                fflush(stdout);
            }
        }
    }
    return 0;
}
