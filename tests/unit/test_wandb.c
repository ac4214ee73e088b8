/* test_wandb.c - the W&B sweep schema beyond grid and random lists
 * (sweep.h): nested parameter groups onto run config keys, run_cap on a
 * grid with W&B's grid values of int_uniform and q_uniform, the metric's
 * defaults, target and impute, the agent keys accepted with a notice, the
 * hyperband rungs, every distribution's draws within the range the parser
 * checked (quantized ones on their grid), and a search sweep's proposals:
 * deterministic, distinct, adopted back without error.
 *
 * usage: test_wandb SOURCE_DIR (the repository root) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nnsweep/sweep.h"

static const char *src_dir = ".";

static NnStatus load_file(SweepSet *set, const char *rel, char **notices, NnError *err)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", src_dir, rel);
    size_t size = 0;
    char *text = NULL;
    FILE *mem = notices ? open_memstream(&text, &size) : NULL;
    const char *p = path;
    NnStatus st = sweep_load_files(set, &p, 1, NULL, mem, err);
    if (mem) {
        fclose(mem);
        *notices = text;
    }
    return st;
}

static NnStatus load_text(SweepSet *set, const char *yaml, char **notices, NnError *err)
{
    size_t size = 0;
    char *text = NULL;
    FILE *mem = notices ? open_memstream(&text, &size) : NULL;
    memset(set, 0, sizeof *set);
    NnStatus st = sweep_load_text(set, yaml, strlen(yaml), "t.yaml", NULL, mem, err);
    if (mem) {
        fclose(mem);
        *notices = text;
    }
    return st;
}

static void test_nested(void)
{
    SweepSet set = {0};
    NnError err = {{0}};
    CHECK(load_file(&set, "tests/sweeps/good/nested.yaml", NULL, &err) == NN_OK, "%s", err.msg);
    if (set.n_sweeps != 1) return;
    const Sweep *s = &set.sweeps[0];
    static const char *keys[] = {"model", "val_split", "optimizer", "learning_rate",
                                 "warmup_epochs", "label_smoothing", "epochs"};
    CHECK(s->n_params == 7, "%d parameters", s->n_params);
    for (int j = 0; j < s->n_params && j < 7; j++)
        CHECK(!strcmp(s->params[j].key, keys[j]), "parameter %d is %s, %s expected", j,
              s->params[j].key, keys[j]);
    for (int r = 0; r < s->n_runs; r++) {
        const RunConfig *c = &s->runs[r].config;
        CHECK((c->warmup_epochs == 0 || c->warmup_epochs == 1) &&
                  (c->label_smoothing == 0 || c->label_smoothing == 0.1) && c->epochs == 3 &&
                  c->learning_rate >= 0.001 && c->learning_rate <= 0.1,
              "run %d: warmup %g smoothing %g epochs %d lr %g", r, c->warmup_epochs,
              c->label_smoothing, c->epochs, c->learning_rate);
    }
    sweep_set_free(&set);
}

static void test_grid_run_cap(void)
{
    SweepSet set = {0};
    NnError err = {{0}};
    char *notes = NULL;
    CHECK(load_file(&set, "tests/sweeps/good/grid_run_cap.yaml", &notes, &err) == NN_OK, "%s",
          err.msg);
    CHECK(notes && strstr(notes, "run_cap 10: the first 10 of its 16 combinations"), "notice: %s",
          notes ? notes : "(none)");
    free(notes);
    if (set.n_sweeps != 1) return;
    const Sweep *s = &set.sweeps[0];
    CHECK(s->n_runs == 10 && s->run_cap == 10, "%d runs", s->n_runs);
    /* product order: learning_rate slowest, then epochs 1..4 (int_uniform),
     * then dropout in arange(0, 0.5, 0.25) = 0, 0.25 (max excluded, as W&B) */
    for (int r = 0; r < s->n_runs; r++) {
        const RunConfig *c = &s->runs[r].config;
        double lr = r < 8 ? 0.1 : 0.05, dropout = (r % 2) * 0.25;
        int epochs = r < 8 ? 1 + r / 2 : 1;
        CHECK(c->learning_rate == lr && c->epochs == epochs && c->dropout == dropout,
              "run %d: lr %g epochs %d dropout %g, expected %g %d %g", r, c->learning_rate,
              c->epochs, c->dropout, lr, epochs, dropout);
    }
    sweep_set_free(&set);
}

static void test_metric(void)
{
    SweepSet set;
    NnError err = {{0}};
    char *notes = NULL;
    CHECK(load_text(&set, "method: grid\nmetric: {name: test_accuracy}\nparameters:\n"
                          "  epochs: {value: 1}\n", &notes, &err) == NN_OK, "%s", err.msg);
    CHECK(set.sweeps[0].goal == SWEEP_MINIMIZE && set.sweeps[0].metric == SWEEP_TEST_ACCURACY,
          "goal defaults to minimize (W&B)");
    CHECK(notes && strstr(notes, "t.yaml:2: notice: metric.goal: not given, so test_accuracy is "
                                 "minimized"), "notice: %s", notes ? notes : "(none)");
    free(notes);
    sweep_set_free(&set);
    CHECK(load_text(&set, "method: grid\nmetric: {name: train_loss, target: 0.5, impute: latest}"
                          "\nparameters:\n  epochs: {value: 1}\n", &notes, &err) == NN_OK,
          "%s", err.msg);
    CHECK(set.sweeps[0].goal == SWEEP_MINIMIZE && set.sweeps[0].metric == SWEEP_TRAIN_LOSS &&
              set.sweeps[0].target == 0.5 && set.sweeps[0].impute == SWEEP_IMPUTE_LATEST,
          "train_loss, target, impute");
    CHECK(!notes || !strstr(notes, "metric.goal"), "no notice for a loss: %s", notes);
    free(notes);
    sweep_set_free(&set);
    CHECK(load_text(&set, "method: grid\nparameters:\n  epochs: {value: 1}\n", NULL, &err) ==
              NN_OK && set.sweeps[0].goal == SWEEP_MAXIMIZE &&
              set.sweeps[0].metric == SWEEP_TEST_ACCURACY && isnan(set.sweeps[0].target),
          "no metric: test_accuracy, maximize, no target");
    sweep_set_free(&set);

    /* the sweep metric of rows and runs: each name its field */
    EpochMetrics row = {.epoch = 2, .train_loss = 1, .train_accuracy = 2, .val_loss = 3,
                        .val_accuracy = 4, .test_loss = 5, .test_accuracy = 6};
    const double want[SWEEP_N_METRICS] = {6, 4, 2, 1, 3, 5};
    for (int m = 0; m < SWEEP_N_METRICS; m++) {
        SweepMetric back;
        CHECK(sweep_metric_from_name(sweep_metric_name((SweepMetric)m), &back) == 0 && back == (SweepMetric)m,
              "metric %d round trip", m);
        CHECK(sweep_metric_of_row((SweepMetric)m, &row) == want[m], "metric %s: %g",
              sweep_metric_name((SweepMetric)m), sweep_metric_of_row((SweepMetric)m, &row));
    }
}

static void test_agent_keys(void)
{
    SweepSet set;
    NnError err = {{0}};
    char *notes = NULL;
    /* program and command make a program sweep (test_program, test_programs) */
    CHECK(load_text(&set, "entity: me\nproject: p\ncontroller: {type: local}\nkind: sweep\n"
                          "apiVersion: v1\nmethod: grid\nparameters:\n  epochs: {value: 1}\n",
                    &notes, &err) == NN_OK, "%s", err.msg);
    static const char *keys[] = {"entity", "project", "controller", "kind", "apiVersion"};
    for (int i = 0; i < 5; i++) {
        char want[64];
        snprintf(want, sizeof want, "t.yaml:%d: notice: %s: ignored", i + 1, keys[i]);
        CHECK(notes && strstr(notes, want), "no '%s' in: %s", want, notes ? notes : "");
    }
    free(notes);
    sweep_set_free(&set);
}

static void check_rungs(const char *et, int epochs, const int *want, int n)
{
    char yaml[512];
    snprintf(yaml, sizeof yaml, "method: grid\nmetric: {name: val_loss}\nearly_terminate: %s\n"
             "parameters:\n  val_split: {value: 100}\n  epochs: {value: %d}\n", et, epochs);
    SweepSet set;
    NnError err = {{0}};
    CHECK(load_text(&set, yaml, NULL, &err) == NN_OK, "%s: %s", et, err.msg);
    const SweepStopRule *r = set.n_sweeps ? set.sweeps[0].stop : NULL;
    CHECK(r && r->n_epochs == n, "%s, %d epochs: %d rungs, %d expected", et, epochs,
          r ? r->n_epochs : -1, n);
    for (int i = 0; r && i < n && i < r->n_epochs; i++)
        CHECK(r->epochs[i] == want[i], "%s: rung %d at %d, %d expected", et, i, r->epochs[i],
              want[i]);
    sweep_set_free(&set);
}

static void test_rungs(void)
{
    /* W&B: max_iter / eta^i, i = 1..s, while >= 1; min_iter eta^i; below the
     * runs' last epoch */
    check_rungs("{type: hyperband, max_iter: 27, s: 3}", 30, (const int[]){1, 3, 9}, 3);
    check_rungs("{type: hyperband, max_iter: 27, s: 2, eta: 3}", 30, (const int[]){3, 9}, 2);
    check_rungs("{type: hyperband, max_iter: 100, s: 3, eta: 2.5}", 30, (const int[]){6, 16}, 2);
    check_rungs("{type: hyperband, min_iter: 1}", 10, (const int[]){1, 3, 9}, 3);
    check_rungs("{type: hyperband, min_iter: 1}", 9, (const int[]){1, 3}, 2);
    check_rungs("{type: hyperband, min_iter: 2, eta: 1.5}", 10, (const int[]){2, 3, 4, 6}, 4);
    /* strict is W&B's default (true) */
    SweepSet set;
    NnError err = {{0}};
    CHECK(load_text(&set, "method: grid\nmetric: {name: val_loss}\nearly_terminate: {type: "
                          "hyperband, min_iter: 1}\nparameters:\n  val_split: {value: 100}\n"
                          "  epochs: {value: 9}\n", NULL, &err) == NN_OK, "%s", err.msg);
    NnBuf text = {0};
    sweep_describe(&set.sweeps[0], 0, &text);
    CHECK(text.data && strstr(text.data, "hyperband (eta 3, strict): decides after epochs 1, 3;"),
          "describe: %s", text.data ? text.data : "");
    nn_buf_free(&text);
    sweep_set_free(&set);
}

/* Every run of distributions.yaml within the checked range; quantized
 * values on their grid. */
static void test_distributions(void)
{
    SweepSet set = {0};
    NnError err = {{0}};
    CHECK(load_file(&set, "tests/sweeps/good/distributions.yaml", NULL, &err) == NN_OK, "%s",
          err.msg);
    if (set.n_sweeps != 2) return;
    const Sweep *s = &set.sweeps[0];
    CHECK(s->n_runs == 40, "%d runs", s->n_runs);
    int lr_low = 0;
    for (int r = 0; r < s->n_runs; r++) {
        const RunConfig *c = &s->runs[r].config;
        CHECK(c->learning_rate >= exp(-9) * 0.999999 && c->learning_rate <= exp(-2) * 1.000001,
              "log_uniform: %g", c->learning_rate);
        lr_low += c->learning_rate < exp(-5.5);
        CHECK(c->warmup_epochs >= 0.1 && c->warmup_epochs <= 2, "inv_log_uniform_values %g",
              c->warmup_epochs);
        CHECK(c->lr_gamma > 0 && c->lr_gamma <= 1, "beta %g", c->lr_gamma);
        double q[][2] = {{c->save_weights_min_accuracy, 0.05}, {c->label_smoothing, 0.1},
                         {c->eps, 0.000001}, {c->momentum, 0.01}};
        for (int i = 0; i < 4; i++)
            CHECK(fabs(q[i][0] / q[i][1] - nearbyint(q[i][0] / q[i][1])) < 1e-6,
                  "quantized value %g not a multiple of %g", q[i][0], q[i][1]);
        CHECK(c->batch_size % 8 == 0 && c->batch_size >= 32 && c->batch_size <= 1096,
              "q_log_uniform batch %d", c->batch_size);
        CHECK(c->epochs >= 1, "q_log_normal epochs %d", c->epochs);
        CHECK(c->train_images >= 500 && c->train_images <= 1000, "int_uniform %d",
              c->train_images);
        CHECK(c->lr_step_epochs >= 1 && c->lr_step_epochs <= 4, "q_uniform %d",
              c->lr_step_epochs);
    }
    CHECK(lr_low > 8 && lr_low < 32, "log_uniform: %d of 40 below the middle exponent", lr_low);
    sweep_set_free(&set);
}

/* A search sweep's proposals: the same from two loads, distinct, and a
 * sweep of the same file adopts them back. */
static void test_proposals(void)
{
    const char *files[] = {"tests/sweeps/good/bayes.yaml",
                           "tests/sweeps/good/random_unbounded.yaml"};
    for (int f = 0; f < 2; f++) {
        SweepSet a = {0}, b = {0}, c = {0};
        NnError err = {{0}};
        CHECK(load_file(&a, files[f], NULL, &err) == NN_OK, "%s", err.msg);
        CHECK(load_file(&b, files[f], NULL, &err) == NN_OK, "%s", err.msg);
        CHECK(load_file(&c, files[f], NULL, &err) == NN_OK, "%s", err.msg);
        if (a.n_sweeps != 1 || b.n_sweeps != 1 || c.n_sweeps != 1) return;
        Sweep *sa = &a.sweeps[0], *sb = &b.sweeps[0], *sc = &c.sweeps[0];
        CHECK(sa->n_runs == 0 && sa->strategy->adopt, "%s: a search sweep starts empty",
              files[f]);
        int n = 12;
        for (int i = 0; i < n; i++) {
            int ja, jb;
            CHECK(sa->strategy->peek(sa->strategy, sa, &ja) == SWEEP_NEXT_RUN &&
                      sb->strategy->peek(sb->strategy, sb, &jb) == SWEEP_NEXT_RUN,
                  "%s: proposal %d", files[f], i);
            sa->strategy->take(sa->strategy, sa, ja);
            sb->strategy->take(sb->strategy, sb, jb);
            CHECK(!strcmp(sa->runs[ja].id, sb->runs[jb].id), "%s: proposal %d differs", files[f],
                  i);
            for (int k = 0; k < ja; k++)
                CHECK(strcmp(sa->runs[k].id, sa->runs[ja].id) != 0, "%s: proposal %d repeats %d",
                      files[f], i, k);
            int jc;
            CHECK(sc->strategy->adopt(sc->strategy, sc, sa->runs[ja].id, sa->runs[ja].json, &jc,
                                      &err) == NN_OK && jc == i, "%s: adopt %d: %s", files[f], i,
                  err.msg);
        }
        int bad;
        CHECK(sc->strategy->adopt(sc->strategy, sc, sa->runs[0].id, sa->runs[0].json, &bad,
                                  &err) == NN_ERR_INPUT && strstr(err.msg, "twice"),
              "%s: a run adopted twice: %s", files[f], err.msg);
        sweep_set_free(&a);
        sweep_set_free(&b);
        sweep_set_free(&c);
    }
}

int main(int argc, char **argv)
{
    if (argc > 1) src_dir = argv[1];
    test_nested();
    test_grid_run_cap();
    test_metric();
    test_agent_keys();
    test_rungs();
    test_distributions();
    test_proposals();
    return check_exit_code();
}
