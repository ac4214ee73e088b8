/* sched_sim.h - the fake driver and memory sink of the scheduler core's
 * tests (test_sched.c, test_sched_search.c): simulated workers train
 * simulated runs one epoch per step in a seeded random interleaving; a
 * memory sink records what the core writes (each run's rows, summary and
 * config, so that a test can build the SchedPrior of a resume from it). */
#ifndef NNSWEEP_TEST_SCHED_SIM_H
#define NNSWEEP_TEST_SCHED_SIM_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nnsweep/sched.h"

/* ---- a memory sink ----------------------------------------------------------- */

#define MAX_RUNS 4096

typedef struct Rec {
    char id[16];
    int added, started, finished, n_epochs;
    int last_epoch;
    int epochs_in_order;
    RunStatus status;
    char device[16];
    int had_weights;
    RunSummary summary;  /* as finished */
    char *json;          /* its config, owned */
    EpochMetrics *rows;  /* (n_epochs) owned */
    int order;           /* finished as the order-th run (1-based) */
} Rec;

typedef struct Mem {
    Rec recs[MAX_RUNS];
    int n;
    int n_finished;
    int fail_at_epoch_row; /* the n-th epoch row fails (0: never) */
    int n_epoch_rows;
} Mem;

static Rec *rec_of(Mem *m, const char *id)
{
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->recs[i].id, id)) return &m->recs[i];
    Rec *r = &m->recs[m->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "%s", id);
    r->last_epoch = -1;
    r->epochs_in_order = 1;
    return r;
}

static NnStatus mem_started(void *self, const Sweep *sw, const SweepRun *r,
                            const SchedWorkerInfo *w, const char *device, NnError *err)
{
    (void)sw, (void)w, (void)err;
    Rec *rec = rec_of(self, r->id);
    rec->started++;
    if (!rec->json) rec->json = strdup(r->json);
    snprintf(rec->device, sizeof rec->device, "%s", device);
    return NN_OK;
}

static NnStatus mem_added(void *self, const Sweep *sw, const SweepRun *r, NnError *err)
{
    (void)sw, (void)err;
    Rec *rec = rec_of(self, r->id);
    CHECK(!rec->started, "run %s: added after it started", r->id);
    rec->added++;
    return NN_OK;
}

static NnStatus mem_epoch(void *self, const Sweep *sw, const SweepRun *r, const EpochMetrics *m,
                          NnError *err)
{
    (void)sw;
    Mem *mem = self;
    if (mem->fail_at_epoch_row && ++mem->n_epoch_rows == mem->fail_at_epoch_row)
        return nn_error_set(err, NN_ERR_IO, "results.h5: disk full (simulated)");
    Rec *rec = rec_of(mem, r->id);
    if (m->epoch != rec->last_epoch + 1) rec->epochs_in_order = 0;
    rec->last_epoch = m->epoch;
    rec->rows = realloc(rec->rows, (size_t)(rec->n_epochs + 1) * sizeof *rec->rows);
    rec->rows[rec->n_epochs++] = *m;
    return NN_OK;
}

static NnStatus mem_finished(void *self, const Sweep *sw, const SweepRun *r, const RunSummary *s,
                             const float *best_state, NnError *err)
{
    (void)sw, (void)err;
    Mem *mem = self;
    Rec *rec = rec_of(mem, r->id);
    rec->finished++;
    rec->status = s->status;
    rec->summary = *s;
    rec->order = ++mem->n_finished;
    rec->had_weights = best_state != NULL;
    return NN_OK;
}

/* ---- the fake driver ----------------------------------------------------------- */

typedef struct SimWorker {
    int busy;
    int run;
    int epoch;      /* next epoch to report */
    int epochs;     /* planned */
    double acc;     /* the run's simulated accuracy */
    int stop_early; /* a STOP verdict came */
    int n_decide;
    const int *decide;
    int lost;       /* sched_core_worker_lost was called: it must get no run */
} SimWorker;

typedef struct Sim {
    SchedCore *core;
    double (*accuracy)(const SweepRun *r); /* NULL: sim_accuracy */
    /* nonzero: the run fails before its first epoch (NULL: none does) */
    int (*fails)(const SweepRun *r);
    SimWorker *w;
    int n_workers;
    uint64_t rng;
    int n_assigned;
    int order[MAX_RUNS]; /* core run indices in hand-out order */
} Sim;

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A run's simulated accuracy: a function of its learning rate, so that the
 * best run is known (lr closest to 0.05 wins). */
static double sim_accuracy(const SweepRun *r)
{
    return 0.9 - fabs(r->config.learning_rate - 0.05);
}

static void drain(Sim *s)
{
    SchedAssignment a;
    while (sched_core_assign(s->core, &a)) {
        SimWorker *w = &s->w[a.worker];
        CHECK(!w->busy, "worker %d got a run while busy", a.worker);
        CHECK(!w->lost, "worker %d got a run after it was lost", a.worker);
        *w = (SimWorker){.busy = 1, .run = a.run, .epochs = a.sr->config.epochs,
                         .acc = s->accuracy ? s->accuracy(a.sr) : sim_accuracy(a.sr),
                         .n_decide = a.n_decide, .decide = a.decide, .lost = w->lost};
        s->order[s->n_assigned++] = a.run;
    }
}

/* One epoch of worker i's run (epoch 0 first); its result after the last
 * one or after a STOP verdict. */
static void step(Sim *s, int i)
{
    SimWorker *w = &s->w[i];
    if (s->fails && w->epoch == 0 && s->fails(sched_core_run(s->core, w->run))) {
        RunSummary r;
        run_summary_init(&r, RUN_FAILED);
        run_summary_message(&r, "simulated failure");
        w->busy = 0;
        sched_core_on_result(s->core, i, &r, NULL);
        drain(s);
        return;
    }
    if (w->epoch <= w->epochs && !w->stop_early) {
        EpochMetrics m = {.epoch = w->epoch};
        m.test_accuracy = m.val_accuracy = w->acc * (w->epoch + 1) / (w->epochs + 1);
        m.top_accuracy = m.test_accuracy;
        SchedVerdict v = sched_core_on_epoch(s->core, i, &m);
        int decision = 0; /* the driver knows the decision epochs from the assignment */
        for (int k = 0; k < w->n_decide; k++) decision |= w->decide[k] == w->epoch;
        CHECK(decision == (v != SCHED_NO_VERDICT), "epoch %d: verdict %d, decision epoch %d",
              w->epoch, (int)v, decision);
        if (v == SCHED_STOP_RUN && w->epoch < w->epochs)
            w->stop_early = 1; /* a verdict after the last epoch changes nothing */
        w->epoch++;
        return;
    }
    RunSummary r;
    run_summary_init(&r, w->stop_early ? RUN_STOPPED : RUN_DONE);
    r.epochs_done = w->epoch - 1;
    r.best_epoch = w->epoch - 1;
    r.best_test_accuracy = r.best_val_accuracy = w->acc * w->epoch / (w->epochs + 1);
    r.n_state = 1;
    float weight = 1.0f;
    w->busy = 0;
    sched_core_on_result(s->core, i, &r, &weight);
    drain(s);
}

/* Interrupts worker i's run (it reports `interrupted`), as a cancel does. */
static void cancel(Sim *s, int i)
{
    SimWorker *w = &s->w[i];
    RunSummary r;
    run_summary_init(&r, RUN_INTERRUPTED);
    r.epochs_done = w->epoch > 0 ? w->epoch - 1 : 0;
    run_summary_message(&r, "stopped in epoch %d", w->epoch);
    w->busy = 0;
    sched_core_on_result(s->core, i, &r, NULL);
}

static void sim_init(Sim *s, SweepSet *set, Mem *mem, int n_workers, uint64_t seed, int gpus)
{
    memset(s, 0, sizeof *s);
    SchedSink sink = {.self = mem, .started = mem_started, .epoch = mem_epoch,
                      .finished = mem_finished, .added = mem_added};
    SchedOptions opt = {.n_workers = n_workers};
    s->core = sched_core_create(set, &sink, &opt);
    s->n_workers = n_workers;
    s->w = calloc((size_t)n_workers, sizeof *s->w);
    s->rng = seed | 1;
    for (int i = 0; i < n_workers; i++) {
        SchedWorkerInfo info = {.rank = i + 1, .ok = 1, .gpu = i < gpus};
        snprintf(info.host, sizeof info.host, "node%d", i / 4);
        snprintf(info.device, sizeof info.device, i < gpus ? "cuda:%d" : "cpu", i % 4);
        sched_core_worker(s->core, i, &info);
    }
}

static void sim_free(Sim *s)
{
    sched_core_free(s->core);
    free(s->w);
}

/* Steps random busy workers until the core says it is finished. Returns
 * the number of steps. */
static long run_to_end(Sim *s)
{
    long steps = 0;
    drain(s);
    while (!sched_core_finished(s->core)) {
        int busy = 0;
        for (int i = 0; i < s->n_workers; i++) busy += s->w[i].busy;
        if (!busy) {
            CHECK(busy, "the core is not finished but no worker is busy");
            break;
        }
        int k = (int)(next_rand(&s->rng) % (uint64_t)busy);
        for (int i = 0; i < s->n_workers; i++)
            if (s->w[i].busy && k-- == 0) {
                step(s, i);
                break;
            }
        steps++;
    }
    return steps;
}

static void load(SweepSet *set, const char *yaml)
{
    NnError err = {{0}};
    memset(set, 0, sizeof *set);
    NnStatus st = sweep_load_text(set, yaml, strlen(yaml), "test.yaml", NULL, NULL, &err);
    CHECK(st == NN_OK, "load: %s", err.msg);
}


/* Frees what the sink recorded. */
static void mem_free(Mem *m)
{
    for (int i = 0; i < m->n; i++) {
        free(m->recs[i].json);
        free(m->recs[i].rows);
    }
    free(m);
}

#endif
