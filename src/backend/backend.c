/* backend.c - the backend registry (backend.h): which tables are compiled
 * in, whether they can run here and why not, their failed runs, and the
 * device policy. The cpu backend's cores and threads are its own
 * (cpu/cpu_platform.c, cpu/cpu_pool.c). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend_impl.h"

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

size_t conv2d_bn_workspace_floats(const Backend *be, const FusedGroup *g)
{
    const ConvShape *s = &g->s;
    size_t z = (size_t)s->B * s->OC * s->OH * s->OW, planes = (size_t)s->B * s->OC;
    return be->conv2d_workspace_floats(s) + be->batchnorm_act_pool_workspace_floats(g) + z +
           4 * planes + 16;
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

NnStatus backend_take_failure(const Backend *be, NnError *err)
{
#ifdef NNSWEEP_HAVE_CUDA
    char msg[sizeof err->msg];
    if (be == &nn_backend_cuda && nn_cuda_take_failure(msg, sizeof msg))
        return nn_error_set(err, NN_ERR_RUN, "%s", msg);
#else
    (void)be;
    (void)err;
#endif
    return NN_OK;
}

const char *backend_cuda_unusable_reason(void)
{
#ifdef NNSWEEP_HAVE_CUDA
    return nn_cuda_unusable_reason();
#else
    return "";
#endif
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

DeviceKind backend_resolve_device(DeviceKind want, int gpu)
{
    switch (want) {
    case DEVICE_CPU: return DEVICE_CPU;
    case DEVICE_CUDA: return DEVICE_CUDA;
    case DEVICE_AUTO: break;
    }
    return gpu ? DEVICE_CUDA : DEVICE_CPU;
}

int backend_gpu_usable(void)
{
    return backend_get(BACKEND_CUDA) && backend_available(BACKEND_CUDA);
}

const Backend *backend_for_device(DeviceKind want, NnError *err)
{
    int gpu = backend_gpu_usable();
    if (backend_resolve_device(want, gpu) == DEVICE_CPU) return backend_get(BACKEND_CPU);
    if (gpu) return backend_get(BACKEND_CUDA);
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    if (!backend_get(BACKEND_CUDA)) {
        nn_error_set(err, NN_ERR_RUN,
                     "device: cuda was asked for but this nnsweep (on %s) was built without the "
                     "CUDA backend (configure with -DNNSWEEP_CUDA=ON), or set device: cpu",
                     host);
        return NULL;
    }
    const char *why = backend_cuda_unusable_reason();
    if (why[0]) {
        nn_error_set(err, NN_ERR_RUN, "device: cuda was asked for but this process on %s can use "
                     "no GPU: %s", host, why);
        return NULL;
    }
    const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
    nn_error_set(err, NN_ERR_RUN,
                 "device: cuda was asked for but this process on %s sees no usable GPU "
                 "(CUDA_VISIBLE_DEVICES=%.64s): check nvidia-smi, ask Slurm for GPUs "
                 "(slurm/gpu.sbatch) or set device: cpu",
                 host, cvd ? cvd : "unset");
    return NULL;
}
