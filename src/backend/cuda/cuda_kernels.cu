/* cuda_kernels.cu - the cuda backend's own elementwise kernels: batch gather
 * (augmentation and normalization of the uint8 dataset on the GPU),
 * activations, dropout, the elementwise product, max pooling and the
 * float <-> bfloat16 casts of mixed precision. Specification: ref.c.
 *
 * Exactness: gather_batch and dropout draw with rng.h's Philox functions
 * (host and device code alike) and compute each value with the same float
 * expression as ref.c, so augmented images and dropout masks are
 * bit-identical to ref and cpu. Pooling compares exactly as ref (first max
 * in scan order, NaN wins). Activations use CUDA's float math functions
 * (tanhf, expf, erff: a few ulp), as cpu_elem.c does with libm.
 */
#include <cuda_bf16.h>

#include "backend/cuda/cuda_common.cuh"

/* ---- batches -------------------------------------------------------------------- */

/* One block per image i of the batch: x[i] = normalize(crop_flip(images[idx[i]])),
 * y[i] = labels[idx[i]]. Every thread computes the image's draw (one Philox
 * block, cheaper than sharing it through shared memory). */
static __global__ void gather_batch_kernel(const uint8_t *images, const uint8_t *labels,
                                           const int32_t *idx, BatchSpec spec,
                                           float *x /* (B, 3, 32, 32) */, int32_t *y /* (B) */)
{
    const int S = NN_IMG_SIDE;
    int i = blockIdx.x;
    int src_i = idx[i];
    const uint8_t *img = images + (size_t)src_i * NN_IMG_PIXELS; /* (3, 32, 32) */
    uint32_t draw = 0;
    if (spec.augment != AUG_NONE) draw = rng_u32_at(spec.seed, spec.hi, (uint64_t)i);
    int flip = spec.augment != AUG_NONE && (draw & 1u);
    int row0 = NN_CROP_PAD, col0 = NN_CROP_PAD; /* window corner in the padded image */
    if (spec.augment == AUG_CROP_FLIP) {
        row0 = (int)((draw >> 1) % NN_CROP_SPAN);
        col0 = (int)((draw >> 5) % NN_CROP_SPAN);
    }
    float *out = x + (size_t)i * NN_IMG_PIXELS;
    for (int e = threadIdx.x; e < NN_IMG_PIXELS; e += blockDim.x) {
        int c = e / (S * S), h = (e / S) % S, w = e % S;
        int wc = flip ? S - 1 - w : w;    /* column of the cropped image */
        int rh = row0 + h - NN_CROP_PAD;  /* row in the raw image */
        int rw = col0 + wc - NN_CROP_PAD; /* column in the raw image */
        int inside = rh >= 0 && rh < S && rw >= 0 && rw < S;
        uint8_t v = inside ? img[(c * S + rh) * S + rw] : 0;
        out[e] = ((float)v / 255.0f - spec.mean[c]) / spec.std[c];
    }
    if (threadIdx.x == 0) y[i] = labels[src_i];
}

extern "C" void gather_batch_cuda(const uint8_t *images, const uint8_t *labels, const int32_t *idx,
                                  int B, const BatchSpec *spec, float *x, int32_t *y)
{
    if (B <= 0) return;
    gather_batch_kernel<<<B, NN_CUDA_THREADS, 0, nn_cuda_stream()>>>(images, labels, idx, *spec, x,
                                                                     y);
    NN_CUDA_LAUNCHED();
}

/* ---- activations ------------------------------------------------------------------ */

#define NN_SQRT1_2F 0.70710678118654752440f
#define NN_INV_SQRT_2PIF 0.39894228040143267794f

/* y = f(x), f as act_value_ref */
template <int K> static __device__ __forceinline__ float act_value(float x)
{
    if (K == ACT_RELU) return x < 0.0f ? 0.0f : x;
    if (K == ACT_TANH) return tanhf(x);
    if (K == ACT_SIGMOID) return 1.0f / (1.0f + expf(-x));
    if (K == ACT_GELU) return 0.5f * x * (1.0f + erff(x * NN_SQRT1_2F));
    return x > 0.0f ? x : x * NN_LEAKY_SLOPE; /* ACT_LEAKY_RELU */
}

/* dy * f'(x), f' as act_grad_ref (relu, tanh, sigmoid from the output y) */
template <int K> static __device__ __forceinline__ float act_grad(float x, float y, float g)
{
    if (K == ACT_RELU) return y <= 0.0f ? 0.0f : g;
    if (K == ACT_TANH) return g * (1.0f - y * y);
    if (K == ACT_SIGMOID) return g * (1.0f - y) * y;
    if (K == ACT_GELU) {
        float cdf = 0.5f * (1.0f + erff(x * NN_SQRT1_2F));
        float pdf = NN_INV_SQRT_2PIF * expf(-0.5f * x * x);
        return g * (cdf + x * pdf);
    }
    return x > 0.0f ? g : g * NN_LEAKY_SLOPE; /* ACT_LEAKY_RELU */
}

template <int K> static __global__ void act_forward_kernel(const float *x, float *y, size_t n)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] = act_value<K>(x[i]);
}

template <int K>
static __global__ void act_backward_kernel(const float *x, const float *y, const float *dy,
                                           float *dx, size_t n)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dx[i] = act_grad<K>(x[i], y[i], dy[i]);
}

extern "C" void act_forward_cuda(ActKind k, const float *x, float *y, size_t n)
{
    if (!n) return;
    unsigned g = nn_cuda_blocks(n, NN_CUDA_THREADS);
    cudaStream_t st = nn_cuda_stream();
    switch (k) {
    case ACT_RELU: act_forward_kernel<ACT_RELU><<<g, NN_CUDA_THREADS, 0, st>>>(x, y, n); break;
    case ACT_TANH: act_forward_kernel<ACT_TANH><<<g, NN_CUDA_THREADS, 0, st>>>(x, y, n); break;
    case ACT_SIGMOID:
        act_forward_kernel<ACT_SIGMOID><<<g, NN_CUDA_THREADS, 0, st>>>(x, y, n);
        break;
    case ACT_GELU: act_forward_kernel<ACT_GELU><<<g, NN_CUDA_THREADS, 0, st>>>(x, y, n); break;
    case ACT_LEAKY_RELU:
        act_forward_kernel<ACT_LEAKY_RELU><<<g, NN_CUDA_THREADS, 0, st>>>(x, y, n);
        break;
    default: nn_fatal("activation kind %d out of range", (int)k);
    }
    NN_CUDA_LAUNCHED();
}

extern "C" void act_backward_cuda(ActKind k, const float *x, const float *y, const float *dy,
                                  float *dx, size_t n)
{
    if (!n) return;
    unsigned g = nn_cuda_blocks(n, NN_CUDA_THREADS);
    cudaStream_t st = nn_cuda_stream();
    switch (k) {
    case ACT_RELU:
        act_backward_kernel<ACT_RELU><<<g, NN_CUDA_THREADS, 0, st>>>(x, y, dy, dx, n);
        break;
    case ACT_TANH:
        act_backward_kernel<ACT_TANH><<<g, NN_CUDA_THREADS, 0, st>>>(x, y, dy, dx, n);
        break;
    case ACT_SIGMOID:
        act_backward_kernel<ACT_SIGMOID><<<g, NN_CUDA_THREADS, 0, st>>>(x, y, dy, dx, n);
        break;
    case ACT_GELU:
        act_backward_kernel<ACT_GELU><<<g, NN_CUDA_THREADS, 0, st>>>(x, y, dy, dx, n);
        break;
    case ACT_LEAKY_RELU:
        act_backward_kernel<ACT_LEAKY_RELU><<<g, NN_CUDA_THREADS, 0, st>>>(x, y, dy, dx, n);
        break;
    default: nn_fatal("activation kind %d out of range", (int)k);
    }
    NN_CUDA_LAUNCHED();
}

/* ---- dropout and elementwise product ------------------------------------------------ */

/* group == 1: one thread per Philox block, i.e. per 4 consecutive elements
 * (element i uses word i % 4 of block i / 4, as rng_uniform_at). */
static __global__ void dropout_single_kernel(const float *x, float *y, float *mask, size_t n,
                                             float p, float scale, uint64_t seed, uint64_t hi)
{
    size_t n_blocks = (n + 3) / 4;
    for (size_t blk = (size_t)blockIdx.x * blockDim.x + threadIdx.x; blk < n_blocks;
         blk += (size_t)gridDim.x * blockDim.x) {
        uint32_t words[4];
        rng_philox(seed, hi, blk, words);
        for (int j = 0; j < 4; j++) {
            size_t i = blk * 4 + (size_t)j;
            if (i >= n) break;
            float m = rng_u01(words[j]) >= p ? scale : 0.0f;
            mask[i] = m;
            y[i] = x[i] * m;
        }
    }
}

/* group > 1 (Dropout2d: a channel plane shares one draw): one thread per
 * element, each drawing its group's uniform. I: index type (see
 * NN_CUDA_IDX32_MAX; 32-bit division where it fits). */
template <class I>
static __global__ void dropout_group_kernel(const float *x, float *y, float *mask, I n, I group,
                                            float p, float scale, uint64_t seed, uint64_t hi)
{
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (I)gridDim.x * blockDim.x) {
        float m = rng_uniform_at(seed, hi, (uint64_t)(i / group)) >= p ? scale : 0.0f;
        mask[i] = m;
        y[i] = x[i] * m;
    }
}

extern "C" void dropout_forward_cuda(const float *x, float *y, float *mask, size_t n, int group,
                                     float p, uint64_t seed, uint64_t hi)
{
    NN_CHECK(group >= 1, "dropout: group %d < 1", group);
    if (!n) return;
    float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f; /* as ref: the same float */
    cudaStream_t st = nn_cuda_stream();
    unsigned g = nn_cuda_blocks(n, NN_CUDA_THREADS);
    if (group == 1)
        dropout_single_kernel<<<nn_cuda_blocks((n + 3) / 4, NN_CUDA_THREADS), NN_CUDA_THREADS, 0,
                                st>>>(x, y, mask, n, p, scale, seed, hi);
    else if (n <= NN_CUDA_IDX32_MAX)
        dropout_group_kernel<unsigned><<<g, NN_CUDA_THREADS, 0, st>>>(
            x, y, mask, (unsigned)n, (unsigned)group, p, scale, seed, hi);
    else
        dropout_group_kernel<size_t>
            <<<g, NN_CUDA_THREADS, 0, st>>>(x, y, mask, n, (size_t)group, p, scale, seed, hi);
    NN_CUDA_LAUNCHED();
}

static __global__ void mul_kernel(const float *a, const float *b, float *y, size_t n)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] = a[i] * b[i];
}

extern "C" void mul_cuda(const float *a, const float *b, float *y, size_t n)
{
    if (!n) return;
    mul_kernel<<<nn_cuda_blocks(n, NN_CUDA_THREADS), NN_CUDA_THREADS, 0, nn_cuda_stream()>>>(a, b,
                                                                                             y, n);
    NN_CUDA_LAUNCHED();
}

/* ---- max pooling ---------------------------------------------------------------------- */

/* One thread per output: the max of its PxP window, idx = h*W+w of the first
 * max in scan order, a NaN replacing the running max (as ref). I: index type
 * (NN_CUDA_IDX32_MAX). */
template <class I>
static __global__ void maxpool_forward_kernel(const float *x, float *y, int32_t *idx, PoolShape s,
                                              I n_out)
{
    I plane_out = (I)s.OH * (I)s.OW, plane_in = (I)s.H * (I)s.W;
    for (I o = (I)blockIdx.x * blockDim.x + threadIdx.x; o < n_out;
         o += (I)gridDim.x * blockDim.x) {
        I n = o / plane_out;
        int k = (int)(o - n * plane_out), i = k / s.OW, j = k % s.OW;
        const float *plane = x + n * plane_in;
        int at0 = (i * s.P) * s.W + j * s.P, best_at = at0;
        float best = -INFINITY;
        for (int p = 0; p < s.P; p++)
            for (int q = 0; q < s.P; q++) {
                int at = at0 + p * s.W + q;
                float v = plane[at];
                if (v > best || isnan(v)) {
                    best = v;
                    best_at = at;
                }
            }
        y[o] = best;
        if (idx) idx[o] = best_at;
    }
}

/* One thread per input element: windows do not overlap (stride = kernel), so
 * dx is dy of the element's window where idx picked it, zero elsewhere (and
 * in the floor-mode remainder). Writes all of dx; no atomics. */
template <class I>
static __global__ void maxpool_backward_kernel(const float *dy, const int32_t *idx, float *dx,
                                               PoolShape s, I n_in)
{
    I plane_out = (I)s.OH * (I)s.OW, plane_in = (I)s.H * (I)s.W;
    for (I e = (I)blockIdx.x * blockDim.x + threadIdx.x; e < n_in; e += (I)gridDim.x * blockDim.x) {
        I n = e / plane_in;
        int pos = (int)(e - n * plane_in), h = pos / s.W, w = pos % s.W;
        int i = h / s.P, j = w / s.P;
        float g = 0.0f;
        if (i < s.OH && j < s.OW) {
            I o = n * plane_out + (I)i * (I)s.OW + (I)j;
            if (idx[o] == pos) g = dy[o];
        }
        dx[e] = g;
    }
}

extern "C" void maxpool2d_forward_cuda(const float *x, float *y, int32_t *idx, const PoolShape *s)
{
    size_t n = (size_t)s->B * s->C * s->OH * s->OW;
    if (!n) return;
    unsigned g = nn_cuda_blocks(n, NN_CUDA_THREADS);
    if (n <= NN_CUDA_IDX32_MAX)
        maxpool_forward_kernel<unsigned>
            <<<g, NN_CUDA_THREADS, 0, nn_cuda_stream()>>>(x, y, idx, *s, (unsigned)n);
    else
        maxpool_forward_kernel<size_t>
            <<<g, NN_CUDA_THREADS, 0, nn_cuda_stream()>>>(x, y, idx, *s, n);
    NN_CUDA_LAUNCHED();
}

extern "C" void maxpool2d_backward_cuda(const float *dy, const int32_t *idx, float *dx,
                                        const PoolShape *s)
{
    size_t n = (size_t)s->B * s->C * s->H * s->W;
    if (!n) return;
    unsigned g = nn_cuda_blocks(n, NN_CUDA_THREADS);
    if (n <= NN_CUDA_IDX32_MAX)
        maxpool_backward_kernel<unsigned>
            <<<g, NN_CUDA_THREADS, 0, nn_cuda_stream()>>>(dy, idx, dx, *s, (unsigned)n);
    else
        maxpool_backward_kernel<size_t>
            <<<g, NN_CUDA_THREADS, 0, nn_cuda_stream()>>>(dy, idx, dx, *s, n);
    NN_CUDA_LAUNCHED();
}

/* ---- float <-> bfloat16 (mixed precision convolutions) ------------------------------- */

static __global__ void f32_to_bf16_kernel(const float *src, __nv_bfloat16 *dst, size_t n)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = __float2bfloat16_rn(src[i]);
}

template <class I>
static __global__ void bf16_to_f32_kernel(const __nv_bfloat16 *src, float *dst, const float *bias,
                                          I n, I C, I HW)
{
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (I)gridDim.x * blockDim.x) {
        float v = __bfloat162float(src[i]);
        if (bias) v += bias[(i / HW) % C];
        dst[i] = v;
    }
}

extern "C" void nn_cuda_f32_to_bf16(const float *src, void *dst, size_t n)
{
    if (!n) return;
    f32_to_bf16_kernel<<<nn_cuda_blocks(n, NN_CUDA_THREADS), NN_CUDA_THREADS, 0,
                         nn_cuda_stream()>>>(src, (__nv_bfloat16 *)dst, n);
    NN_CUDA_LAUNCHED();
}

extern "C" void nn_cuda_bf16_to_f32(const void *src, float *dst, const float *bias, int B, int C,
                                    int HW)
{
    size_t n = (size_t)B * C * HW;
    if (!n) return;
    unsigned g = nn_cuda_blocks(n, NN_CUDA_THREADS);
    const __nv_bfloat16 *s16 = (const __nv_bfloat16 *)src;
    if (n <= NN_CUDA_IDX32_MAX)
        bf16_to_f32_kernel<unsigned><<<g, NN_CUDA_THREADS, 0, nn_cuda_stream()>>>(
            s16, dst, bias, (unsigned)n, (unsigned)C, (unsigned)HW);
    else
        bf16_to_f32_kernel<size_t>
            <<<g, NN_CUDA_THREADS, 0, nn_cuda_stream()>>>(s16, dst, bias, n, (size_t)C, (size_t)HW);
    NN_CUDA_LAUNCHED();
}
