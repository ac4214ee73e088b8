/* worker.c - a worker rank: reads the dataset once (unless the job runs
 * programs only), says hello, then runs what rank 0 sends through
 * run_execute (run.h), streaming every epoch (a program's rows) back as it
 * ends and waiting for rank 0's verdict at the stopping rule's decision
 * epochs (a program's verdict is polled for: proto.h). */
#define _GNU_SOURCE
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nnsweep/program.h"
#include "nnsweep/run.h"
#include "proto.h"

int sched_worker_threads(int requested, int n_local)
{
    if (requested > 0) return requested;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int mine = backend_cpu_cores();
    /* bound to a subset (mpirun --bind-to, srun --cpu-bind): use it all;
     * free to use the node: share it with the node's other workers */
    if (online > 0 && mine < online) return mine;
    int t = mine / (n_local > 0 ? n_local : 1);
    return t > 0 ? t : 1;
}

typedef struct WorkerRun {
    int run;
    const char *id;
    FILE *log; /* --worker-log, or NULL */
    int n_decide;
    const int32_t *decide; /* (n_decide) ascending */
    int next_decide;
    int cancelled;
    int stopped;  /* a program's run got a stop verdict */
    NnBuf rows;   /* a ROWS message being built */
} WorkerRun;

/* Takes a CANCEL from rank 0 if one is there. */
static int take_cancel(void)
{
    int flag = 0;
    MPI_Iprobe(0, TAG_CANCEL, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
    if (flag) MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_CANCEL, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    return flag;
}

/* Waits for rank 0's VERDICT on run w->run (a CANCEL or a stop signal
 * instead ends the run). */
static RunVerdict wait_verdict(WorkerRun *w)
{
    const struct timespec nap = {0, 200000L};
    for (;;) {
        if (sched_stop_signal) return RUN_CANCEL;
        if (take_cancel()) {
            w->cancelled = 1;
            return RUN_CANCEL;
        }
        int flag = 0;
        MPI_Iprobe(0, TAG_VERDICT, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
        if (!flag) {
            nanosleep(&nap, NULL);
            continue;
        }
        MsgVerdict v;
        MPI_Recv(&v, sizeof v, MPI_BYTE, 0, TAG_VERDICT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (v.run != w->run) continue; /* for a run that ended before (cannot happen) */
        return v.stop ? RUN_STOP_EARLY : RUN_GO_ON;
    }
}

static RunVerdict worker_on_epoch(const EpochMetrics *m, void *user)
{
    WorkerRun *w = user;
    MsgEpoch msg = {.run = w->run, .m = *m};
    MPI_Send(&msg, sizeof msg, MPI_BYTE, 0, TAG_EPOCH, MPI_COMM_WORLD);
    worklog_epoch(w->log, w->id, m);
    while (w->next_decide < w->n_decide && w->decide[w->next_decide] < m->epoch) w->next_decide++;
    if (w->next_decide < w->n_decide && w->decide[w->next_decide] == m->epoch)
        return wait_verdict(w);
    return RUN_GO_ON;
}

/* A program run: a stop signal, CANCEL, or a VERDICT (stop) from rank 0. */
static RunVerdict worker_poll(void *user)
{
    WorkerRun *w = user;
    if (sched_stop_signal) return RUN_CANCEL;
    if (!w->cancelled && take_cancel()) w->cancelled = 1;
    if (w->cancelled) return RUN_CANCEL;
    int flag = 0;
    MPI_Iprobe(0, TAG_VERDICT, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
    if (flag) {
        MsgVerdict v;
        MPI_Recv(&v, sizeof v, MPI_BYTE, 0, TAG_VERDICT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (v.run == w->run && v.stop) w->stopped = 1;
    }
    return w->stopped ? RUN_STOP_EARLY : RUN_GO_ON;
}

/* A program run's rows: one ROWS message, sent synchronously (sched.h). */
static RunVerdict worker_on_rows(const RunRow *rows, int n, void *user)
{
    WorkerRun *w = user;
    MsgRowsHead head = {.run = w->run, .n_rows = n};
    size_t names = 0;
    for (int i = 0; i < n; i++) {
        head.n_values += rows[i].n;
        for (int k = 0; k < rows[i].n; k++) names += strlen(rows[i].names[k]) + 1;
    }
    NN_CHECK(names < 0x7fffffff, "worker: %zu bytes of names in one batch", names);
    head.names_bytes = (int32_t)names;
    NnBuf *b = &w->rows;
    b->len = 0;
    nn_buf_append(b, (const char *)&head, sizeof head);
    for (int i = 0; i < n; i++) nn_buf_append(b, (const char *)&rows[i].step, sizeof(int64_t));
    for (int i = 0; i < n; i++) {
        int32_t c = rows[i].n;
        nn_buf_append(b, (const char *)&c, sizeof c);
    }
    for (int i = 0; i < n; i++)
        nn_buf_append(b, (const char *)rows[i].values, (size_t)rows[i].n * sizeof(double));
    for (int i = 0; i < n; i++)
        for (int k = 0; k < rows[i].n; k++)
            nn_buf_append(b, rows[i].names[k], strlen(rows[i].names[k]) + 1);
    NN_CHECK(b->len < 0x7fffffff, "worker: a ROWS message of %zu bytes", b->len);
    MPI_Ssend(b->data, (int)b->len, MPI_BYTE, 0, TAG_ROWS, MPI_COMM_WORLD);
    return worker_poll(w);
}

/* Per batch: a stop signal here, or CANCEL from rank 0. */
static int worker_should_cancel(void *user)
{
    WorkerRun *w = user;
    if (sched_stop_signal) return 1;
    if (!w->cancelled && take_cancel()) w->cancelled = 1;
    return w->cancelled;
}

/* Runs the RUN message in buf (bytes long) and sends RESULT (+ WEIGHTS). */
static void worker_run(RunHost *host, FILE *log, char *buf, int bytes)
{
    MsgRunHead head;
    NN_CHECK((size_t)bytes >= sizeof head, "worker: short RUN message (%d bytes)", bytes);
    memcpy(&head, buf, sizeof head);
    size_t dec = (size_t)head.n_decide * sizeof(int32_t);
    NN_CHECK(head.n_decide >= 0 && sizeof head + dec <= (size_t)bytes,
             "worker: RUN message of %d bytes with %d decision epochs", bytes, head.n_decide);
    int32_t *decide = nn_malloc(dec + sizeof(int32_t));
    memcpy(decide, buf + sizeof head, dec);
    head.id[sizeof head.id - 1] = 0;
    WorkerRun w = {.run = head.run, .id = head.id, .log = log, .n_decide = head.n_decide,
                   .decide = decide};
    RunHooks hooks = {.on_epoch = worker_on_epoch, .should_cancel = worker_should_cancel,
                      .on_rows = worker_on_rows, .poll = worker_poll, .user = &w};
    NN_CHECK(head.kind == RUN_KIND_TRAIN || head.kind == RUN_KIND_PROGRAM,
             "worker: a run of kind %d", head.kind);
    RunRequest req = {(RunKind)head.kind, head.id, buf + sizeof head + dec};
    RunOutcome o;
    run_execute(host, &req, &hooks, &o);
    free(decide);
    nn_buf_free(&w.rows);
    take_cancel(); /* a CANCEL that came after the run's last batch */

    size_t out_bytes = o.outputs ? strlen(o.outputs) + 1 : 0;
    MsgResult msg = {.run = head.run,
                     .has_weights = o.best_state != NULL && o.s.n_state <= 0x7fffffff,
                     .worker_stopping = sched_stop_signal != 0,
                     .outputs_bytes = out_bytes < 0x7fffffff ? (int32_t)out_bytes : 0,
                     .s = o.s};
    MPI_Send(&msg, sizeof msg, MPI_BYTE, 0, TAG_RESULT, MPI_COMM_WORLD);
    worklog_result(log, head.id, &o.s);
    if (msg.has_weights)
        MPI_Send(o.best_state, (int)o.s.n_state, MPI_FLOAT, 0, TAG_WEIGHTS, MPI_COMM_WORLD);
    if (msg.outputs_bytes)
        MPI_Send(o.outputs, msg.outputs_bytes, MPI_BYTE, 0, TAG_OUTPUTS, MPI_COMM_WORLD);
    run_outcome_free(&o);
}

/* NNSWEEP_GPUS=N (slurm/gpu.sbatch sets it to the GPUs Slurm gave the job
 * on each node): this worker must see at least N GPUs, or it cannot train
 * and says why in msg (returns 0). Unset or 0: no requirement. programs:
 * the job runs programs only, which see the node's GPUs without nnsweep's
 * CUDA backend (program_gpu_count). */
static int gpus_required_ok(const char *host, int programs, char *msg, size_t size)
{
    const char *v = getenv("NNSWEEP_GPUS");
    if (!v || !*v) return 1;
    char *end;
    long want = strtol(v, &end, 10);
    if (*end || want < 0 || want > 4096) {
        snprintf(msg, size, "NNSWEEP_GPUS=%.100s: expected the number of GPUs each node's "
                            "workers must see (an integer >= 0)", v);
        return 0;
    }
    if (want == 0) return 1;
    if (!programs && !backend_get(BACKEND_CUDA)) {
        snprintf(msg, size,
                 "the job asks for %ld GPU%s per node (NNSWEEP_GPUS=%ld) but this nnsweep was "
                 "built without the CUDA backend: build it with -DNNSWEEP_CUDA=ON on a machine "
                 "with the CUDA toolkit, or run CPU sweeps with slurm/cpu.sbatch",
                 want, want == 1 ? "" : "s", want);
        return 0;
    }
    int seen = programs ? program_gpu_count() : backend_cuda_device_count();
    if (seen < want) {
        const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
        snprintf(msg, size,
                 "the job asks for %ld GPU%s per node (NNSWEEP_GPUS=%ld) but this rank on %s sees "
                 "%d (CUDA_VISIBLE_DEVICES=%.100s): ask Slurm for them (--gpus-per-node=%ld), do "
                 "not bind tasks to single GPUs (--gpus-per-task, --gpu-bind), and check "
                 "nvidia-smi on %s",
                 want, want == 1 ? "" : "s", want, host, seen, cvd ? cvd : "unset", want, host);
        return 0;
    }
    return 1;
}

int sched_mpi_worker(const SweepJob *job, MPI_Comm workers, int needs_data)
{
    /* node-local worker count: split the node's cores (and GPUs) between them */
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm node;
    MPI_Comm_split_type(workers, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
    int n_local, local_rank;
    MPI_Comm_size(node, &n_local);
    MPI_Comm_rank(node, &local_rank);
    MPI_Comm_free(&node);

    MsgHello hello = {.ok = 1};
    gethostname(hello.host, sizeof hello.host - 1);
    hello.threads = backend_cpu_set_threads(sched_worker_threads(job->threads, n_local));
    RunHost host;
    memset(&host, 0, sizeof host);
    int have_host = 0;
    if (!gpus_required_ok(hello.host, !needs_data, hello.error, sizeof hello.error)) hello.ok = 0;
    if (!needs_data && hello.ok) { /* programs only: no dataset, and CUDA stays untouched */
        int n_gpu = program_gpu_count();
        run_host_init_programs(&host, n_gpu > 0 ? local_rank % n_gpu : -1);
        have_host = 1;
        hello.gpu = host.gpu;
        snprintf(hello.device, sizeof hello.device, "%s", host.device);
    } else if (hello.ok) {
        int n_gpu = backend_gpu_usable() ? backend_cuda_device_count() : 0;
        NnError err = {{0}};
        if (run_host_init(&host, job->data_dir, n_gpu > 0 ? local_rank % n_gpu : -1, &err) ==
            NN_OK) {
            have_host = 1;
            hello.gpu = host.gpu;
            snprintf(hello.device, sizeof hello.device, "%s", host.device);
        } else {
            hello.ok = 0;
            snprintf(hello.error, sizeof hello.error,
                     "cannot read the dataset: %.600s. Every rank reads the dataset on its own "
                     "node: give --data (or CIFAR10_DIR) a directory that every node sees at the "
                     "same path (a shared file system, or a copy on each node's local disk)",
                     err.msg);
        }
    }
    host.threads = hello.threads;
    MPI_Send(&hello, sizeof hello, MPI_BYTE, 0, TAG_HELLO, MPI_COMM_WORLD);
    FILE *log = have_host ? worklog_open(job->worker_log, hello.host, rank) : NULL;

    for (;;) {
        MPI_Status status;
        MPI_Probe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &status);
        if (status.MPI_TAG == TAG_STOP) {
            MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_STOP, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            break;
        }
        if (status.MPI_TAG == TAG_CANCEL) { /* for a run that already ended */
            MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_CANCEL, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            continue;
        }
        if (status.MPI_TAG == TAG_VERDICT) { /* likewise */
            MsgVerdict v;
            MPI_Recv(&v, sizeof v, MPI_BYTE, 0, TAG_VERDICT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            continue;
        }
        NN_CHECK(status.MPI_TAG == TAG_RUN, "worker: unexpected message tag %d", status.MPI_TAG);
        NN_CHECK(have_host, "worker: rank 0 sent a run to a worker that cannot train");
        int bytes;
        MPI_Get_count(&status, MPI_BYTE, &bytes);
        char *buf = nn_malloc((size_t)bytes + 1);
        MPI_Recv(buf, bytes, MPI_BYTE, 0, TAG_RUN, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        buf[bytes] = '\0';
        worker_run(&host, log, buf, bytes);
        free(buf);
    }
    if (have_host) run_host_free(&host);
    if (log) fclose(log);
    return 0;
}
