/* cpu_linear.c - the dense layer of the cpu backend (torch.nn.Linear), with
 * its fused forward + activation and backward + SGD; the specification is
 * ref.c (linear_*_ref, ref_fused.c). Products by OpenBLAS in pieces
 * (cpu_gemm.c), or below 65 rows the forward's by cpu_dense.c.
 *
 * Profile of the MLP 3072-256-256-256-10 training step at B = 32 on one
 * core (bench/README.md has the full tables): the first layer's two GEMMs
 * are ~60% of the step and the SGD update over its 786k weights was ~15%
 * more (it reads the gradient that the GEMM has just written, and the GEMM
 * first zeroes it: OpenBLAS's beta = 0 pass). linear_backward_sgd does the
 * update inside the GEMM instead (C = W, alpha = -lr, beta = 1 - lr wd), so
 * the gradient is never written, zeroed or read back. Below 65 rows the
 * forward product is cpu_dense.c's (OpenBLAS ran the first layer's at half
 * the FMA peak).
 */
#include <string.h>

#include <cblas.h>

#include "backend/cpu/cpu.h"

/* Pieces of a dense layer's work: blocks of y (forward: columns, over OC,
 * or with more rows than columns, rows, over B) or column blocks of x, dx
 * and w (backward, over C). */
typedef struct LinearJob {
    const float *x, *w, *b, *dy;
    float *y, *dx, *dw, *db, *wu, *bu;
    int B, C, OC, pieces, has_act;
    int dense, rows; /* forward: cpu_dense_forward; pieces of rows */
    ActKind act;
    float lr, wd;
} LinearJob;

/* y[r0:r1, lo:hi] = act(x[r0:r1] . w[lo:hi]^T + b[lo:hi]) for one piece
 * (all rows, or all columns): for small batches cpu_dense_forward, else
 * bias rows copied in and one sgemm with beta = 1 adding the product; the
 * activation on the block while it is in cache. */
static void linear_forward_piece(const void *ctx, int piece)
{
    const LinearJob *j = ctx;
    int r0 = 0, r1 = j->B, lo = 0, hi = j->OC;
    if (j->rows)
        cpu_piece_range(j->B, j->pieces, piece, &r0, &r1);
    else
        cpu_piece_range(j->OC, j->pieces, piece, &lo, &hi);
    if (hi <= lo || r1 <= r0) return;
    int n = hi - lo;
    float *y = j->y + (size_t)r0 * j->OC + lo;
    if (j->dense) {
        cpu_dense_forward(j->x, j->w, j->b, j->y, j->B, j->C, j->OC, lo, hi);
    } else {
        float beta = 0.0f;
        if (j->b) {
            for (int r = 0; r < r1 - r0; r++)
                memcpy(y + (size_t)r * j->OC, j->b + lo, sizeof(float) * (size_t)n);
            beta = 1.0f;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, n, j->C, 1.0f,
                    j->x + (size_t)r0 * j->C, j->C, j->w + (size_t)lo * j->C, j->C, beta, y,
                    j->OC);
    }
    if (j->has_act)
        for (int r = 0; r < r1 - r0; r++) {
            float *row = y + (size_t)r * j->OC;
            cpu_act_forward_range(j->act, row, row, (size_t)n);
        }
}

/* Pieces: OpenBLAS's by the shape (cpu_gemm_pieces), of the longer side of
 * y (each piece repacks the other side's operand: an evaluation batch's
 * 500 x 3072 input is twice the first layer's weights). cpu_dense_forward's
 * y values are the same for any split of the columns, so its pieces follow
 * the thread count: one per thread (at one thread one piece, where a cut
 * by the shape would pack x once per piece). */
static void linear_forward_run(const float *x, const float *w, const float *b, float *y, int B,
                               int C, int OC, int has_act, ActKind act)
{
    cpu_blas_single_thread();
    double flops = 2.0 * B * C * OC;
    int dense = B <= CPU_DENSE_MAX_B && cpu_avx2_fma_available(), rows = !dense && B > OC;
    LinearJob j = {.x = x, .w = w, .b = b, .y = y, .B = B, .C = C, .OC = OC,
                   .pieces = dense ? cpu_split_pieces(flops, OC, cpu_threads(), 16)
                                   : cpu_gemm_pieces(flops, rows ? B : OC),
                   .has_act = has_act, .dense = dense, .rows = rows, .act = act};
    cpu_run_pieces(linear_forward_piece, &j, j.pieces);
}

/* y (B, OC) = x (B, C) . w (OC, C)^T + b */
void linear_forward_cpu(const float *x, const float *w, const float *b, float *y, int B, int C,
                        int OC)
{
    linear_forward_run(x, w, b, y, B, C, OC, 0, ACT_RELU);
}

/* y = act(x . w^T + b) */
void linear_forward_act_cpu(const float *x, const float *w, const float *b, float *y, int B, int C,
                            int OC, ActKind act)
{
    linear_forward_run(x, w, b, y, B, C, OC, 1, act);
}

/* db (OC) = column sums of dy (B, OC), in row order */
static void bias_grad(const float *dy, float *db, int B, int OC)
{
    memset(db, 0, sizeof(float) * (size_t)OC);
    for (int r = 0; r < B; r++) {
        const float *row = dy + (size_t)r * OC;
        for (int o = 0; o < OC; o++) db[o] += row[o];
    }
}

/* Columns [lo, hi) of C: dx[:, lo:hi] = dy . w[:, lo:hi] (w before any
 * update), then either dw[:, lo:hi] = dy^T . x[:, lo:hi] or, fused with
 * SGD, w[:, lo:hi] = (1 - lr wd) w[:, lo:hi] - lr dy^T . x[:, lo:hi].
 * Piece 0 also does the bias. */
static void linear_backward_piece(const void *ctx, int piece)
{
    const LinearJob *j = ctx;
    int lo, hi;
    cpu_piece_range(j->C, j->pieces, piece, &lo, &hi);
    if (hi > lo) {
        int n = hi - lo;
        const float *w = j->wu ? j->wu : j->w;
        if (j->dx)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, j->B, n, j->OC, 1.0f, j->dy,
                        j->OC, w + lo, j->C, 0.0f, j->dx + lo, j->C);
        if (j->wu)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, j->OC, n, j->B, -j->lr, j->dy,
                        j->OC, j->x + lo, j->C, 1.0f - j->lr * j->wd, j->wu + lo, j->C);
        else
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, j->OC, n, j->B, 1.0f, j->dy,
                        j->OC, j->x + lo, j->C, 0.0f, j->dw + lo, j->C);
    }
    if (piece != 0) return;
    if (j->db) bias_grad(j->dy, j->db, j->B, j->OC);
    if (j->bu) {
        /* b -= lr (sum_r dy[r] + wd b), the sum in row order as bias_grad */
        for (int o = 0; o < j->OC; o++) {
            float g = 0.0f;
            for (int r = 0; r < j->B; r++) g += j->dy[(size_t)r * j->OC + o];
            j->bu[o] = j->bu[o] - j->lr * (g + j->wd * j->bu[o]);
        }
    }
}

/* dw (OC, C) = dy^T (OC, B) . x (B, C); dx (B, C) = dy (B, OC) . w (OC, C);
 * db (OC) = column sums of dy. */
void linear_backward_cpu(const float *dy, const float *x, const float *w, float *dx, float *dw,
                         float *db, int B, int C, int OC)
{
    cpu_blas_single_thread();
    double flops = 2.0 * B * C * OC * (dx ? 2 : 1);
    LinearJob j = {.x = x, .w = w, .dy = dy, .dx = dx, .dw = dw, .db = db, .B = B, .C = C,
                   .OC = OC, .pieces = cpu_gemm_pieces(flops, C)};
    cpu_run_pieces(linear_backward_piece, &j, j.pieces);
}

/* linear_backward followed by plain SGD on w and b: no gradient written. */
void linear_backward_sgd_cpu(const float *dy, const float *x, float *w, float *b, float *dx, int B,
                             int C, int OC, float lr, float wd)
{
    cpu_blas_single_thread();
    double flops = 2.0 * B * C * OC * (dx ? 2 : 1);
    LinearJob j = {.x = x, .dy = dy, .dx = dx, .wu = w, .bu = b, .B = B, .C = C, .OC = OC,
                   .pieces = cpu_gemm_pieces(flops, C), .lr = lr, .wd = wd};
    cpu_run_pieces(linear_backward_piece, &j, j.pieces);
}
