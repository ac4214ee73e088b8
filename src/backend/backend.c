/* backend.c - the backend registry (backend.h): which tables are compiled
 * in, whether they can run here, and the cpu backend's thread count. */
#include <omp.h>
#include <string.h>

#include "backend/backend_impl.h"
#ifdef NNSWEEP_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

const Backend *backend_get(BackendKind kind)
{
    switch (kind) {
    case BACKEND_REF: return &nn_backend_ref;
    case BACKEND_CPU: return &nn_backend_cpu;
    case BACKEND_CUDA:
#ifdef NNSWEEP_HAVE_CUDA
        return &nn_backend_cuda;
#else
        return NULL;
#endif
    }
    return NULL;
}

const Backend *backend_by_name(const char *name)
{
    if (!name) return NULL;
    if (strcmp(name, "ref") == 0) return backend_get(BACKEND_REF);
    if (strcmp(name, "cpu") == 0) return backend_get(BACKEND_CPU);
    if (strcmp(name, "cuda") == 0) return backend_get(BACKEND_CUDA);
    return NULL;
}

int backend_available(BackendKind kind)
{
    switch (kind) {
    case BACKEND_REF:
    case BACKEND_CPU: return 1;
    case BACKEND_CUDA:
#ifdef NNSWEEP_HAVE_CUDA
        return nn_cuda_available();
#else
        return 0;
#endif
    }
    return 0;
}

int backend_cuda_device_count(void)
{
#ifdef NNSWEEP_HAVE_CUDA
    return nn_cuda_device_count();
#else
    return 0;
#endif
}

void backend_cuda_use_device(int i)
{
#ifdef NNSWEEP_HAVE_CUDA
    nn_cuda_use_device(i);
#else
    (void)i;
#endif
}

/* The cpu backend runs n OpenMP threads; OpenBLAS (Debian's pthread build,
 * with a second, spinning pool) is set to one thread, and the backend splits
 * large GEMMs over the OpenMP threads itself (cpu_sgemm), so there is one
 * pool and no nesting. omp_get_num_procs() counts the CPUs of this
 * process's affinity mask. Call from the main thread (omp_set_num_threads
 * sets the calling thread's default). */
int backend_cpu_set_threads(int n)
{
    if (n <= 0) n = omp_get_num_procs();
    if (n < 1) n = 1;
    openblas_set_num_threads(1);
    omp_set_num_threads(n);
    return n;
}
