/* worklog.c - a worker's own log (`nnsweep sweep --worker-log DIR`): what it
 * trained, as it sent it to rank 0, one line per event, flushed at once:
 *
 *   epoch RUN_ID EPOCH train_loss train_accuracy val_loss val_accuracy
 *         test_loss test_accuracy top_accuracy learning_rate   (%.17g: exact)
 *   result RUN_ID STATUS EPOCHS_DONE BEST_EPOCH
 *
 * in DIR/<host>-rank<N>.log (appended: a requeued job adds to it). It tells
 * which node trained what, and lets a test compare the results file with
 * what the workers sent, across requeues. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "proto.h"

FILE *worklog_open(const char *dir, const char *host, int rank)
{
    if (!dir) return NULL;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "nnsweep sweep: --worker-log %s: %s (rank %d logs nothing)\n", dir,
                strerror(errno), rank);
        return NULL;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/%s-rank%d.log", dir, host, rank);
    FILE *f = fopen(path, "a");
    if (!f)
        fprintf(stderr, "nnsweep sweep: --worker-log: %s: %s (rank %d logs nothing)\n", path,
                strerror(errno), rank);
    return f;
}

void worklog_epoch(FILE *f, const char *id, const EpochMetrics *m)
{
    if (!f) return;
    fprintf(f, "epoch %s %d %.17g %.17g %.17g %.17g %.17g %.17g %.17g %.17g\n", id, m->epoch,
            m->train_loss, m->train_accuracy, m->val_loss, m->val_accuracy, m->test_loss,
            m->test_accuracy, m->top_accuracy, m->learning_rate);
    fflush(f);
}

void worklog_result(FILE *f, const char *id, const RunSummary *s)
{
    if (!f) return;
    fprintf(f, "result %s %s %d %d\n", id, run_status_name(s->status), s->epochs_done,
            s->best_epoch);
    fflush(f);
}
