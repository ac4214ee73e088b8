/* test_results.c - the results file (results.h): write a sweep, read every
 * value back, reopen and extend, reset, resume after kill -9, and refuse
 * bad input and files that are not ours; test_results_v2.c adds what
 * schema 2 is for. Label cpu. */
#include <hdf5.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nnsweep/config.h"
#include "test_results.h"

char dir[256], path[512];

int exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static const char *side(const char *suffix)
{
    static char buf[600];
    snprintf(buf, sizeof buf, "%s%s", path, suffix);
    return buf;
}

/* A layout of 12 linear layers + one batch norm: names fc0..fc11 check
 * that layer order (not name order) is kept; offsets as a model plan
 * lays them out (parameters, then buffers). */
TensorInfo tens[N_T];
size_t n_params_t, n_state_t;

static void make_layout(void)
{
    int k = 0;
    size_t off = 0;
    int width[13] = {6, 5, 4, 3, 3, 2, 2, 3, 4, 2, 3, 2, 10};
    for (int l = 0; l < 12; l++) {
        TensorInfo *w = &tens[k++], *b = &tens[k++];
        snprintf(w->name, sizeof w->name, "fc%d.weight", l);
        w->ndim = 2, w->shape[0] = width[l + 1], w->shape[1] = width[l];
        w->n = (size_t)width[l + 1] * (size_t)width[l], w->offset = off, off += w->n;
        snprintf(b->name, sizeof b->name, "fc%d.bias", l);
        b->ndim = 1, b->shape[0] = width[l + 1], b->n = (size_t)width[l + 1], b->offset = off;
        off += b->n;
    }
    const char *bn[4] = {"bn0.weight", "bn0.bias", "bn0.running_mean", "bn0.running_var"};
    for (int j = 0; j < 4; j++) {
        TensorInfo *t = &tens[k++];
        snprintf(t->name, sizeof t->name, "%s", bn[j]);
        t->ndim = 1, t->shape[0] = 5, t->n = 5, t->is_buffer = j >= 2;
        if (j == 2) n_params_t = off;
        t->offset = off, off += 5;
    }
    NN_CHECK(k == N_T, "layout");
    n_state_t = off;
}

EpochMetrics epoch_row(int run, int e)
{
    EpochMetrics m = {.epoch = e};
    m.train_loss = 2.3 - 0.1 * e + run, m.train_accuracy = 0.1 + 0.01 * e;
    m.val_loss = run == 1 ? NAN : 1.5 + e, m.val_accuracy = run == 1 ? NAN : 0.3 + 0.001 * e;
    m.test_loss = 1.0 / (e + 1), m.test_accuracy = 0.25 + 0.02 * e + 0.001 * run;
    m.top_accuracy = m.test_accuracy, m.learning_rate = 0.05 / (e + 1), m.seconds = 1.5 + e;
    return m;
}

/* A summary of a run that ended (n_params and n_state of the test's layout). */
RunSummary summary(RunStatus status, int done, int best, double bv, double bt, double wall)
{
    RunSummary r;
    run_summary_init(&r, status);
    r.epochs_done = done;
    r.best_epoch = best;
    r.best_val_accuracy = bv;
    r.best_test_accuracy = bt;
    r.best_step = best;
    r.best_value = best >= 0 ? bt : NAN;
    r.wall_seconds = wall;
    r.n_params = (int64_t)n_params_t;
    r.n_state = (int64_t)n_state_t;
    return r;
}

float *state_of(int run)
{
    float *s = malloc(n_state_t * sizeof *s);
    for (size_t i = 0; i < n_state_t; i++) s[i] = (float)(run * 1000 + i) * 0.25f - 3.0f;
    return s;
}

static RunConfig configs[4];
static const char *ids[4] = {"aaa111", "bbb222", "ccc333", "ddd444"};
static const char *spec1 = "name: s1\nmethod: grid\nparameters:\n  seed: {values: [1, 2, 3]}\n";

static void make_configs(void)
{
    for (int i = 0; i < 4; i++) {
        config_defaults(&configs[i]);
        configs[i].seed = 1000 + i;
        configs[i].epochs = 5 + i;
    }
    configs[1].n_hidden = 0;           /* empty int list attribute */
    configs[2].batchnorm = 1;
    configs[2].activation = ACT_GELU;
    configs[2].learning_rate = 0.001;
}

static NnBuf jsons[4];

static void make_json(void)
{
    for (int i = 0; i < 4; i++) config_to_json(&configs[i], &jsons[i]);
}

/* Run i of the test as a spec (train run, the test's layout). */
static ResultsRunSpec spec_of(int i, const char *sweep)
{
    ResultsRunSpec s = {ids[i], sweep, RESULTS_KIND_TRAIN, jsons[i].data, configs[i].epochs,
                        n_params_t, tens, N_T};
    return s;
}

static void add_runs(ResultsFile *rf, const char *sweep, int from, int to)
{
    for (int i = from; i < to; i++) {
        ResultsRunSpec s = spec_of(i, sweep);
        OK(results_add_run(rf, &s, E));
    }
}

/* ---- 1: write a sweep --------------------------------------------------------- */
static void write_first(void)
{
    ResultsFile *rf;
    OK(results_open_write(path, 1, &rf, E));
    CHECK(exists(side(".lock")) && exists(side(".partial")) && !exists(path),
          "structural phase works on the copy");
    ResultsFile *second;
    FAILS(results_open_write(path, 1, &second, E), NN_ERR_IO, "another nnsweep process");
    OK(results_add_sweep(rf, "s1", spec1, "grid", "test_accuracy", "maximize", E));
    FAILS(results_add_sweep(rf, "s1", "", "grid", "x", "maximize", E), NN_ERR_INPUT, "already");
    FAILS(results_add_sweep(rf, "a/b", "", "grid", "x", "maximize", E), NN_ERR_INPUT, "sweep name");
    char longname[80];
    memset(longname, 'x', 70), longname[70] = 0;
    FAILS(results_add_sweep(rf, longname, "", "grid", "x", "maximize", E), NN_ERR_INPUT, "1..63");
    add_runs(rf, "s1", 0, 3);
    /* bad input is refused and does not break the session */
    ResultsRunSpec s = spec_of(0, "s1");
    FAILS(results_add_run(rf, &s, E), NN_ERR_INPUT, "already in the file");
    s.run_id = "x/y";
    FAILS(results_add_run(rf, &s, E), NN_ERR_INPUT, "run id");
    s.run_id = "new1";
    s.sweep = "nosuch";
    FAILS(results_add_run(rf, &s, E), NN_ERR_INPUT, "no sweep");
    s.sweep = "s1";
    s.kind = "script";
    FAILS(results_add_run(rf, &s, E), NN_ERR_INPUT, "kind \"script\"");
    s.kind = RESULTS_KIND_TRAIN;
    s.config_json = "";
    FAILS(results_add_run(rf, &s, E), NN_ERR_INPUT, "no config");
    s.config_json = jsons[0].data;
    s.n_params = n_params_t + 1;
    FAILS(results_add_run(rf, &s, E), NN_ERR_INPUT, "n_params");
    s.n_params = n_params_t;
    TensorInfo bad[N_T];
    memcpy(bad, tens, sizeof bad);
    bad[3].offset += 1;
    s.tensors = bad;
    FAILS(results_add_run(rf, &s, E), NN_ERR_INPUT, "tile");
    memcpy(bad, tens, sizeof bad);
    snprintf(bad[5].name, sizeof bad[5].name, "%s", bad[4].name);
    FAILS(results_add_run(rf, &s, E), NN_ERR_INPUT, "twice");
    memcpy(bad, tens, sizeof bad);
    bad[0].shape[0] += 1;
    FAILS(results_add_run(rf, &s, E), NN_ERR_INPUT, "shape");
    s.tensors = NULL;
    s.n_tensors = 0;
    FAILS(results_add_run(rf, &s, E), NN_ERR_INPUT, "no tensor table");

    OK(results_start_swmr(rf, E));
    CHECK(exists(path) && !exists(side(".partial")), "start_swmr commits the copy");

    /* run 0: 5 epochs, done, weights */
    OK(results_set_running(rf, ids[0], "node-a", 3, "cpu", E));
    FAILS(results_set_running(rf, ids[0], "node-a", 3, "cpu", E), NN_ERR_INPUT, "not pending");
    for (int e = 0; e < 5; e++) {
        EpochMetrics m = epoch_row(0, e);
        OK(results_append_epoch(rf, ids[0], &m, E));
    }
    EpochMetrics again = epoch_row(0, 3), skip = epoch_row(0, 7);
    FAILS(results_append_epoch(rf, ids[0], &again, E), NN_ERR_INPUT, "expected epoch 5");
    FAILS(results_append_epoch(rf, ids[0], &skip, E), NN_ERR_INPUT, "expected epoch 5");
    FAILS(results_append_epoch(rf, "zzz", &again, E), NN_ERR_INPUT, "no run");
    FAILS(results_append_epoch(rf, ids[1], &again, E), NN_ERR_INPUT, "not running");
    RunSummary r = summary(RUN_DONE, 4, 3, 0.31, 0.33, 17.25);
    r.n_state = (int64_t)n_state_t - 1;
    float *best = state_of(0);
    FAILS(results_finish_run(rf, ids[0], &r, best, E), NN_ERR_INPUT, "weights given");
    r.n_state = (int64_t)n_state_t;
    r.status = RUN_PENDING;
    FAILS(results_finish_run(rf, ids[0], &r, best, E), NN_ERR_INPUT, "cannot end with status");
    r.status = RUN_DONE;
    OK(results_finish_run(rf, ids[0], &r, best, E));
    FAILS(results_finish_run(rf, ids[0], &r, best, E), NN_ERR_INPUT, "already ended");
    free(best);

    /* run 1: diverged at epoch 2, no weights, a long UTF-8 message */
    OK(results_set_running(rf, ids[1], "node-b-with-a-rather-long-host-name-that-goes-on-and-on-x"
                                       "yz-0123456789",
                           1, "cuda:1", E));
    for (int e = 0; e < 3; e++) {
        EpochMetrics m = epoch_row(1, e);
        OK(results_append_epoch(rf, ids[1], &m, E));
    }
    RunSummary d = summary(RUN_DIVERGED, 2, 1, NAN, 0.2, 3);
    for (int i = 0; i < 255; i++) memcpy(d.message + 2 * i, "\xc3\xa9", 2); /* 255 x 'e acute' */
    OK(results_finish_run(rf, ids[1], &d, NULL, E));

    /* run 2: still running at shutdown */
    OK(results_set_running(rf, ids[2], "node-c", 2, "cpu", E));
    EpochMetrics m0 = epoch_row(2, 0);
    OK(results_append_epoch(rf, ids[2], &m0, E));
    int n_marked = 0;
    OK(results_mark_unfinished(rf, RUN_INTERRUPTED, "SIGTERM", &n_marked, E));
    CHECK(n_marked == 1, "marked %d", n_marked);
    OK(results_close(rf, E));
    CHECK(!exists(side(".lock")) && !exists(side(".partial")), "side files gone after close");
}

/* ---- 2: read every value back ------------------------------------------------- */
static void check_row(const ResultsRow *r, const char *id, RunStatus status, int epochs,
                      int done, int best, double bv, double bt, double wall, int weights,
                      const char *host, int rank, const char *device)
{
    CHECK(strcmp(r->run_id, id) == 0, "%s vs %s", r->run_id, id);
    CHECK(strcmp(r->sweep, "s1") == 0 || strcmp(r->sweep, "s2") == 0, "sweep %s", r->sweep);
    CHECK(r->status == status, "%s: status %s, expected %s", id, run_status_name(r->status),
          run_status_name(status));
    CHECK(r->epochs == epochs && r->epochs_done == done && r->best_epoch == best,
          "%s: epochs %d/%d best %d", id, r->epochs, r->epochs_done, r->best_epoch);
    CHECK((isnan(bv) && isnan(r->best_val_accuracy)) || r->best_val_accuracy == bv, "%s bv %g", id,
          r->best_val_accuracy);
    CHECK((isnan(bt) && isnan(r->best_test_accuracy)) || r->best_test_accuracy == bt, "%s bt %g",
          id, r->best_test_accuracy);
    CHECK(r->wall_seconds == wall, "%s wall %g, expected %g", id, r->wall_seconds, wall);
    CHECK(r->best_step == best && ((isnan(bt) || best < 0) ? isnan(r->best_value)
                                                           : r->best_value == bt),
          "%s best_step %lld best_value %g", id, (long long)r->best_step, r->best_value);
    CHECK(strcmp(r->kind, "train") == 0 && r->n_state == (int64_t)n_state_t && r->last_step == -1,
          "%s kind %s n_state %lld last_step %lld", id, r->kind, (long long)r->n_state,
          (long long)r->last_step);
    CHECK(r->has_weights == weights && r->n_params == (int64_t)n_params_t, "%s weights/params", id);
    CHECK(strncmp(r->host, host, RESULTS_HOST_LEN - 1) == 0 && r->worker_rank == rank &&
              strcmp(r->device, device) == 0,
          "%s host %s rank %d device %s", id, r->host, r->worker_rank, r->device);
}

static void check_metrics(ResultsFile *rf, int run, int n_expected)
{
    EpochMetrics *m;
    size_t n;
    OK(results_read_metrics(rf, ids[run], &m, &n, E));
    CHECK(n == (size_t)n_expected, "run %d: %zu rows, expected %d", run, n, n_expected);
    for (size_t e = 0; e < n && e < (size_t)n_expected; e++) {
        EpochMetrics w = epoch_row(run, (int)e);
        double got[9] = {m[e].train_loss, m[e].train_accuracy, m[e].val_loss, m[e].val_accuracy,
                         m[e].test_loss, m[e].test_accuracy, m[e].top_accuracy,
                         m[e].learning_rate, m[e].seconds};
        double want[9] = {w.train_loss, w.train_accuracy, w.val_loss, w.val_accuracy, w.test_loss,
                          w.test_accuracy, w.top_accuracy, w.learning_rate, w.seconds};
        CHECK(m[e].epoch == (int)e, "epoch %d", m[e].epoch);
        for (int f = 0; f < 9; f++)
            CHECK((isnan(want[f]) && isnan(got[f])) || got[f] == want[f],
                  "run %d epoch %zu field %d: %.17g vs %.17g", run, e, f, got[f], want[f]);
    }
    free(m);
}

static void read_first(void)
{
    ResultsFile *rf;
    OK(results_open_read(path, &rf, E));
    ResultsRow *rows;
    size_t n;
    OK(results_read_summary(rf, &rows, &n, E));
    CHECK(n == 3, "%zu rows", n);
    if (n != 3) return;
    check_row(&rows[0], ids[0], RUN_DONE, 5, 4, 3, 0.31, 0.33, 17.25, 1, "node-a", 3, "cpu");
    check_row(&rows[1], ids[1], RUN_DIVERGED, 6, 2, 1, NAN, 0.2, 3, 0,
              "node-b-with-a-rather-long-host-name-that-goes-on-and-on-xyz-0123456789", 1,
              "cuda:1");
    check_row(&rows[2], ids[2], RUN_INTERRUPTED, 7, 0, -1, NAN, NAN, 1.5, 0, "node-c", 2, "cpu");
    CHECK(strlen(rows[1].host) == RESULTS_HOST_LEN - 1, "host cut to %d", RESULTS_HOST_LEN - 1);
    CHECK(strlen(rows[1].message) == 510, "message cut at a character boundary: %zu",
          strlen(rows[1].message));
    CHECK(strcmp(rows[2].message, "SIGTERM") == 0 && rows[0].message[0] == 0, "messages");
    free(rows);

    check_metrics(rf, 0, 5);
    check_metrics(rf, 1, 3);
    check_metrics(rf, 2, 1);
    size_t nr;
    OK(results_run_rows(rf, ids[0], &nr, E));
    CHECK(nr == 5, "run_rows %zu", nr);

    for (int i = 0; i < 3; i++) {
        char *json;
        OK(results_read_config(rf, ids[i], &json, E));
        CHECK(strcmp(json, jsons[i].data) == 0, "config %d:\n%s\n%s", i, json, jsons[i].data);
        RunConfig back;
        config_defaults(&back);
        NnError e2;
        CHECK(config_from_json(&back, json, &e2) == NN_OK, "config_from_json: %s", e2.msg);
        NnBuf again = {0};
        config_to_json(&back, &again);
        CHECK(strcmp(again.data, jsons[i].data) == 0, "config %d round trip", i);
        nn_buf_free(&again);
        free(json);
    }

    float *st;
    size_t ns;
    TensorInfo *t;
    int nt;
    OK(results_read_weights(rf, ids[0], &st, &ns, &t, &nt, E));
    float *want = state_of(0);
    CHECK(ns == n_state_t && nt == N_T, "weights %zu floats, %d tensors", ns, nt);
    if (ns == n_state_t) check_close("weights", st, want, ns, 0, 0);
    for (int i = 0; i < nt && i < N_T; i++)
        CHECK(strcmp(t[i].name, tens[i].name) == 0 && t[i].ndim == tens[i].ndim &&
                  t[i].shape[0] == tens[i].shape[0] && t[i].shape[1] == tens[i].shape[1] &&
                  t[i].offset == tens[i].offset && t[i].n == tens[i].n &&
                  t[i].is_buffer == tens[i].is_buffer,
              "tensor %d: %s vs %s", i, t[i].name, tens[i].name);
    free(st), free(t), free(want);
    FAILS(results_read_weights(rf, ids[1], &st, &ns, NULL, NULL, E), NN_ERR_INPUT,
          "no stored weights");
    char *json;
    FAILS(results_read_config(rf, "nope", &json, E), NN_ERR_INPUT, "no run");

    ResultsSweep *sw;
    int nsw;
    OK(results_list_sweeps(rf, &sw, &nsw, E));
    CHECK(nsw == 1 && strcmp(sw[0].name, "s1") == 0 && strcmp(sw[0].spec, spec1) == 0 &&
              strcmp(sw[0].method, "grid") == 0 && strcmp(sw[0].metric, "test_accuracy") == 0 &&
              strcmp(sw[0].goal, "maximize") == 0,
          "sweeps");
    results_sweeps_free(sw, nsw);
    OK(results_close(rf, E));
}

/* The schema's layout, read with the plain HDF5 API: version 2, every
 * table, no object per run, one stored tensor table for three runs of one
 * layout. */
static void check_layout(void)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0, "plain open of a cleanly closed file");
    if (f < 0) return;
    hid_t a = H5Aopen(f, "schema_version", H5P_DEFAULT);
    int v = 0;
    CHECK(a >= 0 && H5Aread(a, H5T_NATIVE_INT, &v) >= 0 && v == 2, "schema_version %d", v);
    H5Aclose(a);
    CHECK(H5Aexists(f, "converted_from") == 0, "a new file was not converted");
    const char *tables[] = {"summary", "text", "tensors", "metrics", "logs", "log_keys", "weights"};
    for (int i = 0; i < 7; i++) CHECK(H5Lexists(f, tables[i], H5P_DEFAULT) > 0, "/%s", tables[i]);
    CHECK(H5Lexists(f, "runs", H5P_DEFAULT) == 0, "no /runs group in schema 2");
    H5Eclear2(H5E_DEFAULT);
    hid_t d = H5Dopen2(f, "tensors", H5P_DEFAULT), sp = H5Dget_space(d);
    CHECK(H5Sget_simple_extent_npoints(sp) == N_T,
          "one tensor table stored for three runs: %lld rows",
          (long long)H5Sget_simple_extent_npoints(sp));
    H5Sclose(sp), H5Dclose(d);
    d = H5Dopen2(f, "weights", H5P_DEFAULT), sp = H5Dget_space(d);
    CHECK(H5Sget_simple_extent_npoints(sp) == (hssize_t)n_state_t, "one run's weights: %lld floats",
          (long long)H5Sget_simple_extent_npoints(sp));
    H5Sclose(sp), H5Dclose(d), H5Fclose(f);
}

/* ---- 3: reopen, add a sweep, reset a run --------------------------------------- */
static void extend(void)
{
    ResultsFile *rf, *watcher;
    OK(results_open_read(path, &watcher, E));
    CHECK(!results_replaced(watcher), "not replaced yet");
    OK(results_open_write(path, 0, &rf, E));
    CHECK(!results_was_repaired(rf), "a clean file needs no repair");
    OK(results_add_sweep(rf, "s2", "name: s2\n", "random", "val_accuracy", "maximize", E));
    OK(results_set_sweep_overrides(rf, "s2", "--set epochs=2", E));
    OK(results_set_sweep_overrides(rf, "s2", "--set val_split=100 --name-suffix _v", E));
    FAILS(results_set_sweep_overrides(rf, "nope", "--set epochs=2", E), NN_ERR_INPUT, "no sweep");
    add_runs(rf, "s2", 3, 4);
    OK(results_reset_run(rf, ids[2], E));
    FAILS(results_reset_run(rf, "nope", E), NN_ERR_INPUT, "no run");
    size_t nr = 9;
    OK(results_run_rows(rf, ids[2], &nr, E));
    CHECK(nr == 0, "reset run has %zu rows", nr);
    ResultsRow rr;
    OK(results_get_row(rf, ids[2], &rr, E));
    CHECK(rr.attempt == 1 && rr.status == RUN_PENDING, "reset: attempt %d, %s", rr.attempt,
          run_status_name(rr.status));
    OK(results_start_swmr(rf, E));
    CHECK(results_replaced(watcher), "a reader learns that the file was replaced");
    OK(results_close(watcher, E));
    OK(results_set_running(rf, ids[2], "node-d", 1, "cpu", E));
    EpochMetrics m0 = epoch_row(2, 0);
    OK(results_append_epoch(rf, ids[2], &m0, E));
    OK(results_close(rf, E));

    OK(results_open_read(path, &rf, E));
    ResultsRow *rows;
    size_t n;
    OK(results_read_summary(rf, &rows, &n, E));
    CHECK(n == 4, "%zu rows after adding a sweep", n);
    if (n == 4) {
        check_row(&rows[0], ids[0], RUN_DONE, 5, 4, 3, 0.31, 0.33, 17.25, 1, "node-a", 3, "cpu");
        check_row(&rows[2], ids[2], RUN_RUNNING, 7, 0, -1, NAN, NAN, 1.5, 0, "node-d", 1, "cpu");
        CHECK(rows[2].attempt == 1 && rows[0].attempt == 0, "attempts %d %d", rows[2].attempt,
              rows[0].attempt);
        check_row(&rows[3], ids[3], RUN_PENDING, 8, 0, -1, NAN, NAN, 0, 0, "", -1, "");
        CHECK(strcmp(rows[3].sweep, "s2") == 0, "sweep of the new run");
    }
    free(rows);
    check_metrics(rf, 0, 5);
    check_metrics(rf, 2, 1);
    ResultsSweep *sw;
    int nsw;
    OK(results_list_sweeps(rf, &sw, &nsw, E));
    CHECK(nsw == 2 && strcmp(sw[1].name, "s2") == 0 && strcmp(sw[1].method, "random") == 0,
          "two sweeps");
    CHECK(nsw == 2 && !sw[0].overrides && sw[1].overrides &&
              !strcmp(sw[1].overrides, "--set val_split=100 --name-suffix _v"),
          "overrides: only s2's, the last one written");
    results_sweeps_free(sw, nsw);
    OK(results_close(rf, E));

    int repaired = -1;
    struct stat before, after;
    stat(path, &before);
    OK(results_repair(path, &repaired, E));
    stat(path, &after);
    CHECK(repaired == 0 && before.st_ino == after.st_ino, "repair leaves a sound file alone");
}

/* ---- 4: kill -9 in the structural phase and in SWMR mode ----------------------- */
static void crash_child(int swmr)
{
    ResultsFile *rf;
    NnError e;
    if (results_open_write(path, 0, &rf, &e) != NN_OK) _exit(3);
    if (!swmr) {
        if (results_add_sweep(rf, "s3", "", "grid", "x", "maximize", &e) != NN_OK) _exit(4);
        raise(SIGKILL); /* before the copy replaced the file */
    }
    if (results_start_swmr(rf, &e) != NN_OK) _exit(5);
    if (results_set_running(rf, ids[3], "node-k", 1, "cpu", &e) != NN_OK) _exit(6);
    for (int i = 0; i < 3; i++) {
        EpochMetrics m = epoch_row(3, i);
        if (results_append_epoch(rf, ids[3], &m, &e) != NN_OK) _exit(7);
    }
    raise(SIGKILL);
    _exit(8);
}

static void crash(int swmr)
{
    pid_t pid = fork();
    if (pid == 0) crash_child(swmr);
    int ws = 0;
    waitpid(pid, &ws, 0);
    CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL, "child %s: status %d",
          swmr ? "swmr" : "structural", ws);
}

static void crashes(void)
{
    crash(0);
    CHECK(exists(side(".partial")), "the killed session left its copy");
    ResultsFile *rf;
    OK(results_open_read(path, &rf, E));
    ResultsSweep *sw;
    int nsw;
    OK(results_list_sweeps(rf, &sw, &nsw, E));
    CHECK(nsw == 2, "a structural phase killed changes nothing (%d sweeps)", nsw);
    results_sweeps_free(sw, nsw);
    OK(results_close(rf, E));

    crash(1);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f < 0, "a plain open of a killed SWMR file fails (as DESIGN.md measured)");
    if (f >= 0) H5Fclose(f);
    OK(results_open_read(path, &rf, E)); /* SWMR read */
    size_t nr;
    OK(results_run_rows(rf, ids[3], &nr, E));
    CHECK(nr == 3, "every flushed row is there: %zu", nr);
    OK(results_close(rf, E));

    OK(results_open_write(path, 0, &rf, E));
    CHECK(results_was_repaired(rf), "the killed writer's file was repaired");
    OK(results_start_swmr(rf, E));
    EpochMetrics m = epoch_row(3, 3);
    OK(results_append_epoch(rf, ids[3], &m, E)); /* the run goes on */
    RunSummary r = summary(RUN_DONE, 3, 3, 0.4, 0.5, 9);
    float *best = state_of(3);
    OK(results_finish_run(rf, ids[3], &r, best, E));
    free(best);
    OK(results_close(rf, E));
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0, "a plain open works after repair and a clean close");
    if (f >= 0) H5Fclose(f);
    OK(results_open_read(path, &rf, E));
    check_metrics(rf, 3, 4);
    check_metrics(rf, 0, 5);
    float *st;
    size_t ns;
    OK(results_read_weights(rf, ids[3], &st, &ns, NULL, NULL, E));
    float *want = state_of(3);
    check_close("weights after repair", st, want, n_state_t, 0, 0);
    free(st), free(want);
    OK(results_close(rf, E));
}

/* ---- 5: files that are not ours ------------------------------------------------- */
static void foreign(void)
{
    char p[600];
    ResultsFile *rf;
    snprintf(p, sizeof p, "%s/plain.h5", dir);
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(f);
    FAILS(results_open_read(p, &rf, E), NN_ERR_INPUT, "not an nnsweep results file");
    FAILS(results_open_write(p, 1, &rf, E), NN_ERR_INPUT, "not an nnsweep results file");
    snprintf(p, sizeof p, "%s/plain.h5.partial", dir);
    CHECK(!exists(p), "a refused file leaves no copy");

    snprintf(p, sizeof p, "%s/text.h5", dir);
    FILE *t = fopen(p, "w");
    fputs("hello\n", t);
    fclose(t);
    FAILS(results_open_read(p, &rf, E), NN_ERR_INPUT, "not HDF5");
    FAILS(results_open_write(p, 1, &rf, E), NN_ERR_INPUT, "not HDF5");

    snprintf(p, sizeof p, "%s/v3.h5", dir);
    OK(results_open_write(p, 1, &rf, E));
    OK(results_close(rf, E));
    f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t a = H5Aopen(f, "schema_version", H5P_DEFAULT);
    int three = 3;
    H5Awrite(a, H5T_NATIVE_INT, &three);
    H5Aclose(a), H5Fclose(f);
    FAILS(results_open_read(p, &rf, E), NN_ERR_INPUT, "schema version 3");
    FAILS(results_open_write(p, 0, &rf, E), NN_ERR_INPUT, "schema version 3");

    snprintf(p, sizeof p, "%s/missing.h5", dir);
    FAILS(results_open_read(p, &rf, E), NN_ERR_IO, "no such file");
    FAILS(results_open_write(p, 0, &rf, E), NN_ERR_IO, "missing.h5");
    CHECK(results_close(NULL, NULL) == NN_OK, "close(NULL)");
}

/* ---- 6: a symbolic link to the file -------------------------------------------- */
static void symlinked(void)
{
    char real[600], link[600];
    snprintf(real, sizeof real, "%s/real.h5", dir);
    snprintf(link, sizeof link, "%s/link.h5", dir);
    ResultsFile *rf, *other;
    OK(results_open_write(real, 1, &rf, E));
    OK(results_close(rf, E));
    CHECK(symlink("real.h5", link) == 0, "symlink");
    OK(results_open_write(link, 0, &rf, E));
    FAILS(results_open_write(real, 0, &other, E), NN_ERR_IO, "another nnsweep process");
    OK(results_add_sweep(rf, "via-link", "", "grid", "x", "maximize", E));
    OK(results_start_swmr(rf, E));
    OK(results_close(rf, E));
    struct stat sb;
    CHECK(lstat(link, &sb) == 0 && S_ISLNK(sb.st_mode), "the link is still a link");
    OK(results_open_read(real, &rf, E));
    ResultsSweep *sw;
    int nsw;
    OK(results_list_sweeps(rf, &sw, &nsw, E));
    CHECK(nsw == 1 && strcmp(sw[0].name, "via-link") == 0, "written through the link");
    results_sweeps_free(sw, nsw);
    OK(results_close(rf, E));
}

int main(int argc, char **argv)
{
    make_layout();
    if (argc == 4 && strcmp(argv[1], "reader") == 0) return test_results_reader(argv[2], argv[3]);
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/nnsweep-results-XXXXXX", tmp ? tmp : "/tmp");
    NN_CHECK(mkdtemp(dir), "mkdtemp %s", dir);
    snprintf(path, sizeof path, "%s/results.h5", dir);
    make_configs();
    make_json();
    write_first();
    read_first();
    check_layout();
    extend();
    crashes();
    foreign();
    symlinked();
    test_results_v2();
    for (int i = 0; i < 4; i++) nn_buf_free(&jsons[i]);
    if (!check_failures) { /* keep the files of a failed run for a look */
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    } else {
        fprintf(stderr, "files kept in %s\n", dir);
    }
    return check_exit_code();
}
