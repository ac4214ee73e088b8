/* test_program.c - runs of a user's program (program.h): values as W&B
 * passes them (expected strings from Python 3's str(), repr() and
 * json.dumps), the checks before any run, the channel's parser, and
 * program_execute on small shell programs: every outcome and fault, the
 * verdicts of the hooks, the environment, the files, and no process left
 * behind. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "nnsweep/program.h"
#include "run/program_internal.h"

static YNode *parse(const char *json)
{
    YNode **docs = NULL;
    int n = 0;
    NnError err;
    NnStatus st = ynode_parse(json, strlen(json), "test", &docs, &n, &err);
    CHECK(st == NN_OK && n == 1, "%s", err.msg);
    YNode *r = docs[0];
    free(docs);
    return r;
}

static void test_py_float(void)
{
    static const struct { double x; const char *repr; } cases[] = {
        {0.1, "0.1"}, {1e-05, "1e-05"}, {100.0, "100.0"}, {1e16, "1e+16"},
        {1e15, "1000000000000000.0"}, {1.2345678901234568e+17, "1.2345678901234568e+17"},
        {-0.0, "-0.0"}, {5e-324, "5e-324"}, {0.0001, "0.0001"}, {1.5e300, "1.5e+300"},
        {3.0, "3.0"}, {123.456, "123.456"}, {2.5e-5, "2.5e-05"}, {1.0 / 3, "0.3333333333333333"},
        {12345678.9, "12345678.9"}, {0.00012, "0.00012"}, {-7.25, "-7.25"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char buf[40];
        program_py_float(cases[i].x, buf, sizeof buf);
        CHECK(!strcmp(buf, cases[i].repr), "repr(%.17g): got %s, expected %s", cases[i].x, buf,
              cases[i].repr);
    }
}

static const char *const config_json =
    "{\"lr\": 0.001, \"bs\": 32, \"flag\": true, \"off\": false, \"name\": \"adam w\", "
    "\"opt\": {\"lr\": 0.01, \"nadam\": {\"beta\": 0.9}}, \"layers\": [1, \"a'b\", 2.5], "
    "\"none\": null, \"big\": 1e16, \"tiny\": 1e-05, \"hundred\": 100.0, "
    "\"uni\": \"\xc3\xa9\"}";

static void check_argv(const char *const *command, int n_command, const char *const *want,
                       int n_want)
{
    ProgramSpec p = {.program = "train.py", .dir = "/tmp", .n_command = n_command,
                     .command = (char **)command};
    YNode *config = parse(config_json);
    char **argv = NULL;
    int argc = 0;
    NnError err;
    NnStatus st = program_argv(&p, config, "/run/args.json", &argv, &argc, &err);
    CHECK(st == NN_OK, "%s", err.msg);
    CHECK(argc == n_want, "argc %d, expected %d", argc, n_want);
    for (int i = 0; st == NN_OK && i < argc && i < n_want; i++)
        CHECK(!strcmp(argv[i], want[i]), "argv[%d]: got <%s>, expected <%s>", i, argv[i], want[i]);
    CHECK(st != NN_OK || argv[argc] == NULL, "argv not NULL-terminated");
    program_argv_free(argv);
    ynode_free(config);
}

static void test_args(void)
{
    /* Python: [f"--{k}={v}" for k, v in json.loads(config_json).items()] */
    static const char *const args[] = {
        "--lr=0.001", "--bs=32", "--flag=True", "--off=False", "--name=adam w",
        "--opt={'lr': 0.01, 'nadam': {'beta': 0.9}}", "--layers=[1, \"a'b\", 2.5]",
        "--none=None", "--big=1e+16", "--tiny=1e-05", "--hundred=100.0", "--uni=\xc3\xa9"};
    const char *want[32];
    int n = 0;
    /* W&B's default command */
    want[n++] = "/usr/bin/env", want[n++] = "python3", want[n++] = "train.py";
    for (int i = 0; i < 12; i++) want[n++] = args[i];
    check_argv(NULL, 0, want, n);

    const char *const no_hyphens[] = {"${args_no_hyphens}"};
    for (int i = 0; i < 12; i++) want[i] = args[i] + 2;
    check_argv(no_hyphens, 1, want, 12);

    const char *const no_bool[] = {"x", "${args_no_boolean_flags}"};
    n = 0;
    want[n++] = "x";
    for (int i = 0; i < 12; i++) {
        if (i == 2) want[n++] = "--flag";
        else if (i != 3) want[n++] = args[i];
    }
    check_argv(no_bool, 2, want, n);

    const char *const no_eq[] = {"${args_no_equals}"};
    n = 0;
    for (int i = 0; i < 12; i++) {
        static char names[12][32];
        snprintf(names[i], sizeof names[i], "%.*s", (int)(strchr(args[i], '=') - args[i]), args[i]);
        want[n++] = names[i];
        want[n++] = strchr(args[i], '=') + 1;
    }
    check_argv(no_eq, 1, want, n);

    /* json.dumps(json.loads(config_json)) */
    const char *const js[] = {"${args_json}", "--file", "${args_json_file}"};
    const char *want_js[] = {
        "{\"lr\": 0.001, \"bs\": 32, \"flag\": true, \"off\": false, \"name\": \"adam w\", "
        "\"opt\": {\"lr\": 0.01, \"nadam\": {\"beta\": 0.9}}, \"layers\": [1, \"a'b\", 2.5], "
        "\"none\": null, \"big\": 1e+16, \"tiny\": 1e-05, \"hundred\": 100.0, "
        "\"uni\": \"\\u00e9\"}",
        "--file", "/run/args.json"};
    check_argv(js, 3, want_js, 3);

    setenv("NNSWEEP_TEST_VAR", "value", 1);
    unsetenv("NNSWEEP_TEST_UNSET");
    const char *const env[] = {"a${envvar:NNSWEEP_TEST_VAR}b", "${envvar:NNSWEEP_TEST_UNSET}"};
    const char *want_env[] = {"avalueb", "NNSWEEP_TEST_UNSET"};
    check_argv(env, 2, want_env, 2);

    /* the canonical JSON of YAML values (PyYAML's types) */
    YNode *y = parse("{a: 1e-3, b: '5', c: yes, d: ~, e: [1, 2.0], f: 7}");
    NnBuf j = {0};
    program_value_json(y, &j);
    CHECK(!strcmp(j.data, "{\"a\": 0.001, \"b\": \"5\", \"c\": true, \"d\": null, "
                          "\"e\": [1, 2.0], \"f\": 7}"), "got %s", j.data);
    nn_buf_free(&j);
    ynode_free(y);
}

static char tmp[256];

static void write_file(const char *name, const char *text, int mode)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "cannot write %s", path);
    if (!f) return;
    fputs(text, f);
    fclose(f);
    chmod(path, (mode_t)mode);
}

static void test_check(void)
{
    NnError err;
    write_file("ok.py", "print(1)\n", 0644);
    write_file("exe.sh", "#!/bin/sh\n", 0755);
    ProgramSpec p = {.program = "ok.py", .dir = tmp, .line = 3};
    CHECK(program_check(&p, "s.yaml", &err) == NN_OK, "%s", err.msg);

    p.program = "missing.py";
    CHECK(program_check(&p, "s.yaml", &err) == NN_ERR_INPUT && strstr(err.msg, "s.yaml:3:") &&
              strstr(err.msg, "missing.py") && strstr(err.msg, "No such file"),
          "%s", err.msg);

    char *direct[] = {"${program}", "${args}"};
    p = (ProgramSpec){.program = "ok.py", .dir = tmp, .line = 3, .n_command = 2,
                      .command = direct, .command_line = 4};
    CHECK(program_check(&p, "s.yaml", &err) == NN_ERR_INPUT && strstr(err.msg, "not executable"),
          "%s", err.msg);
    p.program = "exe.sh";
    CHECK(program_check(&p, "s.yaml", &err) == NN_OK, "%s", err.msg);

    char *bad_macro[] = {"${env}", "${interpreter}", "${program}", "${argz}"};
    p.command = bad_macro;
    p.n_command = 4;
    p.program = "ok.py";
    CHECK(program_check(&p, "s.yaml", &err) == NN_ERR_INPUT && strstr(err.msg, "s.yaml:4:") &&
              strstr(err.msg, "unknown macro ${argz}"),
          "%s", err.msg);

    char *no_exe[] = {"nnsweep-no-such-tool", "${args}"};
    p.command = no_exe;
    p.n_command = 2;
    CHECK(program_check(&p, "s.yaml", &err) == NN_ERR_INPUT && strstr(err.msg, "not found on PATH"),
          "%s", err.msg);
}

/* ---- the channel ------------------------------------------------------------ */

static void test_channel(void)
{
    Channel ch;
    channel_init(&ch, "/work");
    NnError err;
    const char *text = "{\"log\": {\"loss\": 1.5, \"acc\": 0.25}}\n"
                       "\n"
                       "{\"log\": {\"loss\": NaN, \"up\": true}, \"step\": 5}\n"
                       "{\"summary\": {\"test\": 0.9}}\n"
                       "{\"artifact\": \"ck/best.pt\"}\n"
                       "{\"summary\": {\"test\": 0.95, \"n\": -Infinity}}\n"
                       "{\"log\": {\"x\": 1e300}}\n{\"log\": {\"y\":";
    CHECK(channel_feed(&ch, text, strlen(text), &err) == NN_OK, "%s", err.msg);
    int n;
    const RunRow *rows = channel_rows(&ch, &n);
    CHECK(n == 3, "%d rows", n);
    if (n == 3) {
        CHECK(rows[0].step == 0 && rows[0].n == 2 && !strcmp(rows[0].names[1], "acc") &&
                  rows[0].values[1] == 0.25, "row 0");
        CHECK(rows[1].step == 5 && isnan(rows[1].values[0]) && rows[1].values[1] == 1, "row 1");
        CHECK(rows[2].step == 6 && rows[2].values[0] == 1e300, "row 2");
    }
    const char *rest = " 2}}\n";
    CHECK(channel_feed(&ch, rest, strlen(rest), &err) == NN_OK, "%s", err.msg);
    rows = channel_rows(&ch, &n);
    CHECK(n == 1 && rows[0].step == 7 && !strcmp(rows[0].names[0], "y") && rows[0].values[0] == 2,
          "a line split across two reads");
    char *out = channel_outputs(&ch);
    CHECK(out && !strcmp(out, "{\"summary\": {\"test\": 0.95, \"n\": -Infinity}, \"artifacts\": "
                              "[{\"name\": \"best.pt\", \"path\": \"/work/ck/best.pt\"}]}"),
          "outputs %s", out ? out : "(none)");
    free(out);

    /* garbage of every kind: the line's number and what is wrong */
    static const struct { const char *line, *says; } bad[] = {
        {"hello\n", "expected one JSON object"},
        {"{\"log\": {\"a\": 1}\n", "not one JSON object"},
        {"{\"log\": {\"a\": \"x\"}}\n", "log.a: expected a number"},
        {"{\"log\": {\"a\": 1}, \"step\": 7}\n", "steps must grow"},
        {"{\"log\": {\"step\": 1}}\n", "not \"step\""},
        {"{\"log\": {\"a\\u0001b\": 1}}\n", "UTF-8 without control characters"},
        {"{\"log\": {\"\xc3\x28\": 1}}\n", "not one JSON object"}, /* libyaml: not UTF-8 */
        {"{\"log\": {\"0123456789012345678901234567890123456789012345678901234567890123\": 1}}\n",
         "1 to 63 bytes"},
        {"{\"metrics\": {\"a\": 1}}\n", "unknown key \"metrics\""},
        {"{\"log\": {}}\n", "non-empty object"},
        {"{\"log\": {\"a\": 1}, \"summary\": {\"b\": 2}}\n", "expected one of"},
        {"{\"log\": {\"a\": 1}, \"step\": -1}\n", "expected an integer >= 0"},
        {"{\"artifact\": [1]}\n", "artifact: expected a file's path"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        NnStatus st = channel_feed(&ch, bad[i].line, strlen(bad[i].line), &err);
        CHECK(st == NN_ERR_INPUT && strstr(err.msg, bad[i].says) && !strncmp(err.msg, "line ", 5),
              "%s -> %s", bad[i].line, st == NN_OK ? "accepted" : err.msg);
        ch.line.len = 0; /* as a new channel would be after the bad line */
        ch.line_no++;
    }
    channel_free(&ch);

    channel_init(&ch, "/work");
    char *huge = nn_malloc(PROGRAM_LINE_MAX + 10);
    memset(huge, 'x', PROGRAM_LINE_MAX + 9);
    huge[PROGRAM_LINE_MAX + 9] = '\0';
    CHECK(channel_feed(&ch, huge, strlen(huge), &err) == NN_ERR_INPUT &&
              strstr(err.msg, "longer than"), "a line over the limit");
    free(huge);
    channel_free(&ch);
}

/* ---- running programs ------------------------------------------------------- */

typedef struct Seen {
    int n_rows;
    int64_t steps[64];
    double acc[64];
    int stop_after; /* on_rows answers RUN_STOP_EARLY once this many rows came */
    int cancel_after;
    int polls;
} Seen;

static RunVerdict seen_rows(const RunRow *rows, int n, void *user)
{
    Seen *s = user;
    for (int i = 0; i < n; i++) {
        if (s->n_rows < 64) {
            s->steps[s->n_rows] = rows[i].step;
            s->acc[s->n_rows] = NAN;
            for (int k = 0; k < rows[i].n; k++)
                if (!strcmp(rows[i].names[k], "acc")) s->acc[s->n_rows] = rows[i].values[k];
        }
        s->n_rows++;
    }
    if (s->stop_after && s->n_rows >= s->stop_after) return RUN_STOP_EARLY;
    return RUN_GO_ON;
}

static RunVerdict seen_poll(void *user)
{
    Seen *s = user;
    s->polls++;
    return s->cancel_after && s->n_rows >= s->cancel_after ? RUN_CANCEL : RUN_GO_ON;
}

/* Runs script (as prog.sh under /bin/sh, with ${args}) with metric acc
 * (maximize); the outcome in *o (run_outcome_free). */
static void run_script(const char *script, const char *config, double time_limit, Seen *seen,
                       RunOutcome *o)
{
    write_file("prog.sh", script, 0644);
    char *command[] = {"/bin/sh", "${program}", "${args}"};
    ProgramSpec p = {.program = "prog.sh", .dir = tmp, .n_command = 3, .command = command};
    ProgramLimits lim = {.time_limit = time_limit, .grace = 0.5};
    char run_dir[512];
    snprintf(run_dir, sizeof run_dir, "%s/runs/r1", tmp);
    NnBuf req = {0};
    program_request_json(&p, "sw", "r1", run_dir, config, "acc", 0, &lim, &req);
    RunHost h;
    run_host_init_programs(&h, -1);
    h.threads = 2;
    RunHooks hooks = {.on_rows = seen_rows, .poll = seen_poll, .user = seen};
    RunRequest r = {RUN_KIND_PROGRAM, "r1", req.data};
    run_execute(&h, &r, &hooks, o);
    nn_buf_free(&req);
    run_host_free(&h);
}

/* Processes whose command line holds marker (none must be left). */
static int count_processes(const char *marker)
{
    DIR *d = opendir("/proc");
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t k = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        for (size_t i = 0; i < k; i++)
            if (!buf[i]) buf[i] = ' ';
        buf[k] = '\0';
        n += strstr(buf, marker) != NULL;
    }
    if (d) closedir(d);
    return n;
}

static char *read_text(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/runs/r1/%s", tmp, name);
    NnBuf b = {0};
    NnError err;
    if (nn_buf_read_file(&b, path, &err) != NN_OK) {
        nn_buf_free(&b);
        return nn_strdup("");
    }
    return b.data ? b.data : nn_strdup("");
}

static void test_runs(void)
{
    RunOutcome o;
    Seen seen;

    /* done: rows, best value, summary, artifact, environment, arguments */
    memset(&seen, 0, sizeof seen);
    run_script("echo \"args: $*\"\n"
               "echo '{\"log\": {\"acc\": 0.5, \"loss\": 2}}' >&$NNSWEEP_FD\n"
               "echo '{\"log\": {\"acc\": 0.75}, \"step\": 4}' >&3\n"
               "echo \"{\\\"log\\\": {\\\"acc\\\": 0.75, \\\"threads\\\": $OMP_NUM_THREADS}}\" >&3\n"
               "echo '{\"summary\": {\"final\": 1}}' >&3\n"
               "echo '{\"artifact\": \"best.pt\", \"name\": \"best\"}' >&3\n"
               "echo \"$NNSWEEP_RUN_ID $NNSWEEP_SWEEP $NNSWEEP_CONFIG\"\n"
               "echo \"dir=$(pwd) rundir=$NNSWEEP_RUN_DIR\"\n"
               "echo oops >&2\n"
               "sleep 987 &\n",
               "{\"lr\": 0.1, \"deep\": true}", 0, &seen, &o);
    CHECK(o.s.status == RUN_DONE, "status %s: %s", run_status_name(o.s.status), o.s.message);
    CHECK(seen.n_rows == 3 && seen.steps[1] == 4 && seen.steps[2] == 5, "%d rows", seen.n_rows);
    CHECK(o.s.epochs_done == 3 && o.s.best_step == 4 && o.s.best_value == 0.75,
          "epochs_done %d best %lld %g", o.s.epochs_done, (long long)o.s.best_step,
          o.s.best_value);
    char want_out[600];
    snprintf(want_out, sizeof want_out,
             "{\"summary\": {\"final\": 1.0}, \"artifacts\": [{\"name\": \"best\", \"path\": "
             "\"%s/best.pt\"}]}", tmp);
    CHECK(o.outputs && !strcmp(o.outputs, want_out), "outputs %s", o.outputs ? o.outputs : "-");
    char *out = read_text("stdout"), *err_text = read_text("stderr");
    CHECK(strstr(out, "==== nnsweep: run r1 attempt on ") != NULL, "stdout header: %s", out);
    CHECK(strstr(out, "args: --lr=0.1 --deep=True") != NULL, "stdout: %s", out);
    CHECK(strstr(out, "r1 sw {\"lr\": 0.1, \"deep\": true}") != NULL, "stdout: %s", out);
    char want_dir[600];
    snprintf(want_dir, sizeof want_dir, "dir=%s rundir=%s/runs/r1", tmp, tmp);
    CHECK(strstr(out, want_dir) != NULL, "stdout: %s", out);
    CHECK(strstr(err_text, "oops") != NULL, "stderr: %s", err_text);
    free(out);
    free(err_text);
    CHECK(seen.acc[2] == 0.75, "row 3's acc %g", seen.acc[2]);
    CHECK(count_processes("sleep 987") == 0, "a child of the program outlived it");
    run_outcome_free(&o);

    /* exits non-zero: the cause and the tail of stderr */
    memset(&seen, 0, sizeof seen);
    run_script("echo '{\"log\": {\"acc\": 0.1}}' >&3\necho first >&2\necho 'Error: boom' >&2\n"
               "exit 3\n", "{}", 0, &seen, &o);
    CHECK(o.s.status == RUN_FAILED && strstr(o.s.message, "exited with status 3") &&
              strstr(o.s.message, "stderr: first | Error: boom") &&
              !strstr(o.s.message, "oops"), /* an earlier attempt's stderr is not shown */
          "%s: %s", run_status_name(o.s.status), o.s.message);
    CHECK(seen.n_rows == 1 && o.s.best_value == 0.1, "rows before the failure are kept");
    run_outcome_free(&o);

    /* dies of a signal */
    run_script("kill -SEGV $$\n", "{}", 0, &seen, &o);
    CHECK(o.s.status == RUN_FAILED && strstr(o.s.message, "killed by signal 11"), "%s",
          o.s.message);
    run_outcome_free(&o);

    /* garbage on the channel: ended at once, rows before it kept */
    memset(&seen, 0, sizeof seen);
    double t0 = nn_now();
    run_script("echo '{\"log\": {\"acc\": 0.3}}' >&3\necho crash >&2\necho 'loss=0.5' >&3\n"
               "sleep 988\n", "{}", 0, &seen, &o);
    CHECK(o.s.status == RUN_FAILED && strstr(o.s.message, "garbage on the channel, line 2:") &&
              strstr(o.s.message, "loss=0.5") && strstr(o.s.message, "crash"),
          "%s", o.s.message);
    CHECK(seen.n_rows == 1 && nn_now() - t0 < 10, "%d rows, %.1f s", seen.n_rows, nn_now() - t0);
    CHECK(count_processes("sleep 988") == 0, "the program's sleep outlived it");
    run_outcome_free(&o);

    /* past the time limit; then one that ignores SIGTERM gets SIGKILL */
    t0 = nn_now();
    run_script("sleep 989\n", "{}", 0.3, &seen, &o);
    CHECK(o.s.status == RUN_FAILED && strstr(o.s.message, "time limit of 0.3 s") &&
              nn_now() - t0 < 10, "%s (%.1f s)", o.s.message, nn_now() - t0);
    run_outcome_free(&o);
    run_script("trap '' TERM\necho stubborn >&2\nsleep 990\n", "{}", 0.3, &seen, &o);
    CHECK(o.s.status == RUN_FAILED && strstr(o.s.message, "then SIGKILL") &&
              strstr(o.s.message, "stubborn"), "%s", o.s.message);
    CHECK(count_processes("sleep 990") == 0, "the stubborn program's sleep outlived it");
    run_outcome_free(&o);

    /* never logs the sweep metric */
    run_script("echo '{\"log\": {\"loss\": 1}}' >&3\n", "{}", 0, &seen, &o);
    CHECK(o.s.status == RUN_FAILED && strstr(o.s.message, "never logged the sweep metric 'acc'") &&
              strstr(o.s.message, "loss"), "%s", o.s.message);
    run_outcome_free(&o);

    /* the stopping rule stops it (a verdict from on_rows), a cancel (poll) */
    const char *loop = "i=0\nwhile [ $i -lt 200 ]; do\n"
                       "  echo \"{\\\"log\\\": {\\\"acc\\\": $i}}\" >&3\n"
                       "  i=$((i+1)); sleep 0.02\ndone\n";
    memset(&seen, 0, sizeof seen);
    seen.stop_after = 3;
    run_script(loop, "{}", 0, &seen, &o);
    CHECK(o.s.status == RUN_STOPPED && seen.n_rows >= 3 && seen.n_rows < 50,
          "%s after %d rows: %s", run_status_name(o.s.status), seen.n_rows, o.s.message);
    run_outcome_free(&o);
    memset(&seen, 0, sizeof seen);
    seen.cancel_after = 2;
    run_script(loop, "{}", 0, &seen, &o);
    CHECK(o.s.status == RUN_INTERRUPTED && seen.n_rows < 50 && seen.polls > 0, "%s after %d rows",
          run_status_name(o.s.status), seen.n_rows);
    run_outcome_free(&o);

    /* a last line without its newline counts */
    memset(&seen, 0, sizeof seen);
    run_script("printf '{\"log\": {\"acc\": 0.9}}' >&3\n", "{}", 0, &seen, &o);
    CHECK(o.s.status == RUN_DONE && seen.n_rows == 1, "%s %d", o.s.message, seen.n_rows);
    run_outcome_free(&o);
}

static void test_cannot_start(void)
{
    char *command[] = {"/nonexistent/tool", "${args}"};
    ProgramSpec p = {.program = "x", .dir = tmp, .n_command = 2, .command = command};
    char run_dir[512];
    snprintf(run_dir, sizeof run_dir, "%s/runs/r2", tmp);
    NnBuf req = {0};
    program_request_json(&p, "sw", "r2", run_dir, "{}", "", 0, NULL, &req);
    RunHost h;
    run_host_init_programs(&h, -1);
    RunRequest r = {RUN_KIND_PROGRAM, "r2", req.data};
    RunOutcome o;
    run_execute(&h, &r, NULL, &o);
    CHECK(o.s.status == RUN_FAILED && strstr(o.s.message, "cannot start /nonexistent/tool") &&
              strstr(o.s.message, "No such file"), "%s", o.s.message);
    run_outcome_free(&o);
    nn_buf_free(&req);
}

int main(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/nnsweep-test-program-XXXXXX");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    test_py_float();
    test_args();
    test_check();
    test_channel();
    test_runs();
    test_cannot_start();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return check_exit_code();
}
