/* test_sched_search.c - the scheduler core with the sweep module's own
 * search strategies and stopping rule (no MPI, no files: the fake driver
 * of sched_sim.h). Checks: a bayes sweep with several workers adds every
 * run once (SchedSink.added before it starts), never proposes a config
 * twice, stops at run_cap, and is reproducible; a resume adopts the file's
 * runs and proposes what the uninterrupted session proposed; unfinished
 * adopted runs go out again first; a file's run that the sweep cannot make
 * is refused; random without run_cap ends at metric.target; runs that keep
 * failing end a search; hyperband decides as W&B's hyperband_stopping.py
 * (its own doctest), ends runs `stopped` at its rungs only, and counts a
 * resumed file's runs. */
#include "sched_sim.h"

/* A learnable function of the config: the best learning rate is 0.02 on a
 * log scale, wide layers help a little. */
static double smooth_accuracy(const SweepRun *r)
{
    double d = log10(r->config.learning_rate / 0.02);
    return 0.8 - 0.2 * d * d + 0.0001 * r->config.hidden_layers[0];
}

static const char *bayes_doc =
    "name: b\n"
    "method: bayes\n"
    "run_cap: 16\n"
    "metric: {name: test_accuracy, goal: maximize}\n"
    "parameters:\n"
    "  learning_rate: {distribution: log_uniform_values, min: 0.0001, max: 1}\n"
    "  hidden_layers: {values: [[8], [16], [32]]}\n"
    "  epochs: {value: 3}\n"
    "  train_images: {value: 100}\n";

/* The ids the sweep handed out, in order, into ids (room for n). */
static int handed_ids(const Sim *s, char (*ids)[13], int n)
{
    int k = 0;
    for (int i = 0; i < s->n_assigned && k < n; i++)
        snprintf(ids[k++], 13, "%s", sched_core_run(s->core, s->order[i])->id);
    return k;
}

static void test_bayes_session(void)
{
    char first[16][13], again[16][13];
    for (int rep = 0; rep < 2; rep++) {
        SweepSet set;
        load(&set, bayes_doc);
        Mem *mem = calloc(1, sizeof *mem);
        Sim s;
        sim_init(&s, &set, mem, 3, 99, 0);
        s.accuracy = smooth_accuracy;
        SchedPlan plan;
        NnError err = {{0}};
        CHECK(sched_core_reconcile(s.core, NULL, 0, NULL, 0, 0, "", &plan, &err) == NN_OK, "%s",
              err.msg);
        sched_plan_free(&plan);
        drain(&s);
        if (rep == 0) { /* the progress line counts the runs bayes will still propose */
            char *text = NULL;
            size_t size = 0;
            FILE *out = open_memstream(&text, &size);
            SchedOptions o = {.n_workers = 3, .progress = out};
            SchedCore *probe = sched_core_create(&set, NULL, &o);
            sched_core_progress(probe, 1);
            sched_core_free(probe);
            fclose(out);
            CHECK(text && strstr(text, "[nnsweep] 0/16 runs done"), "progress: %s", text);
            free(text);
        }
        run_to_end(&s);
        const Sweep *sw = &set.sweeps[0];
        CHECK(sw->n_runs == 16 && mem->n == 16, "run_cap 16: %d runs, %d recorded", sw->n_runs,
              mem->n);
        for (int i = 0; i < mem->n; i++) {
            const Rec *r = &mem->recs[i];
            CHECK(r->added == 1 && r->started == 1 && r->finished == 1 && r->status == RUN_DONE,
                  "run %s: added %d started %d finished %d", r->id, r->added, r->started,
                  r->finished);
            for (int j = 0; j < i; j++)
                CHECK(strcmp(mem->recs[j].json, r->json) != 0, "config proposed twice: %s",
                      r->json);
        }
        handed_ids(&s, rep ? again : first, 16);
        double best;
        int b = sched_core_best(s.core, &best);
        CHECK(b >= 0 && best > 0.75, "bayes found %g (0.80 at lr 0.02)", best);
        sim_free(&s);
        mem_free(mem);
        sweep_set_free(&set);
    }
    for (int i = 0; i < 16; i++)
        CHECK(!strcmp(first[i], again[i]), "hand-out %d differs between identical sessions", i);
}

/* The prior of every finished run the sink recorded, in hand-out order. */
static int priors_of(const Mem *mem, const Sim *s, SchedPrior *prior)
{
    int n = 0;
    for (int i = 0; i < s->n_assigned; i++) {
        const SweepRun *sr = sched_core_run(s->core, s->order[i]);
        for (int j = 0; j < mem->n; j++) {
            const Rec *r = &mem->recs[j];
            if (strcmp(r->id, sr->id) != 0) continue;
            prior[n] = (SchedPrior){.run_id = r->id, .sweep = sched_core_run_sweep(s->core,
                                    s->order[i])->name, .summary = r->summary,
                                    .config_json = r->json, .metrics = r->rows,
                                    .n_metrics = (size_t)r->n_epochs};
            if (!r->finished) run_summary_init(&prior[n].summary, RUN_RUNNING);
            n++;
        }
    }
    return n;
}

/* One worker: stop after 10 runs, resume from what the sink recorded; the
 * runs after the resume are those of an uninterrupted session. */
static void test_bayes_resume(void)
{
    char whole[16][13];
    SweepSet set;
    load(&set, bayes_doc);
    Mem *mem = calloc(1, sizeof *mem);
    Sim s;
    sim_init(&s, &set, mem, 1, 5, 0);
    s.accuracy = smooth_accuracy;
    run_to_end(&s);
    CHECK(handed_ids(&s, whole, 16) == 16, "the uninterrupted session ran 16 runs");
    sim_free(&s);
    mem_free(mem);
    sweep_set_free(&set);

    /* a session that stops with run 10 in flight (interrupted) */
    load(&set, bayes_doc);
    mem = calloc(1, sizeof *mem);
    sim_init(&s, &set, mem, 1, 5, 0);
    s.accuracy = smooth_accuracy;
    drain(&s);
    while (mem->n_finished < 9) step(&s, 0);
    step(&s, 0); /* run 10: epoch 0 */
    sched_core_stop(s.core, 15);
    cancel(&s, 0);
    CHECK(sched_core_finished(s.core), "stopped");
    SchedPrior prior[32];
    int n_prior = priors_of(mem, &s, prior);
    CHECK(n_prior == 10, "10 runs in the file, %d", n_prior);

    SweepSet set2;
    load(&set2, bayes_doc);
    Mem *mem2 = calloc(1, sizeof *mem2);
    Sim s2;
    sim_init(&s2, &set2, mem2, 1, 5, 0);
    s2.accuracy = smooth_accuracy;
    const SchedFileSweep names[] = {{"b", "test_accuracy", "maximize"}};
    SchedPlan plan;
    NnError err = {{0}};
    CHECK(sched_core_reconcile(s2.core, names, 1, prior, (size_t)n_prior, 1, "out.h5", &plan,
                               &err) == NN_OK, "resume: %s", err.msg);
    CHECK(plan.n_reset == 1 && plan.n_new_sweeps == 0 && plan.n_new_runs == 0,
          "resume plan: %d reset, %d new sweeps, %d new runs", plan.n_reset, plan.n_new_sweeps,
          plan.n_new_runs);
    sched_plan_free(&plan);
    SchedCounts c;
    sched_core_counts(s2.core, &c);
    CHECK(c.n_skipped == 9 && set2.sweeps[0].n_runs == 10, "adopted: %d skipped, %d runs",
          c.n_skipped, set2.sweeps[0].n_runs);
    run_to_end(&s2);
    char after[16][13];
    int n_after = handed_ids(&s2, after, 16);
    CHECK(n_after == 7, "7 runs after the resume (the interrupted one again + 6), %d", n_after);
    for (int i = 0; i < n_after; i++)
        CHECK(!strcmp(after[i], whole[9 + i]), "run %d after the resume is %s, the uninterrupted "
              "session's was %s", 10 + i, after[i], whole[9 + i]);
    for (int i = 0; i < mem2->n; i++)
        CHECK(mem2->recs[i].added == (i > 0), "run %s: added %d times (the adopted one: 0)",
              mem2->recs[i].id, mem2->recs[i].added);
    sim_free(&s2);
    mem_free(mem2);
    sweep_set_free(&set2);

    /* a file's run that the sweep cannot make: refused, naming it */
    SweepSet set3;
    load(&set3, bayes_doc);
    Sim s3;
    Mem *mem3 = calloc(1, sizeof *mem3);
    sim_init(&s3, &set3, mem3, 1, 5, 0);
    char *json = strdup(prior[0].config_json);
    char *at = strstr(json, "\"epochs\":3");
    CHECK(at != NULL, "epochs in the JSON");
    if (at) at[9] = '4';
    prior[0].config_json = json;
    CHECK(sched_core_reconcile(s3.core, names, 1, prior, (size_t)n_prior, 1, "out.h5", &plan,
                               &err) == NN_ERR_INPUT && strstr(err.msg, "differs from the one in "
                               "out.h5") && strstr(err.msg, "epochs is 4"), "%s", err.msg);
    free(json);
    sim_free(&s3);
    mem_free(mem3);
    sweep_set_free(&set3);
    sim_free(&s);
    mem_free(mem);
    sweep_set_free(&set);
}

/* random without run_cap: runs until a run reaches metric.target. */
static void test_target(void)
{
    SweepSet set;
    load(&set, "name: r\nmethod: random\nmetric: {name: test_accuracy, goal: maximize, "
               "target: 0.78}\nparameters:\n  learning_rate: {distribution: log_uniform_values, "
               "min: 0.001, max: 0.5}\n  epochs: {value: 2}\n  hidden_layers: {value: [8]}\n"
               "  train_images: {value: 100}\n");
    Mem *mem = calloc(1, sizeof *mem);
    Sim s;
    sim_init(&s, &set, mem, 2, 3, 0);
    s.accuracy = smooth_accuracy;
    char *text = NULL;
    size_t size = 0;
    FILE *progress = open_memstream(&text, &size);
    SchedOptions opt = {.n_workers = 2, .progress = progress, .progress_seconds = 1e9};
    sched_core_free(s.core);
    SchedSink sink = {.self = mem, .started = mem_started, .epoch = mem_epoch,
                      .finished = mem_finished, .added = mem_added};
    s.core = sched_core_create(&set, &sink, &opt);
    for (int i = 0; i < 2; i++) {
        SchedWorkerInfo info = {.rank = i + 1, .ok = 1};
        snprintf(info.device, sizeof info.device, "cpu");
        sched_core_worker(s.core, i, &info);
    }
    run_to_end(&s);
    fclose(progress);
    /* the run that reached 0.78 (the final epoch's 2/3 of its accuracy does
     * not: the last epoch does) ends the sweep; the other worker's run ends */
    int reached = 0;
    for (int i = 0; i < mem->n; i++) {
        const Rec *r = &mem->recs[i];
        reached += r->summary.best_test_accuracy >= 0.78;
    }
    CHECK(reached >= 1 && mem->n < 200, "%d runs, %d reached the target", mem->n, reached);
    CHECK(text && strstr(text, "[nnsweep] sweep r: run ") && strstr(text, "reached the target "
          "test_accuracy"), "target notice: %s", text ? text : "(none)");
    /* nothing was handed out after the target was reached but for the run
     * the other worker had then */
    int last_reach = 0;
    for (int i = 0; i < mem->n; i++)
        if (mem->recs[i].summary.best_test_accuracy >= 0.78 &&
            (last_reach == 0 || mem->recs[i].order < last_reach))
            last_reach = mem->recs[i].order;
    CHECK(mem->n_finished <= last_reach + 1, "%d runs finished, the target at run %d",
          mem->n_finished, last_reach);
    free(text);
    sim_free(&s);
    mem_free(mem);
    sweep_set_free(&set);
}

static int always(const SweepRun *r)
{
    (void)r;
    return 1;
}

/* Every run fails: a bayes sweep without run_cap ends after 20. */
static void test_failing(void)
{
    SweepSet set;
    load(&set, "name: f\nmethod: bayes\nmetric: {name: val_loss}\nparameters:\n"
               "  learning_rate: {distribution: log_uniform_values, min: 0.001, max: 0.5}\n"
               "  val_split: {value: 100}\n  epochs: {value: 2}\n  train_images: {value: 200}\n");
    Mem *mem = calloc(1, sizeof *mem);
    Sim s;
    sim_init(&s, &set, mem, 2, 7, 0);
    s.fails = always;
    run_to_end(&s);
    CHECK(sched_core_finished(s.core) && mem->n >= SWEEP_FAILED_IN_ROW &&
              mem->n <= SWEEP_FAILED_IN_ROW + 1,
          "%d runs before the failing search ended", mem->n);
    const SweepStrategy *st = set.sweeps[0].strategy;
    const char *why = st->why_done((SweepStrategy *)st);
    CHECK(why && strstr(why, "runs failed"), "why: %s", why ? why : "(none)");
    sim_free(&s);
    mem_free(mem);
    sweep_set_free(&set);
}

/* Accuracy rises with the learning rate up to a cliff at 0.05, past which
 * runs fail: with W&B's impute (worst) the search learns the cliff. */
static int past_cliff(const SweepRun *r) { return r->config.learning_rate > 0.05; }

static double up_to_cliff(const SweepRun *r)
{
    return 0.5 + 0.1 * log10(r->config.learning_rate / 0.001);
}

static void test_impute(void)
{
    SweepSet set;
    load(&set, "name: c\nmethod: bayes\nrun_cap: 40\nmetric: {name: test_accuracy, goal: "
               "maximize}\nparameters:\n  learning_rate: {distribution: log_uniform_values, min: "
               "0.001, max: 1}\n  epochs: {value: 2}\n  hidden_layers: {value: [8]}\n"
               "  train_images: {value: 100}\n");
    Mem *mem = calloc(1, sizeof *mem);
    Sim s;
    sim_init(&s, &set, mem, 1, 11, 0);
    s.accuracy = up_to_cliff;
    s.fails = past_cliff;
    run_to_end(&s);
    /* after the design (5 runs), the failing region is 43% of the log range */
    int failed = 0, later = 0, near = 0;
    for (int i = 5; i < s.n_assigned; i++) {
        const SweepRun *r = sched_core_run(s.core, s.order[i]);
        failed += past_cliff(r);
        near += r->config.learning_rate > 0.02 && !past_cliff(r);
        later++;
    }
    CHECK(later == 35 && failed <= 10 && near >= 10,
          "%d of %d proposals after the design failed, %d in (0.02, 0.05]: the search does not "
          "learn the cliff", failed, later, near);
    sim_free(&s);
    mem_free(mem);
    sweep_set_free(&set);
}

/* W&B's hyperband_stop_runs doctest: max_iter 5, eta 2, s 2 (rungs 1, 2),
 * loss minimized; a and e finished, b, c, d running. b stops at rung 2; c
 * (8 at rung 2, not above the threshold 8) and d go on. */
static void test_hyperband_wandb(void)
{
    SweepSet set;
    load(&set, "name: h\nmethod: grid\nmetric: {name: test_loss, goal: minimize}\n"
               "early_terminate: {type: hyperband, max_iter: 5, eta: 2, s: 2, strict: true}\n"
               "parameters:\n  learning_rate: {values: [0.1, 0.2, 0.3, 0.4, 0.5]}\n"
               "  epochs: {value: 5}\n");
    Sweep *sw = &set.sweeps[0];
    SweepStopRule *rule = sw->stop;
    CHECK(rule && rule->n_epochs == 2 && rule->epochs[0] == 1 && rule->epochs[1] == 2,
          "rungs of max_iter 5, eta 2, s 2: %d", rule ? rule->n_epochs : -1);
    if (!rule || rule->n_epochs != 2) return;
    const double h[5][3] = {{10, 9, NAN}, {10, 10, NAN}, {10, 8, 8}, {10, 7, 7}, {10, 6, 6}};
    for (int r = 0; r < 5; r++)
        for (int e = 0; e < 3; e++)
            if (!isnan(h[r][e])) rule->observe(rule, sw, r, e + 1, h[r][e]);
    CHECK(rule->decide(rule, sw, 1, 2, 10), "b: 10 at rung 2 is above the threshold 8: stop");
    CHECK(!rule->decide(rule, sw, 2, 2, 8), "c: 8 at rung 2 is the threshold: go on");
    CHECK(!rule->decide(rule, sw, 3, 2, 7), "d: go on");
    CHECK(!rule->decide(rule, sw, 1, 1, 10), "rung 1: every run 10 = the threshold: go on");
    sweep_set_free(&set);

    /* not strict: the best value so far counts */
    load(&set, "name: h\nmethod: grid\nmetric: {name: test_accuracy, goal: maximize}\n"
               "early_terminate: {type: hyperband, min_iter: 2, eta: 2, strict: false}\n"
               "parameters:\n  learning_rate: {values: [0.1, 0.2, 0.3]}\n  epochs: {value: 9}\n");
    sw = &set.sweeps[0];
    rule = sw->stop;
    CHECK(rule && rule->n_epochs == 3 && rule->epochs[0] == 2 && rule->epochs[2] == 8,
          "min_iter 2, eta 2, runs of 9 epochs: rungs 2, 4, 8 (%d)", rule ? rule->n_epochs : -1);
    if (rule) {
        rule->observe(rule, sw, 0, 1, 0.5);
        rule->observe(rule, sw, 0, 2, 0.5);
        rule->observe(rule, sw, 1, 1, 0.9);
        rule->observe(rule, sw, 1, 2, 0.3);
        rule->observe(rule, sw, 2, 1, 0.2);
        rule->observe(rule, sw, 2, 2, 0.4);
        /* rung 2 (maximize): 0.5, 0.3, 0.4 -> threshold at index int(3/2) = 1 of
         * (-0.5, -0.4, -0.3): -0.4; run 1's best so far 0.9 passes, run 2's
         * best 0.4 is the threshold, strictly above stops: run 2 goes on */
        CHECK(!rule->decide(rule, sw, 1, 2, 0.3), "not strict: run 1's best 0.9 goes on");
        CHECK(!rule->decide(rule, sw, 2, 2, 0.4), "run 2 at the threshold goes on");
        rule->observe(rule, sw, 3, 1, 0.1);
        rule->observe(rule, sw, 3, 2, 0.1);
        CHECK(rule->decide(rule, sw, 3, 2, 0.1), "run 3 (best 0.1) stops");
    }
    sweep_set_free(&set);
}

/* Hyperband through the core: stopped runs end at a rung, and a resumed
 * file's finished runs count for the thresholds. */
static void test_hyperband_core(void)
{
    static const char *doc =
        "name: g\nmethod: grid\nmetric: {name: test_accuracy, goal: maximize}\n"
        "early_terminate: {type: hyperband, min_iter: 1, eta: 3}\n"
        "parameters:\n  learning_rate: {values: [0.3, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, "
        "0.001, 0.0005]}\n  epochs: {value: 9}\n  hidden_layers: {value: [8]}\n"
        "  train_images: {value: 100}\n";
    SweepSet set;
    load(&set, doc);
    Mem *mem = calloc(1, sizeof *mem);
    Sim s;
    sim_init(&s, &set, mem, 1, 3, 0);
    s.accuracy = smooth_accuracy;
    run_to_end(&s);
    SchedCounts n;
    sched_core_counts(s.core, &n);
    CHECK(n.by_status[RUN_STOPPED] >= 3 && n.by_status[RUN_DONE] >= 2,
          "stopped %d, done %d", n.by_status[RUN_STOPPED], n.by_status[RUN_DONE]);
    for (int i = 0; i < mem->n; i++)
        if (mem->recs[i].status == RUN_STOPPED)
            CHECK(mem->recs[i].last_epoch == 1 || mem->recs[i].last_epoch == 3,
                  "run %s stopped after epoch %d, not a rung", mem->recs[i].id,
                  mem->recs[i].last_epoch);
    sim_free(&s);

    /* a resume where the file has the three best runs finished and the
     * others pending: the first run handed out (lr 0.3) is compared at
     * rung 1 with the file's three and stopped there */
    SweepSet set2;
    load(&set2, doc);
    SchedPrior prior[9];
    memset(prior, 0, sizeof prior);
    for (int j = 0; j < 9; j++) {
        const SweepRun *sr = &set2.sweeps[0].runs[j];
        const Rec *rec = NULL;
        for (int i = 0; i < mem->n; i++)
            if (!strcmp(mem->recs[i].id, sr->id)) rec = &mem->recs[i];
        CHECK(rec != NULL, "run %s recorded", sr->id);
        if (!rec) return;
        double lr = sr->config.learning_rate;
        prior[j].run_id = rec->id;
        prior[j].sweep = "g";
        if (lr == 0.05 || lr == 0.02 || lr == 0.01) {
            prior[j].summary = rec->summary;
            prior[j].metrics = rec->rows;
            prior[j].n_metrics = (size_t)rec->n_epochs;
        } else {
            run_summary_init(&prior[j].summary, RUN_PENDING);
        }
    }
    Mem *mem2 = calloc(1, sizeof *mem2);
    Sim s2;
    sim_init(&s2, &set2, mem2, 1, 3, 0);
    s2.accuracy = smooth_accuracy;
    const SchedFileSweep names[] = {{"g", "test_accuracy", "maximize"}};
    SchedPlan plan;
    NnError err = {{0}};
    CHECK(sched_core_reconcile(s2.core, names, 1, prior, 9, 1, "out.h5", &plan, &err) == NN_OK,
          "%s", err.msg);
    CHECK(plan.n_reset == 6, "%d runs reset", plan.n_reset);
    sched_plan_free(&plan);
    run_to_end(&s2);
    const SweepRun *first = sched_core_run(s2.core, s2.order[0]);
    const Rec *r0 = rec_of(mem2, first->id);
    CHECK(first->config.learning_rate == 0.3 && r0->status == RUN_STOPPED && r0->last_epoch == 1,
          "the first run after the resume (lr %g): %s after epoch %d, stopped after 1 expected",
          first->config.learning_rate, run_status_name(r0->status), r0->last_epoch);
    sim_free(&s2);
    mem_free(mem2);
    sweep_set_free(&set2);
    mem_free(mem);
    sweep_set_free(&set);
}

int main(void)
{
    test_bayes_session();
    test_bayes_resume();
    test_target();
    test_failing();
    test_impute();
    test_hyperband_wandb();
    test_hyperband_core();
    return check_exit_code();
}
