/* proto.h - the messages of the MPI protocol (dist.h describes it), the
 * signal flag, and the handlers that rank 0's MPI loop and its one-rank
 * path share. Private to src/dist. */
#ifndef NNSWEEP_DIST_PROTO_H
#define NNSWEEP_DIST_PROTO_H

#include <mpi.h>
#include <signal.h>
#include <stdint.h>

#include "nnsweep/outcome.h"

enum {
    TAG_HELLO = 11,
    TAG_RUN,
    TAG_STOP,
    TAG_CANCEL,
    TAG_EPOCH,
    TAG_RESULT,
    TAG_WEIGHTS,
};

typedef struct MsgHello {
    int32_t ok;
    int32_t threads;
    char host[64];
    char device[16];
    char error[1024];
} MsgHello;

/* RUN: this header, then the canonical config JSON (not NUL-terminated). */
typedef struct MsgRunHead {
    int32_t run;
    char id[16];
} MsgRunHead;

typedef struct MsgEpoch {
    int32_t run;
    int32_t pad;
    EpochMetrics m;
} MsgEpoch;

typedef struct MsgResult {
    int32_t run;
    int32_t status; /* RunStatus */
    int32_t epochs_done, best_epoch;
    int32_t has_weights;
    int32_t worker_stopping; /* the worker got a stop signal */
    double best_val_accuracy, best_test_accuracy, wall_seconds;
    int64_t n_params, n_state;
    char message[512];
} MsgResult;

/* Set by the signal handlers (SIGTERM, SIGINT, SIGUSR1, SIGUSR2); 0 when
 * no signal came. */
extern volatile sig_atomic_t dist_stop_signal;
void dist_install_signals(void);

/* The worker side: loads the data, says hello, trains what rank 0 sends
 * until STOP. workers is the communicator of all worker ranks (for
 * finding the node-local ones). Returns the exit code. */
int dist_worker(MPI_Comm workers, const char *data_dir, int threads);

/* Threads for a CPU worker that shares this node with n_local workers. */
int dist_cpu_threads(int requested, int n_local);

#endif
