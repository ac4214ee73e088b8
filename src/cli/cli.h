/* cli.h - the `nnsweep` subcommands, their option tables and parser, and
 * their shared helpers. Each command returns the process exit code: 0 ok,
 * 1 failure, 2 usage or input error (DESIGN.md, CLI). */
#ifndef NNSWEEP_CLI_H
#define NNSWEEP_CLI_H

#include <stdio.h>

#include "nnsweep/backend.h"
#include "nnsweep/config.h"
#include "nnsweep/core.h"
#include "nnsweep/sweep.h"

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

/* ---- command-line options (options.c) --------------------------------------
 * Each command describes its options in one table (CliOption) and its
 * arguments in a CliCommand: cli_parse matches argv against it and
 * cli_usage prints the help from it, so the help lists exactly what is
 * parsed.
 *
 * Matching: "--name VALUE" or "--name=VALUE" with the whole name exactly
 * ('-' and '_' are the same character: --name-suffix = --name_suffix); a
 * value taken from the next argument may not start with "--"; "-h" and
 * "--help" print the usage; "--" ends the options; "-" and anything else
 * not starting with '-' is an argument. An option given twice: the last one
 * wins (CLI_CALL: each is handed over). Errors, one line on stderr
 * "nnsweep CMD: ..." and exit code 2: an unknown option (with "did you mean
 * --x?" when a known one is close: nn_suggest), a missing value, a value
 * that is not of the option's kind or out of its range, a value given to a
 * flag, too few or too many arguments. */
typedef enum CliKind {
    CLI_FLAG = 0, /* no value: *(int *)dest = 1 */
    CLI_INT,      /* an integer in [lo, hi]: *(int *)dest */
    CLI_DOUBLE,   /* a finite number in [lo, hi]: *(double *)dest */
    CLI_STRING,   /* *(const char **)dest = the value (argv's storage) */
    CLI_PATH,     /* as CLI_STRING; the value may not be empty */
    CLI_CALL      /* call(dest, "--name" as typed, value, err) */
} CliKind;

/* CLI_CALL: takes the value (NULL for a bool_value option given alone);
 * NN_ERR_INPUT with a message naming the option when it is not valid. */
typedef NnStatus (*CliCallFn)(void *dest, const char *option, const char *value, NnError *err);

typedef struct CliOption {
    const char *name;    /* without "--" */
    CliKind kind;
    void *dest;          /* as the kind says; its value before parsing is
                            shown as the default when not 0 or NULL */
    double lo, hi;       /* CLI_INT, CLI_DOUBLE: the accepted range */
    const char *metavar; /* the value in the usage ("N", "FILE"); NULL: none */
    const char *help;    /* one paragraph (cli_usage wraps it) */
    CliCallFn call;      /* CLI_CALL */
    int bool_value;      /* CLI_CALL: may stand alone; takes the next argument
                            only when it is a boolean word (true, no, ...) */
    const char *section; /* a heading that cli_usage prints before it */
} CliOption;

typedef struct CliCommand {
    const char *name;      /* "sweep" */
    const char *args;      /* the arguments in the usage line ("FILE...") */
    const char *args_what; /* the arguments in words, for "expected ..." */
    int min_args, max_args; /* max_args -1: any number */
    const char *about;     /* text right after the usage line (lines end in
                              \n; start it with \n for a blank line) */
    const char *epilog;    /* text after the options, or NULL */
    const CliOption *opts; /* the command's own options */
    int n_opts;
    const CliOption *more; /* a second table (shared or generated options) */
    int n_more;
} CliCommand;

/* Parses argv[1..argc) (argv[0] is the command's name) into the options'
 * destinations and the arguments into args (room for max_args entries, or
 * argc when max_args is -1; *n_args of them). Returns -1 to go on, 0 after
 * printing the usage (--help), 2 after an error message. quiet: prints
 * nothing (MPI ranks other than 0). */
int cli_parse(const CliCommand *cmd, int argc, char **argv, const char **args, int *n_args,
              int quiet);

/* Prints the usage: the usage line, about, every option of the table (with
 * its metavar, help and default) and --help, then the epilog. */
void cli_usage(const CliCommand *cmd, FILE *out);

/* Fills the options that override sweep files (sweep.h, Overrides: --set,
 * --metric, --name-suffix) for o, as the second table of `nnsweep sweep`
 * and `nnsweep expand`. */
#define CLI_N_OVERRIDE_OPTIONS 3
void cli_override_options(SweepOverrides *o, CliOption opts[CLI_N_OVERRIDE_OPTIONS]);


#endif
