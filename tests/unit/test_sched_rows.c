/* test_sched_rows.c - the scheduler core (sched.h) with program sweeps, no
 * MPI and no files: rows reach the sink in order, the stopping rule is
 * asked at the rows that carry the sweep metric (the k-th such row is its
 * "epoch" k) and only there, outputs reach the sink before the end, the
 * best run is taken by the program's best_value and goal, metric.target
 * ends a program sweep's hand-out, and the core fills best_step/best_value
 * for the built-in trainer's runs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "nnsweep/sched.h"

typedef struct Mem {
    int n_rows, n_batches;
    int64_t steps[256];
    int n_outputs;
    char outputs[256];
    int finished_after_outputs;
    RunSummary last;
    int n_finished;
} Mem;

static NnStatus mem_rows(void *self, const Sweep *sw, const SweepRun *r, const RunRow *rows,
                         int n, NnError *err)
{
    (void)sw, (void)r, (void)err;
    Mem *m = self;
    for (int i = 0; i < n; i++) {
        if (m->n_rows < 256) m->steps[m->n_rows] = rows[i].step;
        m->n_rows++;
    }
    m->n_batches++;
    return NN_OK;
}

static NnStatus mem_outputs(void *self, const Sweep *sw, const SweepRun *r, const char *json,
                            NnError *err)
{
    (void)sw, (void)r, (void)err;
    Mem *m = self;
    m->n_outputs++;
    snprintf(m->outputs, sizeof m->outputs, "%s", json);
    return NN_OK;
}

static NnStatus mem_finished(void *self, const Sweep *sw, const SweepRun *r, const RunSummary *s,
                             const float *best_state, NnError *err)
{
    (void)sw, (void)r, (void)best_state, (void)err;
    Mem *m = self;
    m->finished_after_outputs = m->n_outputs > 0;
    m->last = *s;
    m->n_finished++;
    return NN_OK;
}

/* A stopping rule that decides at points 2 and 4 and stops below 0.5; it
 * notes the points it is told of. */
typedef struct Rule {
    SweepStopRule base;
    int epochs[2];
    int asked[8];
    double values[8];
    int n_asked, n_observed, last_observed;
} Rule;

static void rule_observe(SweepStopRule *self, Sweep *sw, int run, int k, double value)
{
    (void)sw, (void)run, (void)value;
    Rule *r = (Rule *)self;
    r->n_observed++;
    r->last_observed = k;
}

static int rule_decide(SweepStopRule *self, Sweep *sw, int run, int k, double value)
{
    (void)sw, (void)run;
    Rule *r = (Rule *)self;
    if (r->n_asked < 8) {
        r->asked[r->n_asked] = k;
        r->values[r->n_asked] = value;
    }
    r->n_asked++;
    return value < 0.5;
}

static void rule_destroy(SweepStopRule *self) { free(self); }

static char dir[128];

static void load(SweepSet *set, const char *yaml)
{
    char file[256];
    snprintf(file, sizeof file, "%s/s.yaml", dir);
    NnError err;
    memset(set, 0, sizeof *set);
    NnStatus st = sweep_load_text(set, yaml, strlen(yaml), file, NULL, NULL, &err);
    CHECK(st == NN_OK, "%s", err.msg);
}

static SchedVerdict row(SchedCore *c, int64_t step, const char *name, double v)
{
    const char *names[2] = {"other", name};
    double values[2] = {1, v};
    RunRow r = {.step = step, .n = 2, .names = names, .values = values};
    return sched_core_on_rows(c, 0, &r, 1);
}

static void test_rows(void)
{
    SweepSet set;
    load(&set, "program: p.py\nmethod: grid\nmetric: {name: acc, goal: maximize}\n"
               "parameters:\n  x: {values: [1, 2]}\n");
    if (set.n_sweeps != 1) return;
    Sweep *sw = &set.sweeps[0];
    CHECK(sw->program && !strcmp(sweep_metric_label(sw), "acc") && sw->n_runs == 2,
          "a program sweep of 2 runs");
    Rule *rule = calloc(1, sizeof *rule);
    rule->epochs[0] = 2;
    rule->epochs[1] = 4;
    rule->base = (SweepStopRule){.n_epochs = 2, .epochs = rule->epochs, .decide = rule_decide,
                                 .destroy = rule_destroy, .observe = rule_observe};
    sw->stop = &rule->base;
    Mem mem = {0};
    SchedSink sink = {.self = &mem, .finished = mem_finished, .rows = mem_rows,
                      .outputs = mem_outputs};
    SchedOptions opt = {.n_workers = 1};
    SchedCore *c = sched_core_create(&set, &sink, &opt);
    SchedPlan plan;
    NnError err;
    CHECK(sched_core_reconcile(c, NULL, 0, NULL, 0, 0, "", &plan, &err) == NN_OK, "%s", err.msg);
    sched_plan_free(&plan);
    SchedWorkerInfo w = {.host = "h", .ok = 1};
    sched_core_worker(c, 0, &w);

    SchedAssignment a;
    CHECK(sched_core_assign(c, &a) && a.n_decide == 2, "assigned with 2 decision points");
    /* rows without the metric, or with NaN, are not decision points */
    CHECK(row(c, 0, "acc", 0.9) == SCHED_NO_VERDICT, "the first metric row is point 1");
    CHECK(row(c, 1, "loss", 0.1) == SCHED_NO_VERDICT, "a row without the metric");
    CHECK(row(c, 2, "acc", NAN) == SCHED_NO_VERDICT, "a NaN metric");
    CHECK(row(c, 7, "acc", 0.8) == SCHED_GO_ON, "the second is decision point 2");
    CHECK(row(c, 8, "acc", 0.7) == SCHED_NO_VERDICT, "point 3");
    CHECK(row(c, 9, "acc", 0.4) == SCHED_STOP_RUN, "point 4: below 0.5 stops");
    CHECK(rule->n_asked == 2 && rule->asked[0] == 2 && rule->asked[1] == 4 &&
              rule->values[1] == 0.4, "asked %d times", rule->n_asked);
    CHECK(rule->n_observed == 4 && rule->last_observed == 4, "told of %d points",
          rule->n_observed);
    CHECK(mem.n_rows == 6 && mem.steps[3] == 7 && mem.steps[5] == 9, "%d rows reached the sink",
          mem.n_rows);
    sched_core_on_outputs(c, 0, "{\"summary\": {}}");
    RunSummary s;
    run_summary_init(&s, RUN_STOPPED);
    s.best_step = 0;
    s.best_value = 0.9;
    sched_core_on_result(c, 0, &s, NULL);
    CHECK(mem.finished_after_outputs && !strcmp(mem.outputs, "{\"summary\": {}}"),
          "outputs before the end");
    CHECK(mem.last.best_step == 0 && mem.last.best_value == 0.9, "the program's best kept");
    double best;
    CHECK(sched_core_best(c, &best) == a.run && best == 0.9, "best by best_value");

    /* the second run: decision points count again from 0; a batch of rows
     * is one sink call, asked at each point in it */
    CHECK(sched_core_assign(c, &a), "the second run");
    const char *names[1] = {"acc"};
    double v[4] = {0.95, 0.96, 0.97, 0.98};
    RunRow batch[4];
    for (int i = 0; i < 4; i++) batch[i] = (RunRow){i, 1, names, &v[i]};
    int before = mem.n_batches, asked = rule->n_asked;
    CHECK(sched_core_on_rows(c, 0, batch, 4) == SCHED_GO_ON, "a batch with points 2 and 4");
    CHECK(mem.n_batches == before + 1 && rule->n_asked == asked + 2,
          "one sink call (%d), asked twice (%d)", mem.n_batches - before, rule->n_asked - asked);
    run_summary_init(&s, RUN_DONE);
    s.best_step = 1;
    s.best_value = 0.96;
    sched_core_on_result(c, 0, &s, NULL);
    CHECK(sched_core_best(c, &best) == a.run && best == 0.96, "the better run is best");
    CHECK(sched_core_finished(c), "finished");
    sched_core_free(c);
    sweep_set_free(&set);
}

/* metric.target: a program's row that reaches it ends the sweep's hand-out. */
static void test_target(void)
{
    SweepSet set;
    load(&set, "program: p.py\nmethod: grid\nmetric: {name: acc, goal: maximize, target: 0.9}\n"
               "parameters:\n  x: {values: [1, 2, 3]}\n");
    if (set.n_sweeps != 1) return;
    CHECK(set.sweeps[0].target == 0.9, "target %g", set.sweeps[0].target);
    Mem mem = {0};
    SchedSink sink = {.self = &mem, .finished = mem_finished, .rows = mem_rows};
    SchedOptions opt = {.n_workers = 1};
    SchedCore *c = sched_core_create(&set, &sink, &opt);
    SchedPlan plan;
    NnError err;
    CHECK(sched_core_reconcile(c, NULL, 0, NULL, 0, 0, "", &plan, &err) == NN_OK, "%s", err.msg);
    sched_plan_free(&plan);
    SchedWorkerInfo w = {.host = "h", .ok = 1};
    sched_core_worker(c, 0, &w);
    SchedAssignment a;
    CHECK(sched_core_assign(c, &a), "the first run");
    row(c, 0, "acc", 0.5);
    row(c, 1, "acc", 0.95); /* reaches the target */
    RunSummary s;
    run_summary_init(&s, RUN_DONE);
    s.best_step = 1;
    s.best_value = 0.95;
    sched_core_on_result(c, 0, &s, NULL);
    CHECK(!sched_core_assign(c, &a) && sched_core_finished(c),
          "no run handed out after the target was reached");
    SchedCounts n;
    sched_core_counts(c, &n);
    CHECK(n.n_finished == 1, "%d runs ran", n.n_finished);
    sched_core_free(c);
    sweep_set_free(&set);
}

/* The built-in trainer's runs: best_step and best_value from best_epoch. */
static void test_train_best(void)
{
    SweepSet set;
    load(&set, "method: grid\nmetric: {name: test_accuracy}\nparameters:\n"
               "  epochs: {value: 3}\n  train_images: {value: 100}\n");
    if (set.n_sweeps != 1) return;
    Mem mem = {0};
    SchedSink sink = {.self = &mem, .finished = mem_finished};
    SchedOptions opt = {.n_workers = 1};
    SchedCore *c = sched_core_create(&set, &sink, &opt);
    SchedPlan plan;
    NnError err;
    CHECK(sched_core_reconcile(c, NULL, 0, NULL, 0, 0, "", &plan, &err) == NN_OK, "%s", err.msg);
    sched_plan_free(&plan);
    SchedWorkerInfo w = {.host = "h", .ok = 1};
    sched_core_worker(c, 0, &w);
    SchedAssignment a;
    CHECK(sched_core_assign(c, &a), "assigned");
    RunSummary s;
    run_summary_init(&s, RUN_DONE);
    s.best_epoch = 2;
    s.best_test_accuracy = 0.625;
    sched_core_on_result(c, 0, &s, NULL);
    CHECK(mem.last.best_step == 2 && mem.last.best_value == 0.625, "best_step %lld value %g",
          (long long)mem.last.best_step, mem.last.best_value);
    sched_core_free(c);
    sweep_set_free(&set);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/nnsweep-test-rows-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    char prog[256];
    snprintf(prog, sizeof prog, "%s/p.py", dir);
    FILE *f = fopen(prog, "w");
    if (f) fclose(f);
    test_rows();
    test_target();
    test_train_best();
    unlink(prog);
    rmdir(dir);
    return check_exit_code();
}
