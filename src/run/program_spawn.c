/* program_spawn.c - a program run's process (program.h): its environment,
 * the fork and exec into its own process group with the parent-death
 * signal and its file descriptors in place, and the keeper that kills its
 * group when the worker dies. */
#define _GNU_SOURCE /* execvpe, close_range */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "program_internal.h"

extern char **environ;

#ifndef NNSWEEP_PYTHON_DIR
#error "NNSWEEP_PYTHON_DIR (the python/ folder) must be defined by the build"
#endif

/* ---- the environment ------------------------------------------------------------ */

/* Variables by which Open MPI and PMIx tell a process that it belongs to
 * a job: removed, so that a program may use MPI on its own. */
static int mpi_job_var(const char *e)
{
    if (!strncmp(e, "PMIX_", 5) || !strncmp(e, "PMI_", 4)) return 1;
    if (!strncmp(e, "OMPI_MCA_", 9))
        return !strncmp(e + 9, "orte_", 5) || !strncmp(e + 9, "ess", 3) ||
               !strncmp(e + 9, "pmix", 4);
    return !strncmp(e, "OMPI_", 5) && strncmp(e, "OMPI_ALLOW_", 11) != 0;
}

typedef struct Env {
    char **v;
    int n, cap;
} Env;

static void env_put(Env *e, char *kv) /* takes kv, replaces its name */
{
    size_t k = strcspn(kv, "=");
    for (int i = 0; i < e->n; i++)
        if (!strncmp(e->v[i], kv, k + 1)) {
            free(e->v[i]);
            e->v[i] = kv;
            return;
        }
    if (e->n + 2 > e->cap) {
        e->cap = e->cap ? 2 * e->cap : 64;
        e->v = nn_realloc(e->v, (size_t)e->cap * sizeof *e->v);
    }
    e->v[e->n++] = kv;
    e->v[e->n] = NULL;
}

static char *kv(const char *k, const char *v)
{
    NnBuf b = {0};
    nn_buf_printf(&b, "%s=%s", k, v);
    return b.data;
}

char **program_env(const RunHost *h, const char *run_id, const char *sweep, const char *run_dir,
                   const char *config_json)
{
    Env e = {0};
    for (char **p = environ; p && *p; p++)
        if (!mpi_job_var(*p)) env_put(&e, nn_strdup(*p));
    env_put(&e, kv("NNSWEEP_RUN_ID", run_id));
    env_put(&e, kv("NNSWEEP_SWEEP", sweep));
    env_put(&e, kv("NNSWEEP_RUN_DIR", run_dir));
    env_put(&e, kv("NNSWEEP_CONFIG", config_json));
    char num[32];
    snprintf(num, sizeof num, "%d", PROGRAM_FD);
    env_put(&e, kv("NNSWEEP_FD", num));
    if (h->threads > 0) {
        snprintf(num, sizeof num, "%d", h->threads);
        const char *names[] = {"NNSWEEP_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                               "OPENBLAS_NUM_THREADS"};
        for (int i = 0; i < 4; i++) env_put(&e, kv(names[i], num));
    }
    if (h->cuda_visible[0]) env_put(&e, kv("CUDA_VISIBLE_DEVICES", h->cuda_visible));
    const char *pp = getenv("PYTHONPATH");
    NnBuf path = {0};
    nn_buf_printf(&path, "%s%s%s", NNSWEEP_PYTHON_DIR, pp && *pp ? ":" : "", pp && *pp ? pp : "");
    env_put(&e, kv("PYTHONPATH", path.data));
    nn_buf_free(&path);
    return e.v;
}

void program_env_free(char **v)
{
    for (char **p = v; p && *p; p++) free(*p);
    free(v);
}

/* ---- the processes ----------------------------------------------------------------- */

/* Closes every fd from `from` up. */
static void close_from(int from)
{
    if (close_range((unsigned)from, ~0U, 0) == 0) return;
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = from; fd < (max > 0 && max < 65536 ? max : 65536); fd++) close((int)fd);
}

/* In the forked child: becomes the program (never returns). */
static _Noreturn void child_exec(pid_t parent, const char *dir, char **argv, char **envp,
                                 int out, int errfd, int chan, int report)
{
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127); /* the worker died before the prctl */
    int sigs[] = {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) signal(sigs[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int devnull = open("/dev/null", O_RDONLY);
    /* move everything above the fds it is going to, then put each in place */
    int o = fcntl(out, F_DUPFD, 10), e = fcntl(errfd, F_DUPFD, 10), c = fcntl(chan, F_DUPFD, 10);
    int rep = fcntl(report, F_DUPFD_CLOEXEC, 10), dn = fcntl(devnull, F_DUPFD, 10);
    if (o < 0 || e < 0 || c < 0 || rep < 0 || dn < 0 || dup2(dn, 0) < 0 || dup2(o, 1) < 0 ||
        dup2(e, 2) < 0 || dup2(c, PROGRAM_FD) < 0 || dup2(rep, PROGRAM_FD + 1) < 0 ||
        fcntl(PROGRAM_FD + 1, F_SETFD, FD_CLOEXEC) < 0)
        goto fail;
    close_from(PROGRAM_FD + 2);
    rep = PROGRAM_FD + 1;
    if (chdir(dir) != 0) goto fail;
    execvpe(argv[0], argv, envp);
fail:;
    int code = errno;
    if (write(rep >= 0 ? rep : report, &code, sizeof code) < 0) { /* the parent sees EOF */
    }
    _exit(127);
}

pid_t program_spawn(const char *dir, char **argv, char **envp, int out, int err, int chan,
                    int report)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) child_exec(parent, dir, argv, envp, out, err, chan, report);
    if (pid > 0) setpgid(pid, pid); /* also here: no race with a kill of its group */
    return pid;
}

/* The keeper: in a process group of its own, it waits on its socket to the
 * worker and kills the program's group when the worker dies (EOF without
 * the 'D' that a worker sends after a run's normal end). */
pid_t program_keeper_start(pid_t group, int *fd)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE};
        for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) signal(sigs[i], SIG_IGN);
        int k = fcntl(sv[1], F_DUPFD, 10);
        int devnull = open("/dev/null", O_RDWR);
        if (k < 0 || devnull < 0) _exit(1);
        dup2(devnull, 0), dup2(devnull, 1), dup2(devnull, 2), dup2(k, 3);
        close_from(4);
        for (;;) {
            char c;
            ssize_t n = read(3, &c, 1);
            if (n == 1 && c == 'D') _exit(0);
            if (n < 0 && errno == EINTR) continue;
            if (n == 1) continue;
            kill(-group, SIGKILL);
            _exit(0);
        }
    }
    close(sv[1]);
    *fd = sv[0];
    return pid;
}

void program_keeper_dismiss(pid_t keeper, int fd)
{
    send(fd, "D", 1, MSG_NOSIGNAL);
    close(fd);
    while (waitpid(keeper, NULL, 0) < 0 && errno == EINTR) {
    }
}
