/* test_sweep.c - sweep files: the seed study's exact run counts and values
 * (and its validation variant through overrides), grid order, random search
 * determinism and the shapes of its distributions, overrides, duplicates,
 * several documents per file and their exact text, ids, costs, notices, and
 * every file of the bad corpus (tests/sweeps/bad: "# expect: ..." and
 * "# line: N" on its first two lines) through the library.
 *
 * usage: test_sweep SOURCE_DIR (the repository root: jobs/ and tests/sweeps/) */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nnsweep/sweep.h"
#include "nnsweep/train.h"

static const char *src_dir = ".";

static char *path_of(const char *rel)
{
    size_t n = strlen(src_dir) + strlen(rel) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", src_dir, rel);
    return p;
}

static char *read_text(const char *path, size_t *len)
{
    NnBuf b = {0};
    NnError err = {{0}};
    if (nn_buf_read_file(&b, path, &err) != NN_OK) {
        nn_buf_free(&b);
        return NULL;
    }
    *len = b.len;
    return b.data ? b.data : calloc(1, 1);
}

/* The overrides that make the seed study's validation variant (jobs/README.md). */
static void val_overrides(SweepOverrides *o)
{
    NnError err = {{0}};
    memset(o, 0, sizeof *o);
    CHECK(sweep_overrides_set(o, "val_split=5000", &err) == NN_OK &&
              sweep_overrides_set(o, "select_on=val_accuracy", &err) == NN_OK &&
              sweep_overrides_metric(o, "val_accuracy", &err) == NN_OK &&
              sweep_overrides_name_suffix(o, "_val", &err) == NN_OK,
          "val overrides: %s", err.msg);
}

/* Loads one file under src_dir (with overrides over, may be NULL); notices
 * (if wanted) into a malloc'd string. */
static NnStatus load_over(SweepSet *set, const char *rel, const SweepOverrides *over,
                          char **notices, NnError *err)
{
    char *p = path_of(rel);
    size_t size = 0;
    char *text = NULL;
    FILE *mem = notices ? open_memstream(&text, &size) : NULL;
    NnStatus st = sweep_load_files(set, (const char *const *)&p, 1, over, mem, err);
    if (mem) {
        fclose(mem);
        *notices = text;
    }
    free(p);
    return st;
}

static NnStatus load_rel(SweepSet *set, const char *rel, char **notices, NnError *err)
{
    return load_over(set, rel, NULL, notices, err);
}

static NnStatus load_str(SweepSet *set, const char *text, const char *file, char **notices,
                         NnError *err)
{
    size_t size = 0;
    char *notes = NULL;
    FILE *mem = notices ? open_memstream(&notes, &size) : NULL;
    NnStatus st = sweep_load_text(set, text, strlen(text), file, NULL, mem, err);
    if (mem) {
        fclose(mem);
        *notices = notes;
    }
    return st;
}

static double get_lr(const RunConfig *c) { return c->learning_rate; }
static double get_wd(const RunConfig *c) { return c->weight_decay; }
static double get_dropout(const RunConfig *c) { return c->dropout; }

/* The runs of s take exactly the values want (each equally often). */
static void check_values(const Sweep *s, double (*get)(const RunConfig *), const double *want,
                         int n_want)
{
    CHECK(s->n_runs % n_want == 0, "%s: %d runs for %d values", s->name, s->n_runs, n_want);
    for (int k = 0; k < n_want; k++) {
        int hits = 0;
        for (int r = 0; r < s->n_runs; r++) hits += get(&s->runs[r].config) == want[k];
        CHECK(hits == s->n_runs / n_want, "%s: value %g in %d runs, expected %d", s->name,
              want[k], hits, s->n_runs / n_want);
    }
}

static int all_equal(const int *v, int n, const int *allowed, int n_allowed)
{
    int ok = 0;
    for (int j = 0; j < n_allowed; j++) ok |= v[0] == allowed[j];
    for (int i = 1; i < n; i++) ok &= v[i] == v[0];
    return ok;
}

static int is_mlp_3x256(const RunConfig *c)
{
    return c->model == MODEL_MLP && c->n_hidden == 3 && c->hidden_layers[0] == 256 &&
           c->hidden_layers[1] == 256 && c->hidden_layers[2] == 256;
}

/* kernel 5, max-pool 2, FC 128-64, padding 0 with 2 conv layers, 3 with more */
static int is_seed_cnn(const RunConfig *c)
{
    return c->model == MODEL_CNN && c->kernel_size == 5 && c->pool_size == 2 &&
           c->n_hidden == 2 && c->hidden_layers[0] == 128 && c->hidden_layers[1] == 64 &&
           c->padding == (c->n_conv == 2 ? 0 : 3);
}

static int is_cnn_5x256(const RunConfig *c)
{
    static const int w[] = {256};
    return is_seed_cnn(c) && c->n_conv == 5 && all_equal(c->conv_layers, 5, w, 1);
}

static const double seed_lrs[] = {0.2, 0.1, 0.05, 0.02};
static const double l2s[] = {0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2};
static const double dropouts[] = {0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5};
static const double bn_lrs[] = {0.02, 0.05, 0.1, 0.2};
static const double adam_lrs[] = {0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05};

/* Checks of one seed-study sweep that depend on what it studies. */
static void check_seed_sweep(const char *file, const Sweep *s)
{
    static const int widths[] = {32, 64, 128, 256};
    const RunConfig *c0 = &s->runs[0].config;
    if (strcmp(file, "mlp_sgd.yaml") == 0) {
        static const int depths[] = {1, 2, 3, 5};
        for (int r = 0; r < s->n_runs; r++) {
            const RunConfig *c = &s->runs[r].config;
            CHECK(c->model == MODEL_MLP && all_equal(&c->n_hidden, 1, depths, 4) &&
                      all_equal(c->hidden_layers, c->n_hidden, widths, 4),
                  "%s run %d: not a seed MLP", s->name, r);
        }
        check_values(s, get_lr, seed_lrs, 4);
    } else if (strcmp(file, "cnn_sgd.yaml") == 0) {
        static const int depths[] = {2, 3, 5};
        CHECK(c0->n_conv == depths[s->doc_index], "%s: %d conv layers", s->name, c0->n_conv);
        for (int r = 0; r < s->n_runs; r++) {
            const RunConfig *c = &s->runs[r].config;
            CHECK(is_seed_cnn(c) && c->n_conv == c0->n_conv &&
                      all_equal(c->conv_layers, c->n_conv, widths, 4),
                  "%s run %d: not a seed CNN", s->name, r);
        }
        check_values(s, get_lr, seed_lrs, 4);
    } else {
        int mlp = s->name[0] == 'M';
        for (int r = 0; r < s->n_runs; r++) {
            const RunConfig *c = &s->runs[r].config;
            CHECK(mlp ? is_mlp_3x256(c) : is_cnn_5x256(c), "%s run %d: not the selected model",
                  s->name, r);
            CHECK(c->batchnorm == (strcmp(file, "batchnorm.yaml") == 0), "%s: batchnorm", s->name);
            CHECK(c->optimizer == (strcmp(file, "adam.yaml") == 0 ? OPT_ADAM : OPT_SGD),
                  "%s: optimizer", s->name);
        }
        if (strcmp(file, "l2.yaml") == 0) check_values(s, get_wd, l2s, 9);
        if (strcmp(file, "dropout.yaml") == 0) check_values(s, get_dropout, dropouts, 8);
        if (strcmp(file, "batchnorm.yaml") == 0) check_values(s, get_lr, bn_lrs, 4);
        if (strcmp(file, "adam.yaml") == 0) {
            check_values(s, get_lr, adam_lrs, 9);
            CHECK(s->n_duplicates == 2, "%s: %d duplicates dropped, expected 2 (0.01, 0.02)",
                  s->name, s->n_duplicates);
        }
        if (strcmp(file, "l2.yaml") == 0 || strcmp(file, "dropout.yaml") == 0)
            for (int r = 0; r < s->n_runs; r++)
                CHECK(s->runs[r].config.learning_rate == 0.05, "%s: lr", s->name);
    }
}

static void test_seed_study(void)
{
    static const struct {
        const char *file;
        int n_sweeps;
        int counts[3];
    } want[] = {
        {"mlp_sgd.yaml", 1, {64}},        {"cnn_sgd.yaml", 3, {16, 16, 16}},
        {"l2.yaml", 2, {9, 9}},           {"dropout.yaml", 2, {8, 8}},
        {"batchnorm.yaml", 2, {4, 4}},    {"adam.yaml", 2, {9, 9}},
    };
    int total = 0;
    SweepOverrides over;
    val_overrides(&over);
    for (size_t f = 0; f < sizeof want / sizeof want[0]; f++) {
        char rel[128];
        snprintf(rel, sizeof rel, "jobs/seed_study/%s", want[f].file);
        SweepSet set = {0}, val = {0};
        NnError err = {{0}};
        NnStatus st = load_rel(&set, rel, NULL, &err);
        CHECK(st == NN_OK, "%s: %s", rel, err.msg);
        st = load_over(&val, rel, &over, NULL, &err);
        CHECK(st == NN_OK, "%s with the val overrides: %s", rel, err.msg);
        CHECK(set.n_sweeps == want[f].n_sweeps && val.n_sweeps == want[f].n_sweeps,
              "%s: %d and %d sweeps, expected %d", want[f].file, set.n_sweeps, val.n_sweeps,
              want[f].n_sweeps);
        for (int i = 0; i < set.n_sweeps && i < val.n_sweeps && i < 3; i++) {
            const Sweep *s = &set.sweeps[i], *v = &val.sweeps[i];
            CHECK(s->n_runs == want[f].counts[i] && v->n_runs == want[f].counts[i],
                  "%s: %s has %d runs and %s %d, expected %d", want[f].file, s->name, s->n_runs,
                  v->name, v->n_runs, want[f].counts[i]);
            total += s->n_runs;
            CHECK(s->method == SWEEP_GRID && s->metric == SWEEP_TEST_ACCURACY &&
                      s->goal == SWEEP_MAXIMIZE && v->metric == SWEEP_VAL_ACCURACY &&
                      v->goal == SWEEP_MAXIMIZE, "%s: method or metric", s->name);
            char vname[80];
            snprintf(vname, sizeof vname, "%s_val", s->name);
            CHECK(strcmp(v->name, vname) == 0, "val sweep %s, expected %s", v->name, vname);
            CHECK(!s->overrides && v->overrides &&
                      strcmp(v->overrides, "--set val_split=5000 --set select_on=val_accuracy "
                                           "--metric val_accuracy --name-suffix _val") == 0,
                  "%s: overrides %s", v->name, v->overrides ? v->overrides : "(none)");
            CHECK(strcmp(s->spec, v->spec) == 0 && v->n_params == s->n_params + 1,
                  "%s: the spec as written, val_split added to %d parameters", v->name,
                  s->n_params);
            check_seed_sweep(want[f].file, s);
            check_seed_sweep(want[f].file, v);
            for (int r = 0; r < s->n_runs && r < v->n_runs; r++) {
                RunConfig c = s->runs[r].config;
                CHECK(c.batch_size == 32 && c.epochs == 100 && c.patience == 25 &&
                          c.normalize == NORM_HALF && c.select_on == SELECT_TEST_ACCURACY &&
                          c.val_split == 0 && c.train_images == 0 && c.test_images == 0 &&
                          c.momentum == 0 && c.lr_schedule == LR_CONSTANT &&
                          c.augment == AUG_NONE && c.activation == ACT_RELU,
                      "%s run %d: not the seed's training setup", s->name, r);
                CHECK(c.save_weights_min_accuracy == (c.model == MODEL_MLP ? 0.5 : 0.75),
                      "%s: the seed's min_acc", s->name);
                /* the val variant is the same run with a validation split */
                c.val_split = 5000;
                c.select_on = SELECT_VAL_ACCURACY;
                NnBuf json = {0};
                config_to_json(&c, &json);
                CHECK(strcmp(json.data, v->runs[r].json) == 0, "%s run %d: %s differs from %s",
                      v->name, r, v->runs[r].json, json.data);
                nn_buf_free(&json);
            }
        }
        sweep_set_free(&set);
        sweep_set_free(&val);
    }
    sweep_overrides_free(&over);
    CHECK(total == 64 + 48 + 18 + 16 + 8 + 18, "seed study: %d runs", total);
}

/* Grid order: the first parameter varies slowest. */
static void test_grid_order(void)
{
    SweepSet set = {0};
    NnError err = {{0}};
    CHECK(load_rel(&set, "jobs/seed_study/mlp_sgd.yaml", NULL, &err) == NN_OK, "%s", err.msg);
    if (set.n_sweeps != 1 || set.sweeps[0].n_runs != 64) return;
    const SweepRun *r = set.sweeps[0].runs;
    for (int i = 0; i < 4; i++)
        CHECK(r[i].config.n_hidden == 1 && r[i].config.hidden_layers[0] == 32 &&
                  r[i].config.learning_rate == seed_lrs[i], "run %d", i);
    CHECK(r[4].config.hidden_layers[0] == 64 && r[4].config.learning_rate == 0.2, "run 4");
    CHECK(r[63].config.n_hidden == 5 && r[63].config.hidden_layers[4] == 256 &&
              r[63].config.learning_rate == 0.02, "run 63");
    const Sweep *s = &set.sweeps[0];
    for (int j = 0; j < s->n_params; j++) {
        int should = strcmp(s->params[j].key, "hidden_layers") == 0 ||
                     strcmp(s->params[j].key, "learning_rate") == 0;
        CHECK(s->params[j].varies == should, "%s varies %d", s->params[j].key,
              s->params[j].varies);
    }
    sweep_set_free(&set);
}

/* A run's cost (train flops per image x epochs x images) and state layout
 * are its plan's. */
static void check_planned(const SweepRun *run, int epochs, double images)
{
    RunPlan p;
    NnError err = {{0}};
    CHECK(run_plan_create(&run->config, &p, &err) == NN_OK, "%s: %s", run->id, err.msg);
    if (!p.mplan) return;
    const ModelPlan *m = p.mplan;
    double cost = m->train_flops_per_image * epochs * images;
    CHECK(run->cost == cost && cost > 0, "%s: cost %g, expected %g", run->id, run->cost, cost);
    int same = run->n_params == m->n_params && run->n_state == m->n_state &&
               run->n_tensors == m->n_tensors && run->tensors;
    for (int i = 0; same && i < m->n_tensors; i++) {
        const TensorInfo *x = &run->tensors[i], *y = &m->tensors[i];
        same = !strcmp(x->name, y->name) && x->offset == y->offset && x->n == y->n &&
               x->ndim == y->ndim && x->is_buffer == y->is_buffer &&
               !memcmp(x->shape, y->shape, sizeof x->shape);
    }
    CHECK(same, "%s: the run's state layout is not its plan's", run->id);
    run_plan_free(&p);
}

/* Ids: distinct over the whole study, config_run_id of the run, the same
 * on every load; canonical JSON and costs as documented. */
static void test_ids_and_costs(void)
{
    static const char *files[] = {"mlp_sgd", "cnn_sgd", "l2", "dropout", "batchnorm", "adam"};
    char *paths[6];
    for (int i = 0; i < 6; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "jobs/seed_study/%s.yaml", files[i]);
        paths[i] = path_of(rel);
    }
    /* the study and its validation variant, one set as one results file
     * would hold them */
    SweepOverrides over;
    val_overrides(&over);
    SweepSet a = {0}, b = {0}, val = {0};
    NnError err = {{0}};
    CHECK(sweep_load_files(&a, (const char *const *)paths, 6, NULL, NULL, &err) == NN_OK, "%s",
          err.msg);
    CHECK(sweep_load_files(&val, (const char *const *)paths, 6, &over, NULL, &err) == NN_OK,
          "%s", err.msg);
    a.sweeps = realloc(a.sweeps, (size_t)(a.n_sweeps + val.n_sweeps) * sizeof *a.sweeps);
    memcpy(a.sweeps + a.n_sweeps, val.sweeps, (size_t)val.n_sweeps * sizeof *a.sweeps);
    a.n_sweeps += val.n_sweeps;
    a.n_runs += val.n_runs;
    free(val.sweeps); /* the sweeps moved into a */
    CHECK(sweep_load_files(&b, (const char *const *)paths, 6, NULL, NULL, &err) == NN_OK, "%s",
          err.msg);
    for (int i = 0; i < 6; i++) {
        CHECK(sweep_load_file(&b, paths[i], &over, NULL, &err) == NN_OK, "%s", err.msg);
    }
    sweep_overrides_free(&over);
    CHECK(a.n_sweeps == 24 && a.n_runs == 2 * 172 && b.n_sweeps == 24,
          "%d sweeps, %d runs", a.n_sweeps, a.n_runs);
    int n = 0;
    const SweepRun **all = calloc((size_t)a.n_runs, sizeof *all);
    for (int i = 0; i < a.n_sweeps && i < b.n_sweeps; i++) {
        const Sweep *s = &a.sweeps[i];
        for (int r = 0; r < s->n_runs; r++) {
            const SweepRun *run = &s->runs[r];
            char id[13];
            config_run_id(&run->config, s->name, id);
            CHECK(strcmp(id, run->id) == 0 && strlen(run->id) == 12, "%s: id %s", s->name,
                  run->id);
            CHECK(strcmp(run->id, b.sweeps[i].runs[r].id) == 0, "ids differ between loads");
            NnBuf json = {0};
            config_to_json(&run->config, &json);
            CHECK(strcmp(json.data, run->json) == 0, "canonical json");
            nn_buf_free(&json);
            double images = run->config.val_split ? 45000 : 50000;
            check_planned(run, 100, images);
            const Sweep *found_in = NULL;
            CHECK(sweep_set_find_run(&a, run->id, &found_in) == run && found_in == s,
                  "find_run %s", run->id);
            if (n < a.n_runs) all[n++] = run;
        }
    }
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            CHECK(strcmp(all[i]->id, all[j]->id) != 0, "id %s twice", all[i]->id);
    CHECK(sweep_set_find_run(&a, "000000000000", NULL) == NULL, "find_run of nothing");
    free(all);
    sweep_set_free(&a);
    sweep_set_free(&b);
    sweep_set_free(NULL);
    for (int i = 0; i < 6; i++) free(paths[i]);
}

static void test_random(void)
{
    SweepSet a = {0}, b = {0};
    NnError err = {{0}};
    CHECK(load_rel(&a, "tests/sweeps/good/random.yaml", NULL, &err) == NN_OK, "%s", err.msg);
    CHECK(load_rel(&b, "tests/sweeps/good/random.yaml", NULL, &err) == NN_OK, "%s", err.msg);
    if (a.n_sweeps != 1 || b.n_sweeps != 1) return;
    const Sweep *s = &a.sweeps[0];
    CHECK(s->method == SWEEP_RANDOM && s->run_cap == 400 && s->n_runs == 400, "%d runs",
          s->n_runs);
    for (int r = 0; r < s->n_runs && r < b.sweeps[0].n_runs; r++)
        CHECK(strcmp(s->runs[r].json, b.sweeps[0].runs[r].json) == 0, "draw %d differs", r);

    const double lo = 1e-4, hi = 0.1, gmean = sqrt(lo * hi);
    int below_gmean = 0, below_mid = 0, decade[3] = {0}, epochs[5] = {0}, optim[3] = {0};
    int warm[2] = {0}, hidden2 = 0;
    double dropout_sum = 0;
    for (int r = 0; r < s->n_runs; r++) {
        const RunConfig *c = &s->runs[r].config;
        double lr = c->learning_rate;
        CHECK(lr >= lo && lr <= hi, "learning_rate %g outside [%g, %g]", lr, lo, hi);
        below_gmean += lr < gmean;
        below_mid += lr < (lo + hi) / 2;
        if (lr >= lo && lr <= hi) decade[lr < 1e-3 ? 0 : lr < 1e-2 ? 1 : 2]++;
        CHECK(c->dropout >= 0.1 && c->dropout < 0.5, "dropout %g", c->dropout);
        dropout_sum += c->dropout;
        CHECK(c->epochs >= 1 && c->epochs <= 4, "epochs %d", c->epochs);
        if (c->epochs >= 1 && c->epochs <= 4) epochs[c->epochs]++;
        optim[c->optimizer]++;
        CHECK(c->warmup_epochs == 0 || c->warmup_epochs == 1, "warmup %g", c->warmup_epochs);
        warm[c->warmup_epochs == 1]++;
        CHECK(c->momentum >= 0.5 && c->momentum < 0.9, "momentum %g", c->momentum);
        CHECK(c->batch_size == 64 && c->model == MODEL_MLP, "constants");
        hidden2 += c->n_hidden == 2;
    }
    /* log-uniform: half below the geometric mean, a third per decade, 90%
     * below the arithmetic midpoint (a uniform draw: half) */
    CHECK(below_gmean > 160 && below_gmean < 240, "%d of 400 below the geometric mean",
          below_gmean);
    CHECK(below_mid > 320, "%d of 400 below the midpoint (0.9 expected): not log-uniform",
          below_mid);
    for (int d = 0; d < 3; d++) CHECK(decade[d] > 90 && decade[d] < 180, "decade %d: %d", d,
                                      decade[d]);
    CHECK(fabs(dropout_sum / 400 - 0.3) < 0.03, "dropout mean %g", dropout_sum / 400);
    for (int e = 1; e <= 4; e++) CHECK(epochs[e] > 60, "epochs %d drawn %d times", e, epochs[e]);
    for (int o = 0; o < 3; o++) CHECK(optim[o] > 90, "optimizer %d drawn %d times", o, optim[o]);
    CHECK(warm[0] > 150 && warm[1] > 150, "warmup 0/1: %d/%d", warm[0], warm[1]);
    CHECK(hidden2 > 150 && hidden2 < 250, "hidden_layers [64,32] %d times", hidden2);
    for (int j = 0; j < s->n_params; j++) {
        int fixed = strcmp(s->params[j].key, "model") == 0 ||
                    strcmp(s->params[j].key, "batch_size") == 0;
        CHECK(s->params[j].varies == !fixed, "%s varies %d", s->params[j].key,
              s->params[j].varies);
    }

    /* comments and layout do not change the draws; the name does */
    size_t len;
    char *path = path_of("tests/sweeps/good/random.yaml");
    char *text = read_text(path, &len);
    free(path);
    CHECK(text != NULL, "read random.yaml");
    if (text) {
        NnBuf t = {0};
        nn_buf_printf(&t, "# another comment\n\n%s\n# trailing comment\n", text);
        SweepSet c = {0};
        CHECK(load_str(&c, t.data, "again.yaml", NULL, &err) == NN_OK, "%s", err.msg);
        for (int r = 0; c.n_sweeps == 1 && r < 400; r++)
            CHECK(strcmp(c.sweeps[0].runs[r].id, s->runs[r].id) == 0, "draw %d moved", r);
        sweep_set_free(&c);
        char *at = strstr(text, "name: random_all");
        CHECK(at != NULL, "name line");
        if (at) {
            memcpy(at, "name: random_xyz", 16);
            CHECK(load_str(&c, text, "renamed.yaml", NULL, &err) == NN_OK, "%s", err.msg);
            int same = 0;
            for (int r = 0; c.n_sweeps == 1 && r < 400; r++)
                same += c.sweeps[0].runs[r].config.learning_rate ==
                        s->runs[r].config.learning_rate;
            CHECK(same < 5, "%d of 400 draws equal under another name", same);
            sweep_set_free(&c);
        }
        nn_buf_free(&t);
        free(text);
    }

    /* a space smaller than count: the distinct runs and a notice */
    SweepSet small = {0};
    char *notes = NULL;
    CHECK(load_str(&small, "name: small\nmethod: random\ncount: 10\nparameters:\n"
                           "  optimizer: {values: [sgd, adam, adamw]}\n",
                   "small.yaml", &notes, &err) == NN_OK, "%s", err.msg);
    CHECK(small.n_runs == 3, "%d runs from 3 values", small.n_runs);
    CHECK(notes && strstr(notes, "small.yaml:4: notice: sweep small: only 3 distinct runs"),
          "notice: %s", notes ? notes : "(none)");
    free(notes);
    sweep_set_free(&small);
    sweep_set_free(&a);
    sweep_set_free(&b);
}

/* Overrides: --set replaces a parameter in place (the other parameters of a
 * random sweep draw what they drew) or adds one; a grid parameter set to
 * one value leaves one run per other combination; --metric, the suffix and
 * their errors. */
static void test_overrides(void)
{
    SweepSet a = {0}, b = {0};
    SweepOverrides o = {0};
    NnError err = {{0}};
    CHECK(sweep_overrides_set(&o, "learning_rate=0.01", &err) == NN_OK, "%s", err.msg);
    CHECK(sweep_overrides_set(&o, "label-smoothing=0.1", &err) == NN_OK, "%s", err.msg);
    CHECK(sweep_overrides_metric(&o, "test_accuracy:minimize", &err) == NN_OK, "%s", err.msg);
    CHECK(load_rel(&a, "tests/sweeps/good/random.yaml", NULL, &err) == NN_OK, "%s", err.msg);
    CHECK(load_over(&b, "tests/sweeps/good/random.yaml", &o, NULL, &err) == NN_OK, "%s",
          err.msg);
    if (a.n_sweeps == 1 && b.n_sweeps == 1) {
        const Sweep *x = &a.sweeps[0], *y = &b.sweeps[0];
        CHECK(y->n_runs == x->n_runs && y->goal == SWEEP_MINIMIZE && x->goal == SWEEP_MAXIMIZE &&
                  strcmp(y->name, x->name) == 0 && y->n_params == x->n_params + 1,
              "random with overrides: %d runs, %d params", y->n_runs, y->n_params);
        for (int r = 0; r < x->n_runs && r < y->n_runs; r++) {
            RunConfig c = x->runs[r].config;
            c.learning_rate = 0.01;
            c.label_smoothing = 0.1;
            NnBuf json = {0};
            config_to_json(&c, &json);
            CHECK(strcmp(json.data, y->runs[r].json) == 0, "draw %d: %s, expected %s", r,
                  y->runs[r].json, json.data);
            nn_buf_free(&json);
        }
        for (int j = 0; j < y->n_params; j++)
            CHECK(!strcmp(y->params[j].key, "learning_rate") ? !y->params[j].varies : 1,
                  "learning_rate still varies");
        CHECK(strcmp(y->overrides, "--set learning_rate=0.01 --set label_smoothing=0.1 "
                                   "--metric test_accuracy:minimize") == 0,
              "overrides text %s", y->overrides);
    }
    sweep_set_free(&a);
    sweep_set_free(&b);

    /* a grid parameter set to one value: the grid shrinks */
    CHECK(load_over(&a, "jobs/seed_study/mlp_sgd.yaml", &o, NULL, &err) == NN_OK, "%s",
          err.msg);
    CHECK(a.n_runs == 16, "mlp_sgd with one learning rate: %d runs, expected 16", a.n_runs);
    sweep_set_free(&a);

    /* option text: quoted for a shell where needed; the last value wins */
    SweepOverrides q = {0};
    CHECK(sweep_overrides_set(&q, "hidden_layers=64, 64", &err) == NN_OK, "%s", err.msg);
    CHECK(sweep_overrides_set(&q, "epochs=2", &err) == NN_OK, "%s", err.msg);
    CHECK(sweep_overrides_set(&q, "epochs=3", &err) == NN_OK, "%s", err.msg);
    NnBuf text = {0};
    sweep_overrides_text(&q, &text);
    CHECK(text.data && strcmp(text.data, "--set 'hidden_layers=64, 64' --set epochs=3") == 0,
          "text %s", text.data);
    nn_buf_free(&text);

    /* errors name the option, and o stays as it was */
    CHECK(sweep_overrides_set(&q, "epochs=0", &err) == NN_ERR_INPUT &&
              strstr(err.msg, "--set epochs: expected an integer in 1..100000, found \"0\""),
          "range: %s", err.msg);
    CHECK(sweep_overrides_set(&q, "=3", &err) == NN_ERR_INPUT && strstr(err.msg, "KEY=VALUE"),
          "no key: %s", err.msg);
    CHECK(sweep_overrides_set(&q, "epoch=3", &err) == NN_ERR_INPUT &&
              strstr(err.msg, "did you mean 'epochs'"), "unknown key: %s", err.msg);
    CHECK(sweep_overrides_metric(&q, "val_accuracy:max", &err) == NN_ERR_INPUT, "bad goal");
    CHECK(sweep_overrides_name_suffix(&q, "a/b", &err) == NN_ERR_INPUT, "suffix with /");
    CHECK(sweep_overrides_name_suffix(&q, "", &err) == NN_ERR_INPUT, "empty suffix");
    CHECK(q.n_set == 2 && !q.has_metric && !q.name_suffix && !strcmp(q.set_values[1], "3"),
          "overrides changed by errors");
    sweep_overrides_free(&q);
    sweep_overrides_free(&o);
    sweep_overrides_free(NULL);
}

static void test_duplicates_and_notices(void)
{
    SweepSet set = {0};
    NnError err = {{0}};
    char *notes = NULL;
    CHECK(load_rel(&set, "tests/sweeps/good/duplicates.yaml", &notes, &err) == NN_OK, "%s",
          err.msg);
    CHECK(set.n_runs == 2 && set.sweeps[0].n_duplicates == 4, "%d runs, %d dropped", set.n_runs,
          set.n_sweeps ? set.sweeps[0].n_duplicates : -1);
    if (set.n_runs == 2)
        CHECK(set.sweeps[0].runs[0].config.learning_rate == 0.1 &&
                  set.sweeps[0].runs[1].config.learning_rate == 0.05, "first occurrences kept");
    CHECK(notes && strstr(notes, "notice: sweep dups: 4 duplicate runs dropped"), "notice: %s",
          notes ? notes : "(none)");
    free(notes);
    sweep_set_free(&set);

    /* program and command make a program sweep (program.h); W&B's cloud
     * keys are ignored */
    CHECK(load_rel(&set, "tests/sweeps/good/wandb.yaml", &notes, &err) == NN_OK, "%s", err.msg);
    CHECK(set.n_runs == 4, "%d runs", set.n_runs);
    CHECK(set.n_sweeps == 1 && set.sweeps[0].program && set.sweeps[0].program->n_command == 4 &&
              !strcmp(set.sweeps[0].program->program, "train.py"),
          "a program sweep of train.py");
    if (set.n_runs == 4)
        CHECK(!strcmp(set.sweeps[0].runs[0].json, "{\"model\": \"mlp\", \"hidden_layers\": [32], "
                                                  "\"learning_rate\": 0.1, \"epochs\": 2}"),
              "the first run's config: %s", set.sweeps[0].runs[0].json);
    static const char *ignored[] = {"project", "entity"};
    for (int i = 0; i < 2; i++) {
        char want[64];
        snprintf(want, sizeof want, "notice: %s: ignored", ignored[i]);
        CHECK(notes && strstr(notes, want), "no notice for %s: %s", ignored[i],
              notes ? notes : "(none)");
    }
    free(notes);
    sweep_set_free(&set);
}

static void test_multi_document(void)
{
    SweepSet set = {0};
    NnError err = {{0}};
    CHECK(load_rel(&set, "tests/sweeps/good/multi.yaml", NULL, &err) == NN_OK, "%s", err.msg);
    CHECK(set.n_sweeps == 3 && set.n_runs == 7, "%d sweeps, %d runs", set.n_sweeps, set.n_runs);
    if (set.n_sweeps != 3) return;
    const Sweep *s = set.sweeps;
    CHECK(strcmp(s[0].name, "multi_1") == 0 && strcmp(s[1].name, "multi_2") == 0 &&
              strcmp(s[2].name, "multi.third") == 0, "names %s %s %s", s[0].name, s[1].name,
          s[2].name);
    for (int i = 0; i < 3; i++) CHECK(s[i].doc_index == i, "doc_index");
    CHECK(s[0].line == 3 && s[1].line == 9 && s[2].line == 20, "lines %d %d %d", s[0].line,
          s[1].line, s[2].line);
    CHECK(s[1].metric == SWEEP_VAL_ACCURACY && s[2].method == SWEEP_RANDOM && s[2].run_cap == 3,
          "metric, method");
    CHECK(s[2].description && strcmp(s[2].description, "a named sweep with a description") == 0,
          "description");
    CHECK(s[0].description == NULL, "no description");

    /* the specs partition the file: each document's exact text */
    size_t len;
    char *path = path_of("tests/sweeps/good/multi.yaml");
    char *text = read_text(path, &len);
    free(path);
    NnBuf cat = {0};
    for (int i = 0; i < 3; i++) nn_buf_append(&cat, s[i].spec, strlen(s[i].spec));
    CHECK(text && cat.len == len && memcmp(cat.data, text, len) == 0,
          "the specs do not add up to the file");
    CHECK(strncmp(s[0].spec, "# Three sweeps", 14) == 0, "spec 0: %s", s[0].spec);
    CHECK(strncmp(s[1].spec, "---\n# the second sweep", 22) == 0, "spec 1: %s", s[1].spec);
    size_t n1 = strlen(s[1].spec);
    CHECK(n1 > 22 && strcmp(s[1].spec + n1 - 22, "epochs: {value: 1}\n...") == 0,
          "spec 1 does not end at '...': %s", s[1].spec);
    CHECK(strstr(s[2].spec, "# after an explicit document end") && strstr(s[2].spec, "count: 3"),
          "spec 2: %s", s[2].spec);
    nn_buf_free(&cat);
    free(text);

    /* a spec alone expands to the same runs */
    for (int i = 1; i < 3; i++) {
        SweepSet one = {0};
        CHECK(load_str(&one, s[i].spec, "spec.yaml", NULL, &err) == NN_OK, "%s", err.msg);
        CHECK(one.n_runs == s[i].n_runs, "spec %d: %d runs", i, one.n_runs);
        for (int r = 0; r < one.n_runs && r < s[i].n_runs; r++)
            CHECK(strcmp(one.sweeps[0].runs[r].json, s[i].runs[r].json) == 0 &&
                      (i == 1 || strcmp(one.sweeps[0].runs[r].id, s[i].runs[r].id) == 0),
                  "spec %d run %d", i, r);
        CHECK(strcmp(one.sweeps[0].name, i == 1 ? "spec" : "multi.third") == 0, "name %s",
              one.sweeps[0].name);
        sweep_set_free(&one);
    }
    sweep_set_free(&set);

    /* libyaml's marks count characters: UTF-8, CRLF and a byte order mark */
    static const char *odd = "\xEF\xBB\xBF# Gr\xC3\xBC\xC3\x9F\xE2\x82\xAC\r\nname: a\r\n"
                             "description: \"\xC3\xA4\xC3\xB6\xC3\xBC\"\r\nmethod: grid\r\n"
                             "parameters:\r\n  epochs: {value: 1}\r\n---\r\n# \xC3\xA9\r\n"
                             "name: b\r\nmethod: grid\r\nparameters:\r\n  epochs: {value: 2}\r\n";
    CHECK(load_str(&set, odd, "odd.yaml", NULL, &err) == NN_OK, "%s", err.msg);
    CHECK(set.n_sweeps == 2, "%d sweeps", set.n_sweeps);
    if (set.n_sweeps == 2) {
        size_t n0 = strlen(set.sweeps[0].spec);
        CHECK(n0 + strlen(set.sweeps[1].spec) == strlen(odd) &&
                  strncmp(set.sweeps[0].spec, odd, n0) == 0 &&
                  strcmp(set.sweeps[1].spec, odd + n0) == 0, "specs of a UTF-8/CRLF file");
        CHECK(strncmp(set.sweeps[1].spec, "---\r\n# \xC3\xA9", 8) == 0, "spec 1: %s",
              set.sweeps[1].spec);
    }
    sweep_set_free(&set);
}

static void test_set_rules(void)
{
    static const char *doc = "name: a\nmethod: grid\nparameters:\n  epochs: {values: [1, 2]}\n";
    SweepSet set = {0};
    NnError err = {{0}};
    CHECK(load_str(&set, doc, "f1.yaml", NULL, &err) == NN_OK, "%s", err.msg);
    CHECK(load_str(&set, doc, "f2.yaml", NULL, &err) == NN_ERR_INPUT, "same name twice");
    CHECK(strstr(err.msg, "f2.yaml:1: name: sweep name a is already used by f1.yaml:1"), "%s",
          err.msg);
    CHECK(set.n_sweeps == 1 && set.n_runs == 2, "a failed load changed the set");
    CHECK(load_str(&set, "name: b\nmethod: grid\nparameters:\n  epochs: {values: [1, 2]}\n---\n"
                         "method: grid\nparameters:\n  epochs: {values: [0]}\n",
                   "f3.yaml", NULL, &err) == NN_ERR_INPUT, "bad second document");
    CHECK(set.n_sweeps == 1, "a failed load changed the set");
    sweep_set_free(&set);

    /* names derived from the same file name in two folders */
    static const char *anon = "method: grid\nparameters:\n  epochs: {value: 1}\n";
    CHECK(load_str(&set, anon, "d1/x.yaml", NULL, &err) == NN_OK, "%s", err.msg);
    CHECK(strcmp(set.sweeps[0].name, "x") == 0, "derived name %s", set.sweeps[0].name);
    CHECK(load_str(&set, anon, "d2/x.yaml", NULL, &err) == NN_ERR_INPUT &&
              strstr(err.msg, "d2/x.yaml:1: name: sweep name x (from the file name) is already "
                              "used by d1/x.yaml:1"), "%s", err.msg);
    CHECK(load_str(&set, anon, "odd name!.yml", NULL, &err) == NN_OK, "%s", err.msg);
    CHECK(set.n_sweeps == 2 && strcmp(set.sweeps[1].name, "odd_name_") == 0, "derived name");
    sweep_set_free(&set);

    /* a grid beyond SWEEP_MAX_RUNS is refused before it is expanded */
    NnBuf big = {0};
    nn_buf_printf(&big, "name: big\nmethod: grid\nparameters:\n");
    nn_buf_printf(&big, "  seed: {values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}\n");
    const char *keys[] = {"learning_rate", "momentum", "weight_decay", "dropout",
                          "label_smoothing"};
    for (int k = 0; k < 5; k++)
        nn_buf_printf(&big, "  %s: {values: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.25]}\n",
                      keys[k]);
    CHECK(load_str(&set, big.data, "big.yaml", NULL, &err) == NN_ERR_INPUT &&
              strstr(err.msg, "big.yaml:3: parameters: the grid of sweep big has more than 100000 "
                              "combinations"), "%s", err.msg);
    nn_buf_free(&big);

    /* W&B's run_cap is count */
    CHECK(load_str(&set, "name: cap\nmethod: random\nrun_cap: 5\nparameters:\n"
                         "  seed: {min: 1, max: 1000}\n", "cap.yaml", NULL, &err) == NN_OK &&
              set.n_runs == 5 && set.sweeps[0].run_cap == 5, "run_cap: %s", err.msg);
    sweep_set_free(&set);

    /* costs follow train_images and val_split */
    CHECK(load_str(&set, "name: cost\nmethod: grid\nparameters:\n  epochs: {value: 3}\n"
                         "  train_images: {values: [0, 5000, 48000]}\n  val_split: {value: 1000}\n",
                   "cost.yaml", NULL, &err) == NN_OK, "%s", err.msg);
    static const int images[] = {49000, 5000, 48000};
    for (int r = 0; r < set.n_runs && r < 3; r++) {
        const SweepRun *run = &set.sweeps[0].runs[r];
        CHECK(sweep_train_images(&run->config) == images[r], "images %d",
              sweep_train_images(&run->config));
        check_planned(run, 3, images[r]);
    }
    sweep_set_free(&set);
}

/* Every file of the bad corpus fails with file:line and its expected text;
 * every good file and job loads. */
static void test_corpus(void)
{
    static const char *bad = "tests/sweeps/bad";
    char *dir_path = path_of(bad);
    DIR *dir = opendir(dir_path);
    CHECK(dir != NULL, "cannot open %s", dir_path);
    int n_bad = 0;
    struct dirent *e;
    while (dir && (e = readdir(dir))) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".yaml") != 0) continue;
        char rel[512];
        snprintf(rel, sizeof rel, "%s/%s", bad, e->d_name);
        char *path = path_of(rel);
        size_t len;
        char *text = read_text(path, &len);
        char expect[512] = "", line[32] = "";
        if (text) sscanf(text, "# expect: %511[^\n]\n# line: %31[0-9]", expect, line);
        CHECK(expect[0] && line[0], "%s: no '# expect:' and '# line:' lines", rel);
        SweepSet set = {0};
        NnError err = {{0}};
        NnStatus st = sweep_load_files(&set, (const char *const *)&path, 1, NULL, NULL, &err);
        char prefix[600];
        snprintf(prefix, sizeof prefix, "%s:%s: ", path, line);
        CHECK(st == NN_ERR_INPUT && set.n_sweeps == 0, "%s: loaded", rel);
        CHECK(strncmp(err.msg, prefix, strlen(prefix)) == 0, "%s: message does not start with "
              "%s: %s", rel, prefix, err.msg);
        CHECK(strstr(err.msg, expect) != NULL, "%s: expected '%s' in: %s", rel, expect, err.msg);
        sweep_set_free(&set);
        free(text);
        free(path);
        n_bad++;
    }
    if (dir) closedir(dir);
    free(dir_path);
    CHECK(n_bad >= 20, "only %d bad sweep files", n_bad);

    /* a file that is not there, a directory: the path and the system's reason */
    static const char *unreadable[][2] = {{"tests/sweeps/bad/no-such-file.yaml",
                                           ": cannot open: No such file or directory"},
                                          {"tests/sweeps/bad", ": cannot read: Is a directory"}};
    for (int i = 0; i < 2; i++) {
        char *path = path_of(unreadable[i][0]);
        SweepSet set = {0};
        NnError err = {{0}};
        NnStatus st = sweep_load_files(&set, (const char *const *)&path, 1, NULL, NULL, &err);
        char want[600];
        snprintf(want, sizeof want, "%s%s", path, unreadable[i][1]);
        CHECK(st == NN_ERR_INPUT && set.n_sweeps == 0 && strcmp(err.msg, want) == 0,
              "%s: status %d, message: %s", unreadable[i][0], (int)st, err.msg);
        sweep_set_free(&set);
        free(path);
    }

    /* every good file, the jobs and the examples load (a search sweep with
     * no runs yet: its strategy proposes them as it runs) */
    static const char *dirs[] = {"tests/sweeps/good", "jobs/examples", "jobs"};
    int n_good = 0;
    for (int d = 0; d < 3; d++) {
        char *dp = path_of(dirs[d]);
        DIR *gd = opendir(dp);
        CHECK(gd != NULL, "cannot open %s", dp);
        while (gd && (e = readdir(gd))) {
            size_t n = strlen(e->d_name);
            if (n < 6 || strcmp(e->d_name + n - 5, ".yaml") != 0) continue;
            char rel[512];
            snprintf(rel, sizeof rel, "%s/%s", dirs[d], e->d_name);
            SweepSet set = {0};
            NnError err = {{0}};
            CHECK(load_rel(&set, rel, NULL, &err) == NN_OK &&
                      (set.n_runs > 0 || set.sweeps[0].strategy->adopt),
                  "%s: %s", rel, err.msg);
            sweep_set_free(&set);
            n_good++;
        }
        if (gd) closedir(gd);
        free(dp);
    }
    CHECK(n_good >= 12, "only %d good sweep files", n_good);
}

int main(int argc, char **argv)
{
    if (argc > 1) src_dir = argv[1];
    test_seed_study();
    test_grid_order();
    test_ids_and_costs();
    test_random();
    test_overrides();
    test_duplicates_and_notices();
    test_multi_document();
    test_set_rules();
    test_corpus();
    return check_exit_code();
}
