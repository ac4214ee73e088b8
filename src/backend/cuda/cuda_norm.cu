/* cuda_norm.cu - per-channel reductions of the cuda backend: batch norm
 * (train, eval, backward) and the bias gradients of the dense and
 * convolution layers. Specification: ref.c (batchnorm_*_ref).
 *
 * Own kernels rather than cuDNN's batch norm: the backend's semantics have
 * cases cuDNN does not share (one sample in a batch keeps the biased
 * variance; the saved statistics are ref's mean and 1/sqrt(var + eps)), the
 * sums must be deterministic, and at CIFAR sizes these kernels are memory
 * bound either way.
 *
 * x is (B, C, HW). A reduction runs in two deterministic stages:
 *  1. partial sums: grid (channel tiles, S slices of the batch); every
 *     block sums its share in double in a fixed order and writes one
 *     double2 per (channel, slice) to the backend's scratch;
 *  2. finish: one thread per channel adds its S partials in slice order and
 *     writes the per-channel results.
 * When one slice covers the batch (S = 1: small batches, where launches
 * cost more than the sums) stage 1 writes the results itself: one launch.
 * HW >= 32 (conv feature maps): one channel per block, threads along the
 * contiguous planes. HW < 32 (dense features, HW = 1: (B, C) row-major):
 * 32 channels per block on the x threads (coalesced rows), 8 rows on y.
 * A third, elementwise kernel applies the statistics where needed.
 *
 * Batch statistics sum x - K and (x - K)^2 with K = x[0][c][0], one value of
 * the channel, so that the variance E[(x-K)^2] - E[x-K]^2 in double does not
 * cancel even for channels with a large mean.
 */
#include "backend/cuda/cuda_common.cuh"

#define NN_RED_SPATIAL_MIN_HW 32 /* below: the row layout */
#define NN_RED_ROWS 8            /* y threads of the row layout */
#define NN_RED_TILE 32           /* channels per block of the row layout */
#define NN_RED_MAX_SLICES 64

/* ---- element operations: what one reduction sums (two doubles) ---------------- */

/* batch statistics: x - K, (x - K)^2 */
struct StatsOp {
    const float *x;
    int C, HW;
    __device__ double channel(int c) const { return (double)x[(size_t)c * HW]; }
    __device__ void add(double k, size_t at, double &a0, double &a1) const
    {
        double d = (double)x[at] - k;
        a0 += d;
        a1 += d * d;
    }
};

/* batch norm backward: dy, dy * xhat */
struct BackOp {
    const float *dy, *x, *mean, *invstd;
    __device__ float2 channel(int c) const { return make_float2(mean[c], invstd[c]); }
    __device__ void add(float2 ms, size_t at, double &a0, double &a1) const
    {
        float g = dy[at];
        a0 += g;
        a1 += (double)(g * ((x[at] - ms.x) * ms.y));
    }
};

/* sum of x (bias gradients) */
struct SumOp {
    const float *x;
    __device__ int channel(int) const { return 0; }
    __device__ void add(int, size_t at, double &a0, double &) const { a0 += x[at]; }
};

/* ---- stage 1: partial sums -------------------------------------------------------- */

/* Rows [b0, b1) of slice s of S over B. */
static __device__ __forceinline__ void slice_rows(int B, int S, int s, int *b0, int *b1)
{
    *b0 = (int)((long long)B * s / S);
    *b1 = (int)((long long)B * (s + 1) / S);
}

/* Block-wide sum of two doubles in a fixed tree order; the result is valid
 * in thread 0. blockDim.x is a power of two <= 256. */
static __device__ void block_sum2(double &a0, double &a1)
{
    __shared__ double s0[256], s1[256];
    int t = threadIdx.x;
    s0[t] = a0;
    s1[t] = a1;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
        if (t < half) {
            s0[t] += s0[t + half];
            s1[t] += s1[t + half];
        }
        __syncthreads();
    }
    a0 = s0[0];
    a1 = s1[0];
}

/* HW >= 32: block (c, s) sums channel c over the rows of slice s. */
template <class Op, class Fin>
static __global__ void partial_spatial_kernel(Op op, Fin fin, int B, int C, int HW, int S,
                                              double2 *part)
{
    int c = blockIdx.x, s = blockIdx.y, b0, b1;
    slice_rows(B, S, s, &b0, &b1);
    auto k = op.channel(c);
    double a0 = 0.0, a1 = 0.0;
    unsigned n = (unsigned)(b1 - b0) * (unsigned)HW;
    for (unsigned e = threadIdx.x; e < n; e += blockDim.x) {
        unsigned b = e / (unsigned)HW, i = e - b * (unsigned)HW;
        op.add(k, ((size_t)(b0 + (int)b) * C + c) * HW + i, a0, a1);
    }
    block_sum2(a0, a1);
    if (threadIdx.x != 0) return;
    if (S == 1)
        fin(c, a0, a1);
    else
        part[(size_t)c * S + s] = make_double2(a0, a1);
}

/* HW < 32: x threads on 32 channels, y threads on the rows of slice s. */
template <class Op, class Fin>
static __global__ void partial_rows_kernel(Op op, Fin fin, int B, int C, int HW, int S,
                                           double2 *part)
{
    __shared__ double s0[NN_RED_ROWS][NN_RED_TILE + 1], s1[NN_RED_ROWS][NN_RED_TILE + 1];
    int tx = threadIdx.x, ty = threadIdx.y;
    int c = blockIdx.x * NN_RED_TILE + tx, s = blockIdx.y, b0, b1;
    slice_rows(B, S, s, &b0, &b1);
    double a0 = 0.0, a1 = 0.0;
    if (c < C) {
        auto k = op.channel(c);
        for (int b = b0 + ty; b < b1; b += NN_RED_ROWS)
            for (int i = 0; i < HW; i++) op.add(k, ((size_t)b * C + c) * HW + i, a0, a1);
    }
    s0[ty][tx] = a0;
    s1[ty][tx] = a1;
    __syncthreads();
    if (ty == 0 && c < C) {
        for (int r = 1; r < NN_RED_ROWS; r++) {
            a0 += s0[r][tx];
            a1 += s1[r][tx];
        }
        if (S == 1)
            fin(c, a0, a1);
        else
            part[(size_t)c * S + s] = make_double2(a0, a1);
    }
}

/* Stage 2: fin(c, sums) with the S partials of channel c added in slice order. */
template <class Fin>
static __global__ void finish_kernel(Fin fin, const double2 *part, int C, int S)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double a0 = 0.0, a1 = 0.0;
    for (int s = 0; s < S; s++) {
        double2 p = part[(size_t)c * S + s];
        a0 += p.x;
        a1 += p.y;
    }
    fin(c, a0, a1);
}

/* Sums op's two values per channel of (B, C, HW) and calls fin(c, a0, a1)
 * once per channel on the GPU; the partials go to the scratch, of which it
 * uses the first C * S double2 (S <= its capacity / C - 1). */
template <class Op, class Fin> static void reduce_channels(Op op, Fin fin, int B, int C, int HW)
{
    double2 *part = (double2 *)nn_cuda_scratch();
    int sm = nn_cuda_sm_count();
    /* slices that fit the scratch, keeping one double2 per channel free for
     * batchnorm_backward's per-channel means */
    size_t cap = NN_CUDA_SCRATCH_BYTES / sizeof(double2) / (size_t)C;
    NN_CHECK(cap >= 2, "batch norm / bias gradient: %d channels exceed the scratch buffer", C);
    cap -= 1;
    cudaStream_t st = nn_cuda_stream();
    int S;
    if (HW >= NN_RED_SPATIAL_MIN_HW) {
        /* about eight blocks per SM in all (enough loads in flight to use
         * the memory bandwidth), each at least 2048 elements */
        long long want = (8LL * sm + C - 1) / C;
        long long by_size = (long long)B * HW / 2048;
        S = (int)(want < by_size ? want : by_size);
        if (S > B) S = B;
        if (S > NN_RED_MAX_SLICES) S = NN_RED_MAX_SLICES;
        if ((size_t)S > cap) S = (int)cap;
        if (S < 1) S = 1;
        partial_spatial_kernel<Op, Fin>
            <<<dim3(C, S), NN_CUDA_THREADS, 0, st>>>(op, fin, B, C, HW, S, part);
    } else {
        int tiles = (C + NN_RED_TILE - 1) / NN_RED_TILE;
        long long want = (8LL * sm + tiles - 1) / tiles;
        long long by_rows = (B + 4 * NN_RED_ROWS - 1) / (4 * NN_RED_ROWS); /* >= 4 rows a thread */
        S = (int)(want < by_rows ? want : by_rows);
        if (S > NN_RED_MAX_SLICES) S = NN_RED_MAX_SLICES;
        if ((size_t)S > cap) S = (int)cap;
        if (S < 1) S = 1;
        partial_rows_kernel<Op, Fin>
            <<<dim3(tiles, S), dim3(NN_RED_TILE, NN_RED_ROWS), 0, st>>>(op, fin, B, C, HW, S, part);
    }
    NN_CUDA_LAUNCHED();
    if (S > 1) {
        finish_kernel<Fin><<<(C + NN_CUDA_THREADS - 1) / NN_CUDA_THREADS, NN_CUDA_THREADS, 0, st>>>(
            fin, part, C, S);
        NN_CUDA_LAUNCHED();
    }
}

/* ---- bias gradients ------------------------------------------------------------------ */

/* out[c] = the sum */
struct SumFin {
    float *out;
    __device__ void operator()(int c, double a0, double) const { out[c] = (float)a0; }
};

extern "C" void nn_cuda_channel_sum(const float *x, float *out, int B, int C, int HW)
{
    if (B <= 0 || C <= 0 || HW <= 0) return;
    SumOp op = {x};
    SumFin fin = {out};
    reduce_channels(op, fin, B, C, HW);
}

/* The elementwise kernels below find an element's channel as (i / HW) % C;
 * I is their index type: unsigned where n < 2^31 (32-bit division is several
 * times cheaper than 64-bit on the GPU), size_t beyond. */
template <class I>
static __global__ void add_channel_bias_kernel(float *y, const float *bias, I n, I C, I HW)
{
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (I)gridDim.x * blockDim.x)
        y[i] += bias[(i / HW) % C];
}

extern "C" void nn_cuda_add_channel_bias(float *y, const float *bias, int B, int C, int HW)
{
    size_t n = (size_t)B * C * HW;
    if (!n) return;
    unsigned g = nn_cuda_blocks(n, NN_CUDA_THREADS);
    if (n <= NN_CUDA_IDX32_MAX)
        add_channel_bias_kernel<unsigned><<<g, NN_CUDA_THREADS, 0, nn_cuda_stream()>>>(
            y, bias, (unsigned)n, (unsigned)C, (unsigned)HW);
    else
        add_channel_bias_kernel<size_t>
            <<<g, NN_CUDA_THREADS, 0, nn_cuda_stream()>>>(y, bias, n, (size_t)C, (size_t)HW);
    NN_CUDA_LAUNCHED();
}

/* ---- batch norm ------------------------------------------------------------------------ */

/* From the shifted sums: mean, biased var, invstd in double; running
 * statistics updated as ref. */
struct StatsFin {
    const float *x;
    int HW;
    double N;
    float momentum, eps;
    float *save_mean, *save_invstd, *running_mean, *running_var;
    __device__ void operator()(int c, double a0, double a1) const
    {
        double k = (double)x[(size_t)c * HW];
        double m1 = a0 / N;
        double var = a1 / N - m1 * m1;
        if (var < 0.0) var = 0.0;
        double mean = k + m1;
        double invstd = 1.0 / sqrt(var + (double)eps);
        save_mean[c] = (float)mean;
        save_invstd[c] = (float)invstd;
        double unbiased = N > 1 ? var * N / (N - 1) : var;
        running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mean);
        running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unbiased);
    }
};

/* y = (x - mean) * (invstd * gamma) + beta, with the per-channel mean and
 * invstd (train: batch statistics; eval: from the running ones). */
template <class I>
static __global__ void bn_apply_kernel(const float *x, const float *gamma, const float *beta,
                                       const float *mean, const float *invstd, const float *rvar,
                                       float eps, float *y, I n, I C, I HW)
{
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (I)gridDim.x * blockDim.x) {
        I c = (i / HW) % C;
        float is = rvar ? 1.0f / sqrtf(rvar[c] + eps) : invstd[c];
        y[i] = (x[i] - mean[c]) * (is * gamma[c]) + beta[c];
    }
}

static void bn_apply(const float *x, const float *gamma, const float *beta, const float *mean,
                     const float *invstd, const float *rvar, float eps, float *y, size_t n, int C,
                     int HW)
{
    unsigned g = nn_cuda_blocks(n, NN_CUDA_THREADS);
    if (n <= NN_CUDA_IDX32_MAX)
        bn_apply_kernel<unsigned><<<g, NN_CUDA_THREADS, 0, nn_cuda_stream()>>>(
            x, gamma, beta, mean, invstd, rvar, eps, y, (unsigned)n, (unsigned)C, (unsigned)HW);
    else
        bn_apply_kernel<size_t><<<g, NN_CUDA_THREADS, 0, nn_cuda_stream()>>>(
            x, gamma, beta, mean, invstd, rvar, eps, y, n, (size_t)C, (size_t)HW);
    NN_CUDA_LAUNCHED();
}

extern "C" void batchnorm_forward_train_cuda(const float *x, const float *gamma, const float *beta,
                                             float *y, float *save_mean, float *save_invstd,
                                             float *running_mean, float *running_var, int B, int C,
                                             int HW, float momentum, float eps)
{
    size_t n = (size_t)B * C * HW;
    if (!n) return;
    StatsOp op = {x, C, HW};
    StatsFin fin = {x,         HW,          (double)B * HW, momentum,   eps,
                    save_mean, save_invstd, running_mean,   running_var};
    reduce_channels(op, fin, B, C, HW);
    bn_apply(x, gamma, beta, save_mean, save_invstd, NULL, eps, y, n, C, HW);
}

extern "C" void batchnorm_forward_eval_cuda(const float *x, const float *gamma, const float *beta,
                                            const float *running_mean, const float *running_var,
                                            float *y, int B, int C, int HW, float eps)
{
    size_t n = (size_t)B * C * HW;
    if (!n) return;
    bn_apply(x, gamma, beta, running_mean, NULL, running_var, eps, y, n, C, HW);
}

/* dgamma = sum dy xhat, dbeta = sum dy; their means (for dx) into `means`. */
struct BackFin {
    double N;
    float *dgamma, *dbeta;
    float2 *means;
    __device__ void operator()(int c, double a0, double a1) const
    {
        dbeta[c] = (float)a0;
        dgamma[c] = (float)a1;
        means[c] = make_float2((float)(a0 / N), (float)(a1 / N));
    }
};

/* dx = gamma invstd (dy - mean(dy) - xhat mean(dy xhat)) */
template <class I>
static __global__ void bn_back_apply_kernel(const float *dy, const float *x, const float *gamma,
                                            const float *mean, const float *invstd,
                                            const float2 *means, float *dx, I n, I C, I HW)
{
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (I)gridDim.x * blockDim.x) {
        I c = (i / HW) % C;
        float is = invstd[c], xhat = (x[i] - mean[c]) * is;
        float2 m = means[c];
        dx[i] = gamma[c] * is * (dy[i] - m.x - xhat * m.y);
    }
}

extern "C" void batchnorm_backward_cuda(const float *dy, const float *x, const float *gamma,
                                        const float *save_mean, const float *save_invstd, float *dx,
                                        float *dgamma, float *dbeta, int B, int C, int HW)
{
    size_t n = (size_t)B * C * HW;
    if (!n) return;
    /* the per-channel means go to the last C double2 of the scratch, which
     * reduce_channels leaves free (at most C * (cap - 1) partials) */
    double2 *scratch = (double2 *)nn_cuda_scratch();
    size_t n_scratch = NN_CUDA_SCRATCH_BYTES / sizeof(double2);
    NN_CHECK((size_t)C <= n_scratch / 2, "batchnorm_backward: %d channels exceed the scratch", C);
    float2 *means = (float2 *)(scratch + (n_scratch / (size_t)C - 1) * (size_t)C);
    BackOp op = {dy, x, save_mean, save_invstd};
    BackFin fin = {(double)B * HW, dgamma, dbeta, means};
    reduce_channels(op, fin, B, C, HW);
    unsigned g = nn_cuda_blocks(n, NN_CUDA_THREADS);
    if (n <= NN_CUDA_IDX32_MAX)
        bn_back_apply_kernel<unsigned><<<g, NN_CUDA_THREADS, 0, nn_cuda_stream()>>>(
            dy, x, gamma, save_mean, save_invstd, means, dx, (unsigned)n, (unsigned)C,
            (unsigned)HW);
    else
        bn_back_apply_kernel<size_t><<<g, NN_CUDA_THREADS, 0, nn_cuda_stream()>>>(
            dy, x, gamma, save_mean, save_invstd, means, dx, n, (size_t)C, (size_t)HW);
    NN_CUDA_LAUNCHED();
}
