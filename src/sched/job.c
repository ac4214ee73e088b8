/* job.c - sched_run_job (sched.h): the sweep files loaded on rank 0, then
 * the MPI driver (rank 0 + workers) or the in-process one. Under MPI rank 0
 * first broadcasts what the workers need (an int: 1 the dataset, 0 only
 * programs, -1 nothing: the sweep files could not be loaded and every rank
 * exits). */
#include <mpi.h>
#include <stdio.h>

#include "proto.h"
#include "session.h"

int sched_run_job(const SweepJob *job)
{
    int mpi = 0, fin = 0, rank = 0, size = 1;
    MPI_Initialized(&mpi);
    MPI_Finalized(&fin);
    if (mpi && !fin) {
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        MPI_Comm_size(MPI_COMM_WORLD, &size);
    }
    sched_install_signals();
    MPI_Comm workers = MPI_COMM_NULL;
    if (size > 1) /* collective over every rank: rank 0 is not among the workers */
        MPI_Comm_split(MPI_COMM_WORLD, rank == 0 ? MPI_UNDEFINED : 1, rank, &workers);
    if (rank != 0) {
        int needs = -1;
        MPI_Bcast(&needs, 1, MPI_INT, 0, MPI_COMM_WORLD);
        int code = needs < 0 ? 0 : sched_mpi_worker(job, workers, needs);
        MPI_Comm_free(&workers);
        return code;
    }

    SweepSet loaded = {0}, *set = job->set;
    if (!set) {
        NnError err = {{0}};
        NnStatus st = sweep_load_files(&loaded, job->files, job->n_files, job->overrides,
                                       job->quiet ? NULL : stderr, &err);
        if (st != NN_OK) {
            fprintf(stderr, "nnsweep %s: %s\n", job_command(job), err.msg);
            int none = -1;
            if (size > 1) MPI_Bcast(&none, 1, MPI_INT, 0, MPI_COMM_WORLD);
            return nn_status_exit_code(st);
        }
        set = &loaded;
    }
    int needs = sched_set_needs_data(set);
    if (size > 1) MPI_Bcast(&needs, 1, MPI_INT, 0, MPI_COMM_WORLD);
    int code = size > 1 ? sched_mpi_rank0(job, set, size) : sched_local(job, set);
    sweep_set_free(&loaded);
    return code;
}

int sched_set_needs_data(const SweepSet *set)
{
    for (int k = 0; k < set->n_sweeps; k++)
        if (!set->sweeps[k].program) return 1;
    return 0;
}
