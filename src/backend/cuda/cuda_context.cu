/* cuda_context.cu - the cuda backend's process state: which GPU, its stream,
 * the cuBLAS handle, a small scratch buffer, the precision; the memory ops
 * of the table; error reporting for the check macros (cuda_common.cuh).
 *
 * One process uses one GPU (workers take local_rank % device_count, chosen
 * with nn_cuda_use_device before the first allocation; several processes
 * may share a GPU). Everything runs on one non-blocking stream in issue
 * order, so ops need no synchronization between them; download and sync
 * are the only calls that wait for the GPU. The backend is used from one
 * host thread.
 *
 * Memory: alloc_cuda is cudaMalloc + an asynchronous memset on the stream;
 * out of memory returns NULL (the run fails, the process goes on). Every
 * live allocation is recorded (base, size) so that the convolution can ask
 * how much workspace it was handed (nn_cuda_bytes_from). The context
 * itself holds the cuBLAS workspace (cublasSetWorkspace: no allocation
 * inside cuBLAS calls) and a 4 MiB scratch for per-channel partial sums.
 *
 * Failed runs (nn_cuda_run_failed): the first failure is kept, with its
 * message, until nn_cuda_take_failure; nothing else needs resetting (out
 * of memory leaves no sticky CUDA error), so the next run starts clean.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_common.cuh"

/* cuBLAS's recommended workspace for Hopper (32 MiB; 4 MiB suffices before). */
#define NN_CUBLAS_WORKSPACE_BYTES ((size_t)32 << 20)

typedef struct DevAlloc {
    uintptr_t base;
    size_t bytes;
} DevAlloc;

static int g_ready;  /* nn_cuda_init done */
static int g_device; /* GPU index in use (or chosen, before init) */
static cudaStream_t g_stream;
static cublasHandle_t g_blas;
static void *g_blas_ws; /* (NN_CUBLAS_WORKSPACE_BYTES) */
static void *g_scratch; /* (NN_CUDA_SCRATCH_BYTES) */
static int g_sm_count;
static int g_cc_major, g_cc_minor;
static int g_precision; /* as set (NN_CUDA_*) */
static int g_warned_bf16;
static int g_debug_sync;   /* NNSWEEP_CUDA_SYNC=1: synchronize after every launch */
static int g_verbose;      /* NNSWEEP_CUDA_VERBOSE=1: log the convolution plans */
static char g_failure[1024]; /* the failure of the current run ("" when none) */
static char g_unusable[512]; /* why no GPU can be used although a driver is installed (as of
                              * the last nn_cuda_device_count) */
static DevAlloc *g_allocs; /* live allocations, unordered */
static int g_n_allocs, g_cap_allocs;

/* ---- errors ------------------------------------------------------------------ */

extern "C" void nn_cuda_fail(const char *file, int line, const char *library, const char *call,
                             const char *status, const char *detail, const char *hint)
{
    nn_fatal_at(file, line, "%s error %s in %s%s%s; hint: %s", library, status, call,
                detail && detail[0] ? ": " : "", detail ? detail : "", hint);
}

extern "C" const char *nn_cuda_hint(cudaError_t e)
{
    switch (e) {
    case cudaErrorMemoryAllocation:
        return "the GPU is out of memory: lower batch_size or the number of workers per GPU";
    case cudaErrorNoDevice:
    case cudaErrorInvalidDevice: return "no usable GPU: check nvidia-smi and CUDA_VISIBLE_DEVICES";
    case cudaErrorInsufficientDriver:
    case cudaErrorSystemDriverMismatch:
        return "the NVIDIA driver is missing or older than this CUDA toolkit needs: update it";
    case cudaErrorNoKernelImageForDevice:
        return "this build has no code for this GPU: reconfigure with "
               "-DCMAKE_CUDA_ARCHITECTURES=<its compute capability, e.g. 86>";
    case cudaErrorLaunchFailure:
    case cudaErrorIllegalAddress:
    case cudaErrorIllegalInstruction:
    case cudaErrorAssert:
        return "a kernel failed (an earlier line may say why); rerun with NNSWEEP_CUDA_SYNC=1 "
               "or under compute-sanitizer to find it";
    default: return "check nvidia-smi; rerun with NNSWEEP_CUDA_SYNC=1 to find the failing call";
    }
}

extern "C" const char *nn_cuda_blas_status(cublasStatus_t s)
{
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    }
    return "(unknown cuBLAS status)";
}

extern "C" const char *nn_cuda_blas_hint(cublasStatus_t s)
{
    switch (s) {
    case CUBLAS_STATUS_ALLOC_FAILED:
        return "the GPU is out of memory: lower batch_size or the number of workers per GPU";
    case CUBLAS_STATUS_INVALID_VALUE:
        return "a GEMM got an impossible shape or leading dimension (a bug in nnsweep)";
    case CUBLAS_STATUS_ARCH_MISMATCH:
    case CUBLAS_STATUS_NOT_SUPPORTED:
        return "this GPU lacks the requested precision: use --precision fp32";
    default: return "check nvidia-smi; rerun with NNSWEEP_CUDA_SYNC=1 to find the failing call";
    }
}

extern "C" void nn_cuda_after_launch(const char *file, int line)
{
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess && g_debug_sync) e = cudaStreamSynchronize(g_stream);
    if (e != cudaSuccess)
        nn_cuda_fail(file, line, "CUDA", "kernel launch", cudaGetErrorName(e),
                     cudaGetErrorString(e), nn_cuda_hint(e));
}

/* ---- failed runs ------------------------------------------------------------------ */

extern "C" void nn_cuda_run_failed(const char *fmt, ...)
{
    if (g_failure[0]) return; /* the first cause is the one to report */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_failure, sizeof g_failure, fmt, ap);
    va_end(ap);
    if (!g_failure[0]) snprintf(g_failure, sizeof g_failure, "the cuda backend failed");
    (void)cudaGetLastError(); /* out of memory is not sticky: clear it */
}

extern "C" int nn_cuda_failed(void) { return g_failure[0] != '\0'; }

extern "C" int nn_cuda_take_failure(char *msg, size_t size)
{
    if (!g_failure[0]) return 0;
    snprintf(msg, size, "%s", g_failure);
    g_failure[0] = '\0';
    return 1;
}

/* ---- device choice and state ---------------------------------------------------- */

/* "13.0" from CUDA's version number 13000. */
static void cuda_version_text(int v, char *buf, size_t size)
{
    snprintf(buf, size, "%d.%d", v / 1000, v % 1000 / 10);
}

extern "C" int nn_cuda_device_count(void)
{
    static int said;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    g_unusable[0] = '\0';
    if (e == cudaSuccess) return n;
    (void)cudaGetLastError();
    /* No driver (a CPU machine: cudaDriverGetVersion says 0) or no device:
     * none, quietly. A driver that cannot serve this runtime is not "no
     * GPU": say so once, with both versions. */
    int drv = 0, rt = 0;
    if (cudaDriverGetVersion(&drv) != cudaSuccess) drv = 0;
    if (cudaRuntimeGetVersion(&rt) != cudaSuccess) rt = 0;
    (void)cudaGetLastError();
    if (drv > 0 && e != cudaErrorNoDevice) {
        char d[16], r[16];
        cuda_version_text(drv, d, sizeof d);
        cuda_version_text(rt, r, sizeof r);
        if (drv < rt)
            snprintf(g_unusable, sizeof g_unusable,
                     "the NVIDIA driver is too old for this nnsweep: it supports CUDA %s, this "
                     "build's runtime is CUDA %s and needs a driver for CUDA %s or newer (CUDA "
                     "13: R580 or newer); update the driver, or build nnsweep with the CUDA "
                     "toolkit the driver supports (%s: %s)",
                     d, r, r, cudaGetErrorName(e), cudaGetErrorString(e));
        else
            snprintf(g_unusable, sizeof g_unusable,
                     "the NVIDIA driver (for CUDA %s; this build's runtime is CUDA %s) offers no "
                     "usable GPU: %s (%s)",
                     d, r, cudaGetErrorName(e), cudaGetErrorString(e));
        if (!said++) fprintf(stderr, "nnsweep: %s\n", g_unusable);
    }
    return 0;
}

extern "C" const char *nn_cuda_unusable_reason(void)
{
    nn_cuda_device_count();
    return g_unusable;
}

extern "C" int nn_cuda_available(void) { return nn_cuda_device_count() > 0; }

extern "C" void nn_cuda_use_device(int i)
{
    int n = nn_cuda_device_count();
    const char *vis = getenv("CUDA_VISIBLE_DEVICES");
    NN_CHECK(i >= 0 && i < n,
             "backend_cuda_use_device(%d): %d GPU(s) visible "
             "(CUDA_VISIBLE_DEVICES=%s)",
             i, n, vis ? vis : "unset");
    NN_CHECK(!g_ready || i == g_device,
             "backend_cuda_use_device(%d): the cuda backend already "
             "runs on GPU %d; choose the GPU before the first allocation",
             i, g_device);
    g_device = i;
}

/* Frees what a failed nn_cuda_init got (out of memory). */
static void init_undo(void)
{
    if (g_blas) cublasDestroy(g_blas);
    if (g_blas_ws) cudaFree(g_blas_ws);
    if (g_scratch) cudaFree(g_scratch);
    if (g_stream) cudaStreamDestroy(g_stream);
    g_blas = NULL;
    g_blas_ws = g_scratch = NULL;
    g_stream = NULL;
    (void)cudaGetLastError();
}

/* cudaMalloc that reports out of memory as NULL (clearing the error). */
static void *device_malloc(size_t bytes)
{
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        return NULL;
    }
    CUDA_CHECK(e);
    return p;
}

/* An environment switch: set, not empty and not "0". */
static int env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] != '\0' && strcmp(v, "0") != 0;
}

extern "C" int nn_cuda_init(void)
{
    if (g_ready) return 0;
    CUDA_CHECK(cudaSetDevice(g_device));
    CUDA_CHECK(cudaDeviceGetAttribute(&g_sm_count, cudaDevAttrMultiProcessorCount, g_device));
    CUDA_CHECK(cudaDeviceGetAttribute(&g_cc_major, cudaDevAttrComputeCapabilityMajor, g_device));
    CUDA_CHECK(cudaDeviceGetAttribute(&g_cc_minor, cudaDevAttrComputeCapabilityMinor, g_device));
    CUDA_CHECK(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking));
    g_blas_ws = device_malloc(NN_CUBLAS_WORKSPACE_BYTES);
    g_scratch = g_blas_ws ? device_malloc(NN_CUDA_SCRATCH_BYTES) : NULL;
    if (!g_scratch) {
        init_undo();
        return -1;
    }
    cublasStatus_t s = cublasCreate(&g_blas);
    if (s == CUBLAS_STATUS_ALLOC_FAILED) {
        g_blas = NULL;
        init_undo();
        return -1;
    }
    CUBLAS_CHECK(s);
    /* cublasSetStream resets the workspace to cuBLAS's own pool: stream first */
    CUBLAS_CHECK(cublasSetStream(g_blas, g_stream));
    CUBLAS_CHECK(cublasSetWorkspace(g_blas, g_blas_ws, NN_CUBLAS_WORKSPACE_BYTES));
    /* no TF32 unless a GEMM asks for it by its compute type (cuda_blas.cu) */
    CUBLAS_CHECK(cublasSetMathMode(g_blas, CUBLAS_DEFAULT_MATH));
    g_debug_sync = env_flag("NNSWEEP_CUDA_SYNC");
    g_verbose = env_flag("NNSWEEP_CUDA_VERBOSE");
    g_ready = 1;
    return 0;
}

/* Ops run on pointers from alloc_cuda, so the backend has started. */
static void need_ready(const char *what)
{
    NN_CHECK(g_ready, "cuda backend: %s before any allocation", what);
}

extern "C" int nn_cuda_verbose(void) { return g_verbose; }

extern "C" void nn_cuda_describe(NnBuf *out)
{
    int drv = 0, rt = 0;
    char d[16], r[16];
    cudaDriverGetVersion(&drv);
    cudaRuntimeGetVersion(&rt);
    cuda_version_text(drv, d, sizeof d);
    cuda_version_text(rt, r, sizeof r);
    nn_buf_printf(out, "CUDA driver %s (%d), runtime %s (%d)\n", d, drv, r, rt);
    int n = nn_cuda_device_count();
    if (n == 0) {
        nn_buf_printf(out, "no usable GPU%s%s\n", g_unusable[0] ? ": " : "", g_unusable);
        return;
    }
    if (nn_cuda_init() != 0) {
        nn_buf_printf(out, "GPU %d: no memory left to start the backend\n", g_device);
        return;
    }
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, g_device));
    size_t free_b = 0, total_b = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    int blas = 0;
    CUBLAS_CHECK(cublasGetVersion(g_blas, &blas));
    nn_buf_printf(out,
                  "GPU %d of %d: %s, compute capability %d.%d, %d multiprocessors, %.1f of %.1f "
                  "GiB free; cuBLAS %d\n",
                  g_device, n, prop.name, g_cc_major, g_cc_minor, g_sm_count,
                  (double)free_b / (1 << 30), (double)total_b / (1 << 30), blas);
}

extern "C" cudaStream_t nn_cuda_stream(void) { return g_stream; }
extern "C" cublasHandle_t nn_cuda_blas(void) { return g_blas; }
extern "C" int nn_cuda_sm_count(void) { return g_sm_count > 0 ? g_sm_count : 1; }
extern "C" void *nn_cuda_scratch(void) { return g_scratch; }

extern "C" void set_precision_cuda(int precision)
{
    NN_CHECK(precision >= NN_CUDA_FP32 && precision <= NN_CUDA_BF16,
             "set_precision: %d is not fp32 (0), tf32 (1) or bf16 (2)", precision);
    g_precision = precision;
}

extern "C" int nn_cuda_precision(void)
{
    if (g_precision == NN_CUDA_BF16 && g_ready && g_cc_major < 8) {
        if (!g_warned_bf16)
            fprintf(stderr,
                    "nnsweep: warning: precision bf16 needs a GPU of compute capability "
                    "8.0 or newer; this one is %d.%d: running fp32\n",
                    g_cc_major, g_cc_minor);
        g_warned_bf16 = 1;
        return NN_CUDA_FP32;
    }
    return g_precision;
}

/* ---- allocation records ------------------------------------------------------- */

static void record_add(void *p, size_t bytes)
{
    if (g_n_allocs == g_cap_allocs) {
        g_cap_allocs = g_cap_allocs ? 2 * g_cap_allocs : 64;
        g_allocs = (DevAlloc *)nn_realloc(g_allocs, (size_t)g_cap_allocs * sizeof *g_allocs);
    }
    g_allocs[g_n_allocs].base = (uintptr_t)p;
    g_allocs[g_n_allocs].bytes = bytes;
    g_n_allocs++;
}

static void record_remove(void *p)
{
    for (int i = 0; i < g_n_allocs; i++)
        if (g_allocs[i].base == (uintptr_t)p) {
            g_allocs[i] = g_allocs[--g_n_allocs];
            return;
        }
    nn_fatal("free_cuda(%p): not a pointer from alloc_cuda (or freed twice)", p);
}

extern "C" size_t nn_cuda_bytes_from(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    if (!p) return 0;
    for (int i = 0; i < g_n_allocs; i++)
        if (a >= g_allocs[i].base && a < g_allocs[i].base + g_allocs[i].bytes)
            return g_allocs[i].base + g_allocs[i].bytes - a;
    return 0;
}

/* ---- memory ops ------------------------------------------------------------------- */

extern "C" void *alloc_cuda(size_t bytes)
{
    if (nn_cuda_init() != 0) return NULL;
    size_t n = bytes ? bytes : 1;
    void *p = device_malloc(n);
    if (!p) return NULL;
    CUDA_CHECK(cudaMemsetAsync(p, 0, n, g_stream));
    record_add(p, n);
    return p;
}

extern "C" void free_cuda(void *p)
{
    if (!p) return;
    need_ready("free");
    record_remove(p);
    /* work still queued may use p: let it finish first */
    CUDA_CHECK(cudaStreamSynchronize(g_stream));
    CUDA_CHECK(cudaFree(p));
}

/* Host to device. cudaMemcpyAsync returns once a pageable source has been
 * staged, so the caller may reuse host_src at once; page-locked memory is
 * copied by DMA later, so for it the copy is waited for. */
extern "C" void upload_cuda(void *dst, const void *host_src, size_t bytes)
{
    if (!bytes) return;
    need_ready("upload");
    CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, g_stream));
    cudaPointerAttributes attr;
    cudaError_t e = cudaPointerGetAttributes(&attr, host_src);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        attr.type = cudaMemoryTypeUnregistered;
    }
    if (attr.type == cudaMemoryTypeHost) CUDA_CHECK(cudaStreamSynchronize(g_stream));
}

/* Device to host; complete on return. */
extern "C" void download_cuda(void *host_dst, const void *src, size_t bytes)
{
    if (!bytes) return;
    need_ready("download");
    CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, g_stream));
    CUDA_CHECK(cudaStreamSynchronize(g_stream));
}

/* Device to device; the ranges must not overlap (nnsweep never copies within
 * a buffer). */
extern "C" void copy_cuda(void *dst, const void *src, size_t bytes)
{
    if (!bytes || dst == src) return;
    need_ready("copy");
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, g_stream));
}

extern "C" void zero_cuda(void *p, size_t bytes)
{
    if (!bytes) return;
    need_ready("zero");
    CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, g_stream));
}

extern "C" void sync_cuda(void)
{
    if (!g_ready) return;
    CUDA_CHECK(cudaStreamSynchronize(g_stream));
}
