/* proto.h - the MPI protocol between rank 0 and the workers (private to
 * src/sched), and the stop-signal flag.
 *
 * Messages (all on MPI_COMM_WORLD, rank 0 <-> worker):
 *   worker -> 0  HELLO    once, after reading the dataset: host, device,
 *                         threads, and ok = 0 with a message when the worker
 *                         cannot train (dataset unreadable, GPUs missing):
 *                         rank 0 then gives it no work and says why.
 *   0 -> worker  RUN      MsgRunHead, then n_decide int32 (the epochs after
 *                         which the sweep's stopping rule decides), then the
 *                         canonical config JSON (not NUL-terminated).
 *   0 -> worker  STOP     no more work: the worker exits its loop.
 *   worker -> 0  EPOCH    MsgEpoch, as each epoch ends (epoch 0 first).
 *   0 -> worker  VERDICT  MsgVerdict, after an EPOCH of a decision epoch
 *                         (and only then): the worker waits for it there
 *                         before it trains on; stop = 1 ends the run,
 *                         `stopped`.
 *   worker -> 0  RESULT   MsgResult: the run's RunSummary; has_weights
 *                         says whether a WEIGHTS message (n_state floats,
 *                         the best state) follows at once. Then the worker
 *                         waits for the next RUN or STOP.
 *   0 -> worker  CANCEL   stop the current run at the next batch (or while
 *                         it waits for a verdict): it ends `interrupted` and
 *                         its RESULT is sent as usual. A CANCEL or VERDICT
 *                         that arrives after its run ended is dropped.
 * Structs go as MPI_BYTE (every rank runs the same binary on the same
 * architecture), weights as MPI_FLOAT.
 *
 * Termination and failures: sched.h's drivers (job.c) and slurm/README.md.
 */
#ifndef NNSWEEP_SCHED_PROTO_H
#define NNSWEEP_SCHED_PROTO_H

#include <mpi.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "nnsweep/outcome.h"
#include "nnsweep/sched.h"

enum {
    TAG_HELLO = 11,
    TAG_RUN,
    TAG_STOP,
    TAG_CANCEL,
    TAG_EPOCH,
    TAG_RESULT,
    TAG_WEIGHTS,
    TAG_VERDICT,
};

typedef struct MsgHello {
    int32_t ok;
    int32_t threads;
    int32_t gpu;
    char host[64];
    char device[RUN_DEVICE_LEN];
    char error[1024];
} MsgHello;

typedef struct MsgRunHead {
    int32_t run;      /* the core's run index */
    int32_t n_decide; /* int32 epochs that follow the head */
    char id[16];
} MsgRunHead;

typedef struct MsgEpoch {
    int32_t run;
    int32_t pad;
    EpochMetrics m;
} MsgEpoch;

typedef struct MsgVerdict {
    int32_t run;
    int32_t stop;
} MsgVerdict;

typedef struct MsgResult {
    int32_t run;
    int32_t has_weights;
    int32_t worker_stopping; /* the worker got a stop signal */
    int32_t pad;
    RunSummary s;
} MsgResult;

/* Set by the signal handlers (SIGTERM, SIGINT, SIGUSR1, SIGUSR2): the
 * signal's number, 0 when none came. */
extern volatile sig_atomic_t sched_stop_signal;
void sched_install_signals(void);

/* Rank 0 and the workers under MPI; the in-process driver (job.c uses them). */
int sched_mpi_rank0(const SweepJob *job, SweepSet *set, int size);
int sched_mpi_worker(const SweepJob *job, MPI_Comm workers);
int sched_local(const SweepJob *job, SweepSet *set);

/* A worker's log (worklog.c; all accept a NULL file): opened in dir (NULL:
 * none) as <host>-rank<rank>.log, appended to. */
FILE *worklog_open(const char *dir, const char *host, int rank);
void worklog_epoch(FILE *f, const char *id, const EpochMetrics *m);
void worklog_result(FILE *f, const char *id, const RunSummary *s);

/* Threads of a CPU worker that shares its node with n_local workers:
 * `requested` when > 0; else the whole affinity mask when the launcher
 * bound it to a subset of the node (mpirun --bind-to, srun --cpu-bind),
 * else the node's cores split between its workers. */
int sched_worker_threads(int requested, int n_local);

#endif
