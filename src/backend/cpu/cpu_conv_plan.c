/* cpu_conv_plan.c - the plan of a convolution pass of the cpu backend
 * (cpu_conv.h, ConvPlan): chunks and groups of the batch, which products
 * run (im2col + OpenBLAS, direct, Winograd), and the layout and size of
 * its workspace; cpu_conv.c runs the passes.
 *
 * Workspace of a pass (conv_pass_floats), per slot (cpu_ws_slots()):
 *   col (C*K*K, bs*OH*OW) | buf (OC, bs*OH*OW) | padded (C, H+2pad, W+2pad)
 *   | pooled (OH*OW, the fused backward's gradients at the pooled places)
 *   | images (bs x (H+2pad, W+2pad, C): the direct products' copies, or
 *   the Winograd products' work)
 * then, from a 64-byte line, n_chunks partials [dw (OC, C*K*K), or
 * Winograd dw's sums (36, OC, C doubles), then db (OC)], then the direct
 * or Winograd products' packed weights (forward or dx); cpu_conv.c's
 * conv_backward_run says what the backward with cpu_conv_dx_by_conv adds.
 *
 * Direct products (cpu_conv_direct.c, CPUs with AVX2 + FMA, B >= 2): the
 * forward's (and so the dx convolution's) where OC is a multiple of 16, and
 * dw's and (in place of col2im) dx's where C <= 32 (dw's partials are
 * then (OC, K, K, C)), with no unfolding and no OpenBLAS; cnn5x32 trains
 * 1.2-1.4x as fast as with im2col + sgemm (cpu_conv_plan).
 *
 * Winograd products (cpu_conv_winograd.c, the same CPUs, B >= 2) in place of
 * both for the 5 x 5 layers with 16 to 256 channels: the forward (and so the
 * dx convolution) where C is a multiple of 8, dw where C is a multiple of 16
 * and C*OC <= 128*128; dw's chunk partials are then its transformed sums
 * (36, OC, C doubles), added in chunk order and transformed once.
 * Alternating 2-s runs at 2 threads against the direct products and sgemm:
 * cnn5x32 1.3-2.1x, cnn5x64 1.5-1.6x, cnn5x128 1.4-1.5x, cnn5x256 1.4x
 * (with Winograd dw too, 19 MB of sums per slot, it was 1.1x).
 */
#include <stdint.h>

#include "backend/cpu/cpu_conv.h"

/* Partial sums of the backward pass (at most; fewer when B is smaller). */
#define CONV_CHUNKS 8
/* Floats of unfolded columns per group (2 MiB), at least one image. Half
 * of the earlier 4 MiB: cnn5x32's second layer (17x17 input) then unfolds
 * one image per group (was three) and its dx pass two (was four), and the
 * step is 5-17% faster (alternating runs at 2 threads); the other layers of
 * the seed's models have the same groups as before (cut by the chunk size,
 * or one image). */
#define CONV_COL_BUDGET ((size_t)1 << 19)
/* Input channels up to which dw and dx are direct (cpu_conv_plan). */
#define CONV_DIRECT_BACK_MAX_C 32

void cpu_conv_plan(const ConvShape *s, ConvPlan *p)
{
    p->n_chunks = s->B < CONV_CHUNKS ? s->B : CONV_CHUNKS;
    if (p->n_chunks < 1) p->n_chunks = 1;
    int chunk_len = (s->B + p->n_chunks - 1) / p->n_chunks;
    p->CKK = (size_t)s->C * s->K * s->K;
    p->P = (size_t)s->OH * s->OW;
    size_t bs = CONV_COL_BUDGET / (p->CKK * p->P);
    if (bs > (size_t)chunk_len) bs = (size_t)chunk_len;
    p->bs = bs < 1 ? 1 : (int)bs;
    p->Hp = s->H + 2 * s->pad;
    p->Wp = s->W + 2 * s->pad;
    /* The direct products (cpu_conv_direct.c) where they were measured
     * faster: the forward's tiles take 16 output channels; dw's tiles
     * read each pixel's C input channels with a stride of C floats, and
     * from C = 64 on they no longer stay in L1: the backward of cnn5x64's
     * 64-channel layers was 2-15% slower than with OpenBLAS's dw (profile,
     * 1 thread), cnn5x256's training 1-29% slower (alternating runs).
     * With one image they would run on one thread, where sgemm splits
     * over all of them. */
    int direct = s->B >= 2 && cpu_avx2_fma_available();
    p->wino = cpu_conv_wino_fits(s);
    p->wino_back = p->wino && s->C % 16 == 0 && s->C * s->OC <= 128 * 128;
    p->direct = direct && s->OC % CPU_CONV_DIRECT_OC == 0 && !p->wino;
    p->direct_back = direct && s->C <= CONV_DIRECT_BACK_MAX_C;
    p->direct_dw = p->direct_back && !p->wino_back;
    /* the unfolded columns and the padded plane: im2col's and col2im's */
    int unfolds = (!p->direct && !p->wino) || !p->direct_back;
    p->col = unfolds ? p->CKK * (size_t)p->bs * p->P : 0;
    p->buf = (size_t)s->OC * p->bs * p->P;
    p->padded = unfolds && s->pad > 0 ? (size_t)s->C * p->Hp * p->Wp : 0;
    p->pooled = p->P; /* one plane of pooled gradients (fused backward) */
    /* (+ 16: room to start the copies on a 64-byte line, cpu_conv_images) */
    p->image = p->direct || p->direct_back ? cpu_conv_direct_image_floats(s) * p->bs + 16 : 0;
    if (p->wino && cpu_conv_wino_work_floats(s) + 16 > p->image)
        p->image = cpu_conv_wino_work_floats(s) + 16;
    size_t wdx = p->direct_back ? cpu_conv_direct_pack_dx_floats(s) : 0;
    p->wpk = p->direct ? (size_t)s->OC * p->CKK : p->wino ? cpu_conv_wino_pack_floats(s) : 0;
    if (wdx > p->wpk) p->wpk = wdx;
    p->slot = p->col + p->buf + p->padded + p->pooled + p->image;
    /* dw (or Winograd dw's sums in double) and db, from a 64-byte line */
    p->part_db = p->wino_back ? 2 * cpu_conv_wino_dw_doubles(s) : (size_t)s->OC * p->CKK;
    p->part = (p->part_db + s->OC + 15) / 16 * 16;
}

/* The direct products' image copies of a slot whose pooled gradients are
 * at `pooled`: from the next 64-byte boundary, so that the 16 floats a tile
 * reads from a pixel are one cache line where C is a multiple of 16 (dw of
 * cnn2x32's second layer then reads 26 KB per tile instead of 51). */
float *cpu_conv_images(float *pooled, const ConvPlan *p)
{
    uintptr_t at = (uintptr_t)(pooled + p->pooled);
    return (float *)((at + 63) & ~(uintptr_t)63);
}

/* The workspace of one pass over s: the slots, the partials (from a 64-byte
 * boundary, cpu_conv_parts), then the packed weights of the direct product. */
static size_t conv_pass_floats(const ConvShape *s)
{
    ConvPlan p;
    cpu_conv_plan(s, &p);
    return (size_t)cpu_ws_slots() * p.slot + 16 + (size_t)p.n_chunks * p.part + p.wpk;
}

/* dx as a convolution of the output gradient (the "full" correlation with
 * the kernel flipped and its two channel axes swapped, padding K - 1 - pad):
 * dx (B, C, H, W) = conv(dy (B, OC, OH, OW), w') with w'[c][o][p][q] =
 * w[o][c][K-1-p][K-1-q]. It does H*W/(OH*OW) of col2im's multiply-adds
 * (col2im also computes the padding's gradients, then drops them), its
 * product has OC*K*K terms per value instead of OC, and it writes dx once
 * instead of an unfolded (C*K*K, OH*OW) matrix per image that is read back:
 * cnn5x32's second layer (32 -> 32 channels, 17x17, padding 3). Used when
 * it does no more multiply-adds than col2im and the padding allows it. */
int cpu_conv_dx_by_conv(const ConvShape *s)
{
    return s->pad <= s->K - 1 && (size_t)s->H * s->W <= (size_t)s->OH * s->OW;
}

ConvShape cpu_conv_dx_shape(const ConvShape *s)
{
    ConvShape t = {s->B, s->OC, s->OH, s->OW, s->C, s->K, s->K - 1 - s->pad, s->H, s->W};
    return t;
}

/* One pass over s, or for the backward with conv_dx_by_conv: the output
 * gradient (B, OC, OH, OW) and w' (C, OC, K, K) kept whole, then the larger
 * of the two passes' workspaces (the dw pass, then the dx convolution). */
size_t conv2d_workspace_floats_cpu(const ConvShape *s)
{
    size_t pass = conv_pass_floats(s);
    if (!cpu_conv_dx_by_conv(s)) return pass;
    ConvShape t = cpu_conv_dx_shape(s);
    size_t dx_pass = conv_pass_floats(&t);
    return (size_t)s->B * s->OC * s->OH * s->OW + (size_t)s->C * s->OC * s->K * s->K +
           (pass > dx_pass ? pass : dx_pass);
}

/* The partials' place in a pass's workspace ws: after the slots, from the
 * next 64-byte boundary (Winograd dw's are doubles). */
float *cpu_conv_parts(float *ws, const ConvPlan *p)
{
    uintptr_t at = (uintptr_t)(ws + (size_t)cpu_ws_slots() * p->slot);
    return (float *)((at + 63) & ~(uintptr_t)63);
}

/* The packed weights' place in ws (after the partials). */
float *cpu_conv_wpk(float *ws, const ConvPlan *p)
{
    return cpu_conv_parts(ws, p) + (size_t)p->n_chunks * p->part;
}
