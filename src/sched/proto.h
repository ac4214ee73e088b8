/* proto.h - the structs of the MPI protocol between rank 0 and the workers
 * (sched.h describes the protocol, its termination and failure rules), the
 * stop-signal flag and what the driver files share. Private to src/sched.
 *
 * A RUN message is MsgRunHead, then n_decide int32 (the decision epochs),
 * then the request JSON (not NUL-terminated). A CANCEL or VERDICT that
 * arrives after its run ended is dropped by the worker. */
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
    TAG_ROWS,
    TAG_OUTPUTS,
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
    int32_t kind;     /* RunKind: what the JSON is */
    int32_t pad;
    char id[16];
} MsgRunHead;

/* A ROWS message: the head, then int64 steps[n_rows], int32
 * counts[n_rows] (names per row), double values[n_values] and the names,
 * each NUL-terminated, in row order (names_bytes). */
typedef struct MsgRowsHead {
    int32_t run;
    int32_t n_rows;
    int32_t n_values;
    int32_t names_bytes;
} MsgRowsHead;

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
    int32_t outputs_bytes;   /* an OUTPUTS message of that many bytes follows */
    RunSummary s;
} MsgResult;

/* Set by the signal handlers (SIGTERM, SIGINT, SIGUSR1, SIGUSR2): the
 * signal's number, 0 when none came. */
extern volatile sig_atomic_t sched_stop_signal;
void sched_install_signals(void);

/* Rank 0 and the workers under MPI; the in-process driver (job.c uses them). */
int sched_mpi_rank0(const SweepJob *job, SweepSet *set, int size);
/* needs_data: read the dataset (a sweep of the built-in trainer), else
 * the worker runs programs only (sched_set_needs_data). */
int sched_mpi_worker(const SweepJob *job, MPI_Comm workers, int needs_data);
int sched_local(const SweepJob *job, SweepSet *set);

/* A worker's log (worklog.c; all accept a NULL file): opened in dir (NULL:
 * none) as <host>-rank<rank>.log, appended to. */
FILE *worklog_open(const char *dir, const char *host, int rank);
void worklog_epoch(FILE *f, const char *id, const EpochMetrics *m);
void worklog_result(FILE *f, const char *id, const RunSummary *s);

/* 1 when a run of set needs the dataset (a sweep of the built-in
 * trainer); 0 when every sweep runs a program (job.c). */
int sched_set_needs_data(const SweepSet *set);

/* Threads of a CPU worker that shares its node with n_local workers:
 * `requested` when > 0; else the whole affinity mask when the launcher
 * bound it to a subset of the node (mpirun --bind-to, srun --cpu-bind),
 * else the node's cores split between its workers. */
int sched_worker_threads(int requested, int n_local);

#endif
