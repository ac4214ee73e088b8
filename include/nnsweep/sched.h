/* sched.h - the scheduler: a core state machine that decides which run goes
 * to which worker and records what comes back, and the two drivers that feed
 * it events (DESIGN.md, MPI protocol and scheduling).
 *
 * ======================================================================
 * The core (src/sched/core.c): no MPI, no file opening, no clock of its own
 * ======================================================================
 * The core owns the table of runs of a SweepSet and the state of a fixed
 * number of workers (0 .. n_workers-1; a driver maps them to MPI ranks or to
 * its own process). Drivers turn what happens into calls:
 *
 *   sched_core_reconcile   once, before anything runs: what the results file
 *                          already holds (resume) -> which runs are finished
 *                          and what the file must get (sweeps and runs to add,
 *                          unfinished runs to reset); refuses a resume whose
 *                          sweep differs from the file's. A search sweep
 *                          (random without run_cap, bayes) adopts the file's
 *                          runs instead: its strategy takes each one back.
 *   sched_core_worker      a worker said hello (host, device, can it train).
 *   sched_core_assign      the next (worker, run) pair, most expensive run
 *                          first, while a worker is free and a sweep has a run
 *                          to give; drain it after every event.
 *   sched_core_on_epoch    a run finished an epoch: recorded, and the sweep's
 *                          stopping rule asked at its decision epochs; the
 *                          answer says whether the run goes on.
 *   sched_core_on_rows     a program's run logged rows (outcome.h: RunRow):
 *                          recorded, and the stopping rule asked at its
 *                          decision points, which for programs count the
 *                          rows that carry the sweep metric (a finite
 *                          value): "epoch" k is the (k+1)-th such row, as
 *                          W&B's hyperband counts a run's metric history.
 *   sched_core_on_result   a run ended (its RunSummary and best weights).
 *   sched_core_worker_lost a worker died: its run ends `interrupted`.
 *   sched_core_stop        a stop signal: nothing more is handed out; the
 *                          driver cancels the busy workers' runs.
 * The core asks each sweep two questions through objects of the sweep
 * module (sweep.h): its SweepStrategy "which run next?" (the list strategy of
 * grid and random; a search strategy may add runs as results come in) and its
 * SweepStopRule "should this run stop after epoch k?" (none: every run goes
 * to its end). Records go to a SchedSink (the results file, or memory in
 * tests); a sink error stops the sweep as a signal does and is kept for the
 * exit code. A sweep with metric.target hands out nothing more once a run's
 * metric at some epoch reaches it (its running runs go on); that, and a
 * search strategy that ends early (why_done), is said once on the progress
 * stream.
 *
 * Guarantees: every run is handed out at most once per session (a result
 * that does not match the worker's run is a programmer error, NN_CHECK);
 * finished runs of the file are never handed out again; runs handed out go
 * most expensive first (estimated cost, then sweep and expansion order) across
 * every sweep whose strategy has one.
 *
 * Ownership: the core borrows the SweepSet and the sink (both must outlive
 * it) and owns nothing else that the caller sees.
 *
 * ======================================================================
 * The drivers (src/sched/local.c, mpi.c, worker.c): sched_run_job below
 * ======================================================================
 * In-process (one plain process, and `nnsweep train`): the process is rank
 * 0 and its only worker; each run goes through run_execute (run.h) and the
 * hooks call the core directly.
 *
 * MPI (DESIGN.md, MPI protocol and scheduling): rank 0 schedules and is the
 * only process that touches the results file; ranks 1..N are workers
 * (core worker w = rank w + 1). All messages on MPI_COMM_WORLD:
 *   worker -> 0  HELLO    once, after reading the dataset: host, device,
 *                         threads, and ok = 0 with a message when the worker
 *                         cannot train (dataset unreadable, GPUs missing):
 *                         rank 0 then gives it no work and says why.
 *   0 -> worker  RUN      a run: its index, kind, id, request JSON (run.h:
 *                         the canonical config, or a program request) and
 *                         the epochs after which its sweep's stopping rule
 *                         decides.
 *   0 -> worker  STOP     no more work: the worker finalizes and exits 0.
 *   worker -> 0  EPOCH    each epoch's metrics as it ends (epoch 0 first);
 *                         rank 0 appends and flushes them.
 *   worker -> 0  ROWS     a program run's rows, as many as one read of its
 *                         channel held, sent synchronously (MPI_Ssend: a
 *                         worker has one batch in flight, so a rank 0 that
 *                         cannot keep up slows the programs down through
 *                         their pipes instead of queueing rows in memory);
 *                         rank 0 appends and flushes each row.
 *   0 -> worker  VERDICT  after an EPOCH of a decision epoch, and only then:
 *                         the worker waits for it there; stop ends the run
 *                         `stopped`, keeping its best weights. For a
 *                         program run only a stop is sent, after the ROWS
 *                         that held the decision row; the worker does not
 *                         wait, it polls and ends the program when it
 *                         comes (SIGTERM, then SIGKILL after the grace).
 *   worker -> 0  RESULT   the run's RunSummary, then its best weights (one
 *                         MPI_FLOAT message) when it has them, then a
 *                         program's outputs (OUTPUTS, JSON text) when it has
 *                         them. Then the worker waits for the next RUN or
 *                         STOP.
 *   0 -> worker  CANCEL   stop the current run at the next batch: it ends
 *                         `interrupted` and its RESULT is sent as usual.
 * Structs go as MPI_BYTE (every rank runs the same binary on the same
 * architecture), weights as MPI_FLOAT (src/sched/proto.h has them).
 *
 * Scheduling: the core's (above): most expensive first across sweeps,
 * one run at a time to whichever worker is free. A run that fails in a
 * worker (diverged, out of memory, no GPU, any error) is recorded with its
 * message and the worker gets the next run. Workers use GPU
 * local_rank % n_gpus (MPI_Comm_split_type, honouring CUDA_VISIBLE_DEVICES);
 * CPU workers split the node's cores (sched_worker_threads).
 *
 * Termination: when the core is finished rank 0 sends STOP to every
 * worker, closes the results file and the caller prints the leaderboard.
 * On SIGTERM, SIGINT, SIGUSR1 or SIGUSR2 (Slurm's warning before the time
 * limit or preemption), received by rank 0 or by any worker, rank 0 stops
 * handing out runs, sends CANCEL to the busy workers, records what they
 * report within the grace period, marks runs still unfinished
 * `interrupted`, closes the file cleanly and exits 0 (after MPI_Abort only
 * if a worker did not answer within the grace period: exit 1). A signal
 * before every worker said hello writes nothing and exits 0. `--resume`
 * reruns every run that is not final (pending, running, interrupted);
 * nothing is ever recorded twice.
 *
 * Failure rules: a worker that dies takes the job down (Open MPI's default
 * error handler); rank 0's file stays readable (results.h) and `--resume`
 * continues; a result in flight when rank 0 dies may be computed again. A
 * results-file error on rank 0 stops the sweep as a signal does and exits 1.
 * Bad input (a sweep file, a sweep that differs from the file's on resume,
 * no worker that can train) exits 2 with nothing written.
 */
#ifndef NNSWEEP_SCHED_H
#define NNSWEEP_SCHED_H

#include <stddef.h>
#include <stdio.h>

#include "nnsweep/core.h"
#include "nnsweep/outcome.h"
#include "nnsweep/sweep.h"

typedef struct SchedCore SchedCore;

/* What a worker said in its hello. */
typedef struct SchedWorkerInfo {
    char host[64];
    int rank;       /* MPI rank, 0 for the in-process driver */
    int gpu;        /* it has a usable GPU: device is its label ("cuda:0") */
    char device[16];
    int ok;         /* it can train (dataset read, GPUs as asked) */
} SchedWorkerInfo;

/* Where the core's records go. Each entry returns NN_OK or fills err; NULL
 * entries record nothing (a sweep without a results file). The pointers
 * given are valid for the call only. */
typedef struct SchedSink {
    void *self;
    /* run r of sweep sw starts on a worker, on device (its summary label) */
    NnStatus (*started)(void *self, const Sweep *sw, const SweepRun *r,
                        const SchedWorkerInfo *w, const char *device, NnError *err);
    NnStatus (*epoch)(void *self, const Sweep *sw, const SweepRun *r, const EpochMetrics *m,
                      NnError *err);
    /* best_state: s->n_state floats in model_state layout, or NULL; s's
     * best_step and best_value are the sweep metric's (the core fills them
     * for the built-in trainer's runs from best_epoch) */
    NnStatus (*finished)(void *self, const Sweep *sw, const SweepRun *r, const RunSummary *s,
                         const float *best_state, NnError *err);
    /* a search strategy appended run r to sw (after reconcile): the run
     * exists, pending, before it can be handed out */
    NnStatus (*added)(void *self, const Sweep *sw, const SweepRun *r, NnError *err);
    /* a program's run logged rows (n >= 1, in order) */
    NnStatus (*rows)(void *self, const Sweep *sw, const SweepRun *r, const RunRow *rows, int n,
                     NnError *err);
    /* a program's run reported its outputs (RunOutcome.outputs), before
     * its end */
    NnStatus (*outputs)(void *self, const Sweep *sw, const SweepRun *r, const char *json,
                        NnError *err);
} SchedSink;

typedef struct SchedOptions {
    int n_workers;          /* >= 1 */
    /* seconds since some fixed point (progress and ETA); NULL: nn_now */
    double (*clock)(void);
    FILE *progress;         /* progress lines, or NULL */
    double progress_seconds; /* at most one line this often (0: every event) */
} SchedOptions;

/* A core over set (borrowed; its strategies are asked, its runs recorded).
 * Never fails (allocation aborts). */
SchedCore *sched_core_create(SweepSet *set, const SchedSink *sink, const SchedOptions *opt);
void sched_core_free(SchedCore *c); /* accepts NULL */

/* ---- resume ------------------------------------------------------------ */

/* One run already in the results file. */
typedef struct SchedPrior {
    const char *run_id;
    const char *sweep;
    RunSummary summary; /* status and best values as recorded */
    /* its canonical config JSON: needed for the runs of search sweeps (their
     * strategy adopts them), else may be NULL */
    const char *config_json;
    /* its metrics rows, epoch 0 first: needed for the finished runs of
     * sweeps with sweep_needs_history (the metric at the best epoch, the
     * stopping rule, the search's impute), else may be NULL */
    const EpochMetrics *metrics;
    size_t n_metrics;
    /* a program's run, in place of metrics: the sweep metric's finite
     * values in the order it logged them (its history), else may be NULL */
    const double *history;
    size_t n_history;
} SchedPrior;

/* The structural work the file needs before the sweep starts: indices
 * (owned by the plan, sched_plan_free) into set->sweeps and, for runs,
 * pairs (sweep, run). */
typedef struct SchedPlan {
    int n_new_sweeps;
    int *new_sweeps;     /* sweeps to add, with every run */
    int n_new_runs;
    int (*new_runs)[2];  /* runs to add to sweeps already in the file */
    int n_reset;
    int (*reset)[2];     /* unfinished runs of the file to reset to pending */
} SchedPlan;
void sched_plan_free(SchedPlan *p); /* accepts NULL and a zeroed plan */

/* A sweep already in the file: its name, metric and goal (their names). */
typedef struct SchedFileSweep {
    const char *name, *metric, *goal;
} SchedFileSweep;

/* Compares the set with what the file at path holds (its sweeps, and its
 * summary rows as prior, in the file's order). A sweep already in the file
 * needs resume (else NN_ERR_INPUT "use --resume ..."), the same metric and
 * goal, and its runs in the file must be exactly the sweep's (else
 * NN_ERR_INPUT naming the first difference) - unless the sweep is open
 * (sweep.h: runs accumulate, as `nnsweep train --out` does), where a run of
 * the set that the file holds finished is NN_ERR_INPUT, or a search sweep,
 * whose strategy adopts every run of the file (NN_ERR_INPUT when one is not
 * a run the sweep can make). Finished runs (done, diverged, failed,
 * stopped) are marked finished and reported to their strategy and stopping
 * rule; the others are handed out again (reset). Call once, before any
 * hand-out; *plan is owned by the caller. */
NnStatus sched_core_reconcile(SchedCore *c, const SchedFileSweep *file_sweeps, int n_file_sweeps,
                              const SchedPrior *prior, size_t n_prior, int resume,
                              const char *path, SchedPlan *plan, NnError *err);

/* ---- events ------------------------------------------------------------ */

void sched_core_worker(SchedCore *c, int worker, const SchedWorkerInfo *info);

/* A run handed out. The pointers stay valid until the next
 * sched_core_assign or sched_core_finished (a search strategy's new run
 * may move its sweep's runs); drivers copy what they keep. */
typedef struct SchedAssignment {
    int worker;
    int run;                /* the core's run index */
    const Sweep *sweep;
    const SweepRun *sr;
    const char *device;     /* the summary's device label ("cpu", "cuda:0") */
    /* epochs after which the sweep's stopping rule decides: the worker must
     * wait there for sched_core_on_epoch's answer (ascending; may be 0) */
    int n_decide;
    const int *decide;
} SchedAssignment;

/* The next assignment, or 0 when no free worker can get a run now. The
 * run is recorded as started (sink) before it returns. */
int sched_core_assign(SchedCore *c, SchedAssignment *out);

/* The answer to an epoch. */
typedef enum SchedVerdict {
    SCHED_NO_VERDICT = 0, /* not a decision epoch: the worker did not wait */
    SCHED_GO_ON,          /* a decision epoch: the run goes on */
    SCHED_STOP_RUN,       /* a decision epoch: the stopping rule ends the run;
                             it ends `stopped` after this epoch */
} SchedVerdict;

/* Worker w's run finished an epoch (epoch 0 first, in order). */
SchedVerdict sched_core_on_epoch(SchedCore *c, int worker, const EpochMetrics *m);

/* Worker w's program run logged rows (n >= 1, in order), recorded with one
 * sink call. The stopping rule is asked at each decision point among them
 * (see above): SCHED_STOP_RUN when it stopped the run at one, SCHED_GO_ON
 * when it was asked and let it go on, SCHED_NO_VERDICT when not asked. */
SchedVerdict sched_core_on_rows(SchedCore *c, int worker, const RunRow *rows, int n);

/* Worker w's program run reported what it has for the whole run (json:
 * RunOutcome.outputs); call before its result. Passed to the sink. */
void sched_core_on_outputs(SchedCore *c, int worker, const char *json);

/* Worker w's run ended; best_state (s->n_state floats, or NULL) is passed
 * to the sink. The worker is free again. */
void sched_core_on_result(SchedCore *c, int worker, const RunSummary *s, const float *best_state);

/* Worker w is gone: its run (if any) ends `interrupted` with the reason,
 * and it gets no more runs. */
void sched_core_worker_lost(SchedCore *c, int worker, const char *why);

/* No more hand-outs (a stop signal, signal = its number, or 0 for another
 * reason); idempotent. */
void sched_core_stop(SchedCore *c, int signal);

/* ---- state --------------------------------------------------------------- */

/* Nothing is running and nothing more will be handed out. */
int sched_core_finished(const SchedCore *c);
int sched_core_stopping(const SchedCore *c);
int sched_core_stop_signal(const SchedCore *c); /* the signal given to sched_core_stop */
/* The run worker w trains, or -1. */
int sched_core_worker_run(const SchedCore *c, int worker);
int sched_core_n_running(const SchedCore *c);

/* The first sink error (NN_OK when none) and its message. */
NnStatus sched_core_error(const SchedCore *c, NnError *err);

typedef struct SchedCounts {
    int n_runs;       /* in the table */
    int n_skipped;    /* finished in the file before this session */
    int n_todo;       /* to run in this session (known so far) */
    int n_running;
    int n_finished;   /* ended in this session, any status */
    int by_status[RUN_STATUS_COUNT]; /* of those */
} SchedCounts;
void sched_core_counts(const SchedCore *c, SchedCounts *out);

/* The best run so far by its sweep's metric and goal: its index, or -1;
 * *value its metric. Across sweeps, by each sweep's own goal. */
int sched_core_best(const SchedCore *c, double *value);
const Sweep *sched_core_run_sweep(const SchedCore *c, int run);
const SweepRun *sched_core_run(const SchedCore *c, int run);
RunStatus sched_core_run_status(const SchedCore *c, int run);

/* Prints the progress line ("[nnsweep] 3/6 runs done (...), 2 running | best
 * ... | elapsed ..., ETA ...") to the progress stream when progress_seconds
 * passed since the last one, or always with force. The total counts the
 * runs a search sweep will still propose up to its run_cap ("3/40"); with
 * a search sweep without run_cap it is the runs known so far and a '+'
 * ("3/6+"), and there is no ETA. */
void sched_core_progress(SchedCore *c, int force);

/* ---- drivers ------------------------------------------------------------- */

/* A sweep job (`nnsweep sweep`, and `nnsweep train` as a one-run sweep). */
typedef struct SweepJob {
    const char *command;      /* "sweep", "train": names the command in messages */
    const char *const *files; /* sweep YAML files */
    int n_files;
    const SweepOverrides *overrides; /* applied to every sweep of the files (NULL:
                                        none); a --resume needs the same ones */
    SweepSet *set;            /* or an already built set (files unused); borrowed */
    const char *out_path;     /* results file; NULL: nothing recorded (train) */
    int resume;               /* continue the sweeps already in out_path */
    const char *data_dir;     /* NULL: cifar10_default_dir */
    int threads;              /* CPU threads per worker; 0 = split the node's cores */
    double grace_seconds;     /* wait for busy workers after a stop signal */
    double progress_seconds;  /* rank 0 prints progress at most this often */
    int quiet;                /* rank 0 prints only errors and the end */
    int stats;                /* rank 0 prints its own cost at the end */
    const char *worker_log;   /* directory of the workers' logs (worklog.c), or NULL */
    ProgramLimits program;    /* program runs' time limit and grace (program.h) */
    /* observers of the in-process driver (train prints its table); may be NULL */
    void (*on_epoch)(const EpochMetrics *m, void *user);
    void (*on_result)(const SweepRun *r, const RunSummary *s, void *user);
    void *user;
} SweepJob;

/* Runs the job. When MPI is initialized (by the caller, which also
 * finalizes) with more than one rank, every rank calls it: rank 0 loads
 * the sweeps, schedules and writes; the others train. Otherwise the calling
 * process trains every run itself through the same run path (run.h).
 * SIGTERM, SIGINT, SIGUSR1 and SIGUSR2 stop it cleanly: no run is handed
 * out any more, busy runs are cancelled (`interrupted`), the file is closed.
 * Returns this process's exit code: 0 ok or cleanly stopped by a signal,
 * 1 failure (results file, a worker that did not stop within the grace
 * period: then after MPI_Abort), 2 bad input (nothing written). */
int sched_run_job(const SweepJob *job);

#endif
