/* main.c - `nnsweep` entry point: dispatches to the subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "nnsweep %s - train and sweep MLPs and CNNs on CIFAR-10\n"
            "\n"
            "usage: nnsweep COMMAND [options]   (nnsweep COMMAND --help for its options)\n"
            "\n"
            "commands:\n"
            "  train     train one run from flags or a run config file\n"
            "  sweep     run sweep files (alone or under mpirun/srun) into a results file\n"
            "  inspect   leaderboard, progress and epoch tables of a results file\n"
            "  evaluate  test accuracy, per-class accuracy, confusion matrix of stored weights\n"
            "  repair    make a results file whose writer was killed open plainly again\n"
            "  expand    print the runs that sweep files expand into (nothing is run)\n"
            "\n"
            "The dataset directory comes from --data or $CIFAR10_DIR (scripts/get-cifar10.sh\n"
            "downloads it). Exit codes: 0 ok, 1 failure, 2 usage or input error.\n",
            NNSWEEP_VERSION);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("nnsweep %s\n", NNSWEEP_VERSION);
        return 0;
    }
    if (strcmp(cmd, "train") == 0) return cli_train(argc - 1, argv + 1);
    if (strcmp(cmd, "sweep") == 0) return cli_sweep(argc - 1, argv + 1);
    if (strcmp(cmd, "inspect") == 0) return cli_inspect(argc - 1, argv + 1);
    if (strcmp(cmd, "evaluate") == 0) return cli_evaluate(argc - 1, argv + 1);
    if (strcmp(cmd, "repair") == 0) return cli_repair(argc - 1, argv + 1);
    if (strcmp(cmd, "expand") == 0) return cli_expand(argc - 1, argv + 1);
    fprintf(stderr, "nnsweep: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
