/* test_results.h - what the two files of test_results share: the temporary
 * folder, call-checking macros and the test's tensor layout and values
 * (defined in test_results.c). */
#ifndef NNSWEEP_TEST_RESULTS_H
#define NNSWEEP_TEST_RESULTS_H

#include <string.h>

#include "check.h"
#include "nnsweep/results.h"

extern char dir[256], path[512];

#define OK(call)                                                               \
    do {                                                                       \
        NnError e_ = {{0}};                                                    \
        NnStatus s_ = (call);                                                  \
        CHECK(s_ == NN_OK, "%s -> %d: %s", #call, (int)s_, e_.msg);            \
        if (s_ != NN_OK) return;                                               \
    } while (0)
/* call must fail with status want and a message containing text */
#define FAILS(call, want, text)                                                \
    do {                                                                       \
        NnError e_ = {{0}};                                                    \
        NnStatus s_ = (call);                                                  \
        CHECK(s_ == (want) && strstr(e_.msg, (text)), "%s -> %d \"%s\", expected %d \"%s\"", \
              #call, (int)s_, e_.msg, (int)(want), (text));                    \
    } while (0)
#define E (&e_)

int exists(const char *p);

/* The test's layout: 12 linear layers + one batch norm (N_T tensors). */
enum { N_T = 28 };
extern TensorInfo tens[N_T];
extern size_t n_params_t, n_state_t;

/* Metrics row e of run `run`; a summary of a run that ended (n_params and
 * n_state of the layout); best weights of run `run` (caller frees). */
EpochMetrics epoch_row(int run, int e);
RunSummary summary(RunStatus status, int done, int best, double bv, double bt, double wall);
float *state_of(int run);

/* test_results_v2.c: runs added and logged in SWMR mode, attempts, the
 * hash index, unknown statuses, schema 1 read and converted. */
void test_results_v2(void);
/* The SWMR reader's checks of test_results_v2 (`test_results reader STAGE
 * PATH`, another process); returns the exit code. */
int test_results_reader(const char *stage, const char *path);

#endif
