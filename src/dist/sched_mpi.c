/* sched_mpi.c - rank 0's MPI message loop: hellos, handing out runs,
 * receiving epochs and results, the stop sequence. Rank 0 polls with
 * MPI_Iprobe and sleeps between polls, so that it leaves the node's cores
 * to the workers (a blocking receive busy-waits in Open MPI). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto.h"
#include "sched.h"

#define POLL_SLEEP_NS 1000000L /* 1 ms */

static void nap(void)
{
    struct timespec ts = {0, POLL_SLEEP_NS};
    nanosleep(&ts, NULL);
}

/* Prints the workers that cannot train, one line per distinct reason:
 * "rank 3 on node7 cannot train ...: why", or with several ranks
 * "4 ranks cannot train ... (1, 2 on node7; 5, 6 on node8): why". */
static void report_unable(const Sched *s, int size, char **why)
{
    int *done = nn_calloc((size_t)size, sizeof *done);
    for (int w = 1; w < size; w++) {
        if (!why[w] || done[w]) continue;
        int n = 0;
        for (int v = w; v < size; v++) n += why[v] && !done[v] && !strcmp(why[v], why[w]);
        if (n == 1) {
            fprintf(stderr, "nnsweep sweep: rank %d on %s cannot train and gets no runs: %s\n", w,
                    s->workers[w].host, why[w]);
            done[w] = 1;
            continue;
        }
        NnBuf list = {0};
        const char *host = NULL;
        int shown = 0;
        for (int v = w; v < size; v++) {
            if (!why[v] || done[v] || strcmp(why[v], why[w]) != 0) continue;
            done[v] = 1;
            if (++shown > 32) continue;
            if (host && strcmp(host, s->workers[v].host) != 0)
                nn_buf_printf(&list, " on %s; ", host);
            else if (host)
                nn_buf_printf(&list, ", ");
            nn_buf_printf(&list, "%d", v);
            host = s->workers[v].host;
        }
        nn_buf_printf(&list, " on %s%s", host ? host : "?", shown > 32 ? ", ..." : "");
        fprintf(stderr, "nnsweep sweep: %d ranks cannot train and get no runs (%s): %s\n", n,
                list.data, why[w]);
        nn_buf_free(&list);
    }
    free(done);
}

int sched_hellos(Sched *s, int size)
{
    s->workers = nn_calloc((size_t)size, sizeof *s->workers);
    char **why = nn_calloc((size_t)size, sizeof *why);
    int got = 0, code = 0;
    while (got < size - 1) {
        int flag = 0;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, TAG_HELLO, MPI_COMM_WORLD, &flag, &st);
        if (!flag) {
            if (dist_stop_signal) {
                fprintf(stderr, "nnsweep sweep: stopped by signal %d before the sweep started; "
                                "nothing was written\n", (int)dist_stop_signal);
                code = 1;
                goto done;
            }
            nap();
            continue;
        }
        MsgHello h;
        MPI_Recv(&h, sizeof h, MPI_BYTE, st.MPI_SOURCE, TAG_HELLO, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
        Worker *w = &s->workers[st.MPI_SOURCE];
        w->ok = h.ok;
        w->run = -1;
        snprintf(w->host, sizeof w->host, "%s", h.host);
        snprintf(w->device, sizeof w->device, "%s", h.device);
        h.error[sizeof h.error - 1] = '\0';
        if (h.ok)
            s->n_ok_workers++;
        else
            why[st.MPI_SOURCE] = nn_strdup(h.error);
        got++;
    }
    report_unable(s, size, why);
    if (s->n_ok_workers == 0) {
        fprintf(stderr, "nnsweep sweep: no worker rank can train (see above); nothing was "
                        "written\n");
        code = 1;
    } else if (s->n_ok_workers < size - 1) {
        fprintf(stderr, "nnsweep sweep: going on with the %d of %d worker ranks that can train\n",
                s->n_ok_workers, size - 1);
    }
done:
    for (int w = 0; w < size; w++) free(why[w]);
    free(why);
    return code;
}

/* Gives worker w the next run, if any. */
static void hand_out(Sched *s, int w)
{
    int i = sched_next_run(s);
    if (i < 0) return;
    Worker *wk = &s->workers[w];
    if (sched_start_run(s, i, wk->host, w, wk->device) != 0) {
        s->n_running--;
        s->runs[i].state = SRUN_PENDING;
        return;
    }
    const char *json = s->runs[i].sr->json;
    size_t len = strlen(json);
    MsgRunHead head = {.run = i};
    snprintf(head.id, sizeof head.id, "%s", s->runs[i].sr->id);
    char *buf = nn_malloc(sizeof head + len);
    memcpy(buf, &head, sizeof head);
    memcpy(buf + sizeof head, json, len);
    MPI_Send(buf, (int)(sizeof head + len), MPI_BYTE, w, TAG_RUN, MPI_COMM_WORLD);
    free(buf);
    wk->run = i;
    wk->cancelled = 0;
}

static void receive_result(Sched *s, int w)
{
    MsgResult m;
    MPI_Recv(&m, sizeof m, MPI_BYTE, w, TAG_RESULT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    RunResult r;
    memset(&r, 0, sizeof r);
    r.status = (RunStatus)m.status;
    r.epochs_done = m.epochs_done;
    r.best_epoch = m.best_epoch;
    r.best_val_accuracy = m.best_val_accuracy;
    r.best_test_accuracy = m.best_test_accuracy;
    r.wall_seconds = m.wall_seconds;
    r.n_params = (size_t)m.n_params;
    r.n_state = (size_t)m.n_state;
    snprintf(r.message, sizeof r.message, "%s", m.message);
    if (m.has_weights) {
        r.best_state = nn_malloc(r.n_state * sizeof(float));
        MPI_Recv(r.best_state, (int)r.n_state, MPI_FLOAT, w, TAG_WEIGHTS, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
    }
    NN_CHECK(m.run == s->workers[w].run, "rank %d reported run %d while it had run %d", w, m.run,
             s->workers[w].run);
    sched_on_result(s, m.run, &r);
    run_result_free(&r);
    s->workers[w].run = -1;
    if (m.worker_stopping && !s->stopping) {
        fprintf(stderr, "nnsweep sweep: rank %d got a stop signal: stopping the sweep\n", w);
        s->stopping = 1;
    }
}

int sched_loop(Sched *s, int size)
{
    for (int w = 1; w < size; w++)
        if (s->workers[w].ok) hand_out(s, w);

    double deadline = 0;
    for (;;) {
        if (dist_stop_signal && !s->stopping) {
            fprintf(stderr, "nnsweep sweep: signal %d: stopping (no new runs; busy workers "
                            "cancel theirs)\n", (int)dist_stop_signal);
            s->stopping = 1;
        }
        if (s->stopping && deadline == 0) {
            deadline = nn_now() + s->job->grace_seconds;
            for (int w = 1; w < size; w++) {
                if (s->workers[w].run >= 0 && !s->workers[w].cancelled) {
                    MPI_Send(NULL, 0, MPI_BYTE, w, TAG_CANCEL, MPI_COMM_WORLD);
                    s->workers[w].cancelled = 1;
                }
            }
        }
        int busy = 0;
        for (int w = 1; w < size; w++) busy += s->workers[w].run >= 0;
        if (busy == 0) break; /* nothing running: every run handed out has ended */
        if (deadline > 0 && nn_now() > deadline) {
            for (int w = 1; w < size; w++) s->workers[w].run = -1;
            return busy;
        }

        int flag = 0;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
        if (!flag) {
            sched_progress(s, 0);
            nap();
            continue;
        }
        int w = st.MPI_SOURCE;
        double t0 = nn_now();
        switch (st.MPI_TAG) {
        case TAG_EPOCH: {
            MsgEpoch m;
            MPI_Recv(&m, sizeof m, MPI_BYTE, w, TAG_EPOCH, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            sched_on_epoch(s, m.run, &m.m);
            break;
        }
        case TAG_RESULT:
            receive_result(s, w);
            sched_progress(s, 0);
            hand_out(s, w);
            break;
        default:
            nn_fatal("rank 0: unexpected message tag %d from rank %d", st.MPI_TAG, w);
        }
        s->n_messages++;
        s->t_messages += nn_now() - t0;
    }
    for (int w = 1; w < size; w++) MPI_Send(NULL, 0, MPI_BYTE, w, TAG_STOP, MPI_COMM_WORLD);
    return 0;
}
