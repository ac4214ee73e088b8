/* cuda_emu.cpp - the host emulation of cuda_emu.h: kernels run block by
 * block on one CPU thread, each CUDA thread a fiber (ucontext) so that
 * __syncthreads() can switch; device memory is host memory filled with
 * garbage on allocation; cuBLAS is a naive column-major GEMM (inputs rounded
 * to bf16/TF32 for the FAST compute types); cuDNN is a naive NCHW
 * cross-correlation with fake algorithms (emu_faults.h: one deterministic
 * needing 5 KiB of workspace that it scribbles over, others without; one
 * that asks for TENSOR_OP_MATH_ALLOW_CONVERSION) so that the backend's
 * algorithm choice, workspace layout and fallbacks run, and faults can be
 * injected: refused executions, misaligned pointers, device out of memory
 * (cudaMalloc, cudnnCreate, inside a convolution), a driver too old.
 *
 * Environment: EMU_SM (multiprocessors, default 4), EMU_CC (compute
 * capability major, default 9), EMU_NO_BF16 (cuDNN offers no bf16 forward
 * algorithm) and the knobs of emu_faults.h. A summary of launches is
 * printed at exit. */
#include "cuda_emu.h"
#include "emu_faults.h"
#include <ucontext.h>
#include <vector>
#include <map>

dim3 blockIdx, threadIdx, blockDim, gridDim;
long emu_launches, emu_barrier_kernels, emu_conv_calls;

__attribute__((destructor)) static void emu_report(void)
{
    fprintf(stderr, "emu: %ld launches (%ld with barriers), %ld cuDNN convolutions\n", emu_launches,
            emu_barrier_kernels, emu_conv_calls);
}

/* ---- fibers ---- */
struct Fiber {
    ucontext_t ctx;
    bool done;
    long bars;
};
static ucontext_t g_sched;
static std::vector<Fiber> g_fibers;
static std::vector<char *> g_stacks;
static int g_cur = -1;
static std::function<void()> *g_fn;
static bool g_barrier;
static const size_t STACK = 256 << 10;

static void fiber_entry()
{
    (*g_fn)();
    g_fibers[g_cur].done = true;
    swapcontext(&g_fibers[g_cur].ctx, &g_sched);
}
void __syncthreads()
{
    if (g_cur < 0) {
        fprintf(stderr, "emu: __syncthreads outside a fiber\n");
        abort();
    }
    g_barrier = true;
    g_fibers[g_cur].bars++;
    swapcontext(&g_fibers[g_cur].ctx, &g_sched);
}
static void start_fiber(int t)
{
    Fiber &f = g_fibers[t];
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = g_stacks[t];
    f.ctx.uc_stack.ss_size = STACK;
    f.ctx.uc_link = nullptr;
    f.done = false;
    f.bars = 0;
    makecontext(&f.ctx, fiber_entry, 0);
}
static void set_tid(int t)
{
    threadIdx.x = t % blockDim.x;
    threadIdx.y = (t / blockDim.x) % blockDim.y;
    threadIdx.z = t / (blockDim.x * blockDim.y);
}
void emu_launch(dim3 grid, dim3 block, std::function<void()> fn)
{
    emu_launches++;
    int nt = block.x * block.y * block.z;
    if (nt < 1 || nt > 1024 || grid.x < 1 || grid.y < 1 || grid.z < 1 || grid.y > 65535) {
        fprintf(stderr, "emu: bad launch grid (%u,%u,%u) block (%u,%u,%u)\n", grid.x, grid.y,
                grid.z, block.x, block.y, block.z);
        abort();
    }
    while ((int)g_stacks.size() < nt) g_stacks.push_back((char *)malloc(STACK));
    g_fibers.resize(nt);
    gridDim = grid;
    blockDim = block;
    g_fn = &fn;
    bool uses_barrier = false;
    for (unsigned bz = 0; bz < grid.z; bz++)
        for (unsigned by = 0; by < grid.y; by++)
            for (unsigned bx = 0; bx < grid.x; bx++) {
                blockIdx.x = bx;
                blockIdx.y = by;
                blockIdx.z = bz;
                if (!uses_barrier) {
                    /* probe with thread 0 as a fiber; without a barrier, run the rest plainly */
                    g_barrier = false;
                    start_fiber(0);
                    g_cur = 0;
                    set_tid(0);
                    swapcontext(&g_sched, &g_fibers[0].ctx);
                    g_cur = -1;
                    if (!g_barrier) {
                        for (int t = 1; t < nt; t++) {
                            set_tid(t);
                            fn();
                        }
                        continue;
                    }
                    uses_barrier = true;
                    emu_barrier_kernels++;
                    for (int t = 1; t < nt; t++) start_fiber(t);
                } else {
                    for (int t = 0; t < nt; t++) start_fiber(t);
                }
                for (;;) {
                    /* resume only the fibers that are behind: a barrier releases
                     * nobody until every live thread has reached it */
                    long m = -1;
                    for (int t = 0; t < nt; t++)
                        if (!g_fibers[t].done && (m < 0 || g_fibers[t].bars < m))
                            m = g_fibers[t].bars;
                    if (m < 0) break;
                    for (int t = 0; t < nt; t++) {
                        if (g_fibers[t].done || g_fibers[t].bars != m) continue;
                        g_cur = t;
                        set_tid(t);
                        swapcontext(&g_sched, &g_fibers[t].ctx);
                        g_cur = -1;
                    }
                }
            }
}

/* ---- runtime ---- */
static cudaError_t g_last = cudaSuccess;
static std::map<uintptr_t, size_t> g_mem;
size_t emu_fail_after = (size_t)-1;
unsigned emu_dnn_refuse, emu_dnn_refuse_bf16;
size_t emu_dnn_align1 = 16;
long emu_dnn_oom_after = -1;
int emu_blas_oom;
int emu_driver_version = 13000;
int emu_n_devices = 1;
long emu_dnn_execs[4];
long emu_dnn_conversion_execs;
static const int emu_runtime_version = 13000;

/* The knobs that start from the environment, once. */
static void emu_env(void)
{
    static int done;
    if (done) return;
    done = 1;
    const char *e = getenv("EMU_FAIL_AFTER");
    if (e) emu_fail_after = (size_t)atol(e);
    e = getenv("EMU_DNN_REFUSE");
    if (e) emu_dnn_refuse = (unsigned)atoi(e);
}
/* One allocation of device memory: false when out of memory is simulated. */
static bool emu_alloc_ok(void)
{
    emu_env();
    if (emu_fail_after == 0) return false;
    if (emu_fail_after != (size_t)-1) emu_fail_after--;
    return true;
}
cudaError_t cudaGetDeviceCount(int *n)
{
    *n = 0;
    cudaError_t e = emu_driver_version < emu_runtime_version ? cudaErrorInsufficientDriver
                    : !emu_n_devices                         ? cudaErrorNoDevice
                                                             : cudaSuccess;
    if (e != cudaSuccess) {
        g_last = e;
        return e;
    }
    *n = emu_n_devices;
    return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int *v)
{
    *v = emu_driver_version;
    return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int *v)
{
    *v = emu_runtime_version;
    return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int dev)
{
    if (dev != 0) return cudaErrorInvalidDevice;
    snprintf(p->name, sizeof p->name, "emulated GPU");
    return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes)
{
    *total_bytes = (size_t)80 << 30;
    *free_bytes = *total_bytes / 2;
    return cudaSuccess;
}
cudaError_t cudaGetLastError(void)
{
    cudaError_t e = g_last;
    g_last = cudaSuccess;
    return e;
}
const char *cudaGetErrorName(cudaError_t e)
{
    static char b[32];
    snprintf(b, 32, "cudaError%d", (int)e);
    return b;
}
const char *cudaGetErrorString(cudaError_t) { return "emulated error"; }
cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : cudaErrorInvalidDevice; }
cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int)
{
    const char *sm = getenv("EMU_SM"), *cc = getenv("EMU_CC");
    *v = a == cudaDevAttrMultiProcessorCount      ? (sm ? atoi(sm) : 4)
         : a == cudaDevAttrComputeCapabilityMajor ? (cc ? atoi(cc) : 9)
                                                  : 0;
    return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned)
{
    *s = (void *)0x5;
    return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaMalloc(void **p, size_t n)
{
    if (n > ((size_t)1 << 40) || !emu_alloc_ok()) {
        g_last = cudaErrorMemoryAllocation;
        return cudaErrorMemoryAllocation;
    }
    void *q = NULL;
    if (posix_memalign(&q, 256, n)) q = NULL;
    if (!q) {
        g_last = cudaErrorMemoryAllocation;
        return cudaErrorMemoryAllocation;
    }
    memset(q, 0xA5, n); /* garbage, like real cudaMalloc */
    g_mem[(uintptr_t)q] = n;
    *p = q;
    return cudaSuccess;
}
cudaError_t cudaFree(void *p)
{
    if (!p) return cudaSuccess;
    if (!g_mem.erase((uintptr_t)p)) {
        fprintf(stderr, "emu: cudaFree of unknown %p\n", p);
        abort();
    }
    free(p);
    return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t)
{
    memset(p, v, n);
    return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, cudaMemcpyKind, cudaStream_t)
{
    memcpy(d, s, n);
    return cudaSuccess;
}
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes *a, const void *)
{
    a->type = cudaMemoryTypeUnregistered;
    return cudaSuccess;
}

/* ---- cuBLAS: naive column-major GEMM ---- */
struct EmuBlas {
    void *ws;
    size_t wsn;
    cudaStream_t s;
};
cublasStatus_t cublasCreate(cublasHandle_t *h)
{
    *h = new EmuBlas();
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t h)
{
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s)
{
    h->s = s;
    h->ws = nullptr;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetWorkspace(cublasHandle_t h, void *w, size_t n)
{
    h->ws = w;
    h->wsn = n;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasGetVersion(cublasHandle_t, int *v)
{
    *v = 130000;
    return CUBLAS_STATUS_SUCCESS;
}
static float round_in(float v, cublasComputeType_t c)
{
    if (c == CUBLAS_COMPUTE_32F_FAST_16BF) return __bfloat162float(__float2bfloat16_rn(v));
    if (c == CUBLAS_COMPUTE_32F_FAST_TF32) {
        uint32_t u;
        memcpy(&u, &v, 4);
        u = (u + 0xfffu + ((u >> 13) & 1)) & ~0x1fffu;
        memcpy(&v, &u, 4);
        return v;
    }
    return v;
}
cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                            int n, int k, const void *alpha, const void *A, cudaDataType, int lda,
                            const void *B, cudaDataType, int ldb, const void *beta, void *C,
                            cudaDataType, int ldc, cublasComputeType_t comp, cublasGemmAlgo_t)
{
    if (!h->ws) {
        fprintf(stderr, "emu: cuBLAS workspace not set after the stream\n");
        abort();
    }
    if (emu_blas_oom > 0) {
        emu_blas_oom--;
        return CUBLAS_STATUS_ALLOC_FAILED;
    }
    if (m < 0 || n < 0 || k < 0 || ldc < (m > 1 ? m : 1) ||
        lda < ((ta == CUBLAS_OP_N ? m : k) > 1 ? (ta == CUBLAS_OP_N ? m : k) : 1) ||
        ldb < ((tb == CUBLAS_OP_N ? k : n) > 1 ? (tb == CUBLAS_OP_N ? k : n) : 1))
        return CUBLAS_STATUS_INVALID_VALUE;
    const float *a = (const float *)A, *b = (const float *)B;
    float *c = (float *)C;
    float al = *(const float *)alpha, be = *(const float *)beta;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            double s = 0;
            for (int p = 0; p < k; p++) {
                float av = ta == CUBLAS_OP_N ? a[i + (size_t)p * lda] : a[p + (size_t)i * lda];
                float bv = tb == CUBLAS_OP_N ? b[p + (size_t)j * ldb] : b[j + (size_t)p * ldb];
                s += (double)round_in(av, comp) * round_in(bv, comp);
            }
            float r = al * (float)s;
            if (be != 0.0f) r += be * c[i + (size_t)j * ldc];
            c[i + (size_t)j * ldc] = r;
        }
    return CUBLAS_STATUS_SUCCESS;
}

/* ---- cuDNN: naive NCHW cross-correlation ---- */
struct EmuDnn {
    cudaStream_t s;
};
struct EmuTensor {
    int set;
    cudnnDataType_t dt;
    int n, c, h, w;
};
struct EmuConv {
    int set;
    int pad;
    cudnnMathType_t math;
};
const char *cudnnGetErrorString(cudnnStatus_t s)
{
    static char b[32];
    snprintf(b, 32, "CUDNN_STATUS_%d", (int)s);
    return b;
}
void cudnnGetLastErrorString(char *m, size_t n) { snprintf(m, n, "(emulated)"); }
size_t cudnnGetVersion(void) { return CUDNN_VERSION; }
size_t cudnnGetCudartVersion(void) { return 13000; }
cudnnStatus_t cudnnCreate(cudnnHandle_t *h)
{
    /* cuDNN 9 allocates device memory for its handle */
    if (!emu_alloc_ok()) return CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED;
    *h = new EmuDnn();
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetStream(cudnnHandle_t h, cudaStream_t s)
{
    h->s = s;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t *t)
{
    *t = new EmuTensor();
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t *t)
{
    *t = new EmuTensor();
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t *c)
{
    *c = new EmuConv();
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t t)
{
    delete t;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t t)
{
    delete t;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t c)
{
    delete c;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t t, cudnnTensorFormat_t f,
                                         cudnnDataType_t dt, int n, int c, int h, int w)
{
    if (f != CUDNN_TENSOR_NCHW || n < 1 || c < 1 || h < 1 || w < 1) return CUDNN_STATUS_BAD_PARAM;
    *t = {1, dt, n, c, h, w};
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t t, cudnnDataType_t dt,
                                         cudnnTensorFormat_t f, int k, int c, int h, int w)
{
    if (f != CUDNN_TENSOR_NCHW || k < 1 || c < 1 || h < 1 || w < 1) return CUDNN_STATUS_BAD_PARAM;
    *t = {2, dt, k, c, h, w};
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t c, int ph, int pw, int u,
                                              int v, int dh, int dw, cudnnConvolutionMode_t m,
                                              cudnnDataType_t ct)
{
    if (ph != pw || u != 1 || v != 1 || dh != 1 || dw != 1 || m != CUDNN_CROSS_CORRELATION ||
        ct != CUDNN_DATA_FLOAT)
        return CUDNN_STATUS_NOT_SUPPORTED;
    c->set = 1;
    c->pad = ph;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t c, cudnnMathType_t m)
{
    c->math = m;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolution2dForwardOutputDim(cudnnConvolutionDescriptor_t c,
                                                    cudnnTensorDescriptor_t x,
                                                    cudnnFilterDescriptor_t w, int *n, int *k,
                                                    int *h, int *ww)
{
    if (x->set != 1 || w->set != 2 || x->c != w->c) return CUDNN_STATUS_BAD_PARAM;
    *n = x->n;
    *k = w->n;
    *h = x->h + 2 * c->pad - w->h + 1;
    *ww = x->w + 2 * c->pad - w->w + 1;
    return CUDNN_STATUS_SUCCESS;
}
/* the candidates of emu_faults.h: algo 1 needs 5 KiB of workspace, the others none */
static size_t emu_ws(int algo) { return algo == 1 ? 4096 + 1024 : 0; }
template <class P> static void emu_perf(cudnnConvolutionDescriptor_t c, int *got, P *p)
{
    cudnnMathType_t mt = c->math == CUDNN_DEFAULT_MATH ? CUDNN_TENSOR_OP_MATH : c->math;
    struct {
        int algo;
        cudnnStatus_t status;
        cudnnDeterminism_t det;
        cudnnMathType_t math;
    } ranked[4] = {
        {3, CUDNN_STATUS_SUCCESS, CUDNN_DETERMINISTIC, CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION},
        {0, CUDNN_STATUS_SUCCESS, CUDNN_NON_DETERMINISTIC,
         c->math == CUDNN_FMA_MATH ? CUDNN_DEFAULT_MATH : mt},
        {1, CUDNN_STATUS_SUCCESS, CUDNN_DETERMINISTIC, mt},
        {2, CUDNN_STATUS_NOT_SUPPORTED, CUDNN_DETERMINISTIC, mt},
    };
    int n = 0;
    for (int i = c->math == CUDNN_FMA_MATH ? 1 : 0; i < 4; i++) {
        p[n] = {};
        p[n].algo = (decltype(p[n].algo))ranked[i].algo;
        p[n].status = ranked[i].status;
        p[n].memory = emu_ws(ranked[i].algo);
        p[n].determinism = ranked[i].det;
        p[n].mathType = ranked[i].math;
        n++;
    }
    *got = n;
}
cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t, cudnnTensorDescriptor_t x,
                                                     cudnnFilterDescriptor_t,
                                                     cudnnConvolutionDescriptor_t c,
                                                     cudnnTensorDescriptor_t, int, int *got,
                                                     cudnnConvolutionFwdAlgoPerf_t *p)
{
    if (x->dt == CUDNN_DATA_BFLOAT16 && getenv("EMU_NO_BF16")) {
        *got = 0;
        return CUDNN_STATUS_NOT_SUPPORTED;
    }
    emu_perf(c, got, p);
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnnHandle_t, cudnnFilterDescriptor_t,
                                                          cudnnTensorDescriptor_t,
                                                          cudnnConvolutionDescriptor_t c,
                                                          cudnnTensorDescriptor_t, int, int *got,
                                                          cudnnConvolutionBwdDataAlgoPerf_t *p)
{
    emu_perf(c, got, p);
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnnHandle_t, cudnnTensorDescriptor_t,
                                                            cudnnTensorDescriptor_t,
                                                            cudnnConvolutionDescriptor_t c,
                                                            cudnnFilterDescriptor_t, int, int *got,
                                                            cudnnConvolutionBwdFilterAlgoPerf_t *p)
{
    emu_perf(c, got, p);
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t, cudnnTensorDescriptor_t,
                                                      cudnnFilterDescriptor_t,
                                                      cudnnConvolutionDescriptor_t,
                                                      cudnnTensorDescriptor_t,
                                                      cudnnConvolutionFwdAlgo_t a, size_t *n)
{
    *n = emu_ws(a);
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(
    cudnnHandle_t, cudnnFilterDescriptor_t, cudnnTensorDescriptor_t, cudnnConvolutionDescriptor_t,
    cudnnTensorDescriptor_t, cudnnConvolutionBwdDataAlgo_t a, size_t *n)
{
    *n = emu_ws(a);
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(
    cudnnHandle_t, cudnnTensorDescriptor_t, cudnnTensorDescriptor_t, cudnnConvolutionDescriptor_t,
    cudnnFilterDescriptor_t, cudnnConvolutionBwdFilterAlgo_t a, size_t *n)
{
    *n = emu_ws(a);
    return CUDNN_STATUS_SUCCESS;
}

static float ld(const EmuTensor *t, const void *p, size_t i)
{
    return t->dt == CUDNN_DATA_FLOAT ? ((const float *)p)[i]
                                     : __bfloat162float(((const __nv_bfloat16 *)p)[i]);
}
static void st(const EmuTensor *t, void *p, size_t i, float v)
{
    if (t->dt == CUDNN_DATA_FLOAT)
        ((float *)p)[i] = v;
    else
        ((__nv_bfloat16 *)p)[i] = __float2bfloat16_rn(v);
}
static void use_ws(int algo, void *ws, size_t n)
{
    if (n < emu_ws(algo)) {
        fprintf(stderr, "emu: workspace %zu < %zu for algo %d\n", n, emu_ws(algo), algo);
        abort();
    }
    if (emu_ws(algo)) {
        if (!g_mem.count((uintptr_t)ws)) { /* interior pointer: must be inside an allocation */
            bool ok = false;
            for (auto &kv : g_mem)
                if ((uintptr_t)ws >= kv.first && (uintptr_t)ws + n <= kv.first + kv.second)
                    ok = true;
            if (!ok) {
                fprintf(stderr, "emu: workspace %p+%zu outside any allocation\n", ws, n);
                abort();
            }
        }
        memset(ws, 0xEE, n); /* the algorithm scribbles over its workspace */
    }
}
/* What cuDNN checks before it launches anything: faults injected
 * (emu_faults.h), pointer alignment, then the descriptors. */
static cudnnStatus_t refusal(int algo, const EmuTensor *t, const void *a, const void *b,
                             const void *out, const void *ws, size_t wsb)
{
    emu_env();
    if (algo >= 0 && algo < 4) emu_dnn_execs[algo]++;
    if (algo < 0 || algo > 3 || algo == 2) return CUDNN_STATUS_BAD_PARAM;
    unsigned refuse = emu_dnn_refuse | (t->dt == CUDNN_DATA_BFLOAT16 ? emu_dnn_refuse_bf16 : 0);
    if (refuse >> algo & 1) return CUDNN_STATUS_NOT_SUPPORTED_SHAPE;
    size_t align = algo == 1 ? emu_dnn_align1 : 4;
    const void *ptrs[4] = {a, b, out, wsb ? ws : NULL};
    for (int i = 0; i < 4; i++)
        if ((uintptr_t)ptrs[i] % align) return CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER;
    if (emu_dnn_oom_after == 0) return CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED;
    if (emu_dnn_oom_after > 0) emu_dnn_oom_after--;
    return CUDNN_STATUS_SUCCESS;
}
static cudnnStatus_t check(cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w,
                           cudnnConvolutionDescriptor_t c, cudnnTensorDescriptor_t y)
{
    if (c->math == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) emu_dnn_conversion_execs++;
    if (x->set != 1 || w->set != 2 || y->set != 1 || !c->set || x->dt != w->dt || x->dt != y->dt)
        return CUDNN_STATUS_BAD_PARAM;
    if (x->n != y->n || x->c != w->c || y->c != w->n || y->h != x->h + 2 * c->pad - w->h + 1 ||
        y->w != x->w + 2 * c->pad - w->w + 1)
        return CUDNN_STATUS_BAD_PARAM;
    return CUDNN_STATUS_SUCCESS;
}
#define I4(t, a, b, c2, d) ((((size_t)(a) * (t)->c + (b)) * (t)->h + (c2)) * (t)->w + (d))
cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t, const void *alpha, cudnnTensorDescriptor_t xd,
                                      const void *x, cudnnFilterDescriptor_t wd, const void *w,
                                      cudnnConvolutionDescriptor_t c, cudnnConvolutionFwdAlgo_t a,
                                      void *ws, size_t wsb, const void *beta,
                                      cudnnTensorDescriptor_t yd, void *y)
{
    cudnnStatus_t s = refusal(a, xd, x, w, y, ws, wsb);
    if (!s) s = check(xd, wd, c, yd);
    if (s) return s;
    use_ws(a, ws, wsb);
    emu_conv_calls++;
    float al = *(const float *)alpha, be = *(const float *)beta;
    int P = c->pad;
    for (int n = 0; n < yd->n; n++)
        for (int o = 0; o < yd->c; o++)
            for (int i = 0; i < yd->h; i++)
                for (int j = 0; j < yd->w; j++) {
                    double acc = 0;
                    for (int ch = 0; ch < xd->c; ch++)
                        for (int p = 0; p < wd->h; p++)
                            for (int q = 0; q < wd->w; q++) {
                                int h = i + p - P, v = j + q - P;
                                if (h < 0 || h >= xd->h || v < 0 || v >= xd->w) continue;
                                acc += (double)ld(xd, x, I4(xd, n, ch, h, v)) *
                                       ld(wd, w, I4(wd, o, ch, p, q));
                            }
                    float r = al * (float)acc;
                    if (be != 0) r += be * ld(yd, y, I4(yd, n, o, i, j));
                    st(yd, y, I4(yd, n, o, i, j), r);
                }
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t, const void *alpha,
                                           cudnnFilterDescriptor_t wd, const void *w,
                                           cudnnTensorDescriptor_t dyd, const void *dy,
                                           cudnnConvolutionDescriptor_t c,
                                           cudnnConvolutionBwdDataAlgo_t a, void *ws, size_t wsb,
                                           const void *beta, cudnnTensorDescriptor_t dxd, void *dx)
{
    cudnnStatus_t s = refusal(a, dxd, w, dy, dx, ws, wsb);
    if (!s) s = check(dxd, wd, c, dyd);
    if (s) return s;
    use_ws(a, ws, wsb);
    emu_conv_calls++;
    float al = *(const float *)alpha, be = *(const float *)beta;
    int P = c->pad;
    for (int n = 0; n < dxd->n; n++)
        for (int ch = 0; ch < dxd->c; ch++)
            for (int h = 0; h < dxd->h; h++)
                for (int v = 0; v < dxd->w; v++) {
                    double acc = 0;
                    for (int o = 0; o < dyd->c; o++)
                        for (int p = 0; p < wd->h; p++)
                            for (int q = 0; q < wd->w; q++) {
                                int i = h - p + P, j = v - q + P;
                                if (i < 0 || i >= dyd->h || j < 0 || j >= dyd->w) continue;
                                acc += (double)ld(dyd, dy, I4(dyd, n, o, i, j)) *
                                       ld(wd, w, I4(wd, o, ch, p, q));
                            }
                    float r = al * (float)acc;
                    if (be != 0) r += be * ld(dxd, dx, I4(dxd, n, ch, h, v));
                    st(dxd, dx, I4(dxd, n, ch, h, v), r);
                }
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t, const void *alpha,
                                             cudnnTensorDescriptor_t xd, const void *x,
                                             cudnnTensorDescriptor_t dyd, const void *dy,
                                             cudnnConvolutionDescriptor_t c,
                                             cudnnConvolutionBwdFilterAlgo_t a, void *ws,
                                             size_t wsb, const void *beta,
                                             cudnnFilterDescriptor_t wd, void *dw)
{
    cudnnStatus_t s = refusal(a, xd, x, dy, dw, ws, wsb);
    if (!s) s = check(xd, wd, c, dyd);
    if (s) return s;
    use_ws(a, ws, wsb);
    emu_conv_calls++;
    float al = *(const float *)alpha, be = *(const float *)beta;
    int P = c->pad;
    for (int o = 0; o < wd->n; o++)
        for (int ch = 0; ch < wd->c; ch++)
            for (int p = 0; p < wd->h; p++)
                for (int q = 0; q < wd->w; q++) {
                    double acc = 0;
                    for (int n = 0; n < xd->n; n++)
                        for (int i = 0; i < dyd->h; i++)
                            for (int j = 0; j < dyd->w; j++) {
                                int h = i + p - P, v = j + q - P;
                                if (h < 0 || h >= xd->h || v < 0 || v >= xd->w) continue;
                                acc += (double)ld(dyd, dy, I4(dyd, n, o, i, j)) *
                                       ld(xd, x, I4(xd, n, ch, h, v));
                            }
                    float r = al * (float)acc;
                    if (be != 0) r += be * ld(wd, dw, I4(wd, o, ch, p, q));
                    st(wd, dw, I4(wd, o, ch, p, q), r);
                }
    return CUDNN_STATUS_SUCCESS;
}
