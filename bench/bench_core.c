/* bench_core.c - the scheduler core alone at cluster scale, driven by a fake
 * driver (no MPI, no results file): W simulated workers, a random sweep of
 * R runs of E epochs each expanded by the sweep module and handed out by its
 * list strategy, every epoch row and every result fed to the core, a sink
 * that only counts. Reports events (epoch rows + results) per second that
 * the core sustains, and memory: the set (configs, JSON, tensor tables) and
 * the core's own tables per run. Not a test.
 *
 *   bench_core [WORKERS RUNS EPOCHS]   (default 1000 100000 100) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "nnsweep/sched.h"

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
        fclose(f);
    }
    return resident * 4; /* 4 KiB pages */
}

typedef struct Count {
    long started, rows, finished;
} Count;

static NnStatus c_started(void *self, const Sweep *sw, const SweepRun *r, const SchedWorkerInfo *w,
                          const char *device, NnError *err)
{
    (void)sw, (void)r, (void)w, (void)device, (void)err;
    ((Count *)self)->started++;
    return NN_OK;
}

static NnStatus c_epoch(void *self, const Sweep *sw, const SweepRun *r, const EpochMetrics *m,
                        NnError *err)
{
    (void)sw, (void)r, (void)m, (void)err;
    ((Count *)self)->rows++;
    return NN_OK;
}

static NnStatus c_finished(void *self, const Sweep *sw, const SweepRun *r, const RunSummary *s,
                           const float *best, NnError *err)
{
    (void)sw, (void)r, (void)s, (void)best, (void)err;
    ((Count *)self)->finished++;
    return NN_OK;
}

typedef struct Sim {
    int epoch; /* next epoch to report; -1: idle */
    double acc;
} Sim;

int main(int argc, char **argv)
{
    int n_workers = argc > 1 ? atoi(argv[1]) : 1000;
    int n_runs = argc > 2 ? atoi(argv[2]) : 100000;
    int epochs = argc > 3 ? atoi(argv[3]) : 100;
    if (n_workers < 1 || n_runs < 1 || n_runs > SWEEP_MAX_RUNS || epochs < 1) {
        fprintf(stderr, "usage: bench_core [WORKERS RUNS(1..%d) EPOCHS]\n", SWEEP_MAX_RUNS);
        return 2;
    }
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "name: scale\nmethod: random\nrun_cap: %d\nparameters:\n"
             "  learning_rate: {distribution: log_uniform_values, min: 1e-5, max: 1}\n"
             "  weight_decay: {distribution: uniform, min: 0, max: 0.1}\n"
             "  hidden_layers: {values: [[64], [128, 64], [256, 256, 256]]}\n"
             "  epochs: {value: %d}\n",
             n_runs, epochs);
    long rss0 = rss_kib();
    double t0 = nn_now();
    SweepSet set = {0};
    NnError err = {{0}};
    if (sweep_load_text(&set, yaml, strlen(yaml), "scale.yaml", NULL, NULL, &err) != NN_OK) {
        fprintf(stderr, "bench_core: %s\n", err.msg);
        return 1;
    }
    double t_load = nn_now() - t0;
    long rss1 = rss_kib();

    Count count = {0};
    SchedSink sink = {.self = &count, .started = c_started, .epoch = c_epoch, .finished = c_finished};
    SchedOptions opt = {.n_workers = n_workers};
    t0 = nn_now();
    SchedCore *core = sched_core_create(&set, &sink, &opt);
    SchedPlan plan;
    if (sched_core_reconcile(core, NULL, 0, NULL, 0, 0, "bench", &plan, &err) != NN_OK) {
        fprintf(stderr, "bench_core: %s\n", err.msg);
        return 1;
    }
    sched_plan_free(&plan);
    for (int w = 0; w < n_workers; w++) {
        SchedWorkerInfo info = {.rank = w + 1, .ok = 1, .device = "cpu"};
        snprintf(info.host, sizeof info.host, "node%d", w / 16);
        sched_core_worker(core, w, &info);
    }
    long rss2 = rss_kib();

    /* workers report round robin: each turn, every busy worker one epoch */
    Sim *sim = calloc((size_t)n_workers, sizeof *sim);
    for (int w = 0; w < n_workers; w++) sim[w].epoch = -1;
    SchedAssignment a;
    long events = 0;
    double t_core = 0, t1 = nn_now();
    while (sched_core_assign(core, &a)) sim[a.worker].epoch = 0;
    while (!sched_core_finished(core)) {
        for (int w = 0; w < n_workers; w++) {
            Sim *s = &sim[w];
            if (s->epoch < 0) continue;
            if (s->epoch <= epochs) {
                EpochMetrics m = {.epoch = s->epoch, .test_accuracy = 0.1 + 0.001 * s->epoch};
                sched_core_on_epoch(core, w, &m);
                s->epoch++;
            } else {
                RunSummary r;
                run_summary_init(&r, RUN_DONE);
                r.epochs_done = r.best_epoch = epochs;
                r.best_test_accuracy = 0.1 + 0.001 * epochs;
                s->epoch = -1;
                sched_core_on_result(core, w, &r, NULL);
                while (sched_core_assign(core, &a)) sim[a.worker].epoch = 0;
            }
            events++;
        }
    }
    t_core = nn_now() - t1;
    long rss3 = rss_kib();
    SchedCounts n;
    sched_core_counts(core, &n);
    printf("bench_core: %d workers, %d runs x %d epochs (+ epoch 0)\n", n_workers, n_runs, epochs);
    printf("  expansion (sweep module, %d runs): %.2f s, %.1f us per run; set memory %.1f MiB "
           "(%.0f bytes per run)\n",
           set.n_runs, t_load, 1e6 * t_load / set.n_runs, (rss1 - rss0) / 1024.0,
           1024.0 * (rss1 - rss0) / set.n_runs);
    printf("  core tables: %.1f MiB (%.0f bytes per run) after create; %.1f MiB at the end\n",
           (rss2 - rss1) / 1024.0, 1024.0 * (rss2 - rss1) / set.n_runs, (rss3 - rss1) / 1024.0);
    printf("  events: %ld (%ld epoch rows, %ld results) in %.2f s: %.2f M events/s "
           "(driver loop included)\n",
           events, count.rows, count.finished, t_core, events / t_core / 1e6);
    printf("  finished %d done %d, started %ld\n", n.n_finished, n.by_status[RUN_DONE],
           count.started);
    int ok = count.finished == n_runs && count.started == n_runs &&
             count.rows == (long)n_runs * (epochs + 1);
    free(sim);
    sched_core_free(core);
    sweep_set_free(&set);
    if (!ok) fprintf(stderr, "bench_core: counts do not add up\n");
    return ok ? 0 : 1;
}
