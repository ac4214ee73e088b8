/* cpu_gemm.c - OpenBLAS products for the cpu backend's threads: a product
 * cut into pieces by its shape alone (never by the thread count), the
 * pieces shared out over the pool of cpu_pool.c, each an OpenBLAS call at
 * one thread. The cut fixes every result's bits for any number of threads
 * (cpu_gemm_pieces says why).
 */
#include <cblas.h>

#include "backend/cpu/cpu.h"

/* Flops of a piece of a product at least (~25 us of one core). */
#define CPU_GEMM_PIECE_FLOPS 2e6
/* Pieces of an OpenBLAS product at most, and their width (columns or rows
 * of C) at least. The cut is the same at one thread, where each piece is a
 * call of its own: it repacks the operand the pieces share (the MLP's first
 * layer forward at B = 32: its 32 x 3072 input), a cost in proportion to
 * 1 / width, and has a call's fixed costs. One thread, OpenBLAS 0.3.21 on
 * Zen 3, against the whole product: the MLP's products in 64-column pieces
 * 0-10% slower, in 32-column ones 5-45%, its evaluation (batch 500) 10-15%
 * slower in 64-column pieces; its first layer's dw + SGD product (256 x
 * 3072, 32 terms) in 4 pieces 0-8% slower, in 8 5-20%, in 16 15-30%
 * (noisy shared machine). */
#define CPU_GEMM_MAX_PIECES 4
#define CPU_GEMM_MIN_WIDTH 128

/* Pieces of a product of `flops` along a side of len: at most max_n, at
 * least CPU_GEMM_PIECE_FLOPS and min_len rows or columns each. */
int cpu_split_pieces(double flops, int len, int max_n, int min_len)
{
    int n = max_n;
    if (flops / n < CPU_GEMM_PIECE_FLOPS) n = (int)(flops / CPU_GEMM_PIECE_FLOPS);
    if (n > len / min_len) n = len / min_len;
    return n < 1 ? 1 : n;
}

/* Pieces of an OpenBLAS product: from its shape alone, never from the
 * thread count. OpenBLAS's bits for an element of C depend on where the
 * element falls in the call: Debian's 0.3.21 Haswell and Zen sgemm kernels
 * (the ones it picks on this Zen 3 machine, and on AVX2 CPUs where the
 * environment sets OPENBLAS_CORETYPE so) sum some micro-tiles in one FMA
 * chain over k and others in two (even and odd k, added at the end), by
 * the tile's place in the call (C of 32 x 128: the first and last 8
 * columns of rows 0-5 and 12-17, and rows 24-31, in two chains).
 * So a block of columns computed by a call of its own differs at its edges
 * from the same columns of a larger call. With the pieces fixed by the
 * shape, every thread count makes the same calls and only which thread
 * makes each one varies: the same bits for 1 or 64 threads, on any machine
 * whose OpenBLAS picks the same kernels. */
int cpu_gemm_pieces(double flops, int len)
{
    int n = cpu_split_pieces(flops, len, CPU_GEMM_MAX_PIECES, CPU_GEMM_MIN_WIDTH);
    /* a power of two, so that 2 or 4 threads get even runs (3 pieces of the
     * MLP's evaluation forward on 2 threads made it 1.15x slower) */
    while (n & (n - 1)) n &= n - 1;
    return n;
}

/* [*lo, *hi) of piece i of n over len, cut at multiples of 16 (whole cache
 * lines of a row). */
void cpu_piece_range(int len, int n, int i, int *lo, int *hi)
{
    int units = (len + 15) / 16;
    *lo = (int)((long)units * i / n) * 16;
    *hi = (int)((long)units * (i + 1) / n) * 16;
    if (*hi > len) *hi = len;
    if (*lo > len) *lo = len;
}

typedef struct PieceRun {
    CpuPieceFn fn;
    const void *ctx;
    int pieces, runs;
} PieceRun;

/* Run `item`: its share of the pieces, in order. */
static void piece_run_item(void *ctx, int item, int slot)
{
    (void)slot;
    const PieceRun *r = ctx;
    int end = (int)((long)r->pieces * (item + 1) / r->runs);
    for (int i = (int)((long)r->pieces * item / r->runs); i < end; i++) r->fn(r->ctx, i);
}

/* fn(ctx, i) for every piece i < pieces, the pieces shared out as one
 * contiguous run per thread: neighbouring column blocks run on two threads
 * at a time made the first layer's dw + SGD product slower (2 threads, 8
 * pieces of 384 columns: 0.91-0.98 ms interleaved, 0.59-0.73 in two runs of
 * four, 0.64-0.66 as two pieces). Which thread runs a piece never changes
 * its result. */
void cpu_run_pieces(CpuPieceFn fn, const void *ctx, int pieces)
{
    int runs = cpu_threads();
    if (runs > pieces) runs = pieces;
    PieceRun r = {fn, ctx, pieces, runs};
    cpu_parallel(piece_run_item, &r, runs, 0);
}

typedef struct GemmJob {
    int ta, tb, M, N, K, lda, ldb, ldc, split_n, pieces;
    float alpha, beta;
    const float *A, *B;
    float *C;
} GemmJob;

static void gemm_piece(const void *ctx, int piece)
{
    const GemmJob *j = ctx;
    enum CBLAS_TRANSPOSE ta = j->ta ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = j->tb ? CblasTrans : CblasNoTrans;
    int lo, hi;
    cpu_piece_range(j->split_n ? j->N : j->M, j->pieces, piece, &lo, &hi);
    if (hi <= lo) return;
    if (j->split_n) /* C[:, lo:hi] = op(A) op(B)[:, lo:hi] */
        cblas_sgemm(CblasRowMajor, ta, tb, j->M, hi - lo, j->K, j->alpha, j->A, j->lda,
                    j->tb ? j->B + (size_t)lo * j->ldb : j->B + lo, j->ldb, j->beta, j->C + lo,
                    j->ldc);
    else /* C[lo:hi, :] = op(A)[lo:hi, :] op(B) */
        cblas_sgemm(CblasRowMajor, ta, tb, hi - lo, j->N, j->K, j->alpha,
                    j->ta ? j->A + lo : j->A + (size_t)lo * j->lda, j->lda, j->B, j->ldb, j->beta,
                    j->C + (size_t)lo * j->ldc, j->ldc);
}

void cpu_sgemm(int split, int trans_a, int trans_b, int M, int N, int K, float alpha,
               const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    cpu_blas_single_thread();
    /* blocks of the longer side of C */
    int split_n = N >= M;
    int pieces = split ? cpu_gemm_pieces(2.0 * M * N * K, split_n ? N : M) : 1;
    GemmJob j = {trans_a, trans_b, M, N, K, lda, ldb, ldc, split_n, pieces, alpha, beta, A, B, C};
    cpu_run_pieces(gemm_piece, &j, j.pieces);
}
