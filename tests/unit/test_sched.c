/* test_sched.c - the scheduler core (sched.h) driven by a fake driver: no
 * MPI, no files. Simulated workers train simulated runs one epoch per step
 * in a seeded random interleaving; a memory sink records what the core
 * writes. Checks: hand-out order (most expensive first across sweeps),
 * exactly once under random interleavings, resume (finished runs skipped,
 * unfinished reset, a differing sweep refused, open sweeps), interrupted
 * runs after a stop signal, a worker that dies, a sink error, device labels,
 * the best run, and the two questions the core asks a sweep: a fake search
 * strategy that adds runs as results come in (and waits for them), and a
 * fake stopping rule that ends runs at its decision epochs. */
#include <signal.h>

#include "sched_sim.h"

/* Two sweeps of different costs: epochs x training images set the cost. */
static const char *two_sweeps =
    "name: small\n"
    "method: grid\n"
    "parameters:\n"
    "  hidden_layers: {value: [16]}\n"
    "  learning_rate: {values: [0.01, 0.05, 0.1]}\n"
    "  epochs: {values: [2, 4]}\n"
    "  train_images: {value: 1000}\n"
    "---\n"
    "name: big\n"
    "method: grid\n"
    "parameters:\n"
    "  hidden_layers: {value: [64]}\n"
    "  learning_rate: {values: [0.02, 0.2]}\n"
    "  epochs: {value: 3}\n"
    "  train_images: {value: 1000}\n";

/* ---- ordering ------------------------------------------------------------------ */

static void test_order(void)
{
    SweepSet set;
    load(&set, two_sweeps);
    Mem *mem = calloc(1, sizeof *mem);
    Sim s;
    sim_init(&s, &set, mem, 1, 1, 0);
    run_to_end(&s);
    CHECK(s.n_assigned == 8, "%d runs handed out, 8 expected", s.n_assigned);
    for (int i = 1; i < s.n_assigned; i++) {
        const SweepRun *a = sched_core_run(s.core, s.order[i - 1]);
        const SweepRun *b = sched_core_run(s.core, s.order[i]);
        CHECK(a->cost > b->cost || (a->cost == b->cost && s.order[i - 1] < s.order[i]),
              "hand-out %d: cost %g then %g (runs %d, %d): not most expensive first", i, a->cost,
              b->cost, s.order[i - 1], s.order[i]);
    }
    /* the big sweep's runs (64 wide) cost more than every small one */
    CHECK(!strcmp(sched_core_run_sweep(s.core, s.order[0])->name, "big") &&
              !strcmp(sched_core_run_sweep(s.core, s.order[1])->name, "big"),
          "the big sweep's runs go first");
    sim_free(&s);
    mem_free(mem);
    sweep_set_free(&set);
}

/* ---- exactly once, random interleavings, the best run ----------------------------- */

static const char *grid_60 =
    "name: g\n"
    "method: grid\n"
    "parameters:\n"
    "  hidden_layers: {values: [[8], [16], [32]]}\n"
    "  learning_rate: {values: [0.01, 0.02, 0.05, 0.1, 0.2]}\n"
    "  epochs: {values: [1, 3, 5, 7]}\n"
    "  train_images: {value: 500}\n";

static void check_exactly_once(Mem *mem, const SweepSet *set, RunStatus want, const char *what)
{
    int n_runs = 0;
    for (int k = 0; k < set->n_sweeps; k++) n_runs += set->sweeps[k].n_runs;
    CHECK(mem->n == n_runs, "%s: %d runs recorded, %d in the set", what, mem->n, n_runs);
    for (int i = 0; i < mem->n; i++) {
        const Rec *r = &mem->recs[i];
        const SweepRun *sr = sweep_set_find_run(set, r->id, NULL);
        CHECK(sr != NULL, "%s: unknown run %s recorded", what, r->id);
        CHECK(r->started == 1 && r->finished == 1, "%s: run %s started %d, finished %d times",
              what, r->id, r->started, r->finished);
        CHECK(r->epochs_in_order, "%s: run %s: epochs out of order", what, r->id);
        if (sr && want == RUN_DONE)
            CHECK(r->n_epochs == sr->config.epochs + 1 && r->status == RUN_DONE,
                  "%s: run %s: %d epoch rows (%d expected), status %s", what, r->id, r->n_epochs,
                  sr->config.epochs + 1, run_status_name(r->status));
        CHECK(r->had_weights == (r->status == RUN_DONE || r->status == RUN_STOPPED),
              "%s: run %s: weights passed on %d", what, r->id, r->had_weights);
    }
}

static void test_exactly_once(void)
{
    int workers[] = {1, 2, 7, 64};
    for (int wi = 0; wi < 4; wi++) {
        for (uint64_t seed = 1; seed <= 5; seed++) {
            SweepSet set;
            load(&set, grid_60);
            Mem *mem = calloc(1, sizeof *mem);
            Sim s;
            sim_init(&s, &set, mem, workers[wi], seed * 7919, 0);
            run_to_end(&s);
            char what[64];
            snprintf(what, sizeof what, "%d workers, seed %d", workers[wi], (int)seed);
            check_exactly_once(mem, &set, RUN_DONE, what);
            SchedCounts n;
            sched_core_counts(s.core, &n);
            CHECK(n.n_finished == 60 && n.by_status[RUN_DONE] == 60 && n.n_running == 0 &&
                      n.n_todo == 60,
                  "%s: counts finished %d done %d running %d todo %d", what, n.n_finished,
                  n.by_status[RUN_DONE], n.n_running, n.n_todo);
            double best;
            int b = sched_core_best(s.core, &best);
            CHECK(b >= 0 && sched_core_run(s.core, b)->config.learning_rate == 0.05,
                  "%s: the best run has learning rate %g, 0.05 expected", what,
                  b >= 0 ? sched_core_run(s.core, b)->config.learning_rate : -1.0);
            sim_free(&s);
            mem_free(mem);
            sweep_set_free(&set);
        }
    }
}

/* ---- resume -------------------------------------------------------------------------- */

static void test_resume(void)
{
    SweepSet set;
    load(&set, two_sweeps);
    const Sweep *small = &set.sweeps[0];
    /* the file: small is there with runs 0,1 done, 2 interrupted, 3 running,
     * 4 failed, 5 pending; big is not */
    SchedPrior prior[6];
    memset(prior, 0, sizeof prior);
    RunStatus st[6] = {RUN_DONE, RUN_DONE, RUN_INTERRUPTED, RUN_RUNNING, RUN_FAILED, RUN_PENDING};
    for (int j = 0; j < 6; j++) {
        prior[j].run_id = small->runs[j].id;
        prior[j].sweep = "small";
        run_summary_init(&prior[j].summary, st[j]);
        prior[j].summary.best_epoch = 1;
        prior[j].summary.best_test_accuracy = 0.1 * j;
    }
    const SchedFileSweep names[] = {{"small", "test_accuracy", "maximize"}};
    Mem *mem = calloc(1, sizeof *mem);
    Sim s;
    NnError err = {{0}};
    SchedPlan plan;

    /* without --resume: refused, naming the sweep */
    sim_init(&s, &set, mem, 2, 3, 0);
    NnStatus r = sched_core_reconcile(s.core, names, 1, prior, 6, 0, "out.h5", &plan, &err);
    CHECK(r == NN_ERR_INPUT && strstr(err.msg, "sweep 'small' is already in out.h5") &&
              strstr(err.msg, "--resume"),
          "no --resume: %d %s", r, err.msg);
    sim_free(&s);

    /* with --resume: big is new, 3 runs of small reset, 3 finished */
    sim_init(&s, &set, mem, 2, 3, 0);
    r = sched_core_reconcile(s.core, names, 1, prior, 6, 1, "out.h5", &plan, &err);
    CHECK(r == NN_OK, "resume: %s", err.msg);
    CHECK(plan.n_new_sweeps == 1 && plan.new_sweeps[0] == 1, "new sweeps: %d", plan.n_new_sweeps);
    CHECK(plan.n_new_runs == 0, "new runs in existing sweeps: %d", plan.n_new_runs);
    CHECK(plan.n_reset == 3 && plan.reset[0][1] == 2 && plan.reset[1][1] == 3 &&
              plan.reset[2][1] == 5,
          "reset: %d runs", plan.n_reset);
    sched_plan_free(&plan);
    SchedCounts n;
    sched_core_counts(s.core, &n);
    CHECK(n.n_skipped == 3 && n.n_todo == 5, "skipped %d, todo %d", n.n_skipped, n.n_todo);
    double best;
    int b = sched_core_best(s.core, &best);
    CHECK(b >= 0 && fabs(best - 0.4) < 1e-12, "best from the file: %g (run 4, failed, 0.4)", best);
    run_to_end(&s);
    CHECK(mem->n == 5, "%d runs ran on resume, 5 expected", mem->n);
    for (int j = 0; j < 6; j++) {
        int ran = 0;
        for (int i = 0; i < mem->n; i++) ran |= !strcmp(mem->recs[i].id, small->runs[j].id);
        CHECK(ran == !run_status_is_final(st[j]), "run %d (%s in the file) ran %d", j,
              run_status_name(st[j]), ran);
    }
    sim_free(&s);

    /* a sweep file that differs from the file's sweep: refused, naming the run */
    sweep_set_free(&set);
    load(&set, two_sweeps);
    small = &set.sweeps[0];
    for (int j = 0; j < 6; j++) prior[j].run_id = small->runs[j].id;
    prior[5].run_id = "0123456789ab";
    sim_init(&s, &set, mem, 2, 3, 0);
    r = sched_core_reconcile(s.core, names, 1, prior, 6, 1, "out.h5", &plan, &err);
    CHECK(r == NN_ERR_INPUT && strstr(err.msg, "differs from the one in out.h5") &&
              strstr(err.msg, "0123456789ab"),
          "differing sweep: %s", err.msg);
    sim_free(&s);
    prior[5].run_id = small->runs[5].id;
    prior[4].run_id = small->runs[5].id; /* run 4 missing from the file */
    sim_init(&s, &set, mem, 2, 3, 0);
    r = sched_core_reconcile(s.core, names, 1, prior, 5, 1, "out.h5", &plan, &err);
    CHECK(r == NN_ERR_INPUT && strstr(err.msg, small->runs[4].id) &&
              strstr(err.msg, "learning_rate="),
          "missing run: %s", err.msg);
    sim_free(&s);

    /* an open sweep: the file's other runs are kept, new runs added, a run
     * already recorded finished is refused */
    set.sweeps[0].open = 1;
    prior[4].run_id = "fedcba987654"; /* a run of the file that this set lacks */
    sim_init(&s, &set, mem, 2, 3, 0);
    r = sched_core_reconcile(s.core, names, 1, prior + 2, 4, 0, "out.h5", &plan, &err);
    CHECK(r == NN_OK, "open sweep: %s", err.msg);
    CHECK(plan.n_new_runs == 3 && plan.n_reset == 3, "open sweep: %d new, %d reset",
          plan.n_new_runs, plan.n_reset);
    sched_plan_free(&plan);
    sim_free(&s);
    sim_init(&s, &set, mem, 2, 3, 0);
    r = sched_core_reconcile(s.core, names, 1, prior, 6, 0, "out.h5", &plan, &err);
    CHECK(r == NN_ERR_INPUT && strstr(err.msg, "already recorded") && strstr(err.msg, "done"),
          "open sweep, finished run: %s", err.msg);
    sim_free(&s);
    mem_free(mem);
    sweep_set_free(&set);
}

/* ---- a stop signal: interrupted runs ------------------------------------------------ */

static void test_signal(void)
{
    SweepSet set;
    load(&set, grid_60);
    Mem *mem = calloc(1, sizeof *mem);
    Sim s;
    sim_init(&s, &set, mem, 4, 11, 0);
    drain(&s);
    for (int i = 0; i < 40; i++) step(&s, i % 4); /* some runs end, others run */
    SchedCounts before;
    sched_core_counts(s.core, &before);
    sched_core_stop(s.core, SIGTERM);
    CHECK(sched_core_stopping(s.core) && sched_core_stop_signal(s.core) == SIGTERM,
          "stop signal kept: %d", sched_core_stop_signal(s.core));
    SchedAssignment a;
    CHECK(!sched_core_assign(s.core, &a), "no run is handed out after a stop");
    CHECK(!sched_core_finished(s.core), "not finished while runs are busy");
    int busy = 0;
    for (int i = 0; i < 4; i++)
        if (s.w[i].busy) {
            cancel(&s, i);
            busy++;
        }
    CHECK(busy == 4, "4 busy workers cancelled (%d)", busy);
    CHECK(sched_core_finished(s.core), "finished once the busy runs reported");
    SchedCounts n;
    sched_core_counts(s.core, &n);
    CHECK(n.by_status[RUN_INTERRUPTED] == 4 && n.n_finished == before.n_finished + 4 &&
              n.n_running == 0,
          "interrupted %d, finished %d (before %d)", n.by_status[RUN_INTERRUPTED], n.n_finished,
          before.n_finished);
    for (int i = 0; i < mem->n; i++)
        CHECK(mem->recs[i].started == 1 && mem->recs[i].finished == 1, "run %s: %d/%d",
              mem->recs[i].id, mem->recs[i].started, mem->recs[i].finished);
    CHECK(mem->n == before.n_finished + 4, "%d runs started, %d expected", mem->n,
          before.n_finished + 4);
    sim_free(&s);
    mem_free(mem);
    sweep_set_free(&set);
}

/* ---- a worker that dies ------------------------------------------------------------------ */

static void test_worker_lost(void)
{
    SweepSet set;
    load(&set, grid_60);
    Mem *mem = calloc(1, sizeof *mem);
    Sim s;
    sim_init(&s, &set, mem, 3, 5, 0);
    drain(&s);
    step(&s, 1);
    int lost_run = sched_core_worker_run(s.core, 1);
    CHECK(lost_run >= 0, "worker 1 has a run");
    sched_core_worker_lost(s.core, 1, "its process died");
    s.w[1].busy = 0;
    s.w[1].lost = 1;
    CHECK(sched_core_worker_run(s.core, 1) == -1, "the lost worker has no run");
    CHECK(sched_core_run_status(s.core, lost_run) == RUN_INTERRUPTED, "its run is interrupted");
    run_to_end(&s);
    SchedCounts n;
    sched_core_counts(s.core, &n);
    CHECK(n.by_status[RUN_INTERRUPTED] == 1 && n.by_status[RUN_DONE] == 59,
          "interrupted %d, done %d", n.by_status[RUN_INTERRUPTED], n.by_status[RUN_DONE]);
    check_exactly_once(mem, &set, RUN_STATUS_COUNT, "worker lost");
    int again = 0;
    for (int i = 0; i < s.n_assigned; i++) again += s.order[i] == lost_run;
    CHECK(again == 1, "the lost run was handed out %d times in the session", again);
    sim_free(&s);

    /* every worker lost: finished, nothing more handed out */
    sim_init(&s, &set, mem, 2, 5, 0);
    drain(&s);
    sched_core_worker_lost(s.core, 0, "gone");
    sched_core_worker_lost(s.core, 1, "gone");
    CHECK(sched_core_finished(s.core), "finished without workers");
    sim_free(&s);
    mem_free(mem);
    sweep_set_free(&set);
}

/* ---- a sink error ----------------------------------------------------------------------- */

static void test_sink_error(void)
{
    SweepSet set;
    load(&set, grid_60);
    Mem *mem = calloc(1, sizeof *mem);
    mem->fail_at_epoch_row = 10;
    Sim s;
    sim_init(&s, &set, mem, 2, 9, 0);
    run_to_end(&s);
    NnError err = {{0}};
    CHECK(sched_core_error(s.core, &err) == NN_ERR_IO && strstr(err.msg, "disk full"),
          "the sink's error is kept: %s", err.msg);
    CHECK(sched_core_stopping(s.core), "a sink error stops the sweep");
    SchedCounts n;
    sched_core_counts(s.core, &n);
    CHECK(n.n_finished <= 4 && n.n_running == 0, "finished %d after the error", n.n_finished);
    sim_free(&s);
    mem_free(mem);
    sweep_set_free(&set);
}

/* ---- device labels (the device policy, backend.h) ----------------------------------- */

static void test_devices(void)
{
    const char *want[2][3] = {{"cuda:0", "cpu", "cuda:0"}, {"cpu", "cpu", "cuda"}};
    for (int gpu = 0; gpu < 2; gpu++) {
        SweepSet set; /* a set's strategy hands each run out once: a new set per session */
        load(&set, "method: grid\nparameters:\n  device: {values: [auto, cpu, cuda]}\n"
                   "  epochs: {value: 1}\n  hidden_layers: {value: [8]}\n");
        Mem *mem = calloc(1, sizeof *mem);
        Sim s;
        sim_init(&s, &set, mem, 1, 1, gpu ? 0 : 1);
        run_to_end(&s);
        for (int j = 0; j < 3; j++) {
            Rec *r = rec_of(mem, set.sweeps[0].runs[j].id);
            CHECK(!strcmp(r->device, want[gpu][j]), "gpu worker %d, device %s: label %s, %s "
                  "expected", !gpu, j == 0 ? "auto" : j == 1 ? "cpu" : "cuda", r->device,
                  want[gpu][j]);
        }
        sim_free(&s);
        mem_free(mem);
        sweep_set_free(&set);
    }
}

/* ---- a fake search strategy: proposes runs as results come in -------------------------- */

typedef struct FakeSearch {
    SweepStrategy base;
    int proposed, results, max_runs, batch;
    int taken_pending; /* proposed run not yet taken: -1 none */
} FakeSearch;

/* Appends a copy of run 0 with another learning rate: a new run. */
static int fake_add_run(Sweep *sw, int k)
{
    RunConfig c = sw->runs[0].config;
    c.learning_rate = 0.001 * (k + 1);
    return sweep_add_run(sw, &c);
}

static SweepNext fake_peek(SweepStrategy *self, Sweep *sw, int *run)
{
    FakeSearch *f = (FakeSearch *)self;
    if (f->taken_pending >= 0) {
        *run = f->taken_pending;
        return SWEEP_NEXT_RUN;
    }
    if (f->proposed == f->max_runs) return SWEEP_NEXT_DONE;
    /* at most `batch` runs without a result: then it waits */
    if (f->proposed - f->results >= f->batch) return SWEEP_NEXT_WAIT;
    f->taken_pending = fake_add_run(sw, f->proposed);
    *run = f->taken_pending;
    return SWEEP_NEXT_RUN;
}

static void fake_take(SweepStrategy *self, Sweep *sw, int run)
{
    (void)sw;
    FakeSearch *f = (FakeSearch *)self;
    CHECK(run == f->taken_pending, "take %d, %d was peeked", run, f->taken_pending);
    f->taken_pending = -1;
    f->proposed++;
}

static void fake_result(SweepStrategy *self, Sweep *sw, int run, const RunSummary *s,
                        const SweepRunMetric *m)
{
    (void)sw, (void)run, (void)s, (void)m;
    ((FakeSearch *)self)->results++;
}

static void fake_destroy(SweepStrategy *self) { free(self); }

static void test_search_strategy(void)
{
    SweepSet set;
    load(&set, "name: s\nmethod: grid\nparameters:\n  epochs: {value: 2}\n"
               "  hidden_layers: {value: [8]}\n  train_images: {value: 100}\n");
    Sweep *sw = &set.sweeps[0];
    sw->strategy->destroy(sw->strategy);
    FakeSearch *f = calloc(1, sizeof *f);
    f->base = (SweepStrategy){.peek = fake_peek, .take = fake_take, .on_result = fake_result,
                              .destroy = fake_destroy};
    f->max_runs = 25;
    f->batch = 3;
    f->taken_pending = -1;
    sw->strategy = &f->base;
    /* run 0 is the template, never handed out by the fake: 26 runs in all */
    Mem *mem = calloc(1, sizeof *mem);
    Sim s;
    sim_init(&s, &set, mem, 8, 17, 0);
    drain(&s);
    CHECK(sched_core_n_running(s.core) == 3, "3 runs out (the strategy's batch), %d running",
          sched_core_n_running(s.core));
    run_to_end(&s);
    SchedCounts n;
    sched_core_counts(s.core, &n);
    CHECK(f->proposed == 25 && f->results == 25, "proposed %d, results %d", f->proposed,
          f->results);
    CHECK(n.by_status[RUN_DONE] == 25 && n.n_runs == 26, "done %d, runs %d",
          n.by_status[RUN_DONE], n.n_runs);
    for (int i = 0; i < mem->n; i++)
        CHECK(mem->recs[i].started == 1 && mem->recs[i].finished == 1, "run %s %d/%d",
              mem->recs[i].id, mem->recs[i].started, mem->recs[i].finished);
    sim_free(&s);
    mem_free(mem);

    /* a strategy that waits while nothing runs: finished, not stuck */
    f->max_runs = 30;
    f->batch = 0;
    mem = calloc(1, sizeof *mem);
    sim_init(&s, &set, mem, 2, 17, 0);
    drain(&s);
    CHECK(sched_core_finished(s.core), "waiting with nothing running is the end");
    sim_free(&s);
    mem_free(mem);
    sweep_set_free(&set);
}

/* ---- a fake stopping rule: at epochs 1 and 3, stops runs below a bar -------------------- */

typedef struct FakeStop {
    SweepStopRule base;
    int epochs[2];
    int n_asked;
    int asked_outside;
} FakeStop;

static int fake_decide(SweepStopRule *self, Sweep *sw, int run, int epoch, double value)
{
    FakeStop *f = (FakeStop *)self;
    f->n_asked++;
    if (epoch != 1 && epoch != 3) f->asked_outside++;
    /* runs whose learning rate is far from 0.05 look worse */
    (void)value;
    return fabs(sw->runs[run].config.learning_rate - 0.05) > 0.1;
}

static void fake_stop_destroy(SweepStopRule *self) { free(self); }

static void test_stop_rule(void)
{
    SweepSet set;
    load(&set, grid_60);
    Sweep *sw = &set.sweeps[0];
    FakeStop *f = calloc(1, sizeof *f);
    f->epochs[0] = 1;
    f->epochs[1] = 3;
    f->base = (SweepStopRule){.n_epochs = 2, .epochs = f->epochs, .decide = fake_decide,
                              .destroy = fake_stop_destroy};
    sw->stop = &f->base;
    Mem *mem = calloc(1, sizeof *mem);
    Sim s;
    sim_init(&s, &set, mem, 5, 23, 0);
    SchedAssignment a;
    int got = sched_core_assign(s.core, &a);
    CHECK(got && a.n_decide == 2 && a.decide[0] == 1 && a.decide[1] == 3,
          "the assignment carries the decision epochs (%d)", got ? a.n_decide : -1);
    if (got) {
        SimWorker *w = &s.w[a.worker];
        *w = (SimWorker){.busy = 1, .run = a.run, .epochs = a.sr->config.epochs,
                         .acc = sim_accuracy(a.sr), .n_decide = a.n_decide, .decide = a.decide};
    }
    run_to_end(&s);
    SchedCounts n;
    sched_core_counts(s.core, &n);
    /* learning rates 0.2 (far) stop at epoch 1 when they have one; 0.01,
     * 0.02, 0.05, 0.1 go on: 0.2 x 3 widths x epochs {3, 5, 7} = 9 stopped */
    CHECK(n.by_status[RUN_STOPPED] == 9 && n.by_status[RUN_DONE] == 51,
          "stopped %d, done %d", n.by_status[RUN_STOPPED], n.by_status[RUN_DONE]);
    CHECK(f->asked_outside == 0, "the rule was asked outside its epochs %d times",
          f->asked_outside);
    for (int i = 0; i < mem->n; i++) {
        const Rec *r = &mem->recs[i];
        const SweepRun *sr = sweep_set_find_run(&set, r->id, NULL);
        if (r->status == RUN_STOPPED)
            CHECK(r->n_epochs == 2, "stopped run %s has %d epoch rows (epochs 0, 1)", r->id,
                  r->n_epochs);
        else
            CHECK(r->n_epochs == sr->config.epochs + 1, "run %s: %d rows", r->id, r->n_epochs);
    }
    check_exactly_once(mem, &set, RUN_STATUS_COUNT, "stop rule");
    sim_free(&s);
    mem_free(mem);
    sweep_set_free(&set);
}

int main(void)
{
    test_order();
    test_exactly_once();
    test_resume();
    test_signal();
    test_worker_lost();
    test_sink_error();
    test_devices();
    test_search_strategy();
    test_stop_rule();
    return check_exit_code();
}
