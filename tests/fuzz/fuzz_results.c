/* fuzz_results.c - libFuzzer target: the results file's readers on every
 * value a file can hold. The input is a little script: a sweep (name,
 * spec, method, metric, goal, overrides: any bytes) and up to four runs
 * (id, config values, where they ran, epochs of any doubles, NaN and
 * infinities included, a final status and message, best weights or none),
 * written through results.h's writer; then every reader that `nnsweep
 * inspect`, `evaluate`, --resume and analysis/ rely on reads it back, and
 * what it reads must be what was written (the writer's documented cuts
 * aside). An input the writer refuses (a bad name) is fine; nothing may
 * crash, leak or hang, and no read may differ.
 *
 * Why not raw bytes as the file: libhdf5 1.10 itself hangs (H5HG_read
 * looping on a damaged global heap) and leaks on damaged files within a
 * minute of fuzzing, which nnsweep cannot fix; the kill -9 damage that
 * nnsweep's files meet is tested by tests/integration/test_results_crash.sh.
 * tests/fuzz/README.md says how the targets run. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nnsweep/results.h"
#include "nnsweep/train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct In {
    const uint8_t *p;
    size_t n;
} In;

static unsigned take_u8(In *in)
{
    if (!in->n) return 0;
    in->n--;
    return *in->p++;
}

static double take_double(In *in)
{
    uint8_t b[8] = {0};
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)take_u8(in);
    double d;
    memcpy(&d, b, sizeof d);
    return d;
}

/* A string of up to max bytes (a length byte, then the bytes; NUL ends it). */
static void take_str(In *in, char *out, size_t max)
{
    size_t len = take_u8(in) % max, k = 0;
    while (k < len && in->n) {
        char c = (char)take_u8(in);
        if (!c) break;
        out[k++] = c;
    }
    out[k] = '\0';
}

static int same_double(double a, double b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

static char path[64]; /* this process's scratch file */

static void remove_files(void)
{
    char p[96];
    unlink(path);
    snprintf(p, sizeof p, "%s.lock", path);
    unlink(p);
    snprintf(p, sizeof p, "%s.partial", path);
    unlink(p);
}

typedef struct Written {
    char id[16];
    RunSummary s;
    int n_epochs;
    EpochMetrics m[4];
    int weights;
    char json[4096];
} Written;

/* Reads everything back and compares. */
static void check_back(const char *sweep, const Written *w, int n_runs)
{
    ResultsFile *rf;
    NnError err = {{0}};
    NN_CHECK(results_open_read(path, &rf, &err) == NN_OK, "reopen: %s", err.msg);
    ResultsSweep *sweeps = NULL;
    int n_sweeps = 0;
    NN_CHECK(results_list_sweeps(rf, &sweeps, &n_sweeps, &err) == NN_OK && n_sweeps == 1 &&
                 !strcmp(sweeps[0].name, sweep), "sweeps: %s", err.msg);
    results_sweeps_free(sweeps, n_sweeps);
    ResultsRow *rows = NULL;
    size_t n = 0;
    NN_CHECK(results_read_summary(rf, &rows, &n, &err) == NN_OK && n == (size_t)n_runs,
             "summary: %zu rows of %d: %s", n, n_runs, err.msg);
    for (int i = 0; i < n_runs; i++) {
        const Written *r = &w[i];
        ResultsRow row;
        NN_CHECK(results_get_row(rf, r->id, &row, &err) == NN_OK, "row %s: %s", r->id, err.msg);
        NN_CHECK(row.status == r->s.status && row.epochs_done == r->s.epochs_done &&
                     row.best_epoch == r->s.best_epoch &&
                     same_double(row.best_val_accuracy, r->s.best_val_accuracy) &&
                     same_double(row.best_test_accuracy, r->s.best_test_accuracy) &&
                     row.has_weights == r->weights,
                 "run %s: the row read differs from the one written", r->id);
        NN_CHECK(!strncmp(row.message, r->s.message, strlen(row.message)),
                 "run %s: message %s is not a cut of what was written", r->id, row.message);
        char *json = NULL;
        NN_CHECK(results_read_config(rf, r->id, &json, &err) == NN_OK && !strcmp(json, r->json),
                 "run %s: config: %s", r->id, err.msg);
        free(json);
        EpochMetrics *m = NULL;
        size_t n_m = 0;
        NN_CHECK(results_read_metrics(rf, r->id, &m, &n_m, &err) == NN_OK &&
                     n_m == (size_t)r->n_epochs, "run %s: %zu metrics rows of %d", r->id, n_m,
                 r->n_epochs);
        for (size_t e = 0; e < n_m; e++)
            NN_CHECK(m[e].epoch == r->m[e].epoch && same_double(m[e].val_loss, r->m[e].val_loss)
                         && same_double(m[e].test_accuracy, r->m[e].test_accuracy) &&
                         same_double(m[e].seconds, r->m[e].seconds),
                     "run %s: metrics row %zu differs", r->id, e);
        free(m);
        float *state = NULL;
        size_t n_state = 0;
        NnStatus st = results_read_weights(rf, r->id, &state, &n_state, NULL, NULL, &err);
        NN_CHECK((st == NN_OK) == r->weights, "run %s: weights read %d, written %d", r->id,
                 st == NN_OK, r->weights);
        free(state);
    }
    free(rows);
    results_close(rf, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!path[0]) snprintf(path, sizeof path, "/tmp/nnsweep-fuzz-%ld.h5", (long)getpid());
    remove_files();
    In in = {data, size};
    char sweep[80], spec[256], method[24], metric[24], goal[24], over[64];
    take_str(&in, sweep, sizeof sweep);
    take_str(&in, spec, sizeof spec);
    take_str(&in, method, sizeof method);
    take_str(&in, metric, sizeof metric);
    take_str(&in, goal, sizeof goal);
    take_str(&in, over, sizeof over);
    /* every run has the state layout of a tiny MLP, planned once */
    static RunPlan plan;
    static int planned;
    RunConfig c;
    config_defaults(&c);
    c.n_hidden = 1;
    c.hidden_layers[0] = 1;
    NnError err = {{0}};
    if (!planned) NN_CHECK(run_plan_create(&c, &plan, &err) == NN_OK, "%s", err.msg);
    planned = 1;
    const ModelPlan *mp = plan.mplan;

    ResultsFile *rf;
    NN_CHECK(results_open_write(path, 1, &rf, &err) == NN_OK, "open: %s", err.msg);
    NnStatus st = results_add_sweep(rf, sweep, spec, method, metric, goal, &err);
    if (st == NN_OK && over[0]) st = results_set_sweep_overrides(rf, sweep, over, &err);
    if (st != NN_OK) { /* a name the writer refuses */
        NN_CHECK(st == NN_ERR_INPUT, "add_sweep: %s", err.msg);
        results_close(rf, NULL);
        remove_files();
        return 0;
    }
    Written w[4];
    int n_runs = (int)(take_u8(&in) % 5);
    for (int i = 0; i < n_runs; i++) {
        Written *r = &w[i];
        memset(r, 0, sizeof *r);
        snprintf(r->id, sizeof r->id, "r%02x%02x%d", take_u8(&in), take_u8(&in), i);
        RunConfig rc = c;
        rc.learning_rate = fabs(take_double(&in));
        if (!(rc.learning_rate > 0 && rc.learning_rate <= 1e6)) rc.learning_rate = 0.05;
        rc.seed = take_u8(&in);
        rc.epochs = 1 + (int)(take_u8(&in) % 4);
        NnBuf json = {0};
        config_to_json(&rc, &json);
        snprintf(r->json, sizeof r->json, "%s", json.data);
        nn_buf_free(&json);
        ResultsRunSpec spec_run = {.run_id = r->id, .sweep = sweep, .kind = RESULTS_KIND_TRAIN,
                                   .config_json = r->json, .epochs = rc.epochs,
                                   .n_params = mp->n_params, .tensors = mp->tensors,
                                   .n_tensors = mp->n_tensors};
        NN_CHECK(results_add_run(rf, &spec_run, &err) == NN_OK, "add_run %s: %s", r->id, err.msg);
    }
    NN_CHECK(results_start_swmr(rf, &err) == NN_OK, "start_swmr: %s", err.msg);
    float *state = malloc(mp->n_state * sizeof *state);
    for (int i = 0; i < n_runs; i++) {
        Written *r = &w[i];
        char host[RESULTS_HOST_LEN + 8], device[RESULTS_DEVICE_LEN + 8];
        take_str(&in, host, sizeof host);
        take_str(&in, device, sizeof device);
        NN_CHECK(results_set_running(rf, r->id, host, (int)take_u8(&in), device, &err) == NN_OK,
                 "set_running: %s", err.msg);
        r->n_epochs = (int)(take_u8(&in) % 5);
        for (int e = 0; e < r->n_epochs; e++) {
            EpochMetrics *m = &r->m[e];
            *m = (EpochMetrics){.epoch = e, .train_loss = take_double(&in),
                                .val_loss = take_double(&in), .val_accuracy = take_double(&in),
                                .test_accuracy = take_double(&in), .seconds = take_double(&in)};
            NN_CHECK(results_append_epoch(rf, r->id, m, &err) == NN_OK, "append: %s", err.msg);
        }
        static const RunStatus final[] = {RUN_DONE, RUN_DIVERGED, RUN_FAILED, RUN_INTERRUPTED,
                                          RUN_STOPPED};
        run_summary_init(&r->s, final[take_u8(&in) % 5]);
        r->s.epochs_done = r->n_epochs ? r->n_epochs - 1 : 0;
        r->s.best_epoch = (int)(take_u8(&in) % 5) - 1;
        r->s.best_val_accuracy = take_double(&in);
        r->s.best_test_accuracy = take_double(&in);
        r->s.n_params = (int64_t)mp->n_params;
        r->s.n_state = (int64_t)mp->n_state;
        take_str(&in, r->s.message, sizeof r->s.message);
        r->weights = take_u8(&in) & 1;
        for (size_t k = 0; k < mp->n_state; k++) state[k] = (float)take_double(&in);
        NN_CHECK(results_finish_run(rf, r->id, &r->s, r->weights ? state : NULL, &err) == NN_OK,
                 "finish: %s", err.msg);
    }
    free(state);
    NN_CHECK(results_close(rf, &err) == NN_OK, "close: %s", err.msg);
    check_back(sweep, w, n_runs);
    remove_files();
    return 0;
}
