/* sched.h - rank 0's scheduler state, shared by sched.c (preparation,
 * handlers, one-rank path) and sched_mpi.c (the MPI message loop). */
#ifndef NNSWEEP_DIST_SCHED_H
#define NNSWEEP_DIST_SCHED_H

#include "nnsweep/dist.h"
#include "nnsweep/outcome.h"
#include "nnsweep/results.h"
#include "nnsweep/sweep.h"

enum { SRUN_PENDING = 0, SRUN_RUNNING, SRUN_FINISHED };

typedef struct SRun {
    const Sweep *sweep;
    const SweepRun *sr;
    int state;
    double credited; /* of sr->cost, counted done for its finished epochs */
} SRun;

/* What rank 0 knows of a worker rank. */
typedef struct Worker {
    int ok;     /* can train (its hello said so) */
    int run;    /* run index it trains, or -1 */
    int cancelled;
    char host[64];
    char device[16];
} Worker;

typedef struct Sched {
    const SweepJob *job;
    ResultsFile *rf;
    SweepSet set;
    SRun *runs;       /* (n_runs): every run of every sweep */
    int n_runs;
    int *queue;       /* (n_queue) runs to do, most expensive first */
    int n_queue, next;
    Worker *workers;  /* (size), index = rank */
    int n_ok_workers;
    int n_todo, n_skipped, n_running;
    int n_done, n_diverged, n_failed, n_interrupted;
    double todo_cost, done_cost;
    double t0, last_progress;
    int best;         /* run index of the best result so far, -1 */
    double best_value;
    int stopping;     /* no more runs go out */
    /* rank 0's own cost (--stats): messages handled (receive + record +
     * answer) and epoch rows appended and flushed, with their time */
    long n_messages, n_epoch_rows;
    double t_messages, t_epoch_rows;
    int io_error;
    NnError io_err;
} Sched;

void sched_on_epoch(Sched *s, int run, const EpochMetrics *m);
void sched_on_result(Sched *s, int run, const RunResult *r);
void sched_progress(Sched *s, int force);
int sched_next_run(Sched *s);
int sched_start_run(Sched *s, int run, const char *host, int rank, const char *device);
void sched_free(Sched *s);
int sched_main(const SweepJob *job, int size);

/* MPI side (sched_mpi.c). sched_hellos waits for every worker's hello and
 * returns nonzero (after printing why) when no worker can train.
 * sched_loop runs until every run ended or a stop completed; returns the
 * number of busy workers that did not answer within the grace period. */
int sched_hellos(Sched *s, int size);
int sched_loop(Sched *s, int size);

#endif
