/* repair_cmd.c - `nnsweep repair results.h5`: a results file whose writer
 * was killed made to open plainly again. */
#include <stdio.h>

#include "cli.h"
#include "nnsweep/results.h"

int cli_repair(int argc, char **argv)
{
    const char *path = NULL;
    int n_args = 0;
    const CliCommand cmd = {
        .name = "repair", .args = "RESULTS.h5", .args_what = "a results file", .min_args = 1,
        .max_args = 1,
        .about = "\n"
                 "Makes a results file whose writer was killed (kill -9, node crash) open\n"
                 "plainly again, as `h5clear -s --increment` would; `nnsweep sweep --resume`\n"
                 "does this by itself. A file that was closed cleanly is left as it is; one of\n"
                 "results schema version 1 is written back as version 2.\n"};
    int code = cli_parse(&cmd, argc, argv, &path, &n_args, 0);
    if (code >= 0) return code;
    NnError err = {{0}};
    int repaired = 0;
    NnStatus st = results_repair(path, &repaired, &err);
    if (st != NN_OK) return cli_fail("repair", st, &err);
    printf("%s: %s\n", path, repaired ? "repaired" : "closed cleanly: nothing to repair");
    return 0;
}
