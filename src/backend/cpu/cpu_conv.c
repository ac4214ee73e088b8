/* cpu_conv.c - the passes of the cpu backend's convolution and its fused
 * ops: im2col + OpenBLAS sgemm, col2im for dx, or the direct and Winograd
 * products (cpu_conv_plan.c says which run where); the specification is
 * ref.c (conv2d_*_ref, ref_fused.c).
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
 * (cpu_conv_dx_by_conv says when and why). The chunking depends
 * on B and the shape only, never on the thread count, so dw is the same
 * bits for any number of threads (B >= 2). A batch of one image is one
 * item, run on the calling thread, whose sgemms are then cut into pieces
 * by their shape (cpu_sgemm with split) for the threads; with B >= 2 each
 * sgemm is one OpenBLAS call inside its chunk.
 *
 * cpu_conv_plan.c decides which products a pass runs and lays out its
 * workspace; cpu_conv_unfold.c unfolds images for im2col and col2im.
 */
#include <math.h>
#include <string.h>

#include "backend/cpu/cpu_conv.h"

/* ---- forward --------------------------------------------------------------------------- */

typedef struct ConvJob {
    const float *x, *w, *b, *dy, *yc; /* yc: the fused forward's output, for its backward */
    float *wpk; /* the direct products' packed weights (forward, or dx) */
    float *y, *dx, *dw, *db, *ws;
    float *dyc; /* backward with cpu_conv_dx_by_conv: the conv's output gradient, kept */
    int32_t *idx;
    const int32_t *cidx;
    const ConvShape *s;
    ConvPlan p;
    int fused, pool; /* conv2d_*_act_pool: act then maxpool(pool) after the conv */
    ActKind act;
    /* conv2d_backward_bn_act_pool: a batch norm between the conv (output
     * z) and the activation, as a group g with tensors bn (input z, its
     * statistics and sums dgamma, dbeta) */
    const FusedGroup *g;
    const FusedTensors *bn;
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
    float *image = cpu_conv_images(padded + p->padded, p);
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
                cpu_im2col(cpu_conv_source(j->x + (size_t)(g0 + k) * xs, s, p, padded), s, p,
                           col + k * P, ld);
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
    cpu_conv_plan(j->s, &j->p);
    if (j->p.direct || j->p.wino) {
        j->wpk = cpu_conv_wpk(j->ws, &j->p);
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
void conv2d_forward_act_pool_cpu(const FusedGroup *g, const FusedTensors *t)
{
    NN_CHECK(g->act != ACT_GELU, "conv2d_forward_act_pool: GELU is not fused");
    ConvJob j = {.x = t->x, .w = t->w, .b = t->b, .y = t->y, .idx = t->idx, .ws = t->ws,
                 .s = &g->s, .fused = 1, .pool = g->pool, .act = g->act};
    conv_forward_run(&j);
}

/* The conv into z with each plane's sums (cpu_bn_plane_sums) taken as it
 * is written, then the batch norm group from them: z is read once after
 * the conv instead of three times. Workspace: the planes' sums (B, OC, 2
 * doubles, from ws's start) then the conv's or the batch norm's. */
void conv2d_forward_bn_act_pool_cpu(const FusedGroup *g, const FusedTensors *t)
{
    const ConvShape *s = &g->s;
    size_t nstats = (size_t)s->B * s->OC * 4; /* floats */
    ConvJob j = {.x = t->x, .w = t->w, .b = t->b, .y = t->z,
                 .ws = t->ws + (nstats + 15) / 16 * 16, .s = s, .pstats = (double *)t->ws};
    conv_forward_run(&j);
    FusedTensors bn = *t; /* the batch norm's part: input z */
    bn.x = t->z;
    cpu_bn_act_pool_train_planes(g, &bn, j.pstats, j.ws);
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
    if (j->bn) {
        cpu_bn_act_pool_plane_dx(j->g, j->bn, plane, pooled, d);
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
    float *pooled = padded + p->padded, *images = cpu_conv_images(pooled, p);
    float *dwp = cpu_conv_parts(j->ws, &j->p) + (size_t)c * p->part;
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
                cpu_im2col(cpu_conv_source(xb, s, p, padded), s, p, col + k * P, ld);
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
            cpu_col2im(col + k * P, ld, s, p, padded, j->dx + (size_t)(g0 + k) * xs);
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
    const float *parts = cpu_conv_parts(j->ws, &j->p);
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
    float *parts = cpu_conv_parts(j->ws, &j->p);
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
    cpu_conv_wino_dw_out((const double *)cpu_conv_parts(j->ws, &j->p), j->s, 8 * o, 8 * o + 8,
                         j->dw);
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
    if (j->dx && cpu_conv_dx_by_conv(s)) {
        t = cpu_conv_dx_shape(s);
        j->dyc = ws;
        wflip = ws + (size_t)s->B * s->OC * s->OH * s->OW;
        j->ws = wflip + (size_t)s->C * s->OC * s->K * s->K;
    }
    cpu_conv_plan(s, &j->p);
    if (j->dx && !j->dyc && j->p.direct_back) {
        j->wpk = cpu_conv_wpk(j->ws, &j->p);
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
void conv2d_backward_act_pool_cpu(const FusedGroup *g, const FusedTensors *t)
{
    NN_CHECK(g->act != ACT_GELU, "conv2d_backward_act_pool: GELU is not fused");
    ConvJob j = {.x = t->x, .w = t->w, .dy = t->dy, .yc = t->y, .cidx = t->idx, .dx = t->dx,
                 .dw = t->dw, .db = t->db, .ws = t->ws, .s = &g->s, .fused = 1,
                 .pool = g->pool, .act = g->act};
    conv_backward_run(&j);
}

/* The batch norm's sums first (cpu_bn_act_pool_sums: dgamma, dbeta, from
 * zp, a quarter of z for 2 x 2 pooling, read in order), then the conv's
 * backward, whose output gradient is the batch norm's dx, computed plane by
 * plane where the conv needs it (conv_output_grad): the (B, OC, OH, OW)
 * gradient is never written out and read back. */
void conv2d_backward_bn_act_pool_cpu(const FusedGroup *g, const FusedTensors *t)
{
    NN_CHECK(g->act != ACT_GELU, "conv2d_backward_bn_act_pool: GELU is not fused");
    FusedTensors bn = *t; /* the batch norm's part: input z */
    bn.x = t->z;
    cpu_bn_act_pool_sums(g, &bn, t->zp, t->ws);
    ConvJob j = {.x = t->x, .w = t->w, .dy = t->dy, .yc = t->y, .cidx = t->idx, .dx = t->dx,
                 .dw = t->dw, .db = t->db, .ws = t->ws, .s = &g->s, .fused = 1,
                 .pool = g->pool, .act = g->act, .g = g, .bn = &bn};
    conv_backward_run(&j);
}
