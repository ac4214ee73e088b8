/* cpu_conv.h - private to the cpu backend's convolution: its own AVX2 +
 * FMA products (cpu_conv_direct.c, cpu_conv_winograd.c), the plan of a
 * pass and the layout of its workspace (cpu_conv_plan.c), and the
 * unfolding for im2col and col2im (cpu_conv_unfold.c), all used by the
 * passes of cpu_conv.c.
 */
#ifndef NNSWEEP_CPU_CONV_H
#define NNSWEEP_CPU_CONV_H

#include "backend/cpu/cpu.h"

/* ---- the plan of a pass (cpu_conv_plan.c) ----------------------------------
 * cpu_conv_plan: how a pass over s runs (chunks of the batch, groups of a
 * chunk, which products) and its workspace's parts, in floats; the
 * workspace of a pass is slots (cpu_ws_slots() of p->slot floats each:
 * col | buf | padded | pooled | images), then from a 64-byte line the
 * n_chunks partials of the backward (cpu_conv_parts), then the packed
 * weights (cpu_conv_wpk). cpu_conv_images: a slot's image copies, from the
 * 64-byte line after its pooled floats. cpu_conv_dx_by_conv: whether dx is
 * computed as a convolution of the output gradient, of shape
 * cpu_conv_dx_shape(s) (the backward's workspace then holds that too:
 * conv2d_workspace_floats_cpu). */
typedef struct ConvPlan {
    int n_chunks, bs;        /* chunks of the batch; images per group */
    int Hp, Wp;              /* padded input plane */
    int direct, direct_back; /* the forward's; col2im's dx and dw's (cpu_conv_direct.c) */
    int wino, wino_back;     /* the forward's, dw's by cpu_conv_winograd.c */
    int direct_dw;           /* dw by cpu_conv_direct.c: direct_back, not wino_back */
    size_t CKK, P;           /* C*K*K, OH*OW */
    size_t col, buf, padded, pooled, image, slot, part, wpk; /* floats */
    size_t part_db;          /* db's place in a partial (after dw's) */
} ConvPlan;
void cpu_conv_plan(const ConvShape *s, ConvPlan *p);
float *cpu_conv_parts(float *ws, const ConvPlan *p);
float *cpu_conv_wpk(float *ws, const ConvPlan *p);
float *cpu_conv_images(float *pooled, const ConvPlan *p);
int cpu_conv_dx_by_conv(const ConvShape *s);
ConvShape cpu_conv_dx_shape(const ConvShape *s);

/* ---- unfolding (cpu_conv_unfold.c) -------------------------------------------
 * cpu_conv_source: the plane the unfolding of image x (C, H, W) reads: x
 * itself, or (pad > 0) x copied into the middle of padded (C, Hp, Wp) with
 * zero borders. cpu_im2col: col[(c, p, q)][i, j] = src[c][i + p][j + q],
 * one image into columns [k P, (k + 1) P) of col (C*K*K rows of ld floats;
 * pass col + k P). cpu_col2im: its transpose, dx (C, H, W) = every col
 * entry added back to the element it was copied from (through padded when
 * pad > 0); writes all of dx. */
const float *cpu_conv_source(const float *x, const ConvShape *s, const ConvPlan *p,
                             float *padded);
void cpu_im2col(const float *src, const ConvShape *s, const ConvPlan *p, float *col, size_t ld);
void cpu_col2im(const float *col, size_t ld, const ConvShape *s, const ConvPlan *p,
                float *padded, float *dx);

/* Direct convolution (cpu_conv_direct.c, x86-64 with AVX2 + FMA) on images copied
 * by cpu_conv_direct_image: channel-last with the padding, (H + 2 pad) x
 * (W + 2 pad) x C floats and 16 zeros (cpu_conv_direct_image_floats).
 * - cpu_conv_direct: out[o * ld + t] = the conv (no bias) of one image at
 *   pixel t, channel o; OC a multiple of CPU_CONV_DIRECT_OC, weights packed
 *   by cpu_conv_direct_pack (block b: channels [16 b, 16 b + 16); OC *
 *   C*K*K floats in all).
 * - cpu_conv_direct_dw: dwk (OC, K, K, C) = (add: +=) the dw of n images
 *   (copies consecutive from in) for output gradients d[o * ld + k P + t].
 * - cpu_conv_direct_dx: dxim (the copies' layout) = one image's dx for
 *   output gradients d[o * ld + t], weights packed by
 *   cpu_conv_direct_pack_dx (kernel row ky; cpu_conv_direct_pack_dx_floats
 *   in all); cpu_conv_direct_unimage copies dxim's middle to (C, H, W). */
#define CPU_CONV_DIRECT_OC 16
void cpu_conv_direct_pack(const float *w, const ConvShape *s, int block, float *wpk);
void cpu_conv_direct_image(const float *x, const ConvShape *s, float *in);
void cpu_conv_direct(const float *in, const float *wpk, const ConvShape *s, float *out, size_t ld);
void cpu_conv_direct_dw(const float *in, int n, const float *d, size_t ld, const ConvShape *s,
                        int add, float *dwk);
void cpu_conv_direct_pack_dx(const float *w, const ConvShape *s, int ky, float *wdx);
size_t cpu_conv_direct_pack_dx_floats(const ConvShape *s);
void cpu_conv_direct_dx(const float *d, size_t ld, const float *wdx, const ConvShape *s,
                        float *dxim);
size_t cpu_conv_direct_image_floats(const ConvShape *s);
void cpu_conv_direct_unimage(const float *in, const ConvShape *s, float *x);
/* dst[h * row + q * C + c] = x[c][h][q]: x (C, H, W) channel-last into
 * rows of `row` floats (cpu_conv_direct_image's and cpu_conv_wino's copies). */
void cpu_conv_hwc(const float *x, int C, int H, int W, float *dst, size_t row);

/* Winograd convolution F(2x2, 5x5) (cpu_conv_winograd.c, x86-64 with AVX2
 * + FMA): cpu_conv_wino_fits says whether it runs s (K 5, C and OC 16 to
 * 256, C a multiple of 8, OC of 16, B >= 2).
 * - cpu_conv_wino_pack: block b (output channels [16 b, 16 b + 16)) of the
 *   transformed weights u (cpu_conv_wino_pack_floats in all) from w.
 * - cpu_conv_wino: out[o * ld + t] = the conv (no bias) of one image x (C,
 *   H, W) at pixel t, channel o, with cpu_conv_wino_work_floats of work. */
int cpu_conv_wino_fits(const ConvShape *s);
size_t cpu_conv_wino_pack_floats(const ConvShape *s);
size_t cpu_conv_wino_work_floats(const ConvShape *s);
void cpu_conv_wino_pack(const float *w, const ConvShape *s, int block, float *u);
void cpu_conv_wino(const float *x, const float *u, const ConvShape *s, float *out, size_t ld,
                   float *work);
/* - cpu_conv_wino_dw: dwt (36, OC, C) = (add: +=) the transformed dw of one
 *   image x for output gradients d[o * ld + t] (C a multiple of 16), with
 *   cpu_conv_wino_work_floats of work; cpu_conv_wino_dw_out: dw (OC, C, 5,
 *   5) of output channels [o0, o1) (multiples of 4) from dwt
 *   (cpu_conv_wino_dw_doubles). */
size_t cpu_conv_wino_dw_doubles(const ConvShape *s);
void cpu_conv_wino_dw(const float *x, const float *d, size_t ld, const ConvShape *s, int add,
                      double *dwt, float *work);
void cpu_conv_wino_dw_out(const double *dwt, const ConvShape *s, int o0, int o1, float *dw);

#endif
