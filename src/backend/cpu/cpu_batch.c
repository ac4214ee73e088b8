/* cpu_batch.c - a batch's way in and out of the cpu backend: gather_batch
 * (the uint8 images to normalized floats) and softmax_xent (the loss); the
 * specifications are gather_batch_ref and softmax_xent_ref (ref.c).
 */
#include <string.h>

#include "backend/cpu/cpu.h"
#include "backend/shared_math.h"
#include "nnsweep/rng.h"

typedef struct GatherJob {
    const uint8_t *images, *labels;
    const int32_t *idx;
    const BatchSpec *spec;
    float lut[NN_IMG_CH][256];
    float *x;
    int32_t *y;
} GatherJob;

/* Image i of the batch: a shifted, optionally mirrored copy of each raw
 * row through the channel's table. */
static void gather_item(void *ctx, int i, int slot)
{
    (void)slot;
    enum { S = NN_IMG_SIDE };
    const GatherJob *j = ctx;
    const BatchSpec *spec = j->spec;
    const uint8_t *img = j->images + (size_t)j->idx[i] * NN_IMG_PIXELS; /* (3, 32, 32) */
    float *out = j->x + (size_t)i * NN_IMG_PIXELS;                      /* (3, 32, 32) */
    uint32_t draw = spec->augment == AUG_NONE ? 0 : rng_u32_at(spec->seed, spec->hi, (uint64_t)i);
    int flip = spec->augment != AUG_NONE && (draw & 1u);
    int dr = 0, dc = 0; /* shift of the window against the raw image, -4..4 */
    if (spec->augment == AUG_CROP_FLIP) {
        dr = (int)((draw >> 1) % NN_CROP_SPAN) - NN_CROP_PAD;
        dc = (int)((draw >> 5) % NN_CROP_SPAN) - NN_CROP_PAD;
    }
    /* cropped columns [lo, hi) come from raw columns [lo + dc, hi + dc) */
    int lo = dc < 0 ? -dc : 0, hi = dc > 0 ? S - dc : S;
    for (int c = 0; c < NN_IMG_CH; c++) {
        const float *t = j->lut[c];
        float pad = t[0];
        for (int h = 0; h < S; h++) {
            float *dst = out + (c * S + h) * S;
            int rh = h + dr;
            if (rh < 0 || rh >= S) {
                for (int w = 0; w < S; w++) dst[w] = pad;
                continue;
            }
            const uint8_t *src = img + (c * S + rh) * S + dc;
            if (!flip && lo == 0 && hi == S) {
                for (int w = 0; w < S; w++) dst[w] = t[src[w]];
                continue;
            }
            float row[S];
            for (int w = 0; w < lo; w++) row[w] = pad;
            for (int w = lo; w < hi; w++) row[w] = t[src[w]];
            for (int w = hi; w < S; w++) row[w] = pad;
            if (flip)
                for (int w = 0; w < S; w++) dst[w] = row[S - 1 - w];
            else
                memcpy(dst, row, sizeof row);
        }
    }
    j->y[i] = j->labels[j->idx[i]];
}

/* As gather_batch_ref: a per-channel table maps the 256 byte values to
 * normalized floats (the same float expression, so bit-identical); images
 * in parallel. */
void gather_batch_cpu(const uint8_t *images, const uint8_t *labels, const int32_t *idx, int B,
                      const BatchSpec *spec, float *x /* (B, 3, 32, 32) */, int32_t *y /* (B) */)
{
    GatherJob j = {.images = images, .labels = labels, .idx = idx, .spec = spec, .x = x, .y = y};
    for (int c = 0; c < NN_IMG_CH; c++)
        for (int v = 0; v < 256; v++)
            j.lut[c][v] = ((float)v / 255.0f - spec->mean[c]) / spec->std[c];
    cpu_parallel(gather_item, &j, B, 0);
}

/* As softmax_xent_ref, per sample by xent_sample (shared_math.h), losses summed
 * in double in sample order. Serial: B * K is small (320 values at B = 32,
 * a few microseconds). */
void softmax_xent_cpu(const float *logits, const int32_t *labels, int B, int K,
                      float label_smoothing, float *dlogits, double *acc)
{
    double loss_sum = 0.0, n_correct = 0.0;
    for (int b = 0; b < B; b++) {
        int label = labels[b], correct;
        NN_CHECK(label >= 0 && label < K, "softmax_xent: label %d of sample %d not in [0, %d)", label,
                 b, K);
        loss_sum += xent_sample(logits + (size_t)b * K, label, K, label_smoothing, B,
                                dlogits ? dlogits + (size_t)b * K : NULL, &correct);
        n_correct += correct;
    }
    acc[0] += loss_sum;
    acc[1] += n_correct;
}

