/* mpi.c - rank 0 under MPI: the workers' hellos, then the message loop that
 * feeds the core (proto.h has the protocol) and the stop sequence. Worker w
 * of the core is MPI rank w + 1. Rank 0 polls with MPI_Iprobe and sleeps
 * between polls, so that it leaves the node's cores to the workers (a
 * blocking receive busy-waits in Open MPI).
 *
 * Termination: when the core is finished (every run handed out ended, or a
 * stop and every busy run reported) rank 0 sends STOP to every worker. On a
 * stop (a signal to rank 0, a worker that reports one, a results-file
 * error) busy workers get CANCEL; those that do not report within the grace
 * period are abandoned and the job ends with MPI_Abort after the file is
 * closed (job.c). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto.h"
#include "session.h"

#define POLL_SLEEP_NS 1000000L /* 1 ms */

static void nap(void)
{
    struct timespec ts = {0, POLL_SLEEP_NS};
    nanosleep(&ts, NULL);
}

/* Prints the workers that cannot train, one line per distinct reason:
 * "rank 3 on node7 cannot train ...: why", or with several ranks
 * "4 ranks cannot train ... (1, 2 on node7; 5, 6 on node8): why". */
static void report_unable(const MsgHello *h, int size)
{
    int *done = nn_calloc((size_t)size, sizeof *done);
    for (int w = 1; w < size; w++) {
        if (h[w].ok || done[w]) continue;
        int n = 0;
        for (int v = w; v < size; v++) n += !h[v].ok && !done[v] && !strcmp(h[v].error, h[w].error);
        if (n == 1) {
            fprintf(stderr, "nnsweep sweep: rank %d on %s cannot train and gets no runs: %s\n", w,
                    h[w].host, h[w].error);
            done[w] = 1;
            continue;
        }
        NnBuf list = {0};
        const char *host = NULL;
        int shown = 0;
        for (int v = w; v < size; v++) {
            if (h[v].ok || done[v] || strcmp(h[v].error, h[w].error) != 0) continue;
            done[v] = 1;
            if (++shown > 32) continue;
            if (host && strcmp(host, h[v].host) != 0)
                nn_buf_printf(&list, " on %s; ", host);
            else if (host)
                nn_buf_printf(&list, ", ");
            nn_buf_printf(&list, "%d", v);
            host = h[v].host;
        }
        nn_buf_printf(&list, " on %s%s", host ? host : "?", shown > 32 ? ", ..." : "");
        fprintf(stderr, "nnsweep sweep: %d ranks cannot train and get no runs (%s): %s\n", n,
                list.data, h[w].error);
        nn_buf_free(&list);
    }
    free(done);
}

/* Every worker's hello into h (size entries, index = rank). Returns the
 * number that can train, or -1 when a stop signal came first. */
static int hellos(MsgHello *h, int size)
{
    int got = 0, ok = 0;
    while (got < size - 1) {
        int flag = 0;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, TAG_HELLO, MPI_COMM_WORLD, &flag, &st);
        if (!flag) {
            if (sched_stop_signal) return -1;
            nap();
            continue;
        }
        MsgHello *m = &h[st.MPI_SOURCE];
        MPI_Recv(m, sizeof *m, MPI_BYTE, st.MPI_SOURCE, TAG_HELLO, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
        m->host[sizeof m->host - 1] = m->device[sizeof m->device - 1] = 0;
        m->error[sizeof m->error - 1] = 0;
        ok += m->ok != 0;
        got++;
    }
    return ok;
}

static void stop_workers(int size)
{
    for (int w = 1; w < size; w++) MPI_Send(NULL, 0, MPI_BYTE, w, TAG_STOP, MPI_COMM_WORLD);
}

/* Sends RUN for assignment a to its worker's rank. */
static void send_run(Session *s, const SchedAssignment *a, NnBuf *scratch)
{
    RunKind kind;
    const char *json = session_request(s, a, &kind, scratch);
    size_t len = strlen(json), dec = (size_t)a->n_decide * sizeof(int32_t);
    MsgRunHead head = {.run = a->run, .n_decide = a->n_decide, .kind = kind};
    snprintf(head.id, sizeof head.id, "%s", a->sr->id);
    char *buf = nn_malloc(sizeof head + dec + len);
    memcpy(buf, &head, sizeof head);
    for (int i = 0; i < a->n_decide; i++) {
        int32_t e = a->decide[i];
        memcpy(buf + sizeof head + (size_t)i * sizeof e, &e, sizeof e);
    }
    memcpy(buf + sizeof head + dec, json, len);
    MPI_Send(buf, (int)(sizeof head + dec + len), MPI_BYTE, a->worker + 1, TAG_RUN,
             MPI_COMM_WORLD);
    free(buf);
}

static void hand_out(Session *s)
{
    SchedAssignment a;
    NnBuf scratch = {0};
    while (sched_core_assign(s->core, &a)) send_run(s, &a, &scratch);
    nn_buf_free(&scratch);
}

/* A program run's rows (proto.h: MsgRowsHead), each to the core; a stop
 * of its stopping rule goes back as VERDICT. */
static void receive_rows(Session *s, int rank, int bytes)
{
    char *buf = nn_malloc((size_t)bytes + 1);
    MPI_Recv(buf, bytes, MPI_BYTE, rank, TAG_ROWS, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    MsgRowsHead h;
    NN_CHECK((size_t)bytes >= sizeof h, "rank %d: a ROWS message of %d bytes", rank, bytes);
    memcpy(&h, buf, sizeof h);
    size_t need = sizeof h + (size_t)h.n_rows * (sizeof(int64_t) + sizeof(int32_t)) +
                  (size_t)h.n_values * sizeof(double) + (size_t)h.names_bytes;
    NN_CHECK(h.n_rows >= 0 && h.n_values >= 0 && h.names_bytes >= 0 && need == (size_t)bytes,
             "rank %d: a ROWS message of %d bytes for %d rows", rank, bytes, h.n_rows);
    NN_CHECK(h.run == sched_core_worker_run(s->core, rank - 1),
             "rank %d reported rows of run %d while it had run %d", rank, h.run,
             sched_core_worker_run(s->core, rank - 1));
    const char *p = buf + sizeof h;
    const char *steps = p, *counts = p + (size_t)h.n_rows * sizeof(int64_t);
    const char *values = counts + (size_t)h.n_rows * sizeof(int32_t);
    const char *names = values + (size_t)h.n_values * sizeof(double);
    buf[bytes] = '\0';
    const char **name_ptr = nn_malloc(((size_t)h.n_values + 1) * sizeof *name_ptr);
    double *vals = nn_malloc(((size_t)h.n_values + 1) * sizeof *vals);
    memcpy(vals, values, (size_t)h.n_values * sizeof(double));
    const char *q = names;
    for (int i = 0; i < h.n_values; i++) {
        NN_CHECK(q < buf + bytes, "rank %d: ROWS names end early", rank);
        name_ptr[i] = q;
        q += strlen(q) + 1;
    }
    RunRow *rows = nn_malloc(((size_t)h.n_rows + 1) * sizeof *rows);
    int first = 0;
    for (int r = 0; r < h.n_rows; r++) {
        int32_t n;
        memcpy(&rows[r].step, steps + (size_t)r * sizeof(int64_t), sizeof rows[r].step);
        memcpy(&n, counts + (size_t)r * sizeof(int32_t), sizeof n);
        NN_CHECK(n >= 0 && first + n <= h.n_values, "rank %d: ROWS counts", rank);
        rows[r].n = n;
        rows[r].names = name_ptr + first;
        rows[r].values = vals + first;
        first += n;
    }
    int stop = h.n_rows > 0 &&
               sched_core_on_rows(s->core, rank - 1, rows, h.n_rows) == SCHED_STOP_RUN;
    free(rows);
    free(name_ptr);
    free(vals);
    free(buf);
    if (!stop) return;
    MsgVerdict ans = {.run = h.run, .stop = 1};
    MPI_Send(&ans, sizeof ans, MPI_BYTE, rank, TAG_VERDICT, MPI_COMM_WORLD);
}

static void receive_epoch(Session *s, int rank)
{
    MsgEpoch m;
    MPI_Recv(&m, sizeof m, MPI_BYTE, rank, TAG_EPOCH, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    NN_CHECK(m.run == sched_core_worker_run(s->core, rank - 1),
             "rank %d reported an epoch of run %d while it had run %d", rank, m.run,
             sched_core_worker_run(s->core, rank - 1));
    SchedVerdict v = sched_core_on_epoch(s->core, rank - 1, &m.m);
    if (v == SCHED_NO_VERDICT) return;
    MsgVerdict ans = {.run = m.run, .stop = v == SCHED_STOP_RUN};
    MPI_Send(&ans, sizeof ans, MPI_BYTE, rank, TAG_VERDICT, MPI_COMM_WORLD);
}

static void receive_result(Session *s, int rank)
{
    MsgResult m;
    MPI_Recv(&m, sizeof m, MPI_BYTE, rank, TAG_RESULT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    float *state = NULL;
    if (m.has_weights) {
        NN_CHECK(m.s.n_state > 0 && m.s.n_state <= 0x7fffffff, "rank %d: %lld weights", rank,
                 (long long)m.s.n_state);
        state = nn_malloc((size_t)m.s.n_state * sizeof(float));
        MPI_Recv(state, (int)m.s.n_state, MPI_FLOAT, rank, TAG_WEIGHTS, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
    }
    NN_CHECK(m.run == sched_core_worker_run(s->core, rank - 1),
             "rank %d reported run %d while it had run %d", rank, m.run,
             sched_core_worker_run(s->core, rank - 1));
    if (m.outputs_bytes > 0) {
        char *json = nn_malloc((size_t)m.outputs_bytes + 1);
        MPI_Recv(json, m.outputs_bytes, MPI_BYTE, rank, TAG_OUTPUTS, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
        json[m.outputs_bytes] = '\0';
        sched_core_on_outputs(s->core, rank - 1, json);
        free(json);
    }
    m.s.message[sizeof m.s.message - 1] = m.s.device[sizeof m.s.device - 1] = 0;
    sched_core_on_result(s->core, rank - 1, &m.s, state);
    free(state);
    if (m.worker_stopping && !sched_core_stopping(s->core)) {
        fprintf(stderr, "nnsweep sweep: rank %d got a stop signal: stopping the sweep\n", rank);
        sched_core_stop(s->core, 0);
    }
}

/* The message loop. Returns the number of busy workers that did not answer
 * a CANCEL within the grace period. */
static int loop(Session *s, int size)
{
    int *cancelled = nn_calloc((size_t)size, sizeof *cancelled);
    double deadline = 0;
    int abandoned = 0;
    hand_out(s);
    while (!sched_core_finished(s->core)) {
        if (sched_stop_signal && !sched_core_stopping(s->core)) {
            fprintf(stderr, "nnsweep sweep: signal %d: stopping (no new runs; busy workers "
                            "cancel theirs)\n", (int)sched_stop_signal);
            sched_core_stop(s->core, sched_stop_signal);
        }
        if (sched_core_stopping(s->core)) {
            if (deadline == 0) deadline = nn_now() + s->job->grace_seconds;
            for (int w = 1; w < size; w++) {
                if (sched_core_worker_run(s->core, w - 1) >= 0 && !cancelled[w]) {
                    MPI_Send(NULL, 0, MPI_BYTE, w, TAG_CANCEL, MPI_COMM_WORLD);
                    cancelled[w] = 1;
                }
            }
            if (nn_now() > deadline) {
                abandoned = sched_core_n_running(s->core);
                break;
            }
        }
        int flag = 0;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
        if (!flag) {
            sched_core_progress(s->core, 0);
            nap();
            continue;
        }
        double t0 = nn_now();
        int bytes = 0;
        switch (st.MPI_TAG) {
        case TAG_EPOCH: receive_epoch(s, st.MPI_SOURCE); break;
        case TAG_ROWS:
            MPI_Get_count(&st, MPI_BYTE, &bytes);
            receive_rows(s, st.MPI_SOURCE, bytes);
            break;
        case TAG_RESULT:
            receive_result(s, st.MPI_SOURCE);
            cancelled[st.MPI_SOURCE] = 0;
            sched_core_progress(s->core, 0);
            hand_out(s);
            break;
        default: nn_fatal("rank 0: unexpected message tag %d from rank %d", st.MPI_TAG, st.MPI_SOURCE);
        }
        s->n_messages++;
        s->t_messages += nn_now() - t0;
    }
    free(cancelled);
    return abandoned;
}

int sched_mpi_rank0(const SweepJob *job, SweepSet *set, int size)
{
    MsgHello *h = nn_calloc((size_t)size, sizeof *h);
    h[0].ok = 1; /* rank 0 is not a worker */
    int n_ok = hellos(h, size);
    if (n_ok <= 0) {
        if (n_ok < 0)
            fprintf(stderr, "nnsweep sweep: stopped by signal %d before the sweep started; "
                            "nothing was written\n", (int)sched_stop_signal);
        else {
            report_unable(h, size);
            fprintf(stderr, "nnsweep sweep: no worker rank can train (see above); nothing was "
                            "written\n");
        }
        stop_workers(size);
        free(h);
        return n_ok < 0 ? 0 : 2;
    }
    report_unable(h, size);
    if (n_ok < size - 1)
        fprintf(stderr, "nnsweep sweep: going on with the %d of %d worker ranks that can train\n",
                n_ok, size - 1);
    Session s;
    NnError err = {{0}};
    NnStatus st = session_open(&s, job, set, size - 1, &err);
    if (st != NN_OK) {
        fprintf(stderr, "nnsweep sweep: %s\n", err.msg);
        stop_workers(size);
        free(h);
        return nn_status_exit_code(st);
    }
    for (int w = 1; w < size; w++) {
        SchedWorkerInfo info = {.rank = w, .gpu = h[w].gpu, .ok = h[w].ok};
        snprintf(info.host, sizeof info.host, "%s", h[w].host);
        snprintf(info.device, sizeof info.device, "%s", h[w].device);
        sched_core_worker(s.core, w - 1, &info);
    }
    free(h);
    session_banner(&s, n_ok);
    int abandoned = loop(&s, size);
    if (!abandoned) stop_workers(size);
    int code = session_close(&s, abandoned);
    if (abandoned) {
        fprintf(stderr, "nnsweep sweep: aborting the workers that did not stop\n");
        MPI_Abort(MPI_COMM_WORLD, code);
    }
    return code;
}
