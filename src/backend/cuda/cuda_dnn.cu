/* cuda_dnn.cu - convolution (torch.nn.Conv2d, stride 1) of the cuda backend:
 * every cuDNN call of nnsweep is in this file (STYLE.md). Specification:
 * conv2d_forward_ref / conv2d_backward_ref.
 *
 * API: cuDNN 9's legacy convolution API (cudnn_cnn.h: cudnnConvolution-
 * Forward, -BackwardData, -BackwardFilter, cudnnGet*Algorithm_v7); all of
 * it is still in cuDNN 9 (marked deprecated only when CUDNN_WARN_DEPRECATED
 * is defined). NCHW tensors, (OC, C, K, K) filters, cross-correlation as
 * PyTorch, pad = padding, stride 1, dilation 1.
 *
 * Algorithms: chosen once per shape by cuDNN's heuristics
 * (cudnnGet*Algorithm_v7, what PyTorch does with cudnn.benchmark = False):
 * no benchmarking, so the choice is deterministic and needs no memory. Of
 * the candidates cuDNN ranks, those that succeed, use an allowed math type
 * and need at most NN_CONV_WS_CAP of workspace are kept, deterministic ones
 * first (bit-reproducible runs), each group in cuDNN's order. A plan per
 * (shape, precision) holds the descriptors and that list, in a small table
 * here (g_plans); the first list entry of each direction sets the workspace
 * need that conv2d_workspace_floats reports, and the model allocates it
 * once. At each call the first entry whose workspace fits what the caller
 * passed (nn_cuda_bytes_from: the rest of its allocation) runs, so a
 * smaller batch or a workspace sized for another shape still works.
 *
 * Precision:
 *   fp32  float tensors, math type CUDNN_FMA_MATH on the descriptor and
 *         only FMA_MATH candidates (as PyTorch with allow_tf32 off): no TF32.
 *   tf32  float tensors, CUDNN_DEFAULT_MATH (TF32 tensor cores allowed).
 *   bf16  cuDNN's bfloat16 configuration (x, w, y bfloat16, compute type
 *         float: PSEUDO_BFLOAT16), math CUDNN_TENSOR_OP_MATH. The fp32
 *         tensors are cast to bfloat16 copies in the workspace, outputs
 *         cast back (y with the bias); fp32 master weights, fp32 grads.
 *         Chosen over CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION on float
 *         tensors, which leaves the reduced format to cuDNN: bfloat16
 *         tensors make it bf16, as PyTorch autocast's bf16 convolutions.
 * Where cuDNN has no usable algorithm in the asked precision for a shape,
 * that layer runs fp32 (a warning says so) rather than failing the run.
 * Workspace layout: [bf16 copies (bf16 only) | cuDNN workspace].
 * The bias (forward) and its gradient are own kernels (cuda_norm.cu).
 */
#include <cudnn.h>
#include <stdio.h>

#include "backend/cuda/cuda_common.cuh"

/* Largest cuDNN workspace an algorithm may ask for. */
#define NN_CONV_WS_CAP ((size_t)256 << 20)
/* Workspace reported when cuDNN cannot start for lack of memory: an
 * allocation of it fails, so model_create fails the run cleanly. */
#define NN_CONV_WS_IMPOSSIBLE ((size_t)1 << 50)
#define NN_ALIGN(n) (((n) + 255) & ~(size_t)255)

static const char *dnn_hint(cudnnStatus_t s)
{
    switch (s) {
    case CUDNN_STATUS_ALLOC_FAILED: return "the GPU is out of memory";
    case CUDNN_STATUS_NOT_SUPPORTED:
        return "cuDNN has no kernel for this shape and precision on this GPU: try --precision "
               "fp32";
    case CUDNN_STATUS_BAD_PARAM: return "an impossible convolution shape (a bug in nnsweep)";
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

/* One usable algorithm: what it needs and how it must be run. */
typedef struct ConvAlgo {
    int algo;             /* cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t */
    cudnnMathType_t math; /* set on the descriptor before running it */
    size_t bytes;         /* its workspace */
} ConvAlgo;

#define NN_MAX_ALGOS 8

typedef struct ConvPlan {
    ConvShape s;
    int key_precision;            /* the precision asked for (the table's key) */
    int precision;                /* the one it runs in: fp32 where cuDNN has no bf16/tf32 kernel */
    cudnnTensorDescriptor_t x, y; /* (B, C, H, W), (B, OC, OH, OW) */
    cudnnFilterDescriptor_t w;    /* (OC, C, K, K) */
    cudnnConvolutionDescriptor_t conv;
    ConvAlgo fwd[NN_MAX_ALGOS], data[NN_MAX_ALGOS], filter[NN_MAX_ALGOS];
    int n_fwd, n_data, n_filter;
    size_t bf16_bytes; /* bf16 copies at the start of the workspace */
    size_t need_bytes; /* bf16 copies + the first algorithms' workspace */
} ConvPlan;

static cudnnHandle_t g_dnn;
static ConvPlan **g_plans;
static int g_n_plans, g_cap_plans;

/* ---- plans ------------------------------------------------------------------------- */

static int same_shape(const ConvShape *a, const ConvShape *b)
{
    return a->B == b->B && a->C == b->C && a->H == b->H && a->W == b->W && a->OC == b->OC &&
           a->K == b->K && a->pad == b->pad && a->OH == b->OH && a->OW == b->OW;
}

/* Byte offsets of the bf16 copies in the workspace: x, w, y (= dy), dx, dw. */
typedef struct Bf16Layout {
    size_t x, w, y, dx, dw, total;
} Bf16Layout;

static Bf16Layout bf16_layout(const ConvShape *s)
{
    size_t nx = (size_t)s->B * s->C * s->H * s->W, nw = (size_t)s->OC * s->C * s->K * s->K;
    size_t ny = (size_t)s->B * s->OC * s->OH * s->OW;
    Bf16Layout l;
    l.x = 0;
    l.w = l.x + NN_ALIGN(2 * nx);
    l.y = l.w + NN_ALIGN(2 * nw);
    l.dx = l.y + NN_ALIGN(2 * ny);
    l.dw = l.dx + NN_ALIGN(2 * nx);
    l.total = l.dw + NN_ALIGN(2 * nw);
    return l;
}

static int math_allowed(int precision, cudnnMathType_t m)
{
    return precision == NN_CUDA_FP32 ? m == CUDNN_FMA_MATH : 1;
}

/* Keeps the usable candidates of a cuDNN ranking: status success, allowed
 * math type, workspace within the cap (asked again of cuDNN with the math
 * type set, the larger of the two kept); deterministic first. Perf is any
 * of the three cudnnConvolution*AlgoPerf_t; ws_size queries one algorithm. */
template <class Perf, class WsFn>
static int keep_algos(const ConvPlan *p, const Perf *perf, int n, ConvAlgo *out, WsFn ws_size)
{
    int k = 0;
    for (int pass = 0; pass < 2; pass++) {
        cudnnDeterminism_t want = pass == 0 ? CUDNN_DETERMINISTIC : CUDNN_NON_DETERMINISTIC;
        for (int i = 0; i < n && k < NN_MAX_ALGOS; i++) {
            if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].determinism != want) continue;
            if (!math_allowed(p->precision, perf[i].mathType)) continue;
            CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, perf[i].mathType));
            size_t bytes = 0;
            if (ws_size((int)perf[i].algo, &bytes) != CUDNN_STATUS_SUCCESS) continue;
            if (perf[i].memory > bytes) bytes = perf[i].memory;
            if (bytes > NN_CONV_WS_CAP) continue;
            out[k].algo = (int)perf[i].algo;
            out[k].math = perf[i].mathType;
            out[k].bytes = bytes;
            k++;
        }
    }
    return k;
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
    p->n_fwd = keep_algos(p, fwd, got, p->fwd, [&](int a, size_t *b) {
        return cudnnGetConvolutionForwardWorkspaceSize(h, p->x, p->w, p->conv, p->y,
                                                       (cudnnConvolutionFwdAlgo_t)a, b);
    });
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, math));
    cudnnConvolutionBwdDataAlgoPerf_t data[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    if (cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p->w, p->y, p->conv, p->x,
                                                    CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &got,
                                                    data) != CUDNN_STATUS_SUCCESS)
        got = 0;
    p->n_data = keep_algos(p, data, got, p->data, [&](int a, size_t *b) {
        return cudnnGetConvolutionBackwardDataWorkspaceSize(h, p->w, p->y, p->conv, p->x,
                                                            (cudnnConvolutionBwdDataAlgo_t)a, b);
    });
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, math));
    cudnnConvolutionBwdFilterAlgoPerf_t filter[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    if (cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p->x, p->y, p->conv, p->w,
                                                      CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &got,
                                                      filter) != CUDNN_STATUS_SUCCESS)
        got = 0;
    p->n_filter = keep_algos(p, filter, got, p->filter, [&](int a, size_t *b) {
        return cudnnGetConvolutionBackwardFilterWorkspaceSize(
            h, p->x, p->y, p->conv, p->w, (cudnnConvolutionBwdFilterAlgo_t)a, b);
    });
    if (p->n_fwd == 0 || p->n_data == 0 || p->n_filter == 0) return 0;

    p->bf16_bytes = p->precision == NN_CUDA_BF16 ? bf16_layout(s).total : 0;
    size_t ws = p->fwd[0].bytes;
    if (p->data[0].bytes > ws) ws = p->data[0].bytes;
    if (p->filter[0].bytes > ws) ws = p->filter[0].bytes;
    p->need_bytes = p->bf16_bytes + ws;
    return 1;
}

static void plan_destroy_descriptors(ConvPlan *p)
{
    CUDNN_CHECK(cudnnDestroyTensorDescriptor(p->x));
    CUDNN_CHECK(cudnnDestroyTensorDescriptor(p->y));
    CUDNN_CHECK(cudnnDestroyFilterDescriptor(p->w));
    CUDNN_CHECK(cudnnDestroyConvolutionDescriptor(p->conv));
}

/* The plan of shape s in the current precision (built on first use), or
 * NULL when the GPU has no memory left to start cuDNN. */
static ConvPlan *plan_get(const ConvShape *s)
{
    if (nn_cuda_init() != 0) return NULL;
    int precision = nn_cuda_precision();
    for (int i = 0; i < g_n_plans; i++)
        if (g_plans[i]->key_precision == precision && same_shape(&g_plans[i]->s, s))
            return g_plans[i];
    if (!g_dnn) {
        cudnnStatus_t st = cudnnCreate(&g_dnn);
        if (st == CUDNN_STATUS_ALLOC_FAILED) {
            g_dnn = NULL;
            return NULL;
        }
        CUDNN_CHECK(st);
        CUDNN_CHECK(cudnnSetStream(g_dnn, nn_cuda_stream()));
    }
    NN_CHECK(s->B >= 1 && s->C >= 1 && s->OC >= 1 && s->K >= 1 && s->OH >= 1 && s->OW >= 1,
             "conv2d: bad shape B%d C%d H%d W%d OC%d K%d pad%d -> %dx%d", s->B, s->C, s->H, s->W,
             s->OC, s->K, s->pad, s->OH, s->OW);
    if (g_n_plans == g_cap_plans) {
        g_cap_plans = g_cap_plans ? 2 * g_cap_plans : 16;
        g_plans = (ConvPlan **)nn_realloc(g_plans, (size_t)g_cap_plans * sizeof *g_plans);
    }
    ConvPlan *p = (ConvPlan *)nn_calloc(1, sizeof *p);
    p->s = *s;
    p->key_precision = p->precision = precision;
    int ok = plan_build(p);
    if (!ok && precision != NN_CUDA_FP32) {
        /* e.g. no bf16 kernel for this shape on this GPU: this layer runs fp32 */
        fprintf(stderr,
                "nnsweep: warning: cuDNN has no %s convolution for B%d C%d H%d W%d OC%d K%d "
                "pad%d on this GPU; that layer runs in fp32\n",
                precision == NN_CUDA_BF16 ? "bf16" : "tf32", s->B, s->C, s->H, s->W, s->OC, s->K,
                s->pad);
        plan_destroy_descriptors(p);
        p->precision = NN_CUDA_FP32;
        ok = plan_build(p);
    }
    NN_CHECK(ok,
             "conv2d: cuDNN offers no usable fp32 algorithm (forward %d, backward data %d, "
             "backward filter %d) for B%d C%d H%d W%d OC%d K%d pad%d on this GPU",
             p->n_fwd, p->n_data, p->n_filter, s->B, s->C, s->H, s->W, s->OC, s->K, s->pad);
    g_plans[g_n_plans++] = p;
    return p;
}

/* The first algorithm of a list whose workspace fits `avail` bytes; sets
 * its math type on the descriptor. */
static const ConvAlgo *pick(const ConvPlan *p, const ConvAlgo *list, int n, size_t avail,
                            const char *what)
{
    for (int i = 0; i < n; i++)
        if (list[i].bytes <= avail) {
            CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, list[i].math));
            return &list[i];
        }
    nn_fatal("conv2d %s: %zu bytes of workspace, every usable algorithm needs more (at least "
             "%zu) for B%d C%d H%d W%d OC%d K%d pad%d: the workspace must come from "
             "conv2d_workspace_floats",
             what, avail, list[n - 1].bytes, p->s.B, p->s.C, p->s.H, p->s.W, p->s.OC, p->s.K,
             p->s.pad);
}

/* The cuDNN part of the workspace and its size, after the bf16 copies. */
static char *dnn_workspace(const ConvPlan *p, float *ws, size_t *avail)
{
    size_t have = nn_cuda_bytes_from(ws);
    NN_CHECK(have >= p->bf16_bytes, "conv2d: workspace of %zu bytes, the bf16 copies need %zu",
             have, p->bf16_bytes);
    *avail = have - p->bf16_bytes;
    return (char *)ws + p->bf16_bytes;
}

/* ---- the ops --------------------------------------------------------------------------- */

extern "C" size_t conv2d_workspace_floats_cuda(const ConvShape *s)
{
    ConvPlan *p = plan_get(s);
    if (!p) return NN_CONV_WS_IMPOSSIBLE;
    return (p->need_bytes + sizeof(float) - 1) / sizeof(float);
}

static ConvPlan *plan_for_op(const ConvShape *s)
{
    ConvPlan *p = plan_get(s);
    NN_CHECK(p != NULL, "conv2d: cuDNN could not start (out of GPU memory)");
    return p;
}

extern "C" void conv2d_forward_cuda(const float *x, const float *w, const float *b, float *y,
                                    const ConvShape *s, float *ws)
{
    ConvPlan *p = plan_for_op(s);
    size_t avail;
    char *dws = dnn_workspace(p, ws, &avail);
    const ConvAlgo *a = pick(p, p->fwd, p->n_fwd, avail, "forward");
    const float one = 1.0f, zero = 0.0f;
    if (p->precision != NN_CUDA_BF16) {
        CUDNN_CHECK(cudnnConvolutionForward(g_dnn, &one, p->x, x, p->w, w, p->conv,
                                            (cudnnConvolutionFwdAlgo_t)a->algo, dws, a->bytes,
                                            &zero, p->y, y));
        if (b) nn_cuda_add_channel_bias(y, b, s->B, s->OC, s->OH * s->OW);
        return;
    }
    Bf16Layout l = bf16_layout(s);
    char *base = (char *)ws;
    nn_cuda_f32_to_bf16(x, base + l.x, (size_t)s->B * s->C * s->H * s->W);
    nn_cuda_f32_to_bf16(w, base + l.w, (size_t)s->OC * s->C * s->K * s->K);
    CUDNN_CHECK(cudnnConvolutionForward(g_dnn, &one, p->x, base + l.x, p->w, base + l.w, p->conv,
                                        (cudnnConvolutionFwdAlgo_t)a->algo, dws, a->bytes, &zero,
                                        p->y, base + l.y));
    nn_cuda_bf16_to_f32(base + l.y, y, b, s->B, s->OC, s->OH * s->OW);
}

extern "C" void conv2d_backward_cuda(const float *dy, const float *x, const float *w, float *dx,
                                     float *dw, float *db, const ConvShape *s, float *ws)
{
    ConvPlan *p = plan_for_op(s);
    size_t avail;
    char *dws = dnn_workspace(p, ws, &avail);
    const float one = 1.0f, zero = 0.0f;
    const void *xs = x, *ws_w = w, *dys = dy;
    void *dxs = dx, *dws_w = dw;
    Bf16Layout l = bf16_layout(s);
    char *base = (char *)ws;
    if (p->precision == NN_CUDA_BF16) {
        nn_cuda_f32_to_bf16(dy, base + l.y, (size_t)s->B * s->OC * s->OH * s->OW);
        nn_cuda_f32_to_bf16(x, base + l.x, (size_t)s->B * s->C * s->H * s->W);
        if (dx) nn_cuda_f32_to_bf16(w, base + l.w, (size_t)s->OC * s->C * s->K * s->K);
        xs = base + l.x;
        ws_w = base + l.w;
        dys = base + l.y;
        dxs = base + l.dx;
        dws_w = base + l.dw;
    }
    if (dx) {
        const ConvAlgo *a = pick(p, p->data, p->n_data, avail, "backward data");
        CUDNN_CHECK(cudnnConvolutionBackwardData(g_dnn, &one, p->w, ws_w, p->y, dys, p->conv,
                                                 (cudnnConvolutionBwdDataAlgo_t)a->algo, dws,
                                                 a->bytes, &zero, p->x, dxs));
        if (p->precision == NN_CUDA_BF16)
            nn_cuda_bf16_to_f32(dxs, dx, NULL, s->B, s->C, s->H * s->W);
    }
    const ConvAlgo *a = pick(p, p->filter, p->n_filter, avail, "backward filter");
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(g_dnn, &one, p->x, xs, p->y, dys, p->conv,
                                               (cudnnConvolutionBwdFilterAlgo_t)a->algo, dws,
                                               a->bytes, &zero, p->w, dws_w));
    if (p->precision == NN_CUDA_BF16)
        nn_cuda_bf16_to_f32(dws_w, dw, NULL, 1, 1, s->OC * s->C * s->K * s->K);
    if (db) nn_cuda_channel_sum(dy, db, s->B, s->OC, s->OH * s->OW);
}
