/* local.c - the in-process driver: one process is rank 0 and its only
 * worker (`nnsweep sweep` without mpirun, and `nnsweep train`). Each run
 * goes through run_execute, as on an MPI worker; the hooks call the core
 * directly instead of sending messages. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "nnsweep/program.h"
#include "nnsweep/run.h"
#include "proto.h"
#include "session.h"

typedef struct LocalRun {
    Session *s;
    const SchedAssignment *a;
    FILE *log; /* --worker-log, or NULL */
} LocalRun;

static RunVerdict local_on_epoch(const EpochMetrics *m, void *user)
{
    LocalRun *l = user;
    const SweepJob *job = l->s->job;
    SchedVerdict v = sched_core_on_epoch(l->s->core, l->a->worker, m);
    worklog_epoch(l->log, l->a->sr->id, m);
    if (job->on_epoch) job->on_epoch(m, job->user);
    sched_core_progress(l->s->core, 0);
    if (sched_stop_signal) sched_core_stop(l->s->core, sched_stop_signal);
    if (sched_core_stopping(l->s->core)) return RUN_CANCEL;
    return v == SCHED_STOP_RUN ? RUN_STOP_EARLY : RUN_GO_ON;
}

static int local_should_cancel(void *user)
{
    LocalRun *l = user;
    return sched_stop_signal || sched_core_stopping(l->s->core);
}

static RunVerdict local_on_rows(const RunRow *rows, int n, void *user)
{
    LocalRun *l = user;
    RunVerdict v = sched_core_on_rows(l->s->core, l->a->worker, rows, n) == SCHED_STOP_RUN
                       ? RUN_STOP_EARLY
                       : RUN_GO_ON;
    sched_core_progress(l->s->core, 0);
    if (sched_stop_signal) sched_core_stop(l->s->core, sched_stop_signal);
    return sched_core_stopping(l->s->core) ? RUN_CANCEL : v;
}

static RunVerdict local_poll(void *user)
{
    LocalRun *l = user;
    if (sched_stop_signal) sched_core_stop(l->s->core, sched_stop_signal);
    sched_core_progress(l->s->core, 0);
    return sched_core_stopping(l->s->core) ? RUN_CANCEL : RUN_GO_ON;
}

int sched_local(const SweepJob *job, SweepSet *set)
{
    NnError err = {{0}};
    RunHost host;
    /* the dataset first: a job that cannot train touches no results file
     * (a job of program sweeps only needs none) */
    NnStatus st = NN_OK;
    if (sched_set_needs_data(set)) {
        st = run_host_init(&host, job->data_dir, -1, &err);
    } else {
        int n_gpu = program_gpu_count();
        run_host_init_programs(&host, n_gpu > 0 ? 0 : -1);
    }
    if (st != NN_OK) {
        fprintf(stderr, "nnsweep %s: %s\n", job_command(job), err.msg);
        return nn_status_exit_code(st);
    }
    host.threads = backend_cpu_set_threads(job->threads > 0 ? job->threads : 0);
    Session s;
    st = session_open(&s, job, set, 1, &err);
    if (st != NN_OK) {
        fprintf(stderr, "nnsweep %s: %s\n", job_command(job), err.msg);
        run_host_free(&host);
        return nn_status_exit_code(st);
    }
    SchedWorkerInfo me = {.rank = 0, .gpu = host.gpu, .ok = 1};
    gethostname(me.host, sizeof me.host - 1);
    snprintf(me.device, sizeof me.device, "%s", host.device);
    sched_core_worker(s.core, 0, &me);
    FILE *log = worklog_open(job->worker_log, me.host, 0);
    session_banner(&s, 1);

    SchedAssignment a;
    NnBuf scratch = {0};
    for (;;) {
        if (sched_stop_signal) sched_core_stop(s.core, sched_stop_signal);
        if (!sched_core_assign(s.core, &a)) break;
        LocalRun l = {&s, &a, log};
        RunHooks hooks = {.on_epoch = local_on_epoch, .should_cancel = local_should_cancel,
                          .on_rows = local_on_rows, .poll = local_poll, .user = &l};
        RunRequest req = {RUN_KIND_TRAIN, a.sr->id, NULL};
        req.json = session_request(&s, &a, &req.kind, &scratch);
        RunOutcome o;
        run_execute(&host, &req, &hooks, &o);
        worklog_result(log, a.sr->id, &o.s);
        if (o.outputs) sched_core_on_outputs(s.core, 0, o.outputs);
        sched_core_on_result(s.core, 0, &o.s, o.best_state);
        if (job->on_result) job->on_result(a.sr, &o.s, job->user);
        run_outcome_free(&o);
        sched_core_progress(s.core, 0);
    }
    nn_buf_free(&scratch);
    int code = session_close(&s, 0);
    if (log) fclose(log);
    run_host_free(&host);
    return code;
}
