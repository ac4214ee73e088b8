/* outcome.c - run statuses by name, and a run result's memory (outcome.h). */
#include "nnsweep/outcome.h"

#include <stdlib.h>
#include <string.h>

static const char *const status_names[RUN_STATUS_COUNT] = {
    "pending", "running", "done", "diverged", "failed", "interrupted"};

const char *run_status_name(RunStatus s)
{
    return (s >= 0 && s < RUN_STATUS_COUNT) ? status_names[s] : "unknown";
}

RunStatus run_status_from_name(const char *name)
{
    for (int i = 0; i < RUN_STATUS_COUNT; i++)
        if (strcmp(status_names[i], name) == 0) return (RunStatus)i;
    return RUN_STATUS_COUNT;
}

void run_result_free(RunResult *r)
{
    if (!r) return;
    free(r->best_state);
    r->best_state = NULL;
}
