/* strategy.c - the list strategy (grid, random with a run_cap, one-run
 * sweeps) and the sweep metric: names, the field of a row, a run's value,
 * goals and targets (sweep.h). */
#define _GNU_SOURCE /* qsort_r */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nnsweep/sweep.h"

static const char *const metric_names[SWEEP_N_METRICS] = {
    [SWEEP_TEST_ACCURACY] = "test_accuracy", [SWEEP_VAL_ACCURACY] = "val_accuracy",
    [SWEEP_TRAIN_ACCURACY] = "train_accuracy", [SWEEP_TRAIN_LOSS] = "train_loss",
    [SWEEP_VAL_LOSS] = "val_loss", [SWEEP_TEST_LOSS] = "test_loss",
};

const char *sweep_metric_name(SweepMetric m)
{
    return m >= 0 && m < SWEEP_N_METRICS ? metric_names[m] : "unknown";
}

int sweep_metric_from_name(const char *name, SweepMetric *m)
{
    for (int i = 0; i < SWEEP_N_METRICS; i++)
        if (!strcmp(name, metric_names[i])) {
            *m = (SweepMetric)i;
            return 0;
        }
    return -1;
}

double sweep_metric_of_row(SweepMetric m, const EpochMetrics *row)
{
    switch (m) {
    case SWEEP_TEST_ACCURACY: return row->test_accuracy;
    case SWEEP_VAL_ACCURACY: return row->val_accuracy;
    case SWEEP_TRAIN_ACCURACY: return row->train_accuracy;
    case SWEEP_TRAIN_LOSS: return row->train_loss;
    case SWEEP_VAL_LOSS: return row->val_loss;
    case SWEEP_TEST_LOSS: return row->test_loss;
    default: nn_fatal("sweep_metric_of_row: metric %d", (int)m);
    }
}

double sweep_epoch_metric(const Sweep *sw, const EpochMetrics *m)
{
    return sweep_metric_of_row(sw->metric, m);
}

int sweep_metric_in_summary(SweepMetric m)
{
    return m == SWEEP_TEST_ACCURACY || m == SWEEP_VAL_ACCURACY;
}

double sweep_run_metric(const Sweep *sw, const RunSummary *s, double at_best)
{
    if (sw->program) return s->best_value;
    if (s->best_epoch < 0) return NAN;
    if (sw->metric == SWEEP_VAL_ACCURACY) return s->best_val_accuracy;
    if (sw->metric == SWEEP_TEST_ACCURACY) return s->best_test_accuracy;
    return at_best;
}

int sweep_target_reached(const Sweep *sw, double value)
{
    if (isnan(sw->target) || isnan(value)) return 0;
    return sw->goal == SWEEP_MINIMIZE ? value <= sw->target : value >= sw->target;
}

int sweep_needs_history(const Sweep *sw)
{
    return sw->stop || (sw->strategy && sw->strategy->adopt) || !sweep_metric_in_summary(sw->metric);
}

double sweep_row_metric(const Sweep *sw, const RunRow *row)
{
    if (!sw->metric_name || row->step < 0) return NAN;
    for (int i = 0; i < row->n; i++)
        if (!strcmp(row->names[i], sw->metric_name)) return row->values[i];
    return NAN;
}

const char *sweep_metric_label(const Sweep *sw)
{
    if (sw->program) return sw->metric_name ? sw->metric_name : "";
    return sweep_metric_name(sw->metric);
}

int sweep_metric_better(const Sweep *sw, double a, double b)
{
    if (isnan(a)) return 0;
    if (isnan(b)) return 1;
    return sw->goal == SWEEP_MINIMIZE ? a < b : a > b;
}

/* ---- the list strategy ------------------------------------------------------ */

enum { LIST_OPEN = 0, LIST_TAKEN, LIST_FINISHED };

typedef struct ListStrategy {
    SweepStrategy base;
    int n;       /* runs of the sweep when it was made */
    int *order;  /* (n) run indices, most expensive first */
    char *state; /* (n) LIST_* per run index */
    int next;    /* position in order of the first run that may be open */
} ListStrategy;

static int cmp_cost_desc(const void *a, const void *b, void *ctx)
{
    const Sweep *sw = ctx;
    int i = *(const int *)a, j = *(const int *)b;
    double ci = sw->runs[i].cost, cj = sw->runs[j].cost;
    return ci < cj ? 1 : ci > cj ? -1 : i - j;
}

static SweepNext list_peek(SweepStrategy *self, Sweep *sw, int *run)
{
    (void)sw;
    ListStrategy *l = (ListStrategy *)self;
    while (l->next < l->n && l->state[l->order[l->next]] != LIST_OPEN) l->next++;
    if (l->next == l->n) return SWEEP_NEXT_DONE;
    *run = l->order[l->next];
    return SWEEP_NEXT_RUN;
}

static void list_take(SweepStrategy *self, Sweep *sw, int run)
{
    (void)sw;
    ListStrategy *l = (ListStrategy *)self;
    NN_CHECK(run >= 0 && run < l->n && l->state[run] == LIST_OPEN,
             "list strategy: run %d handed out twice or unknown", run);
    l->state[run] = LIST_TAKEN;
}

static void list_on_result(SweepStrategy *self, Sweep *sw, int run, const RunSummary *s,
                           const SweepRunMetric *m)
{
    (void)sw, (void)s, (void)m;
    ListStrategy *l = (ListStrategy *)self;
    NN_CHECK(run >= 0 && run < l->n, "list strategy: result of unknown run %d", run);
    l->state[run] = LIST_FINISHED;
}

static void list_destroy(SweepStrategy *self)
{
    ListStrategy *l = (ListStrategy *)self;
    if (!l) return;
    free(l->order);
    free(l->state);
    free(l);
}

SweepStrategy *sweep_list_strategy(const Sweep *sw)
{
    ListStrategy *l = nn_calloc(1, sizeof *l);
    l->base = (SweepStrategy){.peek = list_peek, .take = list_take, .on_result = list_on_result,
                              .destroy = list_destroy};
    l->n = sw->n_runs;
    l->order = nn_malloc((size_t)(l->n ? l->n : 1) * sizeof *l->order);
    l->state = nn_calloc((size_t)(l->n ? l->n : 1), 1);
    for (int i = 0; i < l->n; i++) l->order[i] = i;
    qsort_r(l->order, (size_t)l->n, sizeof *l->order, cmp_cost_desc, (void *)sw);
    return &l->base;
}
