/* program_internal.h - what the files of a program run share (private to
 * src/run): the channel's line parser (program_channel.c) and the process
 * (program_spawn.c), used by the supervisor (program.c). */
#ifndef NNSWEEP_PROGRAM_INTERNAL_H
#define NNSWEEP_PROGRAM_INTERNAL_H

#include <stdint.h>
#include <sys/types.h>

#include "nnsweep/outcome.h"
#include "nnsweep/program.h"

/* The reading end of one run's channel (program.h: the wire format). */
typedef struct Channel {
    const char *cwd;       /* the program's working directory (artifacts) */
    NnBuf line;            /* bytes of a line not ended yet */
    long line_no;          /* lines received, the one in `line` excluded */
    int64_t last_step;     /* of the last log row, -1 before the first */
    /* rows of the last channel_feed (channel_rows) */
    int n_rows, cap_rows;
    RunRow *rows;
    int n_vals, cap_vals;
    size_t *name_off;      /* (n_vals) offsets into names */
    double *values;        /* (n_vals) */
    const char **name_ptr; /* (n_vals) */
    NnBuf names;           /* NUL-terminated names */
    int *row_first;        /* (n_rows) first value of each row */
    /* what the run reports for the whole run: summary values (a name
     * again replaces its value) and artifacts, as JSON members */
    NnBuf summary_names;   /* NUL-terminated names */
    double *summary_values;
    int n_summary;
    NnBuf artifacts;       /* {"name": ..., "path": ...} objects, ", "-separated */
} Channel;

void channel_init(Channel *ch, const char *cwd);
void channel_free(Channel *ch); /* accepts NULL */

/* Feeds bytes read from the channel. Complete lines are parsed; their
 * rows replace those of the last feed (channel_rows). NN_ERR_INPUT with
 * "line N: what: the line" at the first line that is
 * garbage; the rows before it are kept and nothing after it is read. */
NnStatus channel_feed(Channel *ch, const char *data, size_t n, NnError *err);

/* The rows of the last feed: valid until the next feed. */
const RunRow *channel_rows(Channel *ch, int *n);

/* The end of the stream: a last line without '\n' is parsed (as a feed). */
NnStatus channel_finish(Channel *ch, NnError *err);

/* {"summary": {...}, "artifacts": [...]} of what the channel held, or NULL
 * when it held neither; owned by the caller (free()). */
char *channel_outputs(const Channel *ch);

/* ---- the process (program_spawn.c) ---------------------------------------- */

/* The program's environment (program.h: Environment): the worker's, less
 * Open MPI's and PMIx's job variables, plus nnsweep's. NULL-terminated,
 * owned by the caller (program_env_free). */
char **program_env(const RunHost *h, const char *run_id, const char *sweep, const char *run_dir,
                   const char *config_json);
void program_env_free(char **env); /* accepts NULL */

/* Forks the program: in the child, its own process group, PR_SET_PDEATHSIG
 * SIGKILL, stdin /dev/null, stdout out, stderr err, the channel chan at
 * PROGRAM_FD, every other fd closed, working directory dir, execvpe; when
 * that fails the child writes errno (an int) to report (close-on-exec:
 * EOF there means the exec worked) and exits 127. Returns the pid (the
 * group's id), or -1 with errno when fork fails. */
pid_t program_spawn(const char *dir, char **argv, char **envp, int out, int err, int chan,
                    int report);

/* The keeper of the program's group `group`: a process in a group of its
 * own that kills the group (SIGKILL) when its socket to this process ends
 * without a dismissal - when the worker dies. Returns its pid and the
 * socket in *fd, or -1. program_keeper_dismiss ends it (call it before the
 * program is reaped, so that the group's id cannot be reused meanwhile). */
pid_t program_keeper_start(pid_t group, int *fd);
void program_keeper_dismiss(pid_t keeper, int fd);

#endif
