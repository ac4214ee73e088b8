/* sweep_cmd.c - `nnsweep sweep FILE... --out results.h5 [--resume]`: one
 * plain process, or every rank of `mpirun -np N` / `srun`. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "nnsweep/dist.h"

static void sweep_help(void)
{
    printf("usage: nnsweep sweep FILE... [--out results.h5] [--resume] [options]\n"
           "       mpirun -np N nnsweep sweep ...   (rank 0 schedules, N-1 workers train)\n"
           "\n"
           "Runs every run of the sweep files (W&B sweep YAML; `nnsweep expand` lists them)\n"
           "and records every epoch, the best weights and each run's status in one HDF5\n"
           "results file. SIGTERM, SIGINT, SIGUSR1 or SIGUSR2 stop it cleanly; --resume\n"
           "then reruns only the unfinished runs.\n"
           "\n"
           "options:\n"
           "  --out FILE          results file (default results.h5); new sweeps are added\n"
           "                      to an existing file\n"
           "  --resume            continue the sweeps already in the file\n"
           "  --data DIR          CIFAR-10 directory (default $CIFAR10_DIR, else\n"
           "                      data/cifar-10-batches-bin)\n"
           "  --threads N         CPU threads per worker (default: the node's cores split\n"
           "                      between its workers)\n"
           "  --grace SECONDS     after a stop signal, wait this long for busy workers\n"
           "                      (default 20)\n"
           "  --progress SECONDS  progress line at most this often (default 10)\n"
           "  --top N             leaderboard rows per sweep at the end (default 10)\n"
           "  --quiet             only errors and the leaderboard\n"
           "  --stats             rank 0's cost at the end: time per message and per\n"
           "                      flushed epoch row, runs per second\n"
           "\n"
           "The results file must be on a file system with POSIX write ordering (local\n"
           "disk, Lustre, GPFS): NFS and SMB are refused unless NNSWEEP_ALLOW_UNSAFE_FS=1\n"
           "(slurm/README.md says why).\n");
}

static int parse_seconds(const char *v, double *out)
{
    char *end;
    double d = v ? strtod(v, &end) : -1;
    if (!v || *end || !(d >= 0) || d > 1e6) return 0;
    *out = d;
    return 1;
}

/* Parses the options; returns -1 to go on, else an exit code. Only rank 0
 * prints. */
static int parse(int argc, char **argv, int rank, SweepJob *job, const char **files, int *top)
{
    int n_files = 0;
    FILE *err = rank == 0 ? stderr : fopen("/dev/null", "w");
    int code = -1;
    for (int i = 1; i < argc && code < 0; i++) {
        const char *a = argv[i];
        const char *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            if (rank == 0) sweep_help();
            code = 0;
        } else if (!strcmp(a, "--resume")) {
            job->resume = 1;
        } else if (!strcmp(a, "--quiet")) {
            job->quiet = 1;
        } else if (!strcmp(a, "--stats")) {
            job->stats = 1;
        } else if (!strncmp(a, "--out", 5)) {
            if (!(job->out_path = cli_option_value("sweep", argc, argv, &i))) code = 2;
        } else if (!strncmp(a, "--data", 6)) {
            if (!(job->data_dir = cli_option_value("sweep", argc, argv, &i))) code = 2;
        } else if (!strncmp(a, "--threads", 9) || !strncmp(a, "--top", 5)) {
            v = cli_option_value("sweep", argc, argv, &i);
            char *end;
            long t = v ? strtol(v, &end, 10) : 0;
            if (!v || *end || t < 1 || t > 100000) {
                fprintf(err, "nnsweep sweep: %.9s: expected an integer >= 1\n", a);
                code = 2;
            } else if (a[2] == 't' && a[3] == 'h') {
                job->threads = (int)t;
            } else {
                *top = (int)t;
            }
        } else if (!strncmp(a, "--grace", 7) || !strncmp(a, "--progress", 10)) {
            v = cli_option_value("sweep", argc, argv, &i);
            double *dst = a[2] == 'g' ? &job->grace_seconds : &job->progress_seconds;
            if (!parse_seconds(v, dst)) {
                fprintf(err, "nnsweep sweep: %s: expected a number of seconds\n", a);
                code = 2;
            }
        } else if (a[0] == '-') {
            fprintf(err, "nnsweep sweep: unknown option '%s' (see --help)\n", a);
            code = 2;
        } else {
            files[n_files++] = a;
        }
    }
    if (code < 0 && n_files == 0) {
        fprintf(err, "nnsweep sweep: expected at least one sweep file (see --help)\n");
        code = 2;
    }
    job->files = files;
    job->n_files = n_files;
    if (err != stderr) fclose(err);
    return code;
}

int cli_sweep(int argc, char **argv)
{
    int provided, rank;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    nn_set_abort_hook(cli_mpi_abort);

    const char **files = nn_calloc((size_t)argc + 1, sizeof *files);
    SweepJob job = {.out_path = "results.h5", .grace_seconds = 20, .progress_seconds = 10};
    int top = 10;
    int code = parse(argc, argv, rank, &job, files, &top);
    if (code < 0) {
        code = dist_run_sweep(&job);
        if (rank == 0 && code == 0) {
            NnError err = {{0}};
            NnStatus st = cli_print_leaderboard(job.out_path, NULL, top, stdout, &err);
            if (st != NN_OK) code = cli_fail("sweep", st, &err);
        }
    }
    free(files);
    MPI_Finalize();
    return code;
}
