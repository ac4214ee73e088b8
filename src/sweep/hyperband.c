/* hyperband.c - W&B's hyperband stopping rule (early_terminate: hyperband;
 * wandb/sweeps, hyperband_stopping.py), as a SweepStopRule (sweep.h).
 *
 * Rungs ("bands"): with max_iter and s, int(max_iter / eta^i) for i = 1..s
 * while >= 1; with min_iter, int(min_iter eta^i) for i = 0, 1, ...; sorted,
 * each once, those below the most epochs a run of the sweep can have (a
 * rung at a run's last epoch or later would save nothing). Epoch k is
 * W&B's k-th logged value (epoch 0, before training, is not in the
 * history). At a rung epoch b the threshold is W&B's: the values at epoch b
 * of every run of the sweep that reached b (finished, stopped or running,
 * this one included), oriented so that smaller is better and sorted, at
 * index int(n / eta). The run stops when its value at b (strict, W&B's
 * default) or its best value so far (strict: false) is above the threshold.
 * A NaN value is not in the history: it counts for no threshold and stops
 * nothing.
 *
 * Where nnsweep differs: W&B's controller re-judges running runs every few
 * seconds against each band's threshold as more runs reach it, so a run can
 * be stopped between rungs; here the run's worker waits for the verdict at
 * the rung epoch only (sched.h), and a run that passed a rung is not
 * stopped later by that rung. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sweep_internal.h"

#define MAX_RUNGS 1000
#define MAX_EPOCH 100000 /* config.h: epochs */

typedef struct HbRun {
    double *at;   /* (n_rungs) oriented value at each rung, NaN: not reached */
    double best;  /* oriented best value so far, NaN: none */
} HbRun;

typedef struct Hyperband {
    SweepStopRule base;
    int *rungs;   /* (n) ascending */
    double eta;
    int strict;
    int n_runs;
    HbRun *runs;  /* (n_runs) by the sweep's run index */
    double *work; /* (n_runs) thresholds' values */
} Hyperband;

static int rung_of(const Hyperband *h, int epoch)
{
    int lo = 0, hi = h->base.n_epochs - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (h->rungs[mid] == epoch) return mid;
        if (h->rungs[mid] < epoch) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static HbRun *run_of(Hyperband *h, int run)
{
    NN_CHECK(run >= 0, "hyperband: run %d", run);
    if (run >= h->n_runs) {
        int n = h->n_runs ? h->n_runs : 16;
        while (n <= run) n *= 2;
        h->runs = nn_realloc(h->runs, (size_t)n * sizeof *h->runs);
        h->work = nn_realloc(h->work, (size_t)n * sizeof *h->work);
        for (int i = h->n_runs; i < n; i++) {
            h->runs[i].at = nn_malloc((size_t)h->base.n_epochs * sizeof(double));
            for (int k = 0; k < h->base.n_epochs; k++) h->runs[i].at[k] = NAN;
            h->runs[i].best = NAN;
        }
        h->n_runs = n;
    }
    return &h->runs[run];
}

static void hb_observe(SweepStopRule *self, Sweep *sw, int run, int epoch, double value)
{
    Hyperband *h = (Hyperband *)self;
    HbRun *r = run_of(h, run);
    if (isnan(value)) return;
    double y = sw->goal == SWEEP_MAXIMIZE ? -value : value;
    if (isnan(r->best) || y < r->best) r->best = y;
    int k = rung_of(h, epoch);
    if (k >= 0) r->at[k] = y;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmp_int_asc(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int hb_decide(SweepStopRule *self, Sweep *sw, int run, int epoch, double value)
{
    (void)sw, (void)value;
    Hyperband *h = (Hyperband *)self;
    int k = rung_of(h, epoch);
    NN_CHECK(k >= 0, "hyperband: asked at epoch %d, not a rung", epoch);
    const HbRun *r = run_of(h, run);
    double cond = h->strict ? r->at[k] : r->best;
    if (isnan(cond)) return 0;
    int n = 0;
    for (int i = 0; i < h->n_runs; i++)
        if (!isnan(h->runs[i].at[k])) h->work[n++] = h->runs[i].at[k];
    if (n == 0) return 0; /* W&B: an infinite threshold */
    qsort(h->work, (size_t)n, sizeof *h->work, cmp_double);
    double threshold = h->work[(int)(1.0 / h->eta * n)];
    return cond > threshold;
}

static void hb_destroy(SweepStopRule *self)
{
    Hyperband *h = (Hyperband *)self;
    if (!h) return;
    for (int i = 0; i < h->n_runs; i++) free(h->runs[i].at);
    free(h->runs);
    free(h->work);
    free(h->rungs);
    free(h);
}

/* W&B's bands of spec into rungs (room for MAX_RUNGS + 1); returns their
 * number, or -1 when there are more than MAX_RUNGS. */
static int make_rungs(const HyperbandSpec *spec, int max_epochs, int *rungs)
{
    int n = 0;
    if (spec->has_max) {
        double band = (double)spec->max_iter;
        for (long i = 0; i < spec->s; i++) {
            band /= spec->eta;
            if (band < 1) break;
            if (n == MAX_RUNGS + 1) return -1;
            rungs[n++] = (int)band;
        }
    } else {
        double band = (double)spec->min_iter;
        for (int i = 0; i < 100 && band <= MAX_EPOCH; i++) {
            if (n == MAX_RUNGS + 1) return -1;
            rungs[n++] = (int)band;
            band *= spec->eta;
        }
    }
    qsort(rungs, (size_t)n, sizeof *rungs, cmp_int_asc);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (rungs[i] < max_epochs && (m == 0 || rungs[m - 1] != rungs[i])) rungs[m++] = rungs[i];
    return m > MAX_RUNGS ? -1 : m;
}

SweepStopRule *sweep_hyperband_create(const HyperbandSpec *spec, int max_epochs, const char *file,
                                      NnError *err)
{
    int *rungs = nn_malloc((MAX_RUNGS + 1) * sizeof *rungs);
    int n = make_rungs(spec, max_epochs, rungs);
    if (n <= 0) {
        free(rungs);
        if (n < 0)
            sweep_failf(err, file, spec->line, "early_terminate: more than %d rungs: increase eta",
                        MAX_RUNGS);
        else
            sweep_failf(err, file, spec->line, "early_terminate: no rung at an epoch from 1 to "
                        "%d, below the most epochs a run has (%d) (W&B: \"Bands must be an array "
                        "of length at least 1\"): increase max_iter or s, or decrease eta or "
                        "min_iter", max_epochs - 1, max_epochs);
        return NULL;
    }
    Hyperband *h = nn_calloc(1, sizeof *h);
    h->rungs = rungs;
    h->eta = spec->eta;
    h->strict = spec->strict;
    h->base = (SweepStopRule){.n_epochs = n, .epochs = h->rungs, .decide = hb_decide,
                              .destroy = hb_destroy, .observe = hb_observe};
    return &h->base;
}
