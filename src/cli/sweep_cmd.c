/* sweep_cmd.c - `nnsweep sweep FILE... --out results.h5 [--resume]`: one
 * plain process, or every rank of `mpirun -np N` / `srun`. Every rank
 * parses the options; only rank 0 prints. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"
#include "nnsweep/sched.h"

static const char sweep_about[] =
    "       mpirun -np N nnsweep sweep ...   (rank 0 schedules, N-1 workers train)\n"
    "\n"
    "Runs the sweeps of the files (W&B sweep YAML: grid and random lists, or bayes\n"
    "and random without run_cap, which propose runs from the results so far; hyperband\n"
    "stops runs early; `nnsweep expand` shows what each will do) and records every\n"
    "epoch, the best weights and each run's status in one HDF5 results file. SIGTERM,\n"
    "SIGINT, SIGUSR1 or SIGUSR2 stop it cleanly; --resume then reruns only the\n"
    "unfinished runs and lets a search go on from the runs the file holds.\n";

static const char sweep_epilog[] =
    "Example: the seed study with a validation split, in the same results file:\n"
    "  nnsweep sweep jobs/seed_study/*.yaml --set val_split=5000 \\\n"
    "    --set select_on=val_accuracy --metric val_accuracy --name-suffix _val\n"
    "\n"
    "The results file must be on a file system with POSIX write ordering (local\n"
    "disk, Lustre, GPFS): NFS and SMB are refused unless NNSWEEP_ALLOW_UNSAFE_FS=1\n"
    "(slurm/README.md says why).\n";

/* Parses the options into job and *top; returns -1 to go on, else an exit
 * code. Only rank 0 prints. */
static int parse(int argc, char **argv, int rank, SweepJob *job, SweepOverrides *over,
                 const char **files, int *top)
{
    const CliOption opts[] = {
        {.name = "out", .kind = CLI_PATH, .dest = &job->out_path, .metavar = "FILE",
         .help = "results file; new sweeps are added to an existing file"},
        {.name = "resume", .kind = CLI_FLAG, .dest = &job->resume,
         .help = "continue the sweeps already in the file"},
        {.name = "data", .kind = CLI_PATH, .dest = &job->data_dir, .metavar = "DIR",
         .help = "CIFAR-10 directory (default $CIFAR10_DIR, else data/cifar-10-batches-bin)"},
        {.name = "threads", .kind = CLI_INT, .dest = &job->threads, .lo = 1, .hi = 100000,
         .metavar = "N",
         .help = "CPU threads per worker (default: the node's cores split between its "
                 "workers)"},
        {.name = "grace", .kind = CLI_DOUBLE, .dest = &job->grace_seconds, .lo = 0, .hi = 1e6,
         .metavar = "SECONDS", .help = "after a stop signal, wait this long for busy workers"},
        {.name = "progress", .kind = CLI_DOUBLE, .dest = &job->progress_seconds, .lo = 0,
         .hi = 1e6, .metavar = "SECONDS", .help = "progress line at most this often"},
        {.name = "top", .kind = CLI_INT, .dest = top, .lo = 1, .hi = 100000, .metavar = "N",
         .help = "leaderboard rows per sweep at the end"},
        {.name = "quiet", .kind = CLI_FLAG, .dest = &job->quiet,
         .help = "only errors and the leaderboard"},
        {.name = "worker-log", .kind = CLI_PATH, .dest = &job->worker_log, .metavar = "DIR",
         .help = "each worker appends what it trains to DIR/<host>-rank<N>.log: every epoch's "
                 "metrics and every result as it sends them (which node trained what)"},
        {.name = "stats", .kind = CLI_FLAG, .dest = &job->stats,
         .help = "rank 0's cost at the end: time per message and per flushed epoch row, runs "
                 "per second"},
        {.name = "time-limit", .kind = CLI_DOUBLE, .dest = &job->program.time_limit, .lo = 0,
         .hi = 1e9, .metavar = "SECONDS", .section = "Program sweeps (program: in the sweep file)",
         .help = "a run whose program takes longer fails (SIGTERM to its process group, then "
                 "SIGKILL after --kill-grace); 0: no limit"},
        {.name = "kill-grace", .kind = CLI_DOUBLE, .dest = &job->program.grace, .lo = 0,
         .hi = 1e6, .metavar = "SECONDS",
         .help = "seconds between the SIGTERM and the SIGKILL that end a program (its sweep's "
                 "stopping rule, --time-limit, a stop signal); at most half of --grace"},
    };
    CliOption more[CLI_N_OVERRIDE_OPTIONS];
    cli_override_options(over, more);
    const CliCommand cmd = {.name = "sweep", .args = "FILE...",
                            .args_what = "at least one sweep file", .min_args = 1,
                            .max_args = -1, .about = sweep_about, .epilog = sweep_epilog,
                            .opts = opts, .n_opts = (int)(sizeof opts / sizeof opts[0]),
                            .more = more, .n_more = CLI_N_OVERRIDE_OPTIONS};
    int n_files = 0;
    int code = cli_parse(&cmd, argc, argv, files, &n_files, rank != 0);
    job->files = files;
    job->n_files = n_files;
    job->overrides = over;
    return code;
}

int cli_sweep(int argc, char **argv)
{
    int provided, rank;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    nn_set_abort_hook(cli_mpi_abort);

    const char **files = nn_calloc((size_t)argc + 1, sizeof *files);
    SweepJob job = {.command = "sweep", .out_path = "results.h5", .grace_seconds = 20,
                    .progress_seconds = 10, .program = {.time_limit = 0, .grace = 10}};
    SweepOverrides over = {0};
    int top = 10;
    int code = parse(argc, argv, rank, &job, &over, files, &top);
    if (code < 0) {
        code = sched_run_job(&job);
        /* a stop before the start writes nothing: no leaderboard then */
        if (rank == 0 && code == 0 && access(job.out_path, F_OK) == 0) {
            NnError err = {{0}};
            NnStatus st = cli_print_leaderboard(job.out_path, NULL, top, stdout, &err);
            if (st != NN_OK) code = cli_fail("sweep", st, &err);
        }
    }
    free(files);
    sweep_overrides_free(&over);
    MPI_Finalize();
    return code;
}
