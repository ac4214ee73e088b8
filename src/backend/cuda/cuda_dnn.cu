/* cuda_dnn.cu - cuDNN's convolution plans for the cuda backend's
 * convolution ops (cuda_conv.cu, through cuda_dnn.cuh): every cuDNN call
 * of nnsweep is in this file (STYLE.md).
 *
 * API: cuDNN 9's legacy convolution API (cudnn_cnn.h: cudnnConvolution-
 * Forward, -BackwardData, -BackwardFilter, cudnnGet*Algorithm_v7); all of
 * it is still in cuDNN 9 (marked deprecated only when CUDNN_WARN_DEPRECATED
 * is defined). NCHW tensors, (OC, C, K, K) filters, cross-correlation as
 * PyTorch, pad = padding, stride 1, dilation 1.
 *
 * Algorithms: ranked once per shape by cuDNN's heuristics
 * (cudnnGet*Algorithm_v7, what PyTorch does with cudnn.benchmark = False):
 * no benchmarking, so the choice is deterministic and needs no memory. Of
 * the candidates cuDNN ranks, those that succeed, use an allowed math type
 * and need at most NN_CONV_WS_CAP of workspace are kept, deterministic ones
 * first (bit-reproducible runs), each group in cuDNN's order. A plan per
 * (shape, precision) holds the descriptors and those lists, in a small
 * table here (g_plans); the first entry of each direction sets the
 * workspace the plan asks for. At each call the first entry whose
 * workspace fits what the caller has runs.
 *
 * The heuristics see no pointers and promise nothing: an algorithm may
 * still be refused when it is run (a status of category BAD_PARAM, e.g.
 * BAD_PARAM_MISALIGNED_POINTER, or NOT_SUPPORTED, before anything is
 * launched; also any other status that leaves the GPU usable). Such an
 * algorithm is dropped from its plan for good, with a warning, and the
 * next one runs (PyTorch's v7 path does the same). When a list runs dry, a
 * tf32/bf16 plan is rebuilt in fp32 (a warning says so); an fp32 plan
 * fails the run (nn_cuda_run_failed) and is forgotten, so that the next
 * run asks cuDNN again. Out of GPU memory (cuDNN 9:
 * CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED; its
 * CUDNN_STATUS_ALLOC_FAILED is the host's) fails the run too, when cuDNN
 * starts as when it runs. Only a status that leaves the GPU unusable (a
 * sticky CUDA error) or a host allocation failure aborts (CUDNN_CHECK).
 *
 * Precision (math type on the descriptor, data type of the tensors):
 *   fp32  float, CUDNN_FMA_MATH (as PyTorch with allow_tf32 off): no TF32.
 *         A candidate cuDNN reports as DEFAULT_MATH runs with FMA_MATH
 *         set; tensor-op ones are left out.
 *   tf32  float, CUDNN_DEFAULT_MATH (TF32 tensor cores allowed).
 *   bf16  bfloat16 x, w, y with compute type float (PSEUDO_BFLOAT16),
 *         CUDNN_TENSOR_OP_MATH (cuda_conv.cu makes the bfloat16 copies).
 *   tf32 and bf16 never take a CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION
 *   candidate: on float data it lets cuDNN down-convert to fp16.
 * Where cuDNN has no usable algorithm in the asked precision for a shape,
 * that layer runs fp32 (a warning says so) rather than failing the run.
 *
 * NNSWEEP_CUDA_VERBOSE=1 logs (stderr, "nnsweep: cuda:") each plan's
 * candidates and, per direction, the algorithm, math type and workspace
 * that ran, when it first runs and whenever that changes.
 */
#include <cudnn.h>
#include <stdio.h>
#include <string.h>

#include "backend/cuda/cuda_dnn.cuh"

/* Largest cuDNN workspace an algorithm may ask for. */
#define NN_CONV_WS_CAP ((size_t)256 << 20)

/* ---- statuses ------------------------------------------------------------------- */

/* What to do about a cuDNN 9 status: its specific code first, else its
 * category (cuDNN 9 reports sub-codes such as 3002, NOT_SUPPORTED_SHAPE). */
static const char *dnn_hint(cudnnStatus_t s)
{
    switch (s) {
    case CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER:
        return "cuDNN wants its pointers aligned more than the 16 bytes nnsweep checks for "
               "(cuda_conv.cu)";
    case CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED:
        return "the host is out of memory (cuDNN 9's CUDNN_STATUS_ALLOC_FAILED)";
    case CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED:
        return "the GPU is out of memory: lower batch_size or the number of workers per GPU";
    case CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER:
    case CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDART:
        return "cuDNN does not match the CUDA driver or runtime: install the cuDNN 9 built for "
               "this CUDA and a driver for it (CUDA 13: R580 or newer)";
    case CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH:
        return "this cuDNN has no kernels for this GPU's architecture";
    case CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED:
        return "cuDNN could not load one of its libcudnn_*.so: check the install and ldconfig";
    default: break;
    }
    switch (CUDNN_STATUS_CATEGORY(s)) {
    case 1000: return "cuDNN is not usable here (not initialized, version or licence)";
    case CUDNN_STATUS_BAD_PARAM: return "cuDNN rejected an argument (a bug in nnsweep)";
    case CUDNN_STATUS_NOT_SUPPORTED:
        return "cuDNN has no kernel for this shape and precision on this GPU: try --precision "
               "fp32";
    case CUDNN_STATUS_INTERNAL_ERROR:
        return "an error inside cuDNN: rerun with CUDNN_LOGLEVEL_DBG=2 CUDNN_LOGDEST_DBG=stderr";
    case CUDNN_STATUS_EXECUTION_FAILED:
        return "a cuDNN kernel failed on the GPU: rerun with NNSWEEP_CUDA_SYNC=1 or under "
               "compute-sanitizer";
    default: return "check nvidia-smi; rerun with NNSWEEP_CUDA_SYNC=1 to find the failing call";
    }
}

#define CUDNN_CHECK(call)                                                                          \
    do {                                                                                           \
        cudnnStatus_t s_ = (call);                                                                 \
        if (s_ != CUDNN_STATUS_SUCCESS) {                                                          \
            char detail_[512];                                                                     \
            cudnnGetLastErrorString(detail_, sizeof detail_);                                      \
            nn_cuda_fail(__FILE__, __LINE__, "cuDNN", #call, cudnnGetErrorString(s_), detail_,     \
                         dnn_hint(s_));                                                            \
        }                                                                                          \
    } while (0)

/* A status after which another algorithm may run: cuDNN refused this one
 * before launching anything, or whatever went wrong left no sticky CUDA
 * error (the stream still synchronizes). Out of device memory is not one:
 * the GPU is full, not the algorithm at fault. */
static int dnn_next_may_run(cudnnStatus_t s)
{
    int cat = CUDNN_STATUS_CATEGORY(s);
    if (cat == CUDNN_STATUS_BAD_PARAM || cat == CUDNN_STATUS_NOT_SUPPORTED) return 1;
    if (s == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED ||
        s == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED)
        return 0;
    (void)cudaGetLastError();
    return cudaStreamSynchronize(nn_cuda_stream()) == cudaSuccess &&
           cudaGetLastError() == cudaSuccess;
}

/* ---- plans ------------------------------------------------------------------------- */

enum { DIR_FWD = NN_DNN_FWD, DIR_DATA = NN_DNN_DATA, DIR_FILTER = NN_DNN_FILTER, N_DIRS };
static const char *const dir_names[N_DIRS] = {"forward", "backward data", "backward filter"};
/* cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t by number, for the logs */
static const char *const algo_names[N_DIRS][8] = {
    {"IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT", "FFT", "FFT_TILING", "WINOGRAD",
     "WINOGRAD_NONFUSED"},
    {"ALGO_0", "ALGO_1", "FFT", "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED", "?", "?"},
    {"ALGO_0", "ALGO_1", "FFT", "ALGO_3", "WINOGRAD", "WINOGRAD_NONFUSED", "FFT_TILING", "?"}};
static const char *const math_names[] = {"DEFAULT", "TENSOR_OP", "TENSOR_OP_ALLOW_CONVERSION",
                                         "FMA"};
static const char *const precision_names[] = {"fp32", "tf32", "bf16"};

static const char *algo_name(int d, int algo)
{
    return algo >= 0 && algo < 8 ? algo_names[d][algo] : "?";
}
static const char *math_name(int m) { return m >= 0 && m < 4 ? math_names[m] : "?"; }

/* One usable algorithm: what it needs and how it must be run. */
typedef struct ConvAlgo {
    int algo;             /* cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t */
    cudnnMathType_t math; /* set on the descriptor before running it */
    size_t bytes;         /* its workspace */
    int deterministic;
} ConvAlgo;

#define NN_MAX_ALGOS 8

/* A direction's candidates, best first; `logged` is the algorithm last
 * logged as run (-1: none yet). */
typedef struct AlgoList {
    ConvAlgo a[NN_MAX_ALGOS];
    int n;
    int logged;
} AlgoList;

struct NnDnnPlan {
    ConvShape s;
    int key_precision;            /* the precision asked for (the table's key) */
    int precision;                /* the one it runs in: fp32 where cuDNN has no bf16/tf32 kernel */
    cudnnTensorDescriptor_t x, y; /* (B, C, H, W), (B, OC, OH, OW) */
    cudnnFilterDescriptor_t w;    /* (OC, C, K, K) */
    cudnnConvolutionDescriptor_t conv;
    AlgoList dir[N_DIRS];
    size_t need_bytes; /* the first algorithms' workspace */
};
typedef NnDnnPlan ConvPlan;

static cudnnHandle_t g_dnn;
static ConvPlan **g_plans;
static int g_n_plans, g_cap_plans;

static int same_shape(const ConvShape *a, const ConvShape *b)
{
    return a->B == b->B && a->C == b->C && a->H == b->H && a->W == b->W && a->OC == b->OC &&
           a->K == b->K && a->pad == b->pad && a->OH == b->OH && a->OW == b->OW;
}

/* "B32 C3 H32 W32 OC256 K5 pad3 bf16" */
static void plan_text(const ConvPlan *p, char *buf, size_t size)
{
    const ConvShape *s = &p->s;
    snprintf(buf, size, "B%d C%d H%d W%d OC%d K%d pad%d %s", s->B, s->C, s->H, s->W, s->OC, s->K,
             s->pad, precision_names[p->precision]);
}

/* The math type a candidate runs with in this precision, or -1 when the
 * precision excludes it (see the header: fp32 is FMA only; nothing takes
 * ALLOW_CONVERSION). */
static int run_math(int precision, cudnnMathType_t m)
{
    if (precision == NN_CUDA_FP32)
        return m == CUDNN_FMA_MATH || m == CUDNN_DEFAULT_MATH ? (int)CUDNN_FMA_MATH : -1;
    return m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION ? -1 : (int)m;
}

/* Keeps the usable candidates of a cuDNN ranking: status success, allowed
 * math type, workspace within the cap (asked again of cuDNN with the math
 * type set, the larger of the two kept); deterministic first. Perf is any
 * of the three cudnnConvolution*AlgoPerf_t; ws_size queries one algorithm. */
template <class Perf, class WsFn>
static void keep_algos(const ConvPlan *p, const Perf *perf, int n, AlgoList *out, WsFn ws_size)
{
    out->n = 0;
    out->logged = -1;
    for (int pass = 0; pass < 2; pass++) {
        cudnnDeterminism_t want = pass == 0 ? CUDNN_DETERMINISTIC : CUDNN_NON_DETERMINISTIC;
        for (int i = 0; i < n && out->n < NN_MAX_ALGOS; i++) {
            if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].determinism != want) continue;
            int math = run_math(p->precision, perf[i].mathType);
            if (math < 0) continue;
            CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, (cudnnMathType_t)math));
            size_t bytes = 0;
            if (ws_size((int)perf[i].algo, &bytes) != CUDNN_STATUS_SUCCESS) continue;
            if (perf[i].memory > bytes) bytes = perf[i].memory;
            if (bytes > NN_CONV_WS_CAP) continue;
            out->a[out->n++] = {(int)perf[i].algo, (cudnnMathType_t)math, bytes, pass == 0};
        }
    }
}

/* need_bytes from the first candidates (again after one is dropped). */
static void plan_size(ConvPlan *p)
{
    size_t ws = 0;
    for (int d = 0; d < N_DIRS; d++)
        if (p->dir[d].n && p->dir[d].a[0].bytes > ws) ws = p->dir[d].a[0].bytes;
    p->need_bytes = ws;
}

static void plan_log(const ConvPlan *p)
{
    char what[96];
    plan_text(p, what, sizeof what);
    for (int d = 0; d < N_DIRS; d++) {
        NnBuf b;
        memset(&b, 0, sizeof b);
        for (int i = 0; i < p->dir[d].n; i++) {
            const ConvAlgo *a = &p->dir[d].a[i];
            nn_buf_printf(&b, "%s %d %s/%s/%zu B/%s", i ? "," : "", a->algo, algo_name(d, a->algo),
                          math_name(a->math), a->bytes, a->deterministic ? "det" : "nondet");
        }
        fprintf(stderr, "nnsweep: cuda: conv plan %s (asked %s): %s candidates:%s\n", what,
                precision_names[p->key_precision], dir_names[d], b.data ? b.data : " none");
        nn_buf_free(&b);
    }
    fprintf(stderr, "nnsweep: cuda: conv plan %s: workspace %zu B\n", what, p->need_bytes);
}

/* Descriptors and ranked algorithms of p's shape in p->precision. Returns 0
 * when cuDNN offers no usable algorithm for one of the three directions. */
static int plan_build(ConvPlan *p)
{
    const ConvShape *s = &p->s;
    cudnnHandle_t h = g_dnn;
    cudnnDataType_t dt = p->precision == NN_CUDA_BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
    cudnnMathType_t math = p->precision == NN_CUDA_FP32   ? CUDNN_FMA_MATH
                           : p->precision == NN_CUDA_TF32 ? CUDNN_DEFAULT_MATH
                                                          : CUDNN_TENSOR_OP_MATH;
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, dt, s->B, s->C, s->H, s->W));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, dt, s->B, s->OC, s->OH, s->OW));
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, dt, CUDNN_TENSOR_NCHW, s->OC, s->C, s->K, s->K));
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv, s->pad, s->pad, 1, 1, 1, 1,
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    int n[2] = {0, 0}, oh = 0, ow = 0;
    CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(p->conv, p->x, p->w, &n[0], &n[1], &oh, &ow));
    NN_CHECK(n[0] == s->B && n[1] == s->OC && oh == s->OH && ow == s->OW,
             "conv2d: cuDNN computes output (%d, %d, %d, %d) for shape B%d C%d H%d W%d OC%d K%d "
             "pad%d, nnsweep (%d, %d, %d, %d)",
             n[0], n[1], oh, ow, s->B, s->C, s->H, s->W, s->OC, s->K, s->pad, s->B, s->OC, s->OH,
             s->OW);

    /* the math type on the descriptor tells the heuristics what may be used */
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, math));
    int got = 0;
    cudnnConvolutionFwdAlgoPerf_t fwd[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    if (cudnnGetConvolutionForwardAlgorithm_v7(h, p->x, p->w, p->conv, p->y,
                                               CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got,
                                               fwd) != CUDNN_STATUS_SUCCESS)
        got = 0; /* nothing for this precision: the caller falls back to fp32 */
    keep_algos(p, fwd, got, &p->dir[DIR_FWD], [&](int a, size_t *b) {
        return cudnnGetConvolutionForwardWorkspaceSize(h, p->x, p->w, p->conv, p->y,
                                                       (cudnnConvolutionFwdAlgo_t)a, b);
    });
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, math));
    cudnnConvolutionBwdDataAlgoPerf_t data[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    if (cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p->w, p->y, p->conv, p->x,
                                                    CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &got,
                                                    data) != CUDNN_STATUS_SUCCESS)
        got = 0;
    keep_algos(p, data, got, &p->dir[DIR_DATA], [&](int a, size_t *b) {
        return cudnnGetConvolutionBackwardDataWorkspaceSize(h, p->w, p->y, p->conv, p->x,
                                                            (cudnnConvolutionBwdDataAlgo_t)a, b);
    });
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, math));
    cudnnConvolutionBwdFilterAlgoPerf_t filter[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    if (cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p->x, p->y, p->conv, p->w,
                                                      CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &got,
                                                      filter) != CUDNN_STATUS_SUCCESS)
        got = 0;
    keep_algos(p, filter, got, &p->dir[DIR_FILTER], [&](int a, size_t *b) {
        return cudnnGetConvolutionBackwardFilterWorkspaceSize(
            h, p->x, p->y, p->conv, p->w, (cudnnConvolutionBwdFilterAlgo_t)a, b);
    });
    if (p->dir[DIR_FWD].n == 0 || p->dir[DIR_DATA].n == 0 || p->dir[DIR_FILTER].n == 0) return 0;

    plan_size(p);
    if (nn_cuda_verbose()) plan_log(p);
    return 1;
}

static void plan_destroy_descriptors(ConvPlan *p)
{
    CUDNN_CHECK(cudnnDestroyTensorDescriptor(p->x));
    CUDNN_CHECK(cudnnDestroyTensorDescriptor(p->y));
    CUDNN_CHECK(cudnnDestroyFilterDescriptor(p->w));
    CUDNN_CHECK(cudnnDestroyConvolutionDescriptor(p->conv));
}

/* Rebuilds p in fp32 after its precision had nothing (warning). Returns 0
 * when fp32 has nothing either. */
static int plan_fall_back_to_fp32(ConvPlan *p, const char *why)
{
    char what[96];
    plan_text(p, what, sizeof what);
    fprintf(stderr, "nnsweep: warning: cuDNN %s for %s on this GPU; that layer runs in fp32\n",
            why, what);
    plan_destroy_descriptors(p);
    p->precision = NN_CUDA_FP32;
    return plan_build(p);
}

/* Removes p from the table (the next use of its shape plans afresh). */
static void plan_forget(ConvPlan *p)
{
    for (int i = 0; i < g_n_plans; i++)
        if (g_plans[i] == p) g_plans[i] = g_plans[--g_n_plans];
    plan_destroy_descriptors(p);
    free(p);
}

/* The plan of shape s in the current precision (built on first use), or
 * NULL after recording a failed run: cuDNN could not start for lack of GPU
 * memory, or offers no fp32 algorithm for s. */
static ConvPlan *plan_get(const ConvShape *s)
{
    if (nn_cuda_init() != 0) return NULL;
    int precision = nn_cuda_precision();
    for (int i = 0; i < g_n_plans; i++)
        if (g_plans[i]->key_precision == precision && same_shape(&g_plans[i]->s, s))
            return g_plans[i];
    if (!g_dnn) {
        cudnnStatus_t st = cudnnCreate(&g_dnn);
        if (CUDNN_STATUS_CATEGORY(st) == CUDNN_STATUS_INTERNAL_ERROR &&
            st != CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED) {
            g_dnn = NULL;
            nn_cuda_run_failed("cuDNN could not start: %s (%d); hint: %s",
                               cudnnGetErrorString(st), (int)st, dnn_hint(st));
            return NULL;
        }
        CUDNN_CHECK(st);
        CUDNN_CHECK(cudnnSetStream(g_dnn, nn_cuda_stream()));
    }
    NN_CHECK(s->B >= 1 && s->C >= 1 && s->OC >= 1 && s->K >= 1 && s->OH >= 1 && s->OW >= 1,
             "conv2d: bad shape B%d C%d H%d W%d OC%d K%d pad%d -> %dx%d", s->B, s->C, s->H, s->W,
             s->OC, s->K, s->pad, s->OH, s->OW);
    ConvPlan *p = (ConvPlan *)nn_calloc(1, sizeof *p);
    p->s = *s;
    p->key_precision = p->precision = precision;
    int ok = plan_build(p);
    if (!ok && precision != NN_CUDA_FP32)
        ok = plan_fall_back_to_fp32(p, "offers no algorithm in this precision");
    if (!ok) {
        char what[96];
        plan_text(p, what, sizeof what);
        nn_cuda_run_failed("conv2d %s: cuDNN offers no usable algorithm (forward %d, backward "
                           "data %d, backward filter %d) on this GPU",
                           what, p->dir[DIR_FWD].n, p->dir[DIR_DATA].n, p->dir[DIR_FILTER].n);
        plan_destroy_descriptors(p);
        free(p);
        return NULL;
    }
    if (g_n_plans == g_cap_plans) {
        g_cap_plans = g_cap_plans ? 2 * g_cap_plans : 16;
        g_plans = (ConvPlan **)nn_realloc(g_plans, (size_t)g_cap_plans * sizeof *g_plans);
    }
    g_plans[g_n_plans++] = p;
    return p;
}

/* ---- running a direction ---------------------------------------------------------------- */

/* The operands of one direction: see nn_dnn_run. */
typedef struct DnnArgs {
    const void *a, *b;
    void *out, *ws;
    size_t ws_bytes;
} DnnArgs;

/* Runs one algorithm. */
static cudnnStatus_t dnn_exec(const ConvPlan *p, int d, const ConvAlgo *al, const DnnArgs *g)
{
    const float one = 1.0f, zero = 0.0f;
    switch (d) {
    case DIR_FWD:
        return cudnnConvolutionForward(g_dnn, &one, p->x, g->a, p->w, g->b, p->conv,
                                       (cudnnConvolutionFwdAlgo_t)al->algo, g->ws, al->bytes,
                                       &zero, p->y, g->out);
    case DIR_DATA:
        return cudnnConvolutionBackwardData(g_dnn, &one, p->w, g->a, p->y, g->b, p->conv,
                                            (cudnnConvolutionBwdDataAlgo_t)al->algo, g->ws,
                                            al->bytes, &zero, p->x, g->out);
    default:
        return cudnnConvolutionBackwardFilter(g_dnn, &one, p->x, g->a, p->y, g->b, p->conv,
                                              (cudnnConvolutionBwdFilterAlgo_t)al->algo, g->ws,
                                              al->bytes, &zero, p->w, g->out);
    }
}

/* How a direction's attempt ended (RUN_STOPPED: a status after which no
 * other algorithm may run, dnn_next_may_run). */
enum { RUN_OK = 0, RUN_NO_FIT, RUN_ALL_REFUSED, RUN_STOPPED };

/* Runs direction d with the first algorithm of its list whose workspace
 * fits; one that cuDNN refuses (dnn_next_may_run) is dropped from the plan
 * for good, with a warning, and the next one runs. *st: the status that
 * ended the attempts. */
static int dnn_run(ConvPlan *p, int d, const DnnArgs *g, cudnnStatus_t *st)
{
    AlgoList *l = &p->dir[d];
    size_t avail = g->ws_bytes;
    char what[96];
    for (;;) {
        int i = 0;
        while (i < l->n && l->a[i].bytes > avail) i++;
        if (i == l->n) return l->n ? RUN_NO_FIT : RUN_ALL_REFUSED;
        const ConvAlgo *a = &l->a[i];
        CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, a->math));
        *st = dnn_exec(p, d, a, g);
        plan_text(p, what, sizeof what);
        if (*st == CUDNN_STATUS_SUCCESS) {
            if (nn_cuda_verbose() && l->logged != a->algo)
                fprintf(stderr,
                        "nnsweep: cuda: conv %s %s runs algo %d %s, math %s, workspace %zu B "
                        "(%s)\n",
                        what, dir_names[d], a->algo, algo_name(d, a->algo), math_name(a->math),
                        a->bytes, a->deterministic ? "deterministic" : "non-deterministic");
            l->logged = a->algo;
            return RUN_OK;
        }
        if (!dnn_next_may_run(*st)) return RUN_STOPPED;
        char detail[256];
        cudnnGetLastErrorString(detail, sizeof detail);
        fprintf(stderr,
                "nnsweep: warning: cuDNN refused %s algorithm %d %s (math %s) for %s: %s (%d) "
                "%s; %s\n",
                dir_names[d], a->algo, algo_name(d, a->algo), math_name(a->math), what,
                cudnnGetErrorString(*st), (int)*st, detail,
                l->n > 1 ? "trying the next" : "it was the last");
        memmove(&l->a[i], &l->a[i + 1], (size_t)(l->n - i - 1) * sizeof *l->a);
        l->n--;
        plan_size(p);
    }
}

/* After dnn_run ended without running d: 1 when p was rebuilt in fp32 and
 * the call should start again; else 0 with the run failed (out of memory,
 * nothing fits, nothing runs: then p is forgotten). Aborts when the GPU is
 * no longer usable or the host has no memory (STYLE.md, Errors 1). */
static int dnn_failed(ConvPlan *p, int d, int how, cudnnStatus_t st)
{
    char what[96], detail[256];
    plan_text(p, what, sizeof what);
    cudnnGetLastErrorString(detail, sizeof detail);
    const ConvAlgo *first = p->dir[d].n ? &p->dir[d].a[0] : NULL;
    switch (how) {
    case RUN_NO_FIT:
        nn_cuda_run_failed("conv2d %s %s: every algorithm cuDNN still runs needs more workspace "
                           "(at least %zu bytes) than the model holds; the next run allocates "
                           "what they need",
                           dir_names[d], what, first ? first->bytes : 0);
        return 0;
    case RUN_ALL_REFUSED:
        if (p->precision != NN_CUDA_FP32) {
            char why[96];
            snprintf(why, sizeof why, "runs no %s algorithm", dir_names[d]);
            if (plan_fall_back_to_fp32(p, why)) return 1;
        }
        nn_cuda_run_failed("conv2d %s %s: cuDNN refused every algorithm it offered (the last: "
                           "%s (%d) %s); hint: %s",
                           dir_names[d], what, cudnnGetErrorString(st), (int)st, detail,
                           dnn_hint(st));
        plan_forget(p);
        return 0;
    default:
        if (st == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED) {
            nn_cuda_run_failed("conv2d %s %s: out of GPU memory inside cuDNN (%s (%d) %s); hint: "
                               "%s",
                               dir_names[d], what, cudnnGetErrorString(st), (int)st, detail,
                               dnn_hint(st));
            return 0;
        }
        nn_cuda_fail(__FILE__, __LINE__, "cuDNN", dir_names[d], cudnnGetErrorString(st), detail,
                     dnn_hint(st));
    }
}

/* ---- what cuda_conv.cu uses (cuda_dnn.cuh) ------------------------------------------------- */

extern "C" NnDnnPlan *nn_dnn_plan(const ConvShape *s) { return plan_get(s); }
extern "C" int nn_dnn_precision(const NnDnnPlan *p) { return p->precision; }
extern "C" size_t nn_dnn_workspace_bytes(const NnDnnPlan *p) { return p->need_bytes; }
extern "C" void nn_dnn_text(const NnDnnPlan *p, char *buf, size_t size) { plan_text(p, buf, size); }

extern "C" int nn_dnn_run(NnDnnPlan *p, int d, const void *a, const void *b, void *out, void *ws,
                          size_t ws_bytes)
{
    DnnArgs g = {a, b, out, ws, ws_bytes};
    cudnnStatus_t st = CUDNN_STATUS_SUCCESS;
    int how = dnn_run(p, d, &g, &st);
    if (how == RUN_OK) return NN_DNN_RAN;
    return dnn_failed(p, d, how, st) ? NN_DNN_RETRY : NN_DNN_FAILED;
}

extern "C" void nn_cuda_dnn_describe(NnBuf *out)
{
    nn_buf_printf(out, "cuDNN %zu (nnsweep built with %d), for CUDA runtime %zu\n",
                  cudnnGetVersion(), CUDNN_VERSION, cudnnGetCudartVersion());
}
