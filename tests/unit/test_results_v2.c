/* test_results_v2.c - what schema 2 is for (results.h): runs added, logged
 * with names of their own, reset (attempts) and given outputs while a
 * reader watches the file in SWMR mode; the run index with thousands of
 * runs; a status no nnsweep knows; a schema-1 file (written here with the
 * plain HDF5 API, as the old writer laid it out) read and converted. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_results.h"

static const char *const prog_json = "{\"command\":\"python train.py\",\"lr\":0.1}";

static ResultsRunSpec program(const char *id, const char *sweep)
{
    ResultsRunSpec s = {id, sweep, RESULTS_KIND_PROGRAM, prog_json, -1, 0, NULL, 0};
    return s;
}

static ResultsRunSpec train(const char *id, const char *sweep)
{
    ResultsRunSpec s = {id, sweep, RESULTS_KIND_TRAIN, "{\"epochs\":3}", 3, n_params_t, tens, N_T};
    return s;
}

/* The reader's logs of run id: n rows, each (step, name, value) as given. */
static void check_logs(ResultsFile *rf, const char *id, size_t n, const int64_t *steps,
                       const char *const *names, const double *values)
{
    ResultsLog *l;
    size_t got;
    OK(results_read_logs(rf, id, &l, &got, E));
    CHECK(got == n, "%s: %zu logged values, expected %zu", id, got, n);
    for (size_t i = 0; i < got && i < n; i++)
        CHECK(l[i].step == steps[i] && strcmp(l[i].name, names[i]) == 0 &&
                  (l[i].value == values[i] || (isnan(l[i].value) && isnan(values[i]))),
              "%s row %zu: (%lld, %s, %g), expected (%lld, %s, %g)", id, i, (long long)l[i].step,
              l[i].name, l[i].value, (long long)steps[i], names[i], values[i]);
    free(l);
}

/* ---- runs added, logged, reset in SWMR mode under a reader's eyes ----------------
 * The writer works here; after each step a reader in another process (a
 * SWMR reader cannot share the writer's process: HDF5 opens a file once per
 * process) checks what it must see: reader_stage. */

/* Runs reader stage `stage` on p in a new process (this binary again). */
static void reader(const char *stage, const char *p)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", "test_results", "reader", stage, p, (char *)NULL);
        _exit(127);
    }
    int ws = 0;
    waitpid(pid, &ws, 0);
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "SWMR reader, stage %s: status %d", stage, ws);
}

static const char *const n0[3] = {"loss", "acc/top-1", "lr schedule"};
static const double v0[3] = {0.5, 0.25, 7};
static const char *const n1[2] = {"loss", "grad_norm"};
static const double v1[2] = {0.375, NAN};
static const char *const n2[2] = {"grad_norm", "tokens/s"};
static const double v2[2] = {3, 4};
static const double v9[1] = {9};
static const char *const outputs = "{\"artifacts\":[\"/scratch/p2/ckpt.pt\"]}";
static char name63[64]; /* a name of 63 bytes */

static void stage_added(ResultsFile *r)
{
    ResultsRow row;
    OK(results_get_row(r, "p2", &row, E)); /* the reader's cache learns new runs */
    CHECK(strcmp(row.kind, "program") == 0 && row.status == RUN_PENDING && row.epochs == -1 &&
              row.n_params == 0 && row.n_state == 0 && row.last_step == -1,
          "p2 as added: %s %s", row.kind, run_status_name(row.status));
    char *json;
    OK(results_read_config(r, "p1", &json, E));
    CHECK(strcmp(json, prog_json) == 0, "a program's config: %s", json);
    free(json);
}

static void stage_logged(ResultsFile *r)
{
    const int64_t s[6] = {0, 0, 0, 5, 5, 6};
    const char *nm[6] = {"loss", "acc/top-1", "lr schedule", "loss", "grad_norm", name63};
    const double v[6] = {0.5, 0.25, 7, 0.375, NAN, 0.5};
    check_logs(r, "p1", 6, s, nm, v); /* in the order logged, NaN kept */
    ResultsRow row;
    OK(results_get_row(r, "p1", &row, E));
    CHECK(row.last_step == 6 && row.status == RUN_RUNNING, "last_step %lld",
          (long long)row.last_step);
    const int64_t s2[2] = {1, 1};
    check_logs(r, "p2", 2, s2, n2, v2);
}

static void stage_reset(ResultsFile *r)
{
    ResultsRow row;
    OK(results_get_row(r, "p1", &row, E));
    CHECK(row.attempt == 1 && row.status == RUN_PENDING && row.last_step == -1,
          "reset in SWMR mode: attempt %d %s", row.attempt, run_status_name(row.status));
    check_logs(r, "p1", 0, NULL, NULL, NULL);
}

static void stage_ended(ResultsFile *r)
{
    const int64_t s0[1] = {0};
    check_logs(r, "p1", 1, s0, n0, v9);
    float *st, *best = state_of(5);
    size_t ns, n;
    TensorInfo *t;
    int nt;
    OK(results_read_weights(r, "t1", &st, &ns, &t, &nt, E));
    CHECK(ns == n_state_t && nt == N_T && memcmp(st, best, ns * sizeof *st) == 0 &&
              strcmp(t[27].name, tens[27].name) == 0 && t[27].is_buffer,
          "weights of a run added in SWMR mode");
    free(st), free(t), free(best);
    EpochMetrics *m;
    OK(results_read_metrics(r, "t1", &m, &n, E));
    CHECK(n == 3 && m[2].epoch == 2 && m[2].test_loss == epoch_row(1, 2).test_loss, "metrics %zu",
          n);
    free(m);
    char *json;
    OK(results_read_outputs(r, "p2", &json, E));
    CHECK(json && strcmp(json, outputs) == 0, "outputs %s", json ? json : "(none)");
    free(json);
    OK(results_read_outputs(r, "p1", &json, E));
    CHECK(json == NULL, "no outputs: NULL");
    ResultsRow row;
    OK(results_get_row(r, "p2", &row, E));
    CHECK(row.status == RUN_DONE && row.best_step == 1 && row.best_value == 3 && !row.has_weights,
          "p2 ended: %s %lld %g", run_status_name(row.status), (long long)row.best_step,
          row.best_value);
    FAILS(results_read_weights(r, "p2", &st, &ns, NULL, NULL, E), NN_ERR_INPUT,
          "no stored weights");
}

enum { N_MANY = 6000 };
static void many_id(int i, char id[16]) { snprintf(id, 16, "m%d", i * 7919 % 100003); }

static void stage_many(ResultsFile *r)
{
    char id[16], json[64];
    for (int i = 0; i < N_MANY; i += 97) {
        many_id(i, id);
        char *got;
        OK(results_read_config(r, id, &got, E));
        snprintf(json, sizeof json, "{\"i\":%d}", i);
        CHECK(strcmp(got, json) == 0, "run %s: %s", id, got);
        free(got);
        ResultsRow row;
        OK(results_get_row(r, id, &row, E));
        CHECK(row.status == RUN_RUNNING, "run %s is %s", id, run_status_name(row.status));
    }
}

int test_results_reader(const char *stage, const char *p)
{
    memset(name63, 'k', 63);
    ResultsFile *r;
    NnError e;
    if (results_open_read(p, &r, &e) != NN_OK) {
        fprintf(stderr, "reader: %s\n", e.msg);
        return 1;
    }
    CHECK(strcmp(stage, "empty") == 0 || results_schema_version(r) == 2, "version");
    if (strcmp(stage, "empty") == 0) {
        ResultsRow *rows;
        size_t n = 9;
        NnError e2;
        CHECK(results_read_summary(r, &rows, &n, &e2) == NN_OK && n == 0, "no runs yet: %zu", n);
    } else if (strcmp(stage, "added") == 0) {
        stage_added(r);
    } else if (strcmp(stage, "logged") == 0) {
        stage_logged(r);
    } else if (strcmp(stage, "reset") == 0) {
        stage_reset(r);
    } else if (strcmp(stage, "ended") == 0) {
        stage_ended(r);
    } else if (strcmp(stage, "many") == 0) {
        stage_many(r);
    } else {
        CHECK(0, "no reader stage %s", stage);
    }
    results_close(r, NULL);
    return check_exit_code();
}

static void swmr_runs(void)
{
    char p[600];
    snprintf(p, sizeof p, "%s/live.h5", dir);
    memset(name63, 'k', 63);
    ResultsFile *w;
    OK(results_open_write(p, 1, &w, E));
    OK(results_add_sweep(w, "s", "name: s\n", "random", "loss", "minimize", E));
    OK(results_start_swmr(w, E));
    reader("empty", p);

    ResultsRunSpec a = train("t1", "s"), b = program("p1", "s"), c = program("p2", "s");
    OK(results_add_run(w, &a, E));
    OK(results_add_run(w, &b, E));
    OK(results_add_run(w, &c, E));
    FAILS(results_add_run(w, &b, E), NN_ERR_INPUT, "already in the file");
    reader("added", p);

    /* logged rows with names of their own */
    FAILS(results_append_log(w, "p1", 0, 2, n0, v0, E), NN_ERR_INPUT, "not running");
    OK(results_set_running(w, "p1", "host", 1, "cpu", E));
    OK(results_append_log(w, "p1", 0, 3, n0, v0, E));
    OK(results_append_log(w, "p1", 5, 2, n1, v1, E));
    char longname[80];
    memset(longname, 'k', 64), longname[64] = 0;
    const char *bad[5] = {"", longname, "step", "tab\there", "\xff\xfe"};
    for (int i = 0; i < 5; i++) {
        const char *one[1] = {bad[i]};
        FAILS(results_append_log(w, "p1", 6, 1, one, v0, E), NN_ERR_INPUT, "1..63 bytes");
    }
    const char *twice[2] = {"loss", "loss"}, *edge[1] = {name63};
    FAILS(results_append_log(w, "p1", 6, 2, twice, v0, E), NN_ERR_INPUT, "twice");
    FAILS(results_append_log(w, "p1", -1, 1, n0, v0, E), NN_ERR_INPUT, "step -1");
    FAILS(results_append_log(w, "p1", 6, 0, n0, v0, E), NN_ERR_INPUT, "0 values");
    FAILS(results_append_log(w, "zz", 6, 1, n0, v0, E), NN_ERR_INPUT, "no run");
    OK(results_append_log(w, "p1", 6, 1, edge, v0, E)); /* 63 bytes is fine */
    /* a second run logs old and new names */
    OK(results_set_running(w, "p2", "host", 2, "cpu", E));
    OK(results_append_log(w, "p2", 1, 2, n2, v2, E));
    reader("logged", p);

    /* reset: a new attempt; the earlier rows stay in the file, unseen */
    OK(results_reset_run(w, "p1", E));
    reader("reset", p);
    OK(results_set_running(w, "p1", "host", 3, "cpu", E));
    OK(results_append_log(w, "p1", 0, 1, n0, v9, E));

    /* a train run added in SWMR mode: epochs, weights */
    OK(results_set_running(w, "t1", "host", 4, "cpu", E));
    for (int e = 0; e < 3; e++) {
        EpochMetrics m = epoch_row(1, e);
        OK(results_append_epoch(w, "t1", &m, E));
    }
    RunSummary sum = summary(RUN_DONE, 2, 1, 0.3, 0.4, 5);
    float *best = state_of(5);
    OK(results_finish_run(w, "t1", &sum, best, E));
    free(best);
    /* outputs and the end of a program's run */
    FAILS(results_set_outputs(w, "p2", "", E), NN_ERR_INPUT, "empty outputs");
    OK(results_set_outputs(w, "p2", outputs, E));
    RunSummary ps;
    run_summary_init(&ps, RUN_DONE);
    ps.best_step = 1;
    ps.best_value = 3;
    OK(results_finish_run(w, "p2", &ps, NULL, E));
    reader("ended", p);
    OK(results_close(w, E));
    reader("ended", p); /* and after a clean close (plain open) */

    /* the next session knows the names, runs and tensor tables */
    OK(results_open_write(p, 0, &w, E));
    OK(results_start_swmr(w, E));
    FAILS(results_add_run(w, &a, E), NN_ERR_INPUT, "already in the file");
    ResultsRunSpec d = train("t2", "s");
    OK(results_add_run(w, &d, E));
    OK(results_append_log(w, "p1", 1, 2, n1, v1, E));
    OK(results_close(w, E));
    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t ds = H5Dopen2(f, "log_keys", H5P_DEFAULT), sp = H5Dget_space(ds);
    CHECK(H5Sget_simple_extent_npoints(sp) == 6, "each name stored once: %lld",
          (long long)H5Sget_simple_extent_npoints(sp));
    H5Sclose(sp), H5Dclose(ds);
    ds = H5Dopen2(f, "tensors", H5P_DEFAULT), sp = H5Dget_space(ds);
    CHECK(H5Sget_simple_extent_npoints(sp) == N_T, "one tensor table over sessions: %lld rows",
          (long long)H5Sget_simple_extent_npoints(sp));
    H5Sclose(sp), H5Dclose(ds), H5Fclose(f);
}

/* ---- the run index: thousands of runs ------------------------------------------ */
static void many_runs(void)
{
    char p[600], id[16], json[64];
    snprintf(p, sizeof p, "%s/many.h5", dir);
    ResultsFile *w;
    OK(results_open_write(p, 1, &w, E));
    enum { BIG = 100000 }; /* a spec longer than an attribute in a header's message */
    char *spec = malloc(BIG + 1);
    for (int i = 0; i < BIG; i++) spec[i] = i % 61 == 60 ? '\n' : (char)('a' + i % 26);
    spec[BIG] = 0;
    OK(results_add_sweep(w, "m", spec, "grid", "test_accuracy", "maximize", E));
    ResultsSweep *sw;
    int nsw;
    OK(results_list_sweeps(w, &sw, &nsw, E));
    CHECK(nsw == 1 && strcmp(sw[0].spec, spec) == 0, "a %d-byte spec read back", BIG);
    results_sweeps_free(sw, nsw);
    free(spec);
    for (int i = 0; i < N_MANY; i++) {
        many_id(i, id); /* scattered ids */
        snprintf(json, sizeof json, "{\"i\":%d}", i);
        ResultsRunSpec s = program(id, "m");
        s.config_json = json;
        OK(results_add_run(w, &s, E));
    }
    many_id(17, id);
    ResultsRunSpec dup = program(id, "m");
    FAILS(results_add_run(w, &dup, E), NN_ERR_INPUT, "already in the file");
    OK(results_start_swmr(w, E));
    for (int i = 0; i < N_MANY; i += 97) {
        many_id(i, id);
        OK(results_set_running(w, id, "h", 1, "cpu", E)); /* the writer's index */
    }
    FAILS(results_set_running(w, "m1", "h", 1, "cpu", E), NN_ERR_INPUT, "no run");
    reader("many", p);
    OK(results_close(w, E));
}

/* ---- a status this nnsweep does not know ------------------------------------------- */
static void unknown_status(void)
{
    char p[600];
    snprintf(p, sizeof p, "%s/status.h5", dir);
    ResultsFile *w;
    OK(results_open_write(p, 1, &w, E));
    OK(results_add_sweep(w, "u", "", "grid", "test_accuracy", "maximize", E));
    ResultsRunSpec s = program("u1", "u");
    OK(results_add_run(w, &s, E));
    OK(results_close(w, E));
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT), d = H5Dopen2(f, "summary", H5P_DEFAULT);
    hid_t str = H5Tcopy(H5T_C_S1);
    H5Tset_size(str, RESULTS_STATUS_LEN);
    H5Tset_cset(str, H5T_CSET_UTF8);
    hid_t mt = H5Tcreate(H5T_COMPOUND, RESULTS_STATUS_LEN);
    H5Tinsert(mt, "status", 0, str);
    char status[RESULTS_STATUS_LEN] = "exploded";
    CHECK(H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, status) >= 0, "write a status");
    H5Tclose(mt), H5Tclose(str), H5Dclose(d), H5Fclose(f);
    ResultsFile *r;
    OK(results_open_read(p, &r, E));
    ResultsRow *rows;
    size_t n;
    FAILS(results_read_summary(r, &rows, &n, E), NN_ERR_INPUT, "status \"exploded\"");
    OK(results_close(r, E));
    FAILS(results_open_write(p, 0, &w, E), NN_ERR_INPUT, "newer nnsweep");
}

/* ---- schema 1 ------------------------------------------------------------------------ */

/* The old writer's summary row and metrics row (as it laid them out). */
typedef struct V1Row {
    char run_id[16], sweep[64], status[16];
    int32_t epochs, epochs_done, best_epoch;
    double best_val, best_test, wall;
    int64_t n_params;
    int8_t has_weights;
    char host[64];
    int32_t rank;
    char device[16], message[512];
} V1Row;

static hid_t v1_str(size_t n)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, n);
    H5Tset_cset(t, H5T_CSET_UTF8); /* as the old writer wrote them */
    return t;
}

static void attr_text(hid_t o, const char *name, const char *v)
{
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t a = H5Acreate2(o, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, &v);
    H5Aclose(a), H5Sclose(sp), H5Tclose(t);
}

static void attr_int(hid_t o, const char *name, long long v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(o, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_LLONG, &v);
    H5Aclose(a), H5Sclose(sp);
}

/* A chunked 1-d dataset of n records of mem (file type: mem packed). */
static void v1_table(hid_t loc, const char *name, hid_t mem, const void *buf, hsize_t n)
{
    hsize_t max = H5S_UNLIMITED, chunk = 64;
    hid_t ft = H5Tcopy(mem);
    H5Tpack(ft);
    hid_t sp = H5Screate_simple(1, &n, &max), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &chunk);
    hid_t d = H5Dcreate2(loc, name, ft, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (n) H5Dwrite(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    H5Dclose(d), H5Pclose(dcpl), H5Sclose(sp), H5Tclose(ft);
}

static const float v1_state[15] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, -1, -2, -3};

/* Run id of sweep "old": 3 metrics rows (the last one an append in flight:
 * epoch 7 at row 2), a weights group of fc0.weight [3, 4] + fc0.bias [3]. */
static void v1_run(hid_t runs, const char *id, int with_weights)
{
    hid_t g = H5Gcreate2(runs, id, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    char cfg[64];
    snprintf(cfg, sizeof cfg, "{\"run\":\"%s\",\"epochs\":4}", id);
    attr_text(g, "config", cfg);
    attr_text(g, "sweep", "old");
    attr_int(g, "n_params", 15);
    hid_t mt = H5Tcreate(H5T_COMPOUND, sizeof(EpochMetrics));
    H5Tinsert(mt, "epoch", HOFFSET(EpochMetrics, epoch), H5T_NATIVE_INT);
    const char *f[9] = {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss",
                        "test_accuracy", "top_accuracy", "learning_rate", "seconds"};
    for (int k = 0; k < 9; k++)
        H5Tinsert(mt, f[k], HOFFSET(EpochMetrics, train_loss) + (size_t)k * sizeof(double),
                  H5T_NATIVE_DOUBLE);
    EpochMetrics m[3] = {epoch_row(7, 0), epoch_row(7, 1), epoch_row(7, 7)};
    v1_table(g, "metrics", mt, m, 3);
    H5Tclose(mt);
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    hid_t w = H5Gcreate2(g, "weights", H5P_DEFAULT, gcpl, H5P_DEFAULT);
    attr_int(w, "n_state", 15);
    hsize_t dims[2][2] = {{3, 4}, {3, 0}};
    const char *names[2] = {"fc0.weight", "fc0.bias"};
    for (int t = 0; t < 2; t++) {
        hid_t sp = H5Screate_simple(t == 0 ? 2 : 1, dims[t], NULL);
        hid_t d =
            H5Dcreate2(w, names[t], H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        attr_int(d, "offset", t == 0 ? 0 : 12);
        if (with_weights)
            H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v1_state + 12 * t);
        H5Dclose(d), H5Sclose(sp);
    }
    H5Gclose(w), H5Pclose(gcpl), H5Gclose(g);
}

static void make_v1(const char *p)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    attr_text(f, "format", "nnsweep-results");
    attr_int(f, "schema_version", 1);
    attr_text(f, "nnsweep_version", "0.9");
    attr_text(f, "dataset", "CIFAR-10");
    hid_t sw = H5Gcreate2(f, "sweeps", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g = H5Gcreate2(sw, "old", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    attr_text(g, "spec", "name: old\n");
    attr_text(g, "method", "grid");
    attr_text(g, "metric", "val_accuracy");
    attr_text(g, "goal", "maximize");
    attr_text(g, "overrides", "--set epochs=4");
    H5Gclose(g), H5Gclose(sw);
    hid_t runs = H5Gcreate2(f, "runs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    v1_run(runs, "v1a", 1);
    v1_run(runs, "v1b", 0);
    H5Gclose(runs);
    hid_t s16 = v1_str(16), s64 = v1_str(64), s512 = v1_str(512);
    hid_t b = H5Tenum_create(H5T_NATIVE_INT8);
    int8_t no = 0, yes = 1;
    H5Tenum_insert(b, "FALSE", &no), H5Tenum_insert(b, "TRUE", &yes);
    hid_t rt = H5Tcreate(H5T_COMPOUND, sizeof(V1Row));
#define F(name, field, type) H5Tinsert(rt, name, HOFFSET(V1Row, field), type)
    F("run_id", run_id, s16), F("sweep", sweep, s64), F("status", status, s16);
    F("epochs", epochs, H5T_NATIVE_INT32), F("epochs_done", epochs_done, H5T_NATIVE_INT32);
    F("best_epoch", best_epoch, H5T_NATIVE_INT32);
    F("best_val_accuracy", best_val, H5T_NATIVE_DOUBLE);
    F("best_test_accuracy", best_test, H5T_NATIVE_DOUBLE);
    F("wall_seconds", wall, H5T_NATIVE_DOUBLE), F("n_params", n_params, H5T_NATIVE_INT64);
    F("has_weights", has_weights, b), F("host", host, s64);
    F("worker_rank", rank, H5T_NATIVE_INT32), F("device", device, s16);
    F("message", message, s512);
#undef F
    V1Row rows[2];
    memset(rows, 0, sizeof rows);
    strcpy(rows[0].run_id, "v1a"), strcpy(rows[1].run_id, "v1b");
    for (int i = 0; i < 2; i++) {
        strcpy(rows[i].sweep, "old");
        rows[i].epochs = 4, rows[i].epochs_done = 1, rows[i].n_params = 15, rows[i].rank = 2;
        strcpy(rows[i].host, "oldhost"), strcpy(rows[i].device, "cpu");
    }
    strcpy(rows[0].status, "done"), rows[0].best_epoch = 1, rows[0].best_val = 0.75;
    rows[0].best_test = 0.5, rows[0].wall = 8, rows[0].has_weights = 1;
    strcpy(rows[1].status, "interrupted"), rows[1].best_epoch = -1, rows[1].best_val = NAN;
    rows[1].best_test = NAN, rows[1].wall = 3, strcpy(rows[1].message, "SIGTERM");
    v1_table(f, "summary", rt, rows, 2);
    H5Tclose(rt), H5Tclose(b), H5Tclose(s16), H5Tclose(s64), H5Tclose(s512);
    H5Fclose(f);
}

/* What a reader must find in the schema-1 file (and in its conversion). */
static void check_v1_content(const char *p, int version)
{
    ResultsFile *r;
    OK(results_open_read(p, &r, E));
    CHECK(results_schema_version(r) == version, "version %d, expected %d",
          results_schema_version(r), version);
    ResultsRow *rows;
    size_t n;
    OK(results_read_summary(r, &rows, &n, E));
    CHECK(n >= 2, "%zu rows", n);
    if (n >= 2) {
        ResultsRow *a = &rows[0], *b = &rows[1];
        CHECK(strcmp(a->run_id, "v1a") == 0 && a->status == RUN_DONE && a->best_step == 1 &&
                  a->best_value == 0.75 && a->best_test_accuracy == 0.5 && a->has_weights &&
                  a->n_state == 15 && a->attempt == 0 && strcmp(a->kind, "train") == 0 &&
                  a->wall_seconds == 8 && strcmp(a->host, "oldhost") == 0 && a->worker_rank == 2,
              "v1a: %s %lld %g", run_status_name(a->status), (long long)a->best_step,
              a->best_value);
        CHECK(strcmp(b->run_id, "v1b") == 0 && b->status == RUN_INTERRUPTED && b->best_step == -1 &&
                  isnan(b->best_value) && !b->has_weights && strcmp(b->message, "SIGTERM") == 0,
              "v1b: %s", run_status_name(b->status));
    }
    free(rows);
    char *json;
    OK(results_read_config(r, "v1b", &json, E));
    CHECK(strcmp(json, "{\"run\":\"v1b\",\"epochs\":4}") == 0, "config %s", json);
    free(json);
    EpochMetrics *m;
    OK(results_read_metrics(r, "v1a", &m, &n, E));
    CHECK(n == 2 && m[1].epoch == 1 && m[1].val_loss == epoch_row(7, 1).val_loss,
          "metrics: %zu rows (the one in flight dropped)", n);
    free(m);
    float *st;
    size_t ns;
    TensorInfo *t;
    int nt;
    OK(results_read_weights(r, "v1a", &st, &ns, &t, &nt, E));
    CHECK(ns == 15 && nt == 2 && memcmp(st, v1_state, sizeof v1_state) == 0 &&
              strcmp(t[1].name, "fc0.bias") == 0 && t[1].offset == 12 && t[0].shape[1] == 4,
          "weights %zu floats, %d tensors", ns, nt);
    free(st), free(t);
    ResultsLog *l;
    OK(results_read_logs(r, "v1a", &l, &n, E));
    CHECK(n == 0, "no logs in schema 1");
    ResultsSweep *sw;
    int nsw;
    OK(results_list_sweeps(r, &sw, &nsw, E));
    CHECK(nsw == 1 && strcmp(sw[0].metric, "val_accuracy") == 0 && sw[0].overrides &&
              strcmp(sw[0].overrides, "--set epochs=4") == 0,
          "sweeps");
    results_sweeps_free(sw, nsw);
    OK(results_close(r, E));
}

static long long file_sum(const char *p, ino_t *ino)
{
    FILE *f = fopen(p, "rb");
    long long s = 0;
    int c, k = 0;
    while (f && (c = fgetc(f)) != EOF) s += (long long)c * (++k % 251 + 1);
    if (f) fclose(f);
    struct stat sb;
    *ino = stat(p, &sb) == 0 ? sb.st_ino : 0;
    return s;
}

static void schema_1(void)
{
    char p[600], partial[620];
    snprintf(p, sizeof p, "%s/old.h5", dir);
    snprintf(partial, sizeof partial, "%s.partial", p);
    make_v1(p);
    check_v1_content(p, 1);
    ino_t ino0, ino1;
    long long sum0 = file_sum(p, &ino0);
    int repaired = -1;
    OK(results_repair(p, &repaired, E));
    CHECK(repaired == 0 && file_sum(p, &ino1) == sum0 && ino1 == ino0,
          "repair leaves a sound schema-1 file alone");

    ResultsFile *w;
    OK(results_open_write(p, 0, &w, E));
    CHECK(results_was_converted(w) == 1 && !results_was_repaired(w), "converted from 1");
    CHECK(exists(partial) && file_sum(p, &ino1) == sum0 && ino1 == ino0,
          "the original is untouched during the structural phase");
    ResultsRunSpec s = program("new", "old");
    OK(results_add_run(w, &s, E));
    OK(results_start_swmr(w, E));
    OK(results_close(w, E));
    check_v1_content(p, 2);
    OK(results_open_write(p, 0, &w, E));
    CHECK(!results_was_converted(w), "converted once");
    OK(results_reset_run(w, "v1b", E));
    OK(results_close(w, E));
    ResultsFile *r;
    OK(results_open_read(p, &r, E));
    ResultsRow row;
    OK(results_get_row(r, "v1b", &row, E));
    CHECK(row.attempt == 1 && row.status == RUN_PENDING, "v1b reset after conversion");
    OK(results_get_row(r, "new", &row, E));
    OK(results_close(r, E));
    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t a = H5Aopen(f, "converted_from", H5P_DEFAULT);
    int from = 0;
    CHECK(a >= 0 && H5Aread(a, H5T_NATIVE_INT, &from) >= 0 && from == 1, "converted_from %d", from);
    H5Aclose(a), H5Fclose(f);

    /* a refused session leaves a schema-1 file as it was */
    make_v1(p);
    sum0 = file_sum(p, &ino0);
    OK(results_open_write(p, 0, &w, E));
    results_discard(w);
    CHECK(file_sum(p, &ino1) == sum0 && ino1 == ino0 && !exists(partial),
          "results_discard: the schema-1 file stays");
}

/* A new file dir/name (path in p) with sweep "s", its writer *w in SWMR
 * mode. */
static NnStatus new_swmr_file(const char *name, char *p, size_t size, ResultsFile **w,
                              NnError *err)
{
    snprintf(p, size, "%s/%s", dir, name);
    NnStatus st = results_open_write(p, 1, w, err);
    if (st != NN_OK) return st;
    st = results_add_sweep(*w, "s", "name: s\n", "grid", "loss", "minimize", err);
    if (st == NN_OK) st = results_start_swmr(*w, err);
    if (st != NN_OK) results_discard(*w);
    return st;
}

/* ---- rows in batches (results_append_logs): one write, all or nothing ---------- */

static void batch_logs(void)
{
    char p[600];
    ResultsFile *w;
    OK(new_swmr_file("batch.h5", p, sizeof p, &w, E));
    ResultsRunSpec b = program("b1", "s");
    OK(results_add_run(w, &b, E));
    OK(results_set_running(w, "b1", "host", 1, "cpu", E));
    const char *ab[2] = {"a", "b"}, *c[1] = {"c"}, *bad[1] = {"step"};
    const double x[2] = {1, 2}, y[1] = {3};
    RunRow rows[3] = {{0, 2, ab, x}, {4, 1, c, y}, {9, 1, bad, y}};
    FAILS(results_append_logs(w, "b1", rows, 3, E), NN_ERR_INPUT, "not \"step\"");
    OK(results_append_logs(w, "b1", rows, 2, E));
    const int64_t st[3] = {0, 0, 4};
    const char *nm[3] = {"a", "b", "c"};
    const double v[3] = {1, 2, 3};
    check_logs(w, "b1", 3, st, nm, v); /* the refused batch wrote nothing */
    ResultsRow row;
    OK(results_get_row(w, "b1", &row, E));
    CHECK(row.last_step == 4, "last_step %lld", (long long)row.last_step);
    OK(results_close(w, E));
}

/* ---- rows a killed writer appended but never committed ---------------------------
 * A writer killed between appending a run's rows and updating its summary
 * row leaves rows past the run's range; the next writer goes on with the
 * run. Here the plain HDF5 API appends such a row to /metrics (epoch 1) and
 * to /logs (step 1), copies of the run's last committed row with another
 * value; the next writer writes epoch 1 and step 1 itself, and only its
 * rows count. */

/* Appends a copy of the last record of table `name` whose `field` is `at`
 * (an int32 or int64 member) with float64 member `val` set to v. */
static void append_uncommitted(const char *p, const char *name, const char *field, int64_t at,
                               const char *val, double v)
{
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t ds = f >= 0 ? H5Dopen2(f, name, H5P_DEFAULT) : -1;
    CHECK(ds >= 0, "%s: open %s", p, name);
    if (ds < 0) {
        if (f >= 0) H5Fclose(f);
        return;
    }
    hid_t ft = H5Dget_type(ds), mt = H5Tget_native_type(ft, H5T_DIR_DEFAULT);
    size_t size = H5Tget_size(mt);
    hid_t fs = H5Dget_space(ds);
    hsize_t n;
    H5Sget_simple_extent_dims(fs, &n, NULL);
    unsigned char *rec = calloc(1, size);
    hsize_t last = n - 1, one = 1, grown = n + 1;
    hid_t ms = H5Screate_simple(1, &one, NULL);
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, &last, NULL, &one, NULL);
    CHECK(n > 0 && H5Dread(ds, mt, ms, fs, H5P_DEFAULT, rec) >= 0, "%s: read %s", p, name);
    int fi = H5Tget_member_index(mt, field), vi = H5Tget_member_index(mt, val);
    hid_t fty = H5Tget_member_type(mt, (unsigned)fi);
    if (H5Tget_size(fty) == 4) {
        int32_t a = (int32_t)at;
        memcpy(rec + H5Tget_member_offset(mt, (unsigned)fi), &a, 4);
    } else {
        memcpy(rec + H5Tget_member_offset(mt, (unsigned)fi), &at, 8);
    }
    memcpy(rec + H5Tget_member_offset(mt, (unsigned)vi), &v, 8);
    H5Sclose(fs);
    CHECK(H5Dset_extent(ds, &grown) >= 0, "%s: extend %s", p, name);
    fs = H5Dget_space(ds);
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, &n, NULL, &one, NULL);
    CHECK(H5Dwrite(ds, mt, ms, fs, H5P_DEFAULT, rec) >= 0, "%s: append to %s", p, name);
    free(rec);
    H5Tclose(fty), H5Sclose(ms), H5Sclose(fs), H5Tclose(mt), H5Tclose(ft), H5Dclose(ds);
    CHECK(H5Fclose(f) >= 0, "%s: close", p);
}

static void uncommitted_rows(void)
{
    char p[600];
    ResultsFile *w;
    OK(new_swmr_file("uncommitted.h5", p, sizeof p, &w, E));
    ResultsRunSpec t = train("t1", "s"), g = program("p1", "s");
    OK(results_add_run(w, &t, E));
    OK(results_add_run(w, &g, E));
    OK(results_set_running(w, "t1", "host", 1, "cpu", E));
    OK(results_set_running(w, "p1", "host", 2, "cpu", E));
    EpochMetrics m0 = epoch_row(0, 0), m1 = epoch_row(0, 1);
    OK(results_append_epoch(w, "t1", &m0, E));
    const char *a[1] = {"a"};
    const double x0[1] = {10}, x1[1] = {11};
    OK(results_append_log(w, "p1", 0, 1, a, x0, E));
    OK(results_close(w, E));
    append_uncommitted(p, "metrics", "epoch", 1, "train_loss", 99.0);
    append_uncommitted(p, "logs", "step", 1, "value", 99.0);

    OK(results_open_write(p, 0, &w, E));
    OK(results_start_swmr(w, E));
    OK(results_append_epoch(w, "t1", &m1, E));
    OK(results_append_log(w, "p1", 1, 1, a, x1, E));
    OK(results_close(w, E));
    ResultsFile *r;
    OK(results_open_read(p, &r, E));
    EpochMetrics *got;
    size_t n;
    OK(results_read_metrics(r, "t1", &got, &n, E));
    CHECK(n == 2 && got[1].epoch == 1 && got[1].train_loss == m1.train_loss,
          "t1: %zu epochs, epoch 1's train_loss %g, expected 2 and %g (not the uncommitted 99)", n,
          n == 2 ? got[1].train_loss : NAN, m1.train_loss);
    free(got);
    const int64_t steps[2] = {0, 1};
    const char *names[2] = {"a", "a"};
    const double values[2] = {10, 11};
    check_logs(r, "p1", 2, steps, names, values);
    OK(results_close(r, E));
}

void test_results_v2(void)
{
    swmr_runs();
    batch_logs();
    uncommitted_rows();
    many_runs();
    unknown_status();
    schema_1();
}
