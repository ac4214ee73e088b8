/* cli.h - the `nnsweep` subcommands and their shared helpers. Each command
 * returns the process exit code: 0 ok, 1 failure, 2 usage or input error
 * (DESIGN.md, CLI). */
#ifndef NNSWEEP_CLI_H
#define NNSWEEP_CLI_H

#include <stdio.h>

#include "nnsweep/backend.h"
#include "nnsweep/config.h"
#include "nnsweep/core.h"

int cli_train(int argc, char **argv);
int cli_sweep(int argc, char **argv);
int cli_inspect(int argc, char **argv);
int cli_evaluate(int argc, char **argv);
int cli_repair(int argc, char **argv);
int cli_expand(int argc, char **argv);

/* Prints the leaderboard of every sweep of a results file (or only_sweep):
 * progress counts and the top rows with the hyperparameters that vary. */
NnStatus cli_print_leaderboard(const char *path, const char *only_sweep, int top, FILE *out,
                               NnError *err);

/* Abort hook for MPI programs: MPI_Abort(MPI_COMM_WORLD, 1). */
void cli_mpi_abort(void);

/* Prints "nnsweep <cmd>: <message>" to stderr and returns the exit code of
 * the status. */
int cli_fail(const char *cmd, NnStatus st, const NnError *err);

/* The value of option argv[*i] ("--name VALUE" or "--name=VALUE"); advances
 * *i past it. NULL (and a message) when the value is missing. */
const char *cli_option_value(const char *cmd, int argc, char **argv, int *i);

/* The backend for a resolved device of c (auto: cuda when compiled in and a
 * GPU is visible, else cpu); NULL with a message when not available. */
const Backend *cli_backend_for(const RunConfig *c, NnError *err);

/* Cores this process may use (sched affinity). */
int cli_cores(void);

#endif
