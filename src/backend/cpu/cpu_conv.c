/* cpu_conv.c - convolution of the cpu backend: im2col + OpenBLAS sgemm,
 * col2im for dx, or the direct products of cpu_conv_direct.c (below); the
 * specification is ref.c (conv2d_*_ref).
 *
 * The images of a batch are cut into n_chunks = min(B, CONV_CHUNKS)
 * chunks, one item each (cpu_pool.c); a chunk runs its images in groups of
 * `bs` (as many as fit CONV_COL_BUDGET floats of unfolded columns). A group
 * is unfolded side by side into col (C*K*K, bs*OH*OW), so that one sgemm
 * per group does the work of bs per-image ones: w is packed once per group
 * instead of once per image, and the small layers get products wide enough
 * for OpenBLAS (cnn5x32's 7x7 and 5x5 layers ran at 54-63 GFLOP/s per image,
 * 63-76 in groups of four). The product lands in a (OC, bs*OH*OW) buffer
 * and is scattered to y's (B, OC, OH*OW) with the bias added (the same
 * float addition as OpenBLAS's beta = 1, so the same bits).
 * Backward: each chunk sums its groups' dw and db into a partial of its own
 * (dy is gathered into (OC, bs*OH*OW) for that), and dx goes through col2im
 * there; then a second job adds the partials in chunk order. With padding,
 * dx is instead one convolution of the output gradient after that
 * (conv_dx_by_conv says when and why). The chunking depends
 * on B and the shape only, never on the thread count, so dw is the same
 * bits for any number of threads (B >= 2). A batch of one image is one
 * item, run on the calling thread, whose sgemms are then cut into pieces
 * by their shape (cpu_sgemm with split) for the threads; with B >= 2 each
 * sgemm is one OpenBLAS call inside its chunk.
 *
 * Unfolding: the input image is first copied into a zero-padded plane
 * (when pad > 0), so that every row of col is OH straight copies of OW
 * floats with no bounds tests; copy_row moves them four floats at a time.
 * It was ~40% of the forward time of cnn5x32's second layer (15k segments
 * of 19 floats per image, each with its own zero-fill tests and memcpy).
 *
 * Workspace of a pass (conv_pass_floats), per slot (cpu_ws_slots()):
 *   col (C*K*K, bs*OH*OW) | buf (OC, bs*OH*OW) | padded (C, H+2pad, W+2pad)
 *   | pooled (OH*OW, the fused backward's gradients at the pooled places)
 *   | images (bs x (H+2pad, W+2pad, C): the direct products' copies, or
 *   the Winograd products' work)
 * then, from a 64-byte line, n_chunks partials [dw (OC, C*K*K), or
 * Winograd dw's sums (36, OC, C doubles), then db (OC)], then the direct
 * or Winograd products' packed weights (forward or dx); conv_backward_run
 * says what the backward with conv_dx_by_conv adds.
 *
 * Direct products (cpu_conv_direct.c, CPUs with AVX2 + FMA, B >= 2): the
 * forward's (and so the dx convolution's) where OC is a multiple of 16, and
 * dw's and (in place of col2im) dx's where C <= 32 (dw's partials are
 * then (OC, K, K, C)), with no unfolding and no OpenBLAS; cnn5x32 trains
 * 1.2-1.4x as fast as with im2col + sgemm (conv_plan).
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
#include <math.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "backend/backend_impl.h"

/* Partial sums of the backward pass (at most; fewer when B is smaller). */
#define CONV_CHUNKS 8
/* Floats of unfolded columns per group (2 MiB), at least one image. Half
 * of the earlier 4 MiB: cnn5x32's second layer (17x17 input) then unfolds
 * one image per group (was three) and its dx pass two (was four), and the
 * step is 5-17% faster (alternating runs at 2 threads); the other layers of
 * the seed's models have the same groups as before (cut by the chunk size,
 * or one image). */
#define CONV_COL_BUDGET ((size_t)1 << 19)
/* Input channels up to which dw and dx are direct (conv_plan). */
#define CONV_DIRECT_BACK_MAX_C 32

typedef struct ConvPlan {
    int n_chunks, bs;       /* chunks of the batch; images per group */
    int Hp, Wp;             /* padded input plane */
    int direct, direct_back; /* the forward's; col2im's dx and dw's (cpu_conv_direct.c) */
    int wino, wino_back;     /* the forward's, dw's by cpu_conv_winograd.c */
    int direct_dw;           /* dw by cpu_conv_direct.c: direct_back, not wino_back */
    size_t CKK, P;          /* C*K*K, OH*OW */
    size_t col, buf, padded, pooled, image, slot, part, wpk; /* floats */
    size_t part_db;          /* db's place in a partial (after dw's) */
} ConvPlan;

static void conv_plan(const ConvShape *s, ConvPlan *p)
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
    /* (+ 16: room to start the copies on a 64-byte line, conv_images) */
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
static float *conv_images(float *pooled, const ConvPlan *p)
{
    uintptr_t at = (uintptr_t)(pooled + p->pooled);
    return (float *)((at + 63) & ~(uintptr_t)63);
}

/* The workspace of one pass over s: the slots, the partials (from a 64-byte
 * boundary, conv_parts), then the packed weights of the direct product. */
static size_t conv_pass_floats(const ConvShape *s)
{
    ConvPlan p;
    conv_plan(s, &p);
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
static int conv_dx_by_conv(const ConvShape *s)
{
    return s->pad <= s->K - 1 && (size_t)s->H * s->W <= (size_t)s->OH * s->OW;
}

static ConvShape conv_dx_shape(const ConvShape *s)
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
    if (!conv_dx_by_conv(s)) return pass;
    ConvShape t = conv_dx_shape(s);
    size_t dx_pass = conv_pass_floats(&t);
    return (size_t)s->B * s->OC * s->OH * s->OW + (size_t)s->C * s->OC * s->K * s->K +
           (pass > dx_pass ? pass : dx_pass);
}

/* ---- unfolding ---------------------------------------------------------------------- */

/* dst[0, n) = src[0, n), four floats at a time (the last four overlap the
 * previous ones when n is not a multiple of four: the same values again). */
static inline void copy_row(float *dst, const float *src, int n)
{
#if defined(__SSE2__)
    if (n >= 4) {
        int j = 0;
        for (; j + 4 <= n; j += 4) _mm_storeu_ps(dst + j, _mm_loadu_ps(src + j));
        if (j < n) _mm_storeu_ps(dst + n - 4, _mm_loadu_ps(src + n - 4));
        return;
    }
#endif
    for (int j = 0; j < n; j++) dst[j] = src[j];
}

/* dst[0, n) += src[0, n) */
static inline void add_row(float *dst, const float *src, int n)
{
    int j = 0;
#if defined(__SSE2__)
    for (; j + 4 <= n; j += 4)
        _mm_storeu_ps(dst + j, _mm_add_ps(_mm_loadu_ps(dst + j), _mm_loadu_ps(src + j)));
#endif
    for (; j < n; j++) dst[j] += src[j];
}

/* The plane the unfolding reads: x_b itself, or x_b copied into the middle
 * of `padded` (C, Hp, Wp) with zero borders. */
static const float *conv_source(const float *x /* (C, H, W) */, const ConvShape *s,
                                const ConvPlan *p, float *padded)
{
    if (s->pad == 0) return x;
    const int pad = s->pad, Wp = p->Wp;
    for (int c = 0; c < s->C; c++) {
        float *plane = padded + (size_t)c * p->Hp * Wp;
        memset(plane, 0, sizeof(float) * (size_t)pad * Wp);
        for (int h = 0; h < s->H; h++) {
            float *row = plane + (size_t)(h + pad) * Wp;
            memset(row, 0, sizeof(float) * (size_t)pad);
            memcpy(row + pad, x + ((size_t)c * s->H + h) * s->W, sizeof(float) * (size_t)s->W);
            memset(row + pad + s->W, 0, sizeof(float) * (size_t)pad);
        }
        memset(plane + (size_t)(s->H + pad) * Wp, 0, sizeof(float) * (size_t)pad * Wp);
    }
    return padded;
}

/* col[(c, p, q)][i, j] = src[c][i + p][j + q] for image k of a group:
 * columns [k P, (k + 1) P) of col (C*K*K rows of ld floats). */
static void im2col(const float *src, const ConvShape *s, const ConvPlan *p, float *col, size_t ld)
{
    const int K = s->K, OH = s->OH, OW = s->OW;
    const int Hs = s->pad ? p->Hp : s->H, Ws = s->pad ? p->Wp : s->W;
    for (int c = 0; c < s->C; c++)
        for (int kp = 0; kp < K; kp++)
            for (int kq = 0; kq < K; kq++) {
                float *row = col + ((size_t)(c * K + kp) * K + kq) * ld;
                const float *in = src + ((size_t)c * Hs + kp) * Ws + kq;
                for (int i = 0; i < OH; i++)
                    copy_row(row + (size_t)i * OW, in + (size_t)i * Ws, OW);
            }
}

/* The transpose of im2col: dx_b (C, H, W) = every col entry of image k
 * added back to the element it was copied from (through the padded plane
 * when pad > 0). Writes all of dx_b. */
static void col2im(const float *col, size_t ld, const ConvShape *s, const ConvPlan *p,
                   float *padded, float *dx)
{
    const int K = s->K, OH = s->OH, OW = s->OW;
    const int Hs = s->pad ? p->Hp : s->H, Ws = s->pad ? p->Wp : s->W;
    float *acc = s->pad ? padded : dx;
    memset(acc, 0, sizeof(float) * (size_t)s->C * Hs * Ws);
    for (int c = 0; c < s->C; c++)
        for (int kp = 0; kp < K; kp++)
            for (int kq = 0; kq < K; kq++) {
                const float *row = col + ((size_t)(c * K + kp) * K + kq) * ld;
                float *out = acc + ((size_t)c * Hs + kp) * Ws + kq;
                for (int i = 0; i < OH; i++)
                    add_row(out + (size_t)i * Ws, row + (size_t)i * OW, OW);
            }
    if (!s->pad) return;
    for (int c = 0; c < s->C; c++)
        for (int h = 0; h < s->H; h++)
            memcpy(dx + ((size_t)c * s->H + h) * s->W,
                   padded + ((size_t)c * Hs + h + s->pad) * Ws + s->pad,
                   sizeof(float) * (size_t)s->W);
}

/* ---- forward --------------------------------------------------------------------------- */

typedef struct ConvJob {
    const float *x, *w, *b, *dy, *yc; /* yc: the fused forward's output, for its backward */
    float *wpk; /* the direct products' packed weights (forward, or dx) */
    float *y, *dx, *dw, *db, *ws;
    float *dyc; /* backward with conv_dx_by_conv: the conv's output gradient, kept */
    int32_t *idx;
    const int32_t *cidx;
    const ConvShape *s;
    ConvPlan p;
    int fused, pool; /* conv2d_*_act_pool: act then maxpool(pool) after the conv */
    ActKind act;
    /* conv2d_backward_bn_act_pool: a batch norm between the conv (output
     * z) and the activation, with its statistics and sums (dgamma, dbeta) */
    const float *z, *gamma, *mean, *invstd, *dgamma, *dbeta;
    double *pstats; /* conv2d_forward_bn_act_pool: each output plane's sums (B, OC, 2) */
} ConvJob;

/* Floats per image of the op's output y: the conv's, or after pooling. */
static size_t out_plane(const ConvJob *j)
{
    return j->fused && j->pool > 1 ? (size_t)(j->s->OH / j->pool) * (j->s->OW / j->pool) : j->p.P;
}

static void chunk_images(const ConvJob *j, int c, int *b0, int *b1)
{
    *b0 = (int)((long)j->s->B * c / j->p.n_chunks);
    *b1 = (int)((long)j->s->B * (c + 1) / j->p.n_chunks);
}

/* Chunk c: per group, buf (OC, n P) = w (OC, CKK) . col (CKK, n P), then
 * y_b[o] = buf[o][k P ..] + bias[o]. */
static void conv_forward_item(void *ctx, int c, int slot)
{
    const ConvJob *j = ctx;
    const ConvShape *s = j->s;
    const ConvPlan *p = &j->p;
    float *col = j->ws + (size_t)slot * p->slot, *buf = col + p->col, *padded = buf + p->buf;
    float *image = conv_images(padded + p->padded, p);
    size_t xs = (size_t)s->C * s->H * s->W, P = p->P;
    int b0, b1;
    chunk_images(j, c, &b0, &b1);
    for (int g0 = b0; g0 < b1; g0 += p->bs) {
        int n = b1 - g0 < p->bs ? b1 - g0 : p->bs;
        size_t ld = (size_t)n * P;
        if (p->wino) {
            for (int k = 0; k < n; k++)
                cpu_conv_wino(j->x + (size_t)(g0 + k) * xs, j->wpk, s, buf + k * P, ld, image);
        } else if (p->direct) {
            for (int k = 0; k < n; k++) {
                cpu_conv_direct_image(j->x + (size_t)(g0 + k) * xs, s, image);
                cpu_conv_direct(image, j->wpk, s, buf + k * P, ld);
            }
        } else {
            for (int k = 0; k < n; k++)
                im2col(conv_source(j->x + (size_t)(g0 + k) * xs, s, p, padded), s, p, col + k * P,
                       ld);
            cpu_sgemm(p->n_chunks == 1, 0, 0, s->OC, (int)ld, (int)p->CKK, 1.0f, j->w,
                      (int)p->CKK, col, (int)ld, 0.0f, buf, (int)ld);
        }
        size_t yp = out_plane(j);
        for (int k = 0; k < n; k++)
            for (int o = 0; o < s->OC; o++) {
                size_t at = ((size_t)(g0 + k) * s->OC + o) * yp;
                float *r = buf + (size_t)o * ld + k * P;
                if (!j->fused) { /* y = r + bias */
                    float bias = j->b ? j->b[o] : 0.0f, *y = j->y + at;
                    if (j->b)
                        for (size_t t = 0; t < P; t++) y[t] = r[t] + bias;
                    else
                        memcpy(y, r, sizeof(float) * P);
                    if (j->pstats)
                        cpu_bn_plane_sums(y, P, j->pstats + 2 * ((size_t)(g0 + k) * s->OC + o));
                    continue;
                }
                /* fused: bias and activation in place, then the pooling */
                if (j->b) {
                    float bias = j->b[o];
                    for (size_t t = 0; t < P; t++) r[t] = r[t] + bias;
                }
                cpu_act_forward_range(j->act, r, j->pool > 1 ? r : j->y + at, P);
                if (j->pool > 1)
                    cpu_maxpool_plane(r, NULL, s->OH, s->OW, j->pool, j->y + at,
                                      j->idx ? j->idx + at : NULL, NULL);
            }
    }
}

/* The partials' place in j's workspace: after the slots, from the next
 * 64-byte boundary (Winograd dw's are doubles). */
static float *conv_parts(const ConvJob *j)
{
    uintptr_t at = (uintptr_t)(j->ws + (size_t)cpu_ws_slots() * j->p.slot);
    return (float *)((at + 63) & ~(uintptr_t)63);
}

/* The packed weights' place in j's workspace (after the partials). */
static float *conv_wpk(const ConvJob *j)
{
    return conv_parts(j) + (size_t)j->p.n_chunks * j->p.part;
}

/* Item o: the forward's weights of output channels [16 o, 16 o + 16). */
static void conv_pack_item(void *ctx, int o, int slot)
{
    (void)slot;
    const ConvJob *j = ctx;
    cpu_conv_direct_pack(j->w, j->s, o, j->wpk);
}

/* Item o: the Winograd transform of the weights of output channels [16 o,
 * 16 o + 16). */
static void conv_pack_wino_item(void *ctx, int o, int slot)
{
    (void)slot;
    const ConvJob *j = ctx;
    cpu_conv_wino_pack(j->w, j->s, o, j->wpk);
}

/* Item ky: dx's weights of kernel row ky. */
static void conv_pack_dx_item(void *ctx, int ky, int slot)
{
    (void)slot;
    const ConvJob *j = ctx;
    cpu_conv_direct_pack_dx(j->w, j->s, ky, j->wpk);
}

/* The forward of j (x, w, b, y, ws, s, and the fused fields set). */
static void conv_forward_run(ConvJob *j)
{
    cpu_blas_single_thread();
    conv_plan(j->s, &j->p);
    if (j->p.direct || j->p.wino) {
        j->wpk = conv_wpk(j);
        cpu_parallel(j->p.wino ? conv_pack_wino_item : conv_pack_item, j,
                     j->s->OC / CPU_CONV_DIRECT_OC, 0);
    }
    cpu_parallel(conv_forward_item, j, j->p.n_chunks, cpu_ws_slots());
}

void conv2d_forward_cpu(const float *x, const float *w, const float *b, float *y,
                        const ConvShape *s, float *ws)
{
    ConvJob j = {.x = x, .w = w, .b = b, .y = y, .ws = ws, .s = s};
    conv_forward_run(&j);
}

/* y = maxpool(act(conv(x) + b)): the activation and the pooling run on
 * each image's product while it is in cache, and the conv's and the
 * activation's outputs are never written out. */
void conv2d_forward_act_pool_cpu(const float *x, const float *w, const float *b, float *y,
                                 int32_t *idx, const ConvShape *s, ActKind act, int pool,
                                 float *ws)
{
    NN_CHECK(act != ACT_GELU, "conv2d_forward_act_pool: GELU is not fused");
    ConvJob j = {.x = x, .w = w, .b = b, .y = y, .idx = idx, .ws = ws, .s = s, .fused = 1,
                 .pool = pool, .act = act};
    conv_forward_run(&j);
}

/* The conv into z with each plane's sums (cpu_bn_plane_sums) taken as it
 * is written, then the batch norm group from them: z is read once after
 * the conv instead of three times. Workspace: the planes' sums (B, OC, 2
 * doubles, from ws's start) then the conv's or the batch norm's. */
void conv2d_forward_bn_act_pool_cpu(const float *x, const float *w, const float *b, float *z,
                                    const float *gamma, const float *beta, float *y, int32_t *idx,
                                    float *zp, float *save_mean, float *save_invstd,
                                    float *running_mean, float *running_var, const ConvShape *s,
                                    float momentum, float eps, ActKind act, int pool, float *ws)
{
    size_t nstats = (size_t)s->B * s->OC * 4; /* floats */
    ConvJob j = {.x = x, .w = w, .b = b, .y = z, .ws = ws + (nstats + 15) / 16 * 16, .s = s,
                 .pstats = (double *)ws};
    conv_forward_run(&j);
    cpu_bn_act_pool_train_planes(z, j.pstats, gamma, beta, y, idx, zp, save_mean, save_invstd,
                                 running_mean, running_var, s->B, s->OC, s->OH, s->OW, momentum,
                                 eps, act, pool, j.ws);
}

/* ---- backward -------------------------------------------------------------------------- */

/* d (OH*OW) = the gradient of plane `plane` (image * OC + channel) of the
 * conv's output: dy's plane, or for the fused op, act_backward of the
 * pooled gradient (with the pooled output for the activation's output)
 * put back where each window took its max, 0 elsewhere; with a batch norm
 * in between, that is its output gradient, and d its dx. */
static void conv_output_grad(const ConvJob *j, size_t plane, float *d, float *pooled)
{
    size_t P = j->p.P, yp = out_plane(j);
    const float *dy = j->dy + plane * yp;
    if (!j->fused) {
        memcpy(d, dy, sizeof(float) * P);
        return;
    }
    const float *y = j->yc + plane * yp;
    if (j->z) {
        cpu_bn_act_pool_plane_dx(j->dy, j->yc, j->cidx, j->z, j->gamma, j->mean, j->invstd,
                                 j->dgamma, j->dbeta, j->s->B, j->s->OC, j->s->OH, j->s->OW,
                                 j->act, j->pool, plane, pooled, d);
        return;
    }
    if (j->pool == 1) {
        cpu_act_backward_range(j->act, y, y, dy, d, P);
        return;
    }
    cpu_act_backward_range(j->act, y, y, dy, pooled, yp);
    const int32_t *idx = j->cidx + plane * yp;
    memset(d, 0, sizeof(float) * P);
    for (size_t t = 0; t < yp; t++) d[idx[t]] = pooled[t];
}

/* Chunk c: its partial dw (OC, CKK) and db (OC) summed over its groups in
 * order, and each image's dx = col2im(w^T . dy). */
static void conv_backward_item(void *ctx, int c, int slot)
{
    const ConvJob *j = ctx;
    const ConvShape *s = j->s;
    const ConvPlan *p = &j->p;
    float *col = j->ws + (size_t)slot * p->slot, *buf = col + p->col, *padded = buf + p->buf;
    float *pooled = padded + p->padded, *images = conv_images(pooled, p);
    float *dwp = conv_parts(j) + (size_t)c * p->part;
    double *dwt = (double *)dwp; /* Winograd dw's sums (36, OC, C) */
    float *dbp = dwp + p->part_db;
    size_t xs = (size_t)s->C * s->H * s->W, P = p->P;
    int b0, b1;
    chunk_images(j, c, &b0, &b1);
    for (int o = 0; o < s->OC; o++) dbp[o] = 0.0f;
    for (int g0 = b0; g0 < b1; g0 += p->bs) {
        int n = b1 - g0 < p->bs ? b1 - g0 : p->bs;
        size_t ld = (size_t)n * P;
        for (int k = 0; k < n; k++) {
            const float *xb = j->x + (size_t)(g0 + k) * xs;
            if (p->direct_dw)
                cpu_conv_direct_image(xb, s, images + k * cpu_conv_direct_image_floats(s));
            else if (!p->wino_back)
                im2col(conv_source(xb, s, p, padded), s, p, col + k * P, ld);
            for (int o = 0; o < s->OC; o++) {
                float *d = buf + (size_t)o * ld + k * P;
                size_t plane = (size_t)(g0 + k) * s->OC + o;
                conv_output_grad(j, plane, d, pooled);
                if (j->dyc) memcpy(j->dyc + plane * P, d, sizeof(float) * P);
                dbp[o] += cpu_sum(d, P);
            }
            if (p->wino_back) cpu_conv_wino_dw(xb, buf + k * P, ld, s, g0 + k > b0, dwt, images);
        }
        /* dwp (OC, CKK) (+)= buf (OC, n P) . col^T, or (OC, K, K, C) */
        if (p->direct_dw)
            cpu_conv_direct_dw(images, n, buf, ld, s, g0 > b0, dwp);
        else if (!p->wino_back)
            cpu_sgemm(p->n_chunks == 1, 0, 1, s->OC, (int)p->CKK, (int)ld, 1.0f, buf, (int)ld,
                      col, (int)ld, g0 > b0 ? 1.0f : 0.0f, dwp, (int)p->CKK);
        if (!j->dx || j->dyc) continue;
        if (p->direct_back) { /* each image's dx, in place of the copies */
            for (int k = 0; k < n; k++) {
                cpu_conv_direct_dx(buf + k * P, ld, j->wpk, s, images);
                cpu_conv_direct_unimage(images, s, j->dx + (size_t)(g0 + k) * xs);
            }
            continue;
        }
        /* col (CKK, n P) = w^T . buf, then back onto each image */
        cpu_sgemm(p->n_chunks == 1, 1, 0, (int)p->CKK, (int)ld, s->OC, 1.0f, j->w, (int)p->CKK,
                  buf, (int)ld, 0.0f, col, (int)ld);
        for (int k = 0; k < n; k++)
            col2im(col + k * P, ld, s, p, padded, j->dx + (size_t)(g0 + k) * xs);
    }
}

/* dw (then db) = the chunks' partials added in chunk order, CPU_CHUNK
 * elements per item; the direct product's partials are (OC, K, K, C). */
static void conv_reduce_item(void *ctx, int item, int slot)
{
    (void)slot;
    const ConvJob *j = ctx;
    const ConvPlan *p = &j->p;
    size_t nw = p->part_db, n = nw + j->s->OC;
    const float *parts = conv_parts(j);
    size_t lo = (size_t)item * CPU_CHUNK, hi = lo + CPU_CHUNK < n ? lo + CPU_CHUNK : n;
    const size_t C = (size_t)j->s->C, KK = (size_t)j->s->K * j->s->K;
    for (size_t i = lo; i < hi; i++) {
        size_t at = i;
        if (p->direct_dw && i < nw) { /* i = (o, c, k) of w: (o, k, c) in the partials */
            size_t r = i % p->CKK;
            at = i - r + (r % KK) * C + r / KK;
        }
        float v = parts[at];
        for (int c = 1; c < p->n_chunks; c++) v += parts[(size_t)c * p->part + at];
        if (i < nw)
            j->dw[i] = v;
        else if (j->db)
            j->db[i - nw] = v;
    }
}

/* Winograd dw: the chunks' sums (36, OC, C doubles) added in chunk order
 * into chunk 0's, CPU_CHUNK of them per item; the last item: db. */
static void conv_reduce_wino_item(void *ctx, int item, int slot)
{
    (void)slot;
    const ConvJob *j = ctx;
    const ConvPlan *p = &j->p;
    float *parts = conv_parts(j);
    size_t n = cpu_conv_wino_dw_doubles(j->s), lo = (size_t)item * CPU_CHUNK;
    if (lo >= n) {
        for (int o = 0; o < j->s->OC && j->db; o++) {
            float v = parts[p->part_db + o];
            for (int c = 1; c < p->n_chunks; c++) v += parts[(size_t)c * p->part + p->part_db + o];
            j->db[o] = v;
        }
        return;
    }
    size_t hi = lo + CPU_CHUNK < n ? lo + CPU_CHUNK : n;
    double *sum = (double *)parts;
    for (size_t i = lo; i < hi; i++) {
        double v = sum[i];
        for (int c = 1; c < p->n_chunks; c++)
            v += ((const double *)(parts + (size_t)c * p->part))[i];
        sum[i] = v;
    }
}

/* Item o: dw of output channels [8 o, 8 o + 8) from the summed Winograd
 * sums. */
static void conv_wino_dw_out_item(void *ctx, int o, int slot)
{
    (void)slot;
    const ConvJob *j = ctx;
    cpu_conv_wino_dw_out((const double *)conv_parts(j), j->s, 8 * o, 8 * o + 8, j->dw);
}

/* dw and db by chunks of the batch, then dx: with col2im inside the chunks,
 * or (conv_dx_by_conv) as one convolution of the kept output gradient,
 * workspace: dyc (B, OC, OH, OW) | w' (C, OC, K, K) | the passes'. */
static void conv_backward_run(ConvJob *j)
{
    const ConvShape *s = j->s;
    cpu_blas_single_thread();
    float *ws = j->ws;
    ConvShape t;
    float *wflip = NULL;
    if (j->dx && conv_dx_by_conv(s)) {
        t = conv_dx_shape(s);
        j->dyc = ws;
        wflip = ws + (size_t)s->B * s->OC * s->OH * s->OW;
        j->ws = wflip + (size_t)s->C * s->OC * s->K * s->K;
    }
    conv_plan(s, &j->p);
    if (j->dx && !j->dyc && j->p.direct_back) {
        j->wpk = conv_wpk(j);
        cpu_parallel(conv_pack_dx_item, j, s->K, 0);
    }
    cpu_parallel(conv_backward_item, j, j->p.n_chunks, cpu_ws_slots());
    if (j->p.wino_back) {
        size_t n = cpu_conv_wino_dw_doubles(s);
        cpu_parallel(conv_reduce_wino_item, j, (int)((n + CPU_CHUNK - 1) / CPU_CHUNK) + 1, 0);
        cpu_parallel(conv_wino_dw_out_item, j, s->OC / 8, 0);
    } else {
        size_t n = j->p.part_db + s->OC;
        cpu_parallel(conv_reduce_item, j, (int)((n + CPU_CHUNK - 1) / CPU_CHUNK), 0);
    }
    if (!j->dyc) return;
    const int K = s->K, KK = K * K;
    for (int c = 0; c < s->C; c++)
        for (int o = 0; o < s->OC; o++) {
            const float *from = j->w + ((size_t)o * s->C + c) * KK;
            float *to = wflip + ((size_t)c * s->OC + o) * KK;
            for (int k = 0; k < KK; k++) to[k] = from[KK - 1 - k];
        }
    ConvJob f = {.x = j->dyc, .w = wflip, .y = j->dx, .ws = j->ws, .s = &t};
    conv_forward_run(&f);
}

void conv2d_backward_cpu(const float *dy, const float *x, const float *w, float *dx, float *dw,
                         float *db, const ConvShape *s, float *ws)
{
    ConvJob j = {.x = x, .w = w, .dy = dy, .dx = dx, .dw = dw, .db = db, .ws = ws, .s = s};
    conv_backward_run(&j);
}

/* The backward of conv2d_forward_act_pool: maxpool and activation
 * backward fused into the gathering of each image's output gradient. */
void conv2d_backward_act_pool_cpu(const float *dy, const float *y, const int32_t *idx,
                                  const float *x, const float *w, float *dx, float *dw, float *db,
                                  const ConvShape *s, ActKind act, int pool, float *ws)
{
    NN_CHECK(act != ACT_GELU, "conv2d_backward_act_pool: GELU is not fused");
    ConvJob j = {.x = x, .w = w, .dy = dy, .yc = y, .cidx = idx, .dx = dx, .dw = dw, .db = db,
                 .ws = ws, .s = s, .fused = 1, .pool = pool, .act = act};
    conv_backward_run(&j);
}

/* The batch norm's sums first (cpu_bn_act_pool_sums: dgamma, dbeta, from
 * zp, a quarter of z for 2 x 2 pooling, read in order), then the conv's
 * backward, whose output gradient is the batch norm's dx, computed plane by
 * plane where the conv needs it (conv_output_grad): the (B, OC, OH, OW)
 * gradient is never written out and read back. */
void conv2d_backward_bn_act_pool_cpu(const float *dy, const float *y, const int32_t *idx,
                                     const float *zp, const float *z, const float *gamma,
                                     const float *save_mean, const float *save_invstd,
                                     float *dgamma, float *dbeta, const float *x, const float *w,
                                     float *dx, float *dw, float *db, const ConvShape *s,
                                     ActKind act, int pool, float *ws)
{
    NN_CHECK(act != ACT_GELU, "conv2d_backward_bn_act_pool: GELU is not fused");
    cpu_bn_act_pool_sums(dy, y, idx, zp, z, save_mean, save_invstd, dgamma, dbeta, s->B, s->OC,
                         s->OH, s->OW, act, pool, ws);
    ConvJob j = {.x = x, .w = w, .dy = dy, .yc = y, .cidx = idx, .dx = dx, .dw = dw, .db = db,
                 .ws = ws, .s = s, .fused = 1, .pool = pool, .act = act, .z = z, .gamma = gamma,
                 .mean = save_mean, .invstd = save_invstd, .dgamma = dgamma, .dbeta = dbeta};
    conv_backward_run(&j);
}
