/* strategy.c - the list strategy (grid, random, one-run sweeps) and the
 * sweep metric of a row or a run (sweep.h). */
#define _GNU_SOURCE /* qsort_r */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nnsweep/sweep.h"

double sweep_epoch_metric(const Sweep *sw, const EpochMetrics *m)
{
    return sw->metric == SWEEP_VAL_ACCURACY ? m->val_accuracy : m->test_accuracy;
}

double sweep_run_metric(const Sweep *sw, const RunSummary *s)
{
    if (sw->program) return s->best_value;
    if (s->best_epoch < 0) return NAN;
    return sw->metric == SWEEP_VAL_ACCURACY ? s->best_val_accuracy : s->best_test_accuracy;
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
                           double metric)
{
    (void)sw, (void)s, (void)metric;
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
    l->base = (SweepStrategy){list_peek, list_take, list_on_result, list_destroy};
    l->n = sw->n_runs;
    l->order = nn_malloc((size_t)(l->n ? l->n : 1) * sizeof *l->order);
    l->state = nn_calloc((size_t)(l->n ? l->n : 1), 1);
    for (int i = 0; i < l->n; i++) l->order[i] = i;
    qsort_r(l->order, (size_t)l->n, sizeof *l->order, cmp_cost_desc, (void *)sw);
    return &l->base;
}
