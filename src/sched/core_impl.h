/* core_impl.h - the scheduler core's state, shared by its files (private to
 * src/sched): core.c (hand-out, events, counts, progress) and
 * core_resume.c (what a results file already holds: reconcile, adoption of
 * a search sweep's runs, the finished runs' metrics). */
#ifndef NNSWEEP_SCHED_CORE_IMPL_H
#define NNSWEEP_SCHED_CORE_IMPL_H

#include "nnsweep/sched.h"

enum { CR_PENDING = 0, CR_RUNNING, CR_FINISHED };

typedef struct CoreRun {
    int sweep, idx;    /* set->sweeps[sweep].runs[idx] */
    int state;         /* CR_* */
    int worker;        /* while running */
    int next_epoch;    /* the epoch its next metrics row must have */
    int n_metric;      /* a program's rows so far that carried the sweep metric */
    int decide_next;   /* position in its stopping rule's epochs */
    RunStatus status;  /* once finished */
    SweepRunMetric m;  /* its sweep metric: best/worst/latest as epochs come,
                          value once finished */
    double *vals;      /* while running: the sweep metric of each epoch so far
                          (the value at its best epoch is known at the end) */
    double credited;   /* of its cost, counted done for epochs it finished */
} CoreRun;

typedef struct CoreWorker {
    SchedWorkerInfo info;
    int hello; /* sched_core_worker was called */
    int lost;
    int run;   /* core run index, or -1 */
} CoreWorker;

struct SchedCore {
    SweepSet *set;
    SchedSink sink;
    SchedOptions opt;
    CoreRun *runs;
    int n_runs, cap_runs;
    int **index;    /* per sweep: run index in the sweep -> core run index */
    int *n_index;   /* per sweep: entries of index[k] */
    int *ended;     /* per sweep: hands out nothing more (target reached, or
                       its strategy said why it ended: said once) */
    int reconciled; /* runs seen from now on were added by a strategy */
    CoreWorker *workers;
    int *free;      /* stack of free workers that can train */
    int n_free;
    int n_usable;   /* workers that said ok and are not lost */
    SchedCounts counts;
    double todo_cost, done_cost;
    double t0, last_progress;
    int best;
    double best_value;
    int stopping, stop_signal;
    NnStatus err_status;
    NnError err;
};

/* The core run of sweep k's run j, created when first seen (a strategy may
 * add runs to its sweep; after reconcile the sink's `added` records them). */
int core_run_of(SchedCore *c, int k, int j);
/* Keeps the first sink error and stops handing out work. */
void core_sink_failed(SchedCore *c, NnStatus st, const NnError *err);
/* Folds one epoch's value (epoch >= 1) into m's best, worst and latest. */
void core_metric_add(const Sweep *sw, SweepRunMetric *m, double value);
/* Run r is finished with s and m: counted for the best run and the
 * sweep's target, told to its strategy. */
void core_run_finished(SchedCore *c, int r, const RunSummary *s, const SweepRunMetric *m);

#endif
