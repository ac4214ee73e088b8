/* session.h - rank 0's side of a job, shared by the two drivers (private to
 * src/sched): the core and the results file it records into (record.c). */
#ifndef NNSWEEP_SCHED_SESSION_H
#define NNSWEEP_SCHED_SESSION_H

#include "nnsweep/results.h"
#include "nnsweep/run.h"
#include "nnsweep/sched.h"

typedef struct Session {
    const SweepJob *job;
    SweepSet *set;
    SchedCore *core;
    ResultsFile *rf;    /* NULL when the job records nothing */
    char *run_dirs;     /* program runs' directories go in here: the results
                           file's absolute path + ".runs" (owned) */
    int close_failed;
    double t0;
    /* rank 0's own cost (--stats): messages handled (receive + record +
     * answer) and epoch rows appended and flushed, with their time */
    long n_messages, n_epoch_rows, n_log_rows, n_log_batches;
    double t_messages, t_epoch_rows, t_log_rows;
} Session;

/* The command a job's messages name ("nnsweep sweep: ..."). */
static inline const char *job_command(const SweepJob *job)
{
    return job->command ? job->command : "sweep";
}

/* The core for set with n_workers, and the results file prepared: opened,
 * resume reconciled (finished runs skipped, unfinished reset, a differing
 * sweep refused), new sweeps and runs added, SWMR started. On error
 * nothing is held and the file is as it was (NN_ERR_INPUT: bad input). */
NnStatus session_open(Session *s, const SweepJob *job, SweepSet *set, int n_workers,
                      NnError *err);

/* What a worker needs for assignment a (request.c): its kind and its
 * request JSON - a built-in run's canonical config (the sweep's, borrowed)
 * or a program request (program.h) written into *scratch. */
const char *session_request(const Session *s, const SchedAssignment *a, RunKind *kind,
                            NnBuf *scratch);

/* "[nnsweep] 2 sweeps, 12 runs: 10 to run, 2 already finished; 3 workers;
 * results in out.h5" (unless quiet or nothing is recorded). */
void session_banner(const Session *s, int n_workers);

/* Marks the runs still running `interrupted`, closes the file, prints the
 * last progress line, what a stop left for --resume, --stats, and frees the
 * core. abandoned: workers that did not stop within the grace period.
 * Returns the exit code: 0, or 1 after a results-file error or abandoned
 * workers. */
int session_close(Session *s, int abandoned);

#endif
