/* outcome.c - run statuses and outcome records (outcome.h). */
#include "nnsweep/outcome.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_names[RUN_STATUS_COUNT] = {
    "pending", "running", "done", "diverged", "failed", "interrupted", "stopped"};

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

int run_status_is_final(RunStatus s)
{
    return s == RUN_DONE || s == RUN_DIVERGED || s == RUN_FAILED || s == RUN_STOPPED;
}

void run_summary_init(RunSummary *s, RunStatus status)
{
    memset(s, 0, sizeof *s);
    s->status = status;
    s->best_epoch = -1;
    s->best_step = -1;
    s->best_val_accuracy = s->best_test_accuracy = s->best_value = NAN;
}

void run_summary_message(RunSummary *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->message, sizeof s->message, fmt, ap);
    va_end(ap);
}

void run_outcome_free(RunOutcome *o)
{
    if (!o) return;
    free(o->best_state);
    o->best_state = NULL;
}
