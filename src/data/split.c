/* split.c - train/val/test ranges, per-channel statistics, epoch order. */
#include "nnsweep/data.h"

#include <math.h>
#include <string.h>

#include "nnsweep/rng.h"

#define DATA_PLANE (CIFAR10_IMAGE_BYTES / 3) /* 32 * 32 pixels per channel */

/* Train is the first n_train - val_split training images (cut to
 * n_train_limit), val the last val_split, test the first n_test (cut to
 * n_test_limit), which follow the training images in the array. The key
 * names in the messages are the run config's (config.h). */
NnStatus data_split(const Cifar10 *d, int val_split, int n_train_limit, int n_test_limit,
                    DataSplit *out, NnError *err)
{
    NN_CHECK(d && out, "data_split: d and out must not be NULL");
    memset(out, 0, sizeof *out);
    if (val_split < 0 || val_split >= d->n_train)
        return nn_error_set(err, NN_ERR_INPUT,
                            "val_split: %d is out of range: expected 0..%d (images held out of "
                            "the %d training images; at least one must be left for training)",
                            val_split, d->n_train - 1, d->n_train);
    int n_fit = d->n_train - val_split;
    if (n_train_limit < 0 || n_train_limit > n_fit)
        return nn_error_set(err, NN_ERR_INPUT,
                            "train_images: %d is out of range: expected 0 (all) .. %d (the "
                            "training images left after val_split %d)",
                            n_train_limit, n_fit, val_split);
    if (n_test_limit < 0 || n_test_limit > d->n_test)
        return nn_error_set(err, NN_ERR_INPUT,
                            "test_images: %d is out of range: expected 0 (all) .. %d", n_test_limit,
                            d->n_test);

    out->train = (DataRange){0, n_train_limit ? n_train_limit : n_fit};
    out->val = (DataRange){n_fit, val_split};
    out->test = (DataRange){d->n_train, n_test_limit ? n_test_limit : d->n_test};
    return NN_OK;
}

/* Exact integer sums of x and x^2 per channel (x in 0..255), then in
 * double: mean = S/N, var = SS/N - mean^2 (S <= 2^34 and SS <= 2^42 for
 * 50000 images are exact in double; the cancellation costs about one digit
 * of 16), both scaled by 1/255. Population statistics (divide by N), as
 * torchvision's usual normalization constants. */
void data_channel_stats(const uint8_t *images, int n_images, float mean[3], float std[3])
{
    NN_CHECK(n_images > 0 && images, "data_channel_stats: no images");
    uint64_t s[3] = {0, 0, 0}, ss[3] = {0, 0, 0};
    for (int i = 0; i < n_images; i++) {
        const uint8_t *img = images + (size_t)i * CIFAR10_IMAGE_BYTES; /* (3, 32, 32) */
        for (int c = 0; c < 3; c++) {
            const uint8_t *p = img + c * DATA_PLANE;
            /* per plane: sum <= 1024*255, sum of squares <= 1024*255^2 < 2^32 */
            uint32_t a = 0, b = 0;
            for (int k = 0; k < DATA_PLANE; k++) {
                uint32_t x = p[k];
                a += x;
                b += x * x;
            }
            s[c] += a;
            ss[c] += b;
        }
    }
    double n = (double)n_images * DATA_PLANE;
    for (int c = 0; c < 3; c++) {
        double m = (double)s[c] / n;
        double var = (double)ss[c] / n - m * m;
        if (var < 0) var = 0; /* rounding when every pixel is equal */
        mean[c] = (float)(m / 255.0);
        std[c] = (float)(sqrt(var) / 255.0);
    }
}

/* Fisher-Yates (Durstenfeld), filling positions from the end:
 *
 *   idx[i] = i for all i
 *   for i = n-1 down to 1:
 *       j = rng_below_at(seed, rng_stream(RNG_STREAM_SHUFFLE, epoch), i, i + 1)
 *       swap(idx[i], idx[j])
 *
 * so the draw with index i (the position being filled) picks j uniformly in
 * [0, i]; draw 0 is never used. Every permutation is equally likely (up to
 * rng_below_at's bias below 2^-32), and the order depends only on (seed,
 * epoch), never on the thread or device. */
void data_epoch_order(int32_t *idx, int n, uint64_t seed, int epoch)
{
    NN_CHECK(n >= 0 && (n == 0 || idx), "data_epoch_order: bad arguments (n = %d)", n);
    NN_CHECK(epoch >= 0, "data_epoch_order: negative epoch %d", epoch);
    uint64_t hi = rng_stream(RNG_STREAM_SHUFFLE, (uint64_t)epoch);
    for (int i = 0; i < n; i++) idx[i] = i;
    for (int i = n - 1; i > 0; i--) {
        uint32_t j = rng_below_at(seed, hi, (uint64_t)i, (uint32_t)i + 1);
        int32_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
