/* cuda_common.cuh - what the .cu files of the cuda backend share: the
 * process state accessors (cuda_context.cu), the check macros and launch
 * geometry. Included by .cu files only (it names CUDA and cuBLAS types).
 *
 * Errors (STYLE.md, Errors 1): CUDA_CHECK, CUBLAS_CHECK (and CUDNN_CHECK in
 * cuda_dnn.cu) print "file:line: <library> error <status> in <call>: <text>;
 * hint: <what to do>" and abort through nn_fatal_at (MPI_Abort under MPI).
 * Every kernel launch is followed by NN_CUDA_LAUNCHED(), which reports
 * launch errors at once; errors inside a kernel surface at the next
 * synchronizing call (download, sync), or right after the launch when
 * NNSWEEP_CUDA_SYNC=1 is set in the environment (slow; for locating a
 * failing kernel).
 */
#ifndef NNSWEEP_CUDA_COMMON_CUH
#define NNSWEEP_CUDA_COMMON_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "backend/cuda/cuda_backend.h" /* first: includes core.h as C */
#include "backend/backend_impl.h"
#include "nnsweep/rng.h"

extern "C" {
/* Prints the failure with its hint and aborts (never returns). */
__attribute__((noreturn)) void nn_cuda_fail(const char *file, int line, const char *library,
                                            const char *call, const char *status,
                                            const char *detail, const char *hint);
const char *nn_cuda_hint(cudaError_t e);
const char *nn_cuda_blas_hint(cublasStatus_t s);
const char *nn_cuda_blas_status(cublasStatus_t s);
/* Called after every launch: NN_CUDA_LAUNCHED. */
void nn_cuda_after_launch(const char *file, int line);

/* The backend's stream, cuBLAS handle (on that stream, with its own
 * workspace), the GPU's multiprocessor count; valid after nn_cuda_init(). */
cudaStream_t nn_cuda_stream(void);
cublasHandle_t nn_cuda_blas(void);
int nn_cuda_sm_count(void);
/* Precision in effect (NN_CUDA_*): the one set, except bf16 on GPUs older
 * than compute capability 8.0, which run fp32 (with a warning). */
int nn_cuda_precision(void);
/* Device scratch owned by the backend for per-channel partial sums
 * (NN_CUDA_SCRATCH_BYTES), used inside one op at a time. */
void *nn_cuda_scratch(void);
/* Bytes from p to the end of the alloc_cuda allocation that contains p; 0
 * when p is NULL or not inside one (how the convolution learns how much
 * workspace it was given). */
size_t nn_cuda_bytes_from(const void *p);
}

#define NN_CUDA_SCRATCH_BYTES ((size_t)4 << 20)

#define CUDA_CHECK(call)                                                                           \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess)                                                                     \
            nn_cuda_fail(__FILE__, __LINE__, "CUDA", #call, cudaGetErrorName(e_),                  \
                         cudaGetErrorString(e_), nn_cuda_hint(e_));                                \
    } while (0)

#define CUBLAS_CHECK(call)                                                                         \
    do {                                                                                           \
        cublasStatus_t s_ = (call);                                                                \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                           \
            nn_cuda_fail(__FILE__, __LINE__, "cuBLAS", #call, nn_cuda_blas_status(s_), "",         \
                         nn_cuda_blas_hint(s_));                                                   \
    } while (0)

/* After every kernel launch. */
#define NN_CUDA_LAUNCHED() nn_cuda_after_launch(__FILE__, __LINE__)

/* Threads per block of the elementwise kernels. */
#define NN_CUDA_THREADS 256

/* Largest element count for 32-bit (unsigned) indices in a grid-stride loop:
 * an index plus the grid's stride (< 2^28 threads) stays below 2^32. */
#ifndef NN_CUDA_IDX32_MAX /* (tests may lower it to exercise the size_t kernels) */
#define NN_CUDA_IDX32_MAX ((size_t)1 << 31)
#endif

/* Blocks for a grid-stride loop over n elements: enough to fill the GPU,
 * at most 1 << 20 (the loops stride over the rest). n > 0. */
static inline unsigned nn_cuda_blocks(size_t n, int threads)
{
    size_t b = (n + (size_t)threads - 1) / (size_t)threads;
    size_t cap = (size_t)1 << 20;
    return (unsigned)(b < cap ? b : cap);
}

#endif
