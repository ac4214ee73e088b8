/* common.c - helpers shared by the subcommands: errors, the sweep override
 * options, the MPI abort hook. */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cli_fail(const char *cmd, NnStatus st, const NnError *err)
{
    fprintf(stderr, "nnsweep %s: %s\n", cmd, err->msg);
    return nn_status_exit_code(st);
}

static NnStatus override_set(void *o, const char *option, const char *value, NnError *err)
{
    (void)option;
    return sweep_overrides_set(o, value, err);
}

static NnStatus override_metric(void *o, const char *option, const char *value, NnError *err)
{
    (void)option;
    return sweep_overrides_metric(o, value, err);
}

static NnStatus override_suffix(void *o, const char *option, const char *value, NnError *err)
{
    (void)option;
    return sweep_overrides_name_suffix(o, value, err);
}

void cli_override_options(SweepOverrides *o, CliOption opts[CLI_N_OVERRIDE_OPTIONS])
{
    const CliOption table[CLI_N_OVERRIDE_OPTIONS] = {
        {.name = "set", .kind = CLI_CALL, .dest = o, .call = override_set,
         .metavar = "KEY=VALUE",
         .section = "overrides of every sweep in the files (a --resume needs the same ones; "
                    "the results file records them with each sweep):",
         .help = "run config key KEY is VALUE in every run (VALUE as `nnsweep train --KEY "
                 "VALUE` reads it), replacing the sweep's own parameter KEY; repeatable"},
        {.name = "metric", .kind = CLI_CALL, .dest = o, .call = override_metric,
         .metavar = "NAME[:GOAL]",
         .help = "rank each sweep's runs by NAME (test_accuracy or val_accuracy), and by GOAL "
                 "(maximize or minimize) when given"},
        {.name = "name-suffix", .kind = CLI_CALL, .dest = o, .call = override_suffix,
         .metavar = "SUFFIX",
         .help = "appended to every sweep's name, so that the variant and the sweeps as written "
                 "can share a results file"},
    };
    memcpy(opts, table, sizeof table);
}

void cli_mpi_abort(void)
{
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (init && !fin) MPI_Abort(MPI_COMM_WORLD, 1);
}
