/* request.c - what rank 0 sends a worker for a run (session.h): a
 * built-in run's config, or the request of a program run with where its
 * files go. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnsweep/program.h"
#include "session.h"

const char *session_request(const Session *s, const SchedAssignment *a, RunKind *kind,
                            NnBuf *scratch)
{
    const Sweep *sw = a->sweep;
    if (!sw->program) {
        *kind = RUN_KIND_TRAIN;
        return a->sr->json;
    }
    *kind = RUN_KIND_PROGRAM;
    NnBuf dir = {0};
    nn_buf_printf(&dir, "%s/%s", s->run_dirs, a->sr->id);
    scratch->len = 0;
    /* a program ended by a stop signal must be gone before rank 0 stops
     * waiting for its worker */
    ProgramLimits lim = s->job->program;
    if (lim.grace > s->job->grace_seconds / 2) lim.grace = s->job->grace_seconds / 2;
    program_request_json(sw->program, sw->name, a->sr->id, dir.data, a->sr->json,
                         sweep_metric_label(sw), sw->goal == SWEEP_MINIMIZE, &lim, scratch);
    nn_buf_free(&dir);
    return scratch->data;
}
