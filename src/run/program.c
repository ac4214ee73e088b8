/* program.c - one run of a user's program on a worker (program.h): the
 * request, the run's directory and files, the loop that reads its channel
 * and ends it, and the outcome with the tail of its stderr (the process
 * itself: program_spawn.c). */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "program_internal.h"

#define POLL_MS 20
#define READ_BYTES 65536
#define TAIL_BYTES 4096

/* ---- the request ---------------------------------------------------------------- */

void program_request_json(const ProgramSpec *p, const char *sweep, const char *run_id,
                          const char *run_dir, const char *config_json, const char *metric,
                          int minimize, const ProgramLimits *lim, NnBuf *out)
{
    YNode fake = {.kind = YNODE_SCALAR, .quoted = 1};
#define STR(key, s)                                      \
    do {                                                 \
        fake.value = (char *)(s);                        \
        nn_buf_printf(out, "\"%s\": ", key);             \
        program_value_json(&fake, out);                  \
    } while (0)
    nn_buf_append(out, "{", 1);
    STR("program", p->program ? p->program : "");
    nn_buf_append(out, ", ", 2);
    STR("dir", p->dir);
    nn_buf_append(out, ", \"command\": [", 14);
    for (int i = 0; i < p->n_command; i++) {
        if (i) nn_buf_append(out, ", ", 2);
        fake.value = p->command[i];
        program_value_json(&fake, out);
    }
    nn_buf_append(out, "], ", 3);
    STR("sweep", sweep);
    nn_buf_append(out, ", ", 2);
    STR("run_id", run_id);
    nn_buf_append(out, ", ", 2);
    STR("run_dir", run_dir);
    nn_buf_append(out, ", ", 2);
    STR("metric", metric ? metric : "");
    nn_buf_printf(out, ", \"minimize\": %s, \"time_limit\": %.17g, \"grace\": %.17g, \"config\": %s}",
                  minimize ? "true" : "false", lim ? lim->time_limit : 0.0,
                  lim ? lim->grace : 10.0, config_json);
#undef STR
}

typedef struct Request {
    YNode *root;
    ProgramSpec spec; /* borrowed strings from root: not freed with program_spec_free */
    const char *sweep, *run_id, *run_dir, *metric;
    int minimize;
    double time_limit, grace;
    const YNode *config;
} Request;

static const char *req_str(const YNode *root, const char *key)
{
    const YNode *v = ynode_get(root, key);
    return v && v->kind == YNODE_SCALAR ? v->value : NULL;
}

static NnStatus request_parse(const char *json, Request *r, NnError *err)
{
    memset(r, 0, sizeof *r);
    YNode **docs = NULL;
    int n = 0;
    NnStatus st = ynode_parse(json, strlen(json), "program request", &docs, &n, err);
    if (st != NN_OK) return st;
    for (int i = 1; i < n; i++) ynode_free(docs[i]);
    r->root = n ? docs[0] : NULL;
    free(docs);
    const YNode *cmd = ynode_get(r->root, "command");
    r->spec.program = (char *)req_str(r->root, "program");
    r->spec.dir = (char *)req_str(r->root, "dir");
    r->sweep = req_str(r->root, "sweep");
    r->run_id = req_str(r->root, "run_id");
    r->run_dir = req_str(r->root, "run_dir");
    r->metric = req_str(r->root, "metric");
    r->config = ynode_get(r->root, "config");
    int mini = 0;
    r->minimize = ynode_as_bool(ynode_get(r->root, "minimize"), &mini) && mini;
    if (!ynode_as_double(ynode_get(r->root, "time_limit"), &r->time_limit)) r->time_limit = 0;
    if (!ynode_as_double(ynode_get(r->root, "grace"), &r->grace)) r->grace = 10;
    if (!r->spec.dir || !r->sweep || !r->run_id || !r->run_dir || !r->metric || !cmd ||
        cmd->kind != YNODE_SEQ || !r->config || r->config->kind != YNODE_MAP)
        return nn_error_set(err, NN_ERR_INPUT, "a malformed program request (a bug): %.200s",
                            json);
    if (cmd->n > 0) {
        r->spec.n_command = cmd->n;
        r->spec.command = nn_calloc((size_t)cmd->n, sizeof *r->spec.command);
        for (int i = 0; i < cmd->n; i++) r->spec.command[i] = cmd->items[i]->value;
    }
    return NN_OK;
}

static void request_free(Request *r)
{
    free(r->spec.command);
    ynode_free(r->root);
}

/* ---- files ------------------------------------------------------------------------- */

/* mkdir -p; 0 or -1 with errno. */
static int make_dirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return (mkdir(buf, 0777) != 0 && errno != EEXIST) ? -1 : 0;
}

/* Opens dir/name for appending, writes the attempt's header line and
 * returns the fd (-1 with errno); *start is the offset after the header. */
static int open_log(const char *dir, const char *name, const char *header, off_t *start)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    if (fd < 0) return -1;
    if (write(fd, header, strlen(header)) < 0) { /* reported when the run fails */
    }
    *start = lseek(fd, 0, SEEK_END);
    return fd;
}

/* Up to the last lines of dir/stderr after offset start, joined by " | ",
 * into out (size bytes): what a failure message shows. */
static void stderr_tail(const char *dir, off_t start, char *out, size_t size)
{
    out[0] = '\0';
    char path[4200], buf[TAIL_BYTES + 1];
    snprintf(path, sizeof path, "%s/stderr", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    off_t end = lseek(fd, 0, SEEK_END);
    off_t from = end - (off_t)(size < TAIL_BYTES ? size : TAIL_BYTES);
    if (from < start) from = start;
    ssize_t n = from < end ? pread(fd, buf, (size_t)(end - from), from) : 0;
    close(fd);
    if (n <= 0) return;
    buf[n] = '\0';
    char *p = buf;
    if (from > start) { /* begin at a line */
        char *nl = strchr(p, '\n');
        if (nl && nl[1]) p = nl + 1;
    }
    size_t j = 0;
    for (; *p && j + 4 < size; p++) {
        if (*p == '\n') {
            if (p[1] == '\0') break;
            out[j++] = ' ', out[j++] = '|', out[j++] = ' ';
        } else {
            out[j++] = ((unsigned char)*p < 0x20) ? ' ' : *p;
        }
    }
    out[j] = '\0';
}

/* ---- the run ------------------------------------------------------------------------- */

typedef enum EndCause { END_NONE = 0, END_STOP, END_CANCEL, END_TIMEOUT, END_GARBAGE } EndCause;

typedef struct Watch {
    const Request *r;
    const RunHooks *hooks;
    Channel ch;
    pid_t pid;
    EndCause why;
    NnError garbage;
    double t0, kill_at;
    int killed; /* SIGKILL sent */
    long n_rows;
    long n_metric; /* rows that carried the sweep metric (finite) */
    int64_t best_step;
    double best_value;
    /* names seen (for "it logged: ..."), a few */
    NnBuf seen;
    int n_seen;
} Watch;

static void end_program(Watch *w, EndCause why)
{
    if (w->why != END_NONE) return;
    w->why = why;
    kill(-w->pid, SIGTERM);
    w->kill_at = nn_now() + w->r->grace;
}

static void note_names(Watch *w, const RunRow *row)
{
    if (!w->seen.len) nn_buf_append(&w->seen, "|", 1);
    for (int i = 0; i < row->n && w->n_seen < 12; i++) {
        char key[RUN_METRIC_NAME_MAX + 4];
        snprintf(key, sizeof key, "|%s|", row->names[i]);
        if (strstr(w->seen.data, key)) continue;
        nn_buf_printf(&w->seen, "%s|", row->names[i]);
        w->n_seen++;
    }
}

/* The rows of the last feed: best value, counts, the hook. */
static void forward_rows(Watch *w)
{
    int n;
    const RunRow *rows = channel_rows(&w->ch, &n);
    if (n == 0) return;
    for (int i = 0; i < n; i++) {
        const RunRow *row = &rows[i];
        note_names(w, row);
        if (row->step < 0) continue;
        w->n_rows++;
        for (int k = 0; k < row->n && w->r->metric[0]; k++) {
            if (strcmp(row->names[k], w->r->metric) != 0) continue;
            double v = row->values[k];
            if (!isfinite(v)) break;
            w->n_metric++;
            if (isnan(w->best_value) || (w->r->minimize ? v < w->best_value : v > w->best_value)) {
                w->best_value = v;
                w->best_step = row->step;
            }
            break;
        }
    }
    RunVerdict v = w->hooks && w->hooks->on_rows ? w->hooks->on_rows(rows, n, w->hooks->user)
                                                 : RUN_GO_ON;
    if (v == RUN_STOP_EARLY) end_program(w, END_STOP);
    if (v == RUN_CANCEL) end_program(w, END_CANCEL);
}

/* Reads what the channel holds; returns 0 at EOF, 1 otherwise. */
static int read_channel(Watch *w, int fd, char *buf)
{
    ssize_t n = read(fd, buf, READ_BYTES);
    if (n == 0) return 0;
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    if (w->why == END_GARBAGE) return 1; /* nothing after garbage counts */
    NnStatus st = channel_feed(&w->ch, buf, (size_t)n, &w->garbage);
    forward_rows(w);
    if (st != NN_OK) end_program(w, END_GARBAGE);
    return 1;
}

static RunVerdict ask_hooks(const RunHooks *hooks)
{
    if (!hooks) return RUN_GO_ON;
    if (hooks->poll) return hooks->poll(hooks->user);
    return hooks->should_cancel && hooks->should_cancel(hooks->user) ? RUN_CANCEL : RUN_GO_ON;
}

/* Supervises the started program until it exits (not reaped: its pid,
 * hence its group's id, stays taken until the caller's waitpid). */
static void watch(Watch *w, int chan)
{
    char *buf = nn_malloc(READ_BYTES);
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (waitid(P_PID, (id_t)w->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
            si.si_pid == w->pid) {
            /* what it wrote before it exited (its children may keep the
             * pipe open: read what is there, do not wait for EOF) */
            for (;;) {
                struct pollfd pf = {chan, POLLIN, 0};
                if (chan < 0 || poll(&pf, 1, 0) <= 0 || !(pf.revents & (POLLIN | POLLHUP))) break;
                if (!read_channel(w, chan, buf)) {
                    close(chan);
                    chan = -1;
                }
            }
            break;
        }
        struct pollfd pf = {chan, POLLIN, 0};
        int rc = poll(&pf, chan >= 0 ? 1 : 0, POLL_MS);
        if (rc > 0 && (pf.revents & (POLLIN | POLLHUP)) && !read_channel(w, chan, buf)) {
            close(chan);
            chan = -1;
        }
        RunVerdict v = ask_hooks(w->hooks);
        if (v == RUN_STOP_EARLY) end_program(w, END_STOP);
        if (v == RUN_CANCEL) end_program(w, END_CANCEL);
        double now = nn_now();
        if (w->r->time_limit > 0 && now - w->t0 > w->r->time_limit) end_program(w, END_TIMEOUT);
        if (w->why != END_NONE && !w->killed && now >= w->kill_at) {
            kill(-w->pid, SIGKILL);
            w->killed = 1;
        }
    }
    free(buf);
    if (chan >= 0) close(chan);
    /* a last line without its newline */
    if (w->why != END_GARBAGE) {
        NnStatus st = channel_finish(&w->ch, &w->garbage);
        forward_rows(w);
        /* a program ended by nnsweep may have been cut in mid-line */
        if (st != NN_OK && w->why == END_NONE) w->why = END_GARBAGE;
    }
}

static const char *signal_text(int sig)
{
    const char *d = strsignal(sig);
    return d ? d : "unknown signal";
}

/* The outcome of a run that started: status and message from why it
 * ended, its wait status and what it logged. */
static void judge(const Watch *w, int status, const char *dir, off_t err_start, RunSummary *s)
{
    const Request *r = w->r;
    char cause[300] = "", tail[RUN_MESSAGE_LEN];
    s->status = RUN_FAILED;
    switch (w->why) {
    case END_STOP:
        s->status = RUN_STOPPED;
        run_summary_message(s, "stopped by the sweep's stopping rule after %ld rows", w->n_rows);
        return;
    case END_CANCEL:
        s->status = RUN_INTERRUPTED;
        run_summary_message(s, "cancelled (the sweep was stopped) after %ld rows; --resume "
                            "reruns it", w->n_rows);
        return;
    case END_TIMEOUT:
        snprintf(cause, sizeof cause, "ran past the time limit of %g s: ended with SIGTERM%s",
                 r->time_limit, w->killed ? ", then SIGKILL" : "");
        break;
    case END_GARBAGE:
        snprintf(cause, sizeof cause, "wrote garbage on the channel, %.240s", w->garbage.msg);
        break;
    case END_NONE:
        if (WIFSIGNALED(status)) {
            snprintf(cause, sizeof cause, "killed by signal %d (%s)", WTERMSIG(status),
                     signal_text(WTERMSIG(status)));
        } else if (WEXITSTATUS(status) != 0) {
            snprintf(cause, sizeof cause, "exited with status %d", WEXITSTATUS(status));
        } else if (r->metric[0] && w->n_metric == 0) {
            char names[160] = "";
            size_t k = 0; /* "|a|b|" as "a, b" */
            for (const char *p = w->n_seen ? w->seen.data + 1 : ""; *p && k + 3 < sizeof names; p++) {
                if (*p != '|') names[k++] = *p;
                else if (p[1]) names[k++] = ',', names[k++] = ' ';
            }
            names[k] = '\0';
            snprintf(cause, sizeof cause, "exited 0 but never logged the sweep metric '%s' "
                     "(%ld row%s%s%s%s)", r->metric, w->n_rows, w->n_rows == 1 ? "" : "s",
                     w->n_seen ? "; it logged " : "", names, w->n_seen >= 12 ? ", ..." : "");
        } else {
            s->status = RUN_DONE;
            return;
        }
        break;
    }
    stderr_tail(dir, err_start, tail, sizeof tail - strlen(cause) - 16);
    run_summary_message(s, "%s%s%s", cause, tail[0] ? "; stderr: " : "", tail);
}

void program_execute(RunHost *h, const RunRequest *req, const RunHooks *hooks, RunOutcome *out)
{
    RunSummary *s = &out->s;
    snprintf(s->device, sizeof s->device, "%s", h->cuda_visible[0] ? h->device : "cpu");
    Request r;
    NnError err = {{0}};
    if (request_parse(req->json, &r, &err) != NN_OK) {
        run_summary_message(s, "%.500s", err.msg);
        request_free(&r);
        return;
    }
    double t0 = nn_now();
    char host[64] = "", when[64], header[256];
    gethostname(host, sizeof host - 1);
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime_r(&now, &tm));
    snprintf(header, sizeof header, "==== nnsweep: run %s attempt on %s at %s ====\n", r.run_id,
             host, when);
    off_t out_start, err_start;
    int out_fd = -1, err_fd = -1, chan[2] = {-1, -1}, report[2] = {-1, -1}, keeper_fd = -1;
    char **argv = NULL, **envp = NULL;
    int argc = 0;
    pid_t keeper = -1;
    char json_path[4200];
    snprintf(json_path, sizeof json_path, "%s/args.json", r.run_dir);
    NnBuf config = {0};
    program_value_json(r.config, &config);
    if (make_dirs(r.run_dir) != 0 ||
        (out_fd = open_log(r.run_dir, "stdout", header, &out_start)) < 0 ||
        (err_fd = open_log(r.run_dir, "stderr", header, &err_start)) < 0) {
        run_summary_message(s, "cannot write the run's files in %.300s: %s", r.run_dir,
                            strerror(errno));
        goto done;
    }
    if (program_uses_json_file(&r.spec)) {
        FILE *f = fopen(json_path, "w");
        if (!f || fputs(config.data, f) < 0 || fclose(f) != 0) {
            run_summary_message(s, "cannot write %.300s: %s", json_path, strerror(errno));
            goto done;
        }
    }
    if (program_argv(&r.spec, r.config, json_path, &argv, &argc, &err) != NN_OK || argc == 0) {
        run_summary_message(s, "%.500s", argc == 0 && !err.msg[0] ? "an empty command" : err.msg);
        goto done;
    }
    envp = program_env(h, r.run_id, r.sweep, r.run_dir, config.data);
    if (pipe2(chan, O_CLOEXEC) != 0 || pipe2(report, O_CLOEXEC) != 0) {
        run_summary_message(s, "cannot make the channel: %s", strerror(errno));
        goto done;
    }
    pid_t pid = program_spawn(r.spec.dir, argv, envp, out_fd, err_fd, chan[1], report[1]);
    if (pid < 0) {
        run_summary_message(s, "cannot start the program: fork: %s", strerror(errno));
        goto done;
    }
    close(chan[1]), chan[1] = -1;
    close(report[1]), report[1] = -1;
    keeper = program_keeper_start(pid, &keeper_fd);
    int code = 0;
    ssize_t got;
    while ((got = read(report[0], &code, sizeof code)) < 0 && errno == EINTR) {
    }
    Watch w = {.r = &r, .hooks = hooks, .pid = pid, .t0 = t0, .best_step = -1,
               .best_value = NAN};
    channel_init(&w.ch, r.spec.dir);
    int status = 0;
    if (got == (ssize_t)sizeof code) { /* exec failed */
        kill(-pid, SIGKILL);
        run_summary_message(s, "cannot start %.200s (in %.200s): %s", argv[0], r.spec.dir,
                            strerror(code));
    } else {
        fcntl(chan[0], F_SETFL, O_NONBLOCK);
        watch(&w, chan[0]);
        chan[0] = -1;
        kill(-pid, SIGKILL); /* what it left running in its group */
    }
    /* the keeper goes before the program is reaped, so that the group's id
     * cannot be taken by another process while the keeper may still use it */
    if (keeper > 0) {
        program_keeper_dismiss(keeper, keeper_fd);
        keeper_fd = -1;
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (got != (ssize_t)sizeof code) judge(&w, status, r.run_dir, err_start, s);
    s->epochs_done = (int32_t)(w.n_rows < INT32_MAX ? w.n_rows : INT32_MAX);
    s->best_step = w.best_step;
    s->best_value = w.best_value;
    s->wall_seconds = nn_now() - t0;
    out->outputs = channel_outputs(&w.ch);
    channel_free(&w.ch);
    nn_buf_free(&w.seen);
done:
    if (keeper_fd >= 0) close(keeper_fd);
    for (int i = 0; i < 2; i++) {
        if (chan[i] >= 0) close(chan[i]);
        if (report[i] >= 0) close(report[i]);
    }
    if (out_fd >= 0) close(out_fd);
    if (err_fd >= 0) close(err_fd);
    program_argv_free(argv);
    program_env_free(envp);
    nn_buf_free(&config);
    request_free(&r);
}
