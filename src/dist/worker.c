/* worker.c - a worker rank: loads the dataset once, says hello, then trains
 * the runs rank 0 sends, streaming every epoch back as it ends. */
#define _GNU_SOURCE
#include <limits.h>
#include <mpi.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nnsweep/backend.h"
#include "nnsweep/config.h"
#include "nnsweep/data.h"
#include "proto.h"

int dist_cpu_threads(int requested, int n_local)
{
    if (requested > 0) return requested;
    cpu_set_t set;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int mine = online > 0 ? (int)online : 1;
    if (sched_getaffinity(0, sizeof set, &set) == 0) mine = CPU_COUNT(&set);
    /* bound to a subset (mpirun --bind-to, srun --cpu-bind): use it all;
     * free to use the node: share it with the node's other workers */
    if (mine < online) return mine;
    int t = mine / (n_local > 0 ? n_local : 1);
    return t > 0 ? t : 1;
}

typedef struct WorkerRun {
    int run;
    const char *id;
    int cancelled;
    FILE *trace; /* $NNSWEEP_WORKER_TRACE: what this worker sent, for tests */
} WorkerRun;

static int worker_on_epoch(const EpochMetrics *m, void *user)
{
    WorkerRun *w = user;
    MsgEpoch msg = {.run = w->run, .m = *m};
    MPI_Send(&msg, sizeof msg, MPI_BYTE, 0, TAG_EPOCH, MPI_COMM_WORLD);
    if (w->trace) {
        fprintf(w->trace, "epoch %s %d %.17g %.17g %.17g %.17g %.17g %.17g %.17g %.17g\n", w->id,
                m->epoch, m->train_loss, m->train_accuracy, m->val_loss, m->val_accuracy,
                m->test_loss, m->test_accuracy, m->top_accuracy, m->learning_rate);
        fflush(w->trace);
    }
    return 0;
}

/* Per batch: a stop signal here, or CANCEL from rank 0. */
static int worker_should_stop(void *user)
{
    WorkerRun *w = user;
    if (dist_stop_signal) return 1;
    int flag = 0;
    MPI_Iprobe(0, TAG_CANCEL, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
    if (flag) {
        MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_CANCEL, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        w->cancelled = 1;
    }
    return w->cancelled;
}

/* Trains run `run` (id) from its JSON and sends RESULT (+ WEIGHTS). */
static void worker_train(int run, const char *id, const char *json, const Cifar10 *data,
                         FILE *trace)
{
    RunConfig c;
    NnError err = {{0}};
    RunResult r;
    memset(&r, 0, sizeof r);
    r.status = RUN_FAILED;
    config_defaults(&c);
    NnStatus st = config_from_json(&c, json, &err);
    const Backend *be = NULL;
    if (st == NN_OK) {
        int cuda = c.device == DEVICE_CUDA ||
                   (c.device == DEVICE_AUTO && backend_get(BACKEND_CUDA) &&
                    backend_available(BACKEND_CUDA));
        be = backend_get(cuda ? BACKEND_CUDA : BACKEND_CPU);
        if (!be || (cuda && !backend_available(BACKEND_CUDA))) {
            char host[64] = "";
            gethostname(host, sizeof host - 1);
            const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
            if (!be)
                st = nn_error_set(&err, NN_ERR_INPUT,
                                  "device: cuda was asked for but this nnsweep (on %s) was built "
                                  "without the CUDA backend (configure with -DNNSWEEP_CUDA=ON)",
                                  host);
            else if (backend_cuda_unusable_reason()[0])
                st = nn_error_set(&err, NN_ERR_INPUT,
                                  "device: cuda was asked for but this worker on %s can use no "
                                  "GPU: %s",
                                  host, backend_cuda_unusable_reason());
            else
                st = nn_error_set(&err, NN_ERR_INPUT,
                                  "device: cuda was asked for but this worker on %s sees no GPU "
                                  "(CUDA_VISIBLE_DEVICES=%s): ask Slurm for GPUs "
                                  "(slurm/gpu.sbatch) or set device: cpu",
                                  host, cvd ? cvd : "unset");
        }
    }
    WorkerRun w = {.run = run, .id = id, .trace = trace};
    if (st == NN_OK) {
        TrainOptions opt = {.backend = be,
                            .on_epoch = worker_on_epoch,
                            .should_stop = worker_should_stop,
                            .user = &w};
        st = train_run(&c, data, &opt, &r, &err);
    }
    if (st != NN_OK) {
        r.status = RUN_FAILED;
        snprintf(r.message, sizeof r.message, "%.500s", err.msg);
    }
    /* a CANCEL that came after the run's last batch is consumed here */
    int flag = 0;
    MPI_Iprobe(0, TAG_CANCEL, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
    if (flag) MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_CANCEL, MPI_COMM_WORLD, MPI_STATUS_IGNORE);

    MsgResult msg = {
        .run = run,
        .status = r.status,
        .epochs_done = r.epochs_done,
        .best_epoch = r.best_epoch,
        .has_weights = r.best_state != NULL && r.n_state <= INT_MAX,
        .worker_stopping = dist_stop_signal != 0,
        .best_val_accuracy = r.best_val_accuracy,
        .best_test_accuracy = r.best_test_accuracy,
        .wall_seconds = r.wall_seconds,
        .n_params = (int64_t)r.n_params,
        .n_state = (int64_t)r.n_state,
    };
    snprintf(msg.message, sizeof msg.message, "%s", r.message);
    MPI_Send(&msg, sizeof msg, MPI_BYTE, 0, TAG_RESULT, MPI_COMM_WORLD);
    if (trace) {
        fprintf(trace, "result %s %s %d %d\n", id, run_status_name(r.status), r.epochs_done,
                r.best_epoch);
        fflush(trace);
    }
    if (msg.has_weights)
        MPI_Send(r.best_state, (int)r.n_state, MPI_FLOAT, 0, TAG_WEIGHTS, MPI_COMM_WORLD);
    run_result_free(&r);
}

/* NNSWEEP_GPUS=N (slurm/gpu.sbatch sets it to the GPUs Slurm gave the job
 * on each node): this worker must see at least N GPUs, or it cannot train
 * and says why in msg (returns 0). Unset or 0: no requirement. */
static int gpus_required_ok(const char *host, char *msg, size_t size)
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
    if (!backend_get(BACKEND_CUDA)) {
        snprintf(msg, size,
                 "the job asks for %ld GPU%s per node (NNSWEEP_GPUS=%ld) but this nnsweep was "
                 "built without the CUDA backend: build it with -DNNSWEEP_CUDA=ON on a machine "
                 "with the CUDA toolkit, or run CPU sweeps with slurm/cpu.sbatch",
                 want, want == 1 ? "" : "s", want);
        return 0;
    }
    int seen = backend_cuda_device_count();
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

int dist_worker(MPI_Comm workers, const char *data_dir, int threads)
{
    /* node-local worker count: split the node's cores between them */
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
    hello.threads = backend_cpu_set_threads(dist_cpu_threads(threads, n_local));
    snprintf(hello.device, sizeof hello.device, "cpu");
    if (!gpus_required_ok(hello.host, hello.error, sizeof hello.error)) hello.ok = 0;
    if (hello.ok && backend_get(BACKEND_CUDA) && backend_available(BACKEND_CUDA)) {
        int n_gpu = backend_cuda_device_count();
        int gpu = n_gpu > 0 ? local_rank % n_gpu : 0;
        backend_cuda_use_device(gpu);
        snprintf(hello.device, sizeof hello.device, "cuda:%u", (unsigned short)gpu);
    }
    Cifar10 data;
    NnError err = {{0}};
    int have_data = 0;
    if (hello.ok) {
        const char *dir = cifar10_default_dir(data_dir);
        if (cifar10_load(dir, &data, &err) == NN_OK) {
            have_data = 1;
        } else {
            hello.ok = 0;
            snprintf(hello.error, sizeof hello.error,
                     "cannot read the dataset: %.600s. Every rank reads the dataset on its own "
                     "node: give --data (or CIFAR10_DIR) a directory that every node sees at the "
                     "same path (a shared file system, or a copy on each node's local disk)",
                     err.msg);
        }
    }
    MPI_Send(&hello, sizeof hello, MPI_BYTE, 0, TAG_HELLO, MPI_COMM_WORLD);
    const char *trace_path = getenv("NNSWEEP_WORKER_TRACE");
    FILE *trace = trace_path && *trace_path ? fopen(trace_path, "a") : NULL;

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
        NN_CHECK(status.MPI_TAG == TAG_RUN, "worker: unexpected message tag %d", status.MPI_TAG);
        int bytes;
        MPI_Get_count(&status, MPI_BYTE, &bytes);
        char *buf = nn_malloc((size_t)bytes + 1);
        MPI_Recv(buf, bytes, MPI_BYTE, 0, TAG_RUN, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        buf[bytes] = '\0';
        MsgRunHead head;
        NN_CHECK((size_t)bytes >= sizeof head, "worker: short RUN message (%d bytes)", bytes);
        memcpy(&head, buf, sizeof head);
        if (have_data) worker_train(head.run, head.id, buf + sizeof head, &data, trace);
        free(buf);
    }
    if (have_data) cifar10_free(&data);
    if (trace) fclose(trace);
    return 0;
}
