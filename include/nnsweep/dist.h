/* dist.h - running sweeps over MPI: rank 0 schedules and writes the results
 * file, every other rank trains (DESIGN.md, MPI protocol and scheduling).
 *
 * Protocol (all messages on MPI_COMM_WORLD, rank 0 <-> worker):
 *   worker -> 0  HELLO    once, after loading the dataset: host, device,
 *                         threads, and ok = 0 with a message when the worker
 *                         cannot train (dataset unreadable, no GPU): rank 0
 *                         then gives it no work and says why.
 *   0 -> worker  RUN      run index + canonical config JSON, or
 *   0 -> worker  STOP     no more work: the worker finalizes and exits 0.
 *   worker -> 0  EPOCH    run index + EpochMetrics, as each epoch ends
 *                         (epoch 0 first); rank 0 appends and flushes it.
 *   worker -> 0  RESULT   run index, final status, best epoch and
 *                         accuracies, wall time, message; has_weights says
 *                         whether a WEIGHTS message (n_state floats, the
 *                         best state) follows at once. Then the worker waits
 *                         for the next RUN or STOP.
 *   0 -> worker  CANCEL   stop the current run at the next batch: it ends
 *                         `interrupted` and its RESULT is sent as usual.
 * Messages are fixed C structs sent as MPI_BYTE (all ranks run the same
 * binary on the same architecture) and weights as MPI_FLOAT.
 *
 * Scheduling: pending runs go out most expensive first (estimated FLOPs x
 * epochs x images), one at a time to whichever worker asks. A run that
 * fails in a worker (diverged, out of memory, any error) is recorded with
 * its message and the worker gets the next run. With one rank, rank 0
 * trains every run itself through the same handlers.
 *
 * Termination: when every run has a final status rank 0 sends STOP to all
 * workers, closes the results file and prints the leaderboard. On SIGTERM,
 * SIGINT, SIGUSR1 or SIGUSR2 (Slurm's warning before the time limit or
 * preemption), received by rank 0 or by any worker, rank 0 stops handing
 * out runs, sends CANCEL to the busy workers, records what they report
 * within the grace period, marks runs still unfinished `interrupted`,
 * closes the file cleanly and exits 0 (after MPI_Abort only if a worker did
 * not answer within the grace period). `--resume` reruns every run that is
 * not done, diverged or failed; nothing is ever recorded twice. A sweep
 * that is already in the file must expand to the same run ids with the same
 * metric and goal (the same files and overrides), else nothing is written
 * and the exit code is 2; a sweep that is not in the file is added.
 *
 * Failure rules: a worker that dies takes the job down (Open MPI's default
 * error handler); rank 0's file stays readable (results.h) and `--resume`
 * continues. A results-file write error on rank 0 stops the sweep as a
 * signal does and exits 1.
 */
#ifndef NNSWEEP_DIST_H
#define NNSWEEP_DIST_H

#include "nnsweep/core.h"
#include "nnsweep/sweep.h"

typedef struct SweepJob {
    const char *const *files; /* sweep YAML files */
    int n_files;
    const SweepOverrides *overrides; /* applied to every sweep (NULL: none); a
                                        --resume must be given the same ones */
    const char *out_path;     /* results file */
    int resume;               /* continue the sweeps already in out_path */
    const char *data_dir;     /* NULL: cifar10_default_dir */
    int threads;              /* CPU threads per worker; 0 = split the node's cores */
    double grace_seconds;     /* wait for busy workers after a stop signal */
    double progress_seconds;  /* rank 0 prints progress at most this often */
    int quiet;                /* rank 0 prints only errors and the end */
    int stats;                /* rank 0 prints its own cost at the end: time per
                                 message handled and per epoch row flushed */
} SweepJob;

/* Runs the job on MPI_COMM_WORLD (MPI initialized by the caller, which
 * also finalizes). Every rank calls it. Returns this rank's exit code:
 * 0 ok or cleanly stopped, 1 failure, 2 bad input (nothing written). */
int dist_run_sweep(const SweepJob *job);

#endif
