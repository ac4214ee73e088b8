/* cuda_blas.cu - the dense layer (torch.nn.Linear) of the cuda backend on
 * cuBLAS. Specification: linear_forward_ref / linear_backward_ref.
 *
 * Layouts: nnsweep's matrices are row-major as PyTorch's; cuBLAS is
 * column-major. A row-major (r, c) matrix is, unchanged in memory, the
 * column-major (c, r) matrix of its transpose, so every product below is
 * written for the transposes:
 *   y (B, OC) = x w^T        <=>  y^T (OC, B)  = w (OC, C) x^T   : gemm(T, N)
 *   dw (OC, C) = dy^T x      <=>  dw^T (C, OC) = x^T dy          : gemm(N, T)
 *   dx (B, C) = dy w         <=>  dx^T (C, B)  = w^T dy^T        : gemm(N, N)
 * where, in cuBLAS's column-major terms, w is (C, OC) with ld C, x is (C, B)
 * with ld C, dy and y are (OC, B) with ld OC.
 *
 * Precision (set_precision_cuda): every GEMM is cublasGemmEx on float
 * storage with compute type
 *   fp32  CUBLAS_COMPUTE_32F (math mode CUBLAS_DEFAULT_MATH: no TF32),
 *   tf32  CUBLAS_COMPUTE_32F_FAST_TF32 (inputs rounded to TF32 on tensor cores),
 *   bf16  CUBLAS_COMPUTE_32F_FAST_16BF (inputs down-converted to bfloat16
 *         inside cuBLAS, products accumulated in fp32, fp32 out): mixed
 *         precision with the fp32 weights as master copy and no cast buffers.
 * The bias is broadcast into y first and added by the GEMM (beta = 1) in
 * fp32; db is a deterministic column sum (nn_cuda_channel_sum).
 *
 * Alignment: cuBLAS needs its operands aligned to their element (4 bytes
 * here, which every float pointer is); 16-byte aligned ones, which the
 * model's 256-byte activation views give, let it use its vector loads.
 * Out of GPU memory inside cuBLAS (CUBLAS_STATUS_ALLOC_FAILED) fails the
 * run (nn_cuda_run_failed); any other status aborts (a bug or a dead GPU).
 */
#include "backend/cuda/cuda_common.cuh"

static cublasComputeType_t gemm_compute_type(void)
{
    switch (nn_cuda_precision()) {
    case NN_CUDA_TF32: return CUBLAS_COMPUTE_32F_FAST_TF32;
    case NN_CUDA_BF16: return CUBLAS_COMPUTE_32F_FAST_16BF;
    default: return CUBLAS_COMPUTE_32F;
    }
}

/* Column-major c (m, n; ldc) = op(a) (m, k) op(b) (k, n) + beta c, float
 * storage. With beta = 0, c is not read (cuBLAS: it need not be valid). */
static void gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const float *a,
                 int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    const float alpha = 1.0f;
    cublasStatus_t st = cublasGemmEx(nn_cuda_blas(), ta, tb, m, n, k, &alpha, a, CUDA_R_32F, lda, b,
                                     CUDA_R_32F, ldb, &beta, c, CUDA_R_32F, ldc,
                                     gemm_compute_type(), CUBLAS_GEMM_DEFAULT);
    if (st == CUBLAS_STATUS_ALLOC_FAILED) {
        nn_cuda_run_failed("linear: out of GPU memory inside cuBLAS (CUBLAS_STATUS_ALLOC_FAILED "
                           "in a %d x %d x %d product); hint: %s",
                           m, n, k, nn_cuda_blas_hint(st));
        return;
    }
    CUBLAS_CHECK(st);
}

/* y[r][o] = bias[o] for every row r of y (B, OC). */
static __global__ void broadcast_rows_kernel(const float *bias, float *y, size_t n, int OC)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] = bias[i % (size_t)OC];
}

extern "C" void linear_forward_cuda(const float *x, const float *w, const float *b, float *y, int B,
                                    int C, int OC)
{
    if (B <= 0 || OC <= 0) return;
    float beta = 0.0f;
    if (b) {
        size_t n = (size_t)B * OC;
        broadcast_rows_kernel<<<nn_cuda_blocks(n, NN_CUDA_THREADS), NN_CUDA_THREADS, 0,
                                nn_cuda_stream()>>>(b, y, n, OC);
        NN_CUDA_LAUNCHED();
        beta = 1.0f;
    }
    /* y^T (OC, B) = w (OC, C) . x^T (C, B) */
    gemm(CUBLAS_OP_T, CUBLAS_OP_N, OC, B, C, w, C, x, C, beta, y, OC);
}

extern "C" void linear_backward_cuda(const float *dy, const float *x, const float *w, float *dx,
                                     float *dw, float *db, int B, int C, int OC)
{
    if (B <= 0 || OC <= 0 || C <= 0) return;
    /* dw^T (C, OC) = x^T (C, B) . dy (B, OC) */
    gemm(CUBLAS_OP_N, CUBLAS_OP_T, C, OC, B, x, C, dy, OC, 0.0f, dw, C);
    /* dx^T (C, B) = w^T (C, OC) . dy^T (OC, B) */
    if (dx) gemm(CUBLAS_OP_N, CUBLAS_OP_N, C, B, OC, w, C, dy, OC, 0.0f, dx, C);
    /* db (OC) = column sums of dy (B, OC) */
    if (db) nn_cuda_channel_sum(dy, db, B, OC, 1);
}
