/* program_internal.h - what the files of a program run share (private to
 * src/run): the channel's line parser (program_channel.c), used by the
 * supervisor (program.c). */
#ifndef NNSWEEP_PROGRAM_INTERNAL_H
#define NNSWEEP_PROGRAM_INTERNAL_H

#include <stdint.h>

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

#endif
