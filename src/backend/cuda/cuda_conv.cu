/* cuda_conv.cu - convolution (torch.nn.Conv2d, stride 1) of the cuda
 * backend: what each call hands cuDNN (its plans and algorithms are
 * cuda_dnn.cu's, through cuda_dnn.cuh). Specification: conv2d_forward_ref /
 * conv2d_backward_ref.
 *
 * Workspace: conv2d_workspace_floats reports what the shape's plan needs in
 * the current precision, and the model allocates it once; a call learns
 * how much it was handed from its allocation (nn_cuda_bytes_from), so a
 * smaller batch or a workspace sized for another shape still works.
 * Layout: [bfloat16 copies of x, w, y (= dy), dx, dw (bf16 plans) | fp32
 * copies of w, dw (fp32/tf32 plans: room always reserved, used only for a
 * misaligned one) | cuDNN's], each part 256-byte aligned.
 *
 * bf16: the fp32 tensors are cast to bfloat16 copies in the workspace
 * (round to nearest even), outputs cast back (y with the bias); fp32 master
 * weights, fp32 gradients. fp32 and tf32 hand cuDNN the tensors themselves.
 *
 * Alignment: cuDNN's kernels need 16-byte aligned operands (vector loads,
 * Hopper's TMA; cuDNN 9 refuses others with BAD_PARAM_MISALIGNED_POINTER,
 * older versions could fault), so every pointer is checked before it goes
 * to cuDNN. w and dw may sit anywhere in the state arena (its layout is
 * exported, model.h, and packs tensors float by float): misaligned ones
 * are copied through the workspace. A misaligned activation or workspace
 * (the model starts those at 256-byte boundaries, model.c) fails the run
 * with a message that names it (nn_cuda_run_failed); it never reaches
 * cuDNN.
 *
 * A failed run (cuda_backend.h): while one waits to be taken, the
 * convolutions do nothing. The bias (forward) and its gradient are own
 * kernels (cuda_norm.cu).
 */
#include <stdio.h>
#include <string.h>

#include "backend/cuda/cuda_dnn.cuh"

/* Workspace reported when no plan can be made (cuDNN cannot start, no
 * algorithm): its allocation fails, so model_create fails the run, and the
 * backend's failure says why. */
#define NN_CONV_WS_IMPOSSIBLE ((size_t)1 << 50)
#define NN_ALIGN(n) (((n) + 255) & ~(size_t)255)
/* Alignment cuDNN gets of every operand (bytes). */
#define NN_DNN_ALIGN 16

static size_t n_weights(const ConvShape *s) { return (size_t)s->OC * s->C * s->K * s->K; }

/* Byte offsets of the bf16 copies in the workspace: x, w, y (= dy), dx, dw. */
typedef struct Bf16Layout {
    size_t x, w, y, dx, dw, total;
} Bf16Layout;

static Bf16Layout bf16_layout(const ConvShape *s)
{
    size_t nx = (size_t)s->B * s->C * s->H * s->W, nw = n_weights(s);
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

/* Bytes before cuDNN's part of the workspace that p's precision reserves. */
static size_t reserved_bytes(const NnDnnPlan *p, const ConvShape *s)
{
    return nn_dnn_precision(p) == NN_CUDA_BF16 ? bf16_layout(s).total
                                                : 2 * NN_ALIGN(n_weights(s) * sizeof(float));
}

/* One call: the plan, and the workspace carved from `base`: `used` bytes
 * (bf16 copies, staged weights) before cuDNN's part. */
typedef struct ConvCall {
    NnDnnPlan *p;
    const ConvShape *s;
    const char *op; /* "forward" or "backward", for messages */
    char *base;
    size_t have, used;
} ConvCall;

static int aligned(const void *ptr) { return ((uintptr_t)ptr & (NN_DNN_ALIGN - 1)) == 0; }

/* 1 when ptr may go to cuDNN; else records a failed run naming it. */
static int call_check(const ConvCall *c, const char *name, const void *ptr)
{
    if (aligned(ptr)) return 1;
    char what[96];
    nn_dnn_text(c->p, what, sizeof what);
    nn_cuda_run_failed("conv2d %s %s: %s at %p is not %d-byte aligned, as cuDNN needs (a bug in "
                       "nnsweep: the model starts every activation and workspace view at a "
                       "256-byte boundary)",
                       c->op, what, name, ptr, NN_DNN_ALIGN);
    return 0;
}

/* Starts a call of shape s with workspace ws: 0 (the op does nothing) when
 * a failure waits, no plan can be had or ws is misaligned (failed run). */
static int call_begin(ConvCall *c, const ConvShape *s, const char *op, float *ws)
{
    memset(c, 0, sizeof *c);
    if (nn_cuda_failed() || !(c->p = nn_dnn_plan(s))) return 0;
    c->s = s;
    c->op = op;
    c->base = (char *)ws;
    c->have = nn_cuda_bytes_from(ws);
    c->used = nn_dnn_precision(c->p) == NN_CUDA_BF16 ? bf16_layout(s).total : 0;
    NN_CHECK(c->have >= c->used, "conv2d: workspace of %zu bytes, the bf16 copies need %zu",
             c->have, c->used);
    return c->have == 0 || call_check(c, "the workspace", ws);
}

/* Room for fp32 weights (w or dw) before cuDNN's part; NULL after
 * recording a failed run when there is none (a workspace sized for this
 * shape in bf16, after the plan fell back to fp32: the next run's fits). */
static void *call_take_weights(ConvCall *c)
{
    size_t bytes = NN_ALIGN(n_weights(c->s) * sizeof(float));
    if (c->have - c->used < bytes) {
        char what[96];
        nn_dnn_text(c->p, what, sizeof what);
        nn_cuda_run_failed("conv2d %s %s: the workspace (%zu bytes) has no room to align the "
                           "weights; the next run allocates it",
                           c->op, what, c->have);
        return NULL;
    }
    void *at = c->base + c->used;
    c->used += bytes;
    return at;
}

/* w for cuDNN: itself, or an aligned copy in the workspace (NULL: failed
 * run). */
static const void *call_weights_in(ConvCall *c, const float *w)
{
    if (aligned(w)) return w;
    void *copy = call_take_weights(c);
    if (copy) copy_cuda(copy, w, n_weights(c->s) * sizeof(float));
    return copy;
}

/* Direction d with cuDNN's part of the workspace. */
static int call_run(ConvCall *c, int d, const void *a, const void *b, void *out)
{
    return nn_dnn_run(c->p, d, a, b, out, c->base + c->used, c->have - c->used);
}

extern "C" size_t conv2d_workspace_floats_cuda(const ConvShape *s)
{
    NnDnnPlan *p = nn_dnn_plan(s);
    if (!p) return NN_CONV_WS_IMPOSSIBLE;
    size_t bytes = reserved_bytes(p, s) + nn_dnn_workspace_bytes(p);
    return (bytes + sizeof(float) - 1) / sizeof(float);
}

extern "C" void conv2d_forward_cuda(const float *x, const float *w, const float *b, float *y,
                                    const ConvShape *s, float *ws)
{
    for (;;) { /* again when the plan fell back to fp32 (NN_DNN_RETRY) */
        ConvCall c;
        if (!call_begin(&c, s, "forward", ws)) return;
        int how;
        if (nn_dnn_precision(c.p) == NN_CUDA_BF16) {
            Bf16Layout l = bf16_layout(s);
            nn_cuda_f32_to_bf16(x, c.base + l.x, (size_t)s->B * s->C * s->H * s->W);
            nn_cuda_f32_to_bf16(w, c.base + l.w, n_weights(s));
            how = call_run(&c, NN_DNN_FWD, c.base + l.x, c.base + l.w, c.base + l.y);
            if (how == NN_DNN_RAN)
                nn_cuda_bf16_to_f32(c.base + l.y, y, b, s->B, s->OC, s->OH * s->OW);
        } else {
            if (!call_check(&c, "x", x) || !call_check(&c, "y", y)) return;
            const void *wa = call_weights_in(&c, w);
            if (!wa) return;
            how = call_run(&c, NN_DNN_FWD, x, wa, y);
            if (how == NN_DNN_RAN && b) nn_cuda_add_channel_bias(y, b, s->B, s->OC, s->OH * s->OW);
        }
        if (how != NN_DNN_RETRY) return;
    }
}

extern "C" void conv2d_backward_cuda(const float *dy, const float *x, const float *w, float *dx,
                                     float *dw, float *db, const ConvShape *s, float *ws)
{
    size_t nx = (size_t)s->B * s->C * s->H * s->W, nw = n_weights(s);
    for (;;) { /* again when the plan fell back to fp32 (NN_DNN_RETRY) */
        ConvCall c;
        if (!call_begin(&c, s, "backward", ws)) return;
        int how = NN_DNN_RAN;
        if (nn_dnn_precision(c.p) == NN_CUDA_BF16) {
            Bf16Layout l = bf16_layout(s);
            char *bx = c.base + l.x, *bw = c.base + l.w, *bdy = c.base + l.y;
            nn_cuda_f32_to_bf16(dy, bdy, (size_t)s->B * s->OC * s->OH * s->OW);
            nn_cuda_f32_to_bf16(x, bx, nx);
            if (dx) {
                nn_cuda_f32_to_bf16(w, bw, nw);
                how = call_run(&c, NN_DNN_DATA, bw, bdy, c.base + l.dx);
                if (how == NN_DNN_RAN)
                    nn_cuda_bf16_to_f32(c.base + l.dx, dx, NULL, s->B, s->C, s->H * s->W);
            }
            if (how == NN_DNN_RAN) how = call_run(&c, NN_DNN_FILTER, bx, bdy, c.base + l.dw);
            if (how == NN_DNN_RAN) nn_cuda_bf16_to_f32(c.base + l.dw, dw, NULL, 1, 1, (int)nw);
        } else {
            if (!call_check(&c, "x", x) || !call_check(&c, "dy", dy) ||
                (dx && !call_check(&c, "dx", dx)))
                return;
            const void *wa = dx ? call_weights_in(&c, w) : w;
            void *dwa = aligned(dw) ? (void *)dw : call_take_weights(&c);
            if (!wa || !dwa) return;
            if (dx) how = call_run(&c, NN_DNN_DATA, wa, dy, dx);
            if (how == NN_DNN_RAN) how = call_run(&c, NN_DNN_FILTER, x, dy, dwa);
            if (how == NN_DNN_RAN && dwa != dw) copy_cuda(dw, dwa, nw * sizeof(float));
        }
        if (how == NN_DNN_RAN && db) nn_cuda_channel_sum(dy, db, s->B, s->OC, s->OH * s->OW);
        if (how != NN_DNN_RETRY) return;
    }
}
