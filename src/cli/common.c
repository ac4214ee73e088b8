/* common.c - helpers shared by the subcommands. */
#define _GNU_SOURCE
#include <mpi.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cli_fail(const char *cmd, NnStatus st, const NnError *err)
{
    fprintf(stderr, "nnsweep %s: %s\n", cmd, err->msg);
    return nn_status_exit_code(st);
}

const char *cli_option_value(const char *cmd, int argc, char **argv, int *i)
{
    const char *eq = strchr(argv[*i], '=');
    if (eq) return eq + 1;
    if (*i + 1 >= argc) {
        fprintf(stderr, "nnsweep %s: %s: expected a value after it\n", cmd, argv[*i]);
        return NULL;
    }
    (*i)++;
    return argv[*i];
}

const Backend *cli_backend_for(const RunConfig *c, NnError *err)
{
    int want_cuda = c->device == DEVICE_CUDA ||
                    (c->device == DEVICE_AUTO && backend_get(BACKEND_CUDA) &&
                     backend_available(BACKEND_CUDA));
    if (!want_cuda) return backend_get(BACKEND_CPU);
    const Backend *be = backend_get(BACKEND_CUDA);
    if (!be) {
        nn_error_set(err, NN_ERR_INPUT,
                     "device: cuda was asked for but this nnsweep was built without the CUDA "
                     "backend (configure with -DNNSWEEP_CUDA=ON)");
        return NULL;
    }
    if (!backend_available(BACKEND_CUDA)) {
        const char *why = backend_cuda_unusable_reason();
        if (why[0])
            nn_error_set(err, NN_ERR_INPUT, "device: cuda was asked for but no GPU can be used: %s",
                         why);
        else
            nn_error_set(err, NN_ERR_INPUT,
                         "device: cuda was asked for but no GPU is visible (check nvidia-smi and "
                         "CUDA_VISIBLE_DEVICES)");
        return NULL;
    }
    return be;
}

int cli_cores(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void cli_mpi_abort(void)
{
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (init && !fin) MPI_Abort(MPI_COMM_WORLD, 1);
}
