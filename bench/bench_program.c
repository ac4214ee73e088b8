/* bench_program.c - the overhead of nnsweep around a program (bench/
 * README.md, "Programs"): run_execute on a program request, as a worker
 * runs it, with hooks that note when rows arrive.
 *
 *   bench_program [REPEATS]     (default 20)
 *
 * Two programs: row_logger (C, one row) and python3 importing nnsweep_run
 * and logging one row. For each, over the repeats: run_execute's start ->
 * the program's main (C: its own clock; python: -; the run's directory,
 * files, fork, exec and the keeper), a row written -> the row in the hook
 * (the channel), start -> first row (what a run waits for its first row,
 * the program's start-up included), last row -> run_execute's return (the
 * program's exit, reaping, the keeper), and the whole run. Medians with
 * min and max, in milliseconds. CLOCK_REALTIME is compared across the two
 * processes (one machine). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nnsweep/program.h"

static double realtime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct Times {
    double first_recv, last_recv, t_main, t_sent;
} Times;

static RunVerdict on_rows(const RunRow *rows, int n, void *user)
{
    Times *t = user;
    double now = realtime();
    if (t->first_recv == 0) {
        t->first_recv = now;
        for (int k = 0; k < rows[0].n; k++) {
            if (!strcmp(rows[0].names[k], "t_main")) t->t_main = rows[0].values[k];
            if (!strcmp(rows[0].names[k], "t")) t->t_sent = rows[0].values[k];
        }
    }
    (void)n;
    t->last_recv = now;
    return RUN_GO_ON;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *what, double *v, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i])) v[k++] = v[i];
    if (!k) {
        printf("  %-34s -\n", what);
        return;
    }
    qsort(v, (size_t)k, sizeof *v, cmp_double);
    printf("  %-34s %8.2f ms  (min %.2f, max %.2f)\n", what, 1e3 * v[k / 2], 1e3 * v[0],
           1e3 * v[k - 1]);
}

static void bench(const char *name, char **command, int n_command, const char *program,
                  const char *dir, int repeats)
{
    ProgramSpec p = {.program = (char *)program, .dir = (char *)dir, .n_command = n_command,
                     .command = command};
    double *spawn = calloc((size_t)repeats, sizeof *spawn), *chan = calloc((size_t)repeats, 8),
           *first = calloc((size_t)repeats, 8), *tail = calloc((size_t)repeats, 8),
           *total = calloc((size_t)repeats, 8);
    RunHost h;
    run_host_init_programs(&h, -1);
    for (int i = 0; i < repeats; i++) {
        char run_dir[512];
        snprintf(run_dir, sizeof run_dir, "%s/runs/r%d", dir, i);
        NnBuf req = {0};
        program_request_json(&p, "bench", "r", run_dir, "{\"rows\": 1}", "t", 0, NULL, &req);
        Times t = {0};
        RunHooks hooks = {.on_rows = on_rows, .user = &t};
        RunRequest r = {RUN_KIND_PROGRAM, "r", req.data};
        RunOutcome o;
        double t0 = realtime();
        run_execute(&h, &r, &hooks, &o);
        double t1 = realtime();
        if (o.s.status != RUN_DONE) {
            fprintf(stderr, "bench_program: %s: %s\n", name, o.s.message);
            exit(1);
        }
        spawn[i] = t.t_main ? t.t_main - t0 : NAN;
        chan[i] = t.first_recv - t.t_sent;
        first[i] = t.first_recv - t0;
        tail[i] = t1 - t.last_recv;
        total[i] = t1 - t0;
        run_outcome_free(&o);
        nn_buf_free(&req);
    }
    printf("%s (%d runs)\n", name, repeats);
    report("run_execute -> program's main()", spawn, repeats);
    report("row written -> row in the hook", chan, repeats);
    report("start -> first row", first, repeats);
    report("last row -> run_execute returns", tail, repeats);
    report("whole run", total, repeats);
    free(spawn), free(chan), free(first), free(tail), free(total);
}

int main(int argc, char **argv)
{
    int repeats = argc > 1 ? atoi(argv[1]) : 20;
    if (repeats < 1) repeats = 1;
    char dir[] = "/tmp/nnsweep-bench-program-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char *c_cmd[] = {NN_ROW_LOGGER, "${args}"};
    bench("row_logger (C)", c_cmd, 2, "row_logger", dir, repeats);
    char script[600];
    snprintf(script, sizeof script, "%s/one_row.py", dir);
    FILE *f = fopen(script, "w");
    if (!f) return 1;
    fputs("import time\nimport nnsweep_run as run\nrun.log({\"t\": time.time()})\n", f);
    fclose(f);
    char *py_cmd[] = {"${env}", "${interpreter}", "${program}"};
    bench("python3 + import nnsweep_run", py_cmd, 3, "one_row.py", dir, repeats);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
