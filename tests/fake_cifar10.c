/* fake_cifar10.c - writes a synthetic CIFAR-10 in the exact official binary
 * format (data.h), for tests that must train where the real data is absent.
 *
 *   fake_cifar10 [--seed N] DIR
 *
 * writes DIR/data_batch_1.bin .. data_batch_5.bin, test_batch.bin (10000
 * records of 3073 bytes each, 30,730,000 bytes) and batches.meta.txt,
 * creating DIR (one level) when needed. Each file is written to a temporary
 * name and renamed, so a reader never sees half a file.
 *
 * The data is a pure function of the seed (default 1; rng.h streams of
 * RNG_STREAM_TEST):
 *  - labels: every file holds exactly 1000 images of each class (5000 per
 *    class in train, 1000 in test, as in the real set), in a shuffled order;
 *  - pixels of an image of class c, channel ch, row y, column x:
 *      128 + colour[c][ch] + grating_c(y, x) + brightness + noise, clamped
 *    where colour is a per-class mean colour (+-24 levels), grating_c a
 *    per-class diagonal triangle-wave stripe pattern (+-24 levels, same on
 *    all channels), brightness a per-image shift (+-32) and noise a
 *    triangular per-pixel noise (+-64). The class is a linear function of
 *    the pixels up to the noise: the nearest class mean (of the training
 *    images) labels about 83% of the test images right (test_data checks
 *    60..99%), so a linear model or an MLP learns a lot in one epoch
 *    without reaching 100% at once.
 *
 * Exit status: 0 ok, 1 I/O error, 2 usage error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nnsweep/core.h"
#include "nnsweep/data.h"
#include "nnsweep/rng.h"

#define FAKE_PLANE 1024 /* 32 * 32 */
#define FAKE_TAG   0xFA4Eull

/* Mean colour offset of each class (R, G, B), in levels. */
static const int fake_colour[CIFAR10_N_CLASSES][3] = {
    {-24, -8, 24}, {24, -24, -8}, {8, 24, -24}, {-8, 8, 8},      {24, 24, -8},
    {-24, 24, 8},  {8, -24, 24},  {24, 8, 24},  {-24, -24, -24}, {0, 0, -24},
};
/* Stripe direction (steps per column, per row) and phase of each class. */
static const int fake_stripe[CIFAR10_N_CLASSES][3] = {
    {1, 0, 0}, {0, 1, 0}, {1, 1, 0}, {1, -1, 0},  {2, 0, 8},
    {0, 2, 8}, {2, 1, 4}, {1, 2, 4}, {2, -1, 12}, {1, -2, 12},
};

/* As the official batches.meta.txt (the data library is not linked). */
static const char fake_meta[] =
    "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n";

static const char *const fake_files[6] = {
    "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
    "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin",
};

/* Triangle wave of period 32: -24 .. +24 levels. */
static int fake_grating(int cls, int y, int x)
{
    const int *s = fake_stripe[cls];
    int t = ((s[0] * x + s[1] * y) * 2 + s[2]) & 31;
    return (t < 16 ? t : 32 - t) * 3 - 24;
}

/* Fills one file's records (CIFAR10_FILE_RECORDS * CIFAR10_RECORD_BYTES). */
static void fake_fill(uint8_t *buf, int file, uint64_t seed)
{
    uint8_t labels[CIFAR10_FILE_RECORDS];
    uint64_t hi_label = rng_stream(RNG_STREAM_TEST, FAKE_TAG << 32 | (uint64_t)file << 8 | 0);
    uint64_t hi_bright = rng_stream(RNG_STREAM_TEST, FAKE_TAG << 32 | (uint64_t)file << 8 | 1);
    uint64_t hi_noise = rng_stream(RNG_STREAM_TEST, FAKE_TAG << 32 | (uint64_t)file << 8 | 2);
    for (int i = 0; i < CIFAR10_FILE_RECORDS; i++) labels[i] = (uint8_t)(i % CIFAR10_N_CLASSES);
    for (int i = CIFAR10_FILE_RECORDS - 1; i > 0; i--) {
        uint32_t j = rng_below_at(seed, hi_label, (uint64_t)i, (uint32_t)i + 1);
        uint8_t t = labels[i];
        labels[i] = labels[j];
        labels[j] = t;
    }
    for (int r = 0; r < CIFAR10_FILE_RECORDS; r++) {
        uint8_t *rec = buf + (size_t)r * CIFAR10_RECORD_BYTES;
        int cls = labels[r];
        int bright = (int)rng_below_at(seed, hi_bright, (uint64_t)r, 65) - 32;
        rec[0] = (uint8_t)cls;
        /* 3072 pixels x 2 noise bytes = 384 Philox blocks of 16 bytes. */
        for (int blk = 0; blk < CIFAR10_IMAGE_BYTES / 8; blk++) {
            uint32_t w[4];
            rng_philox(seed, hi_noise, (uint64_t)r * (CIFAR10_IMAGE_BYTES / 8) + (uint64_t)blk, w);
            for (int k = 0; k < 8; k++) {
                int p = blk * 8 + k; /* pixel index in (3, 32, 32) */
                int ch = p / FAKE_PLANE, y = (p % FAKE_PLANE) / 32, x = p % 32;
                uint32_t word = w[k / 2] >> (16 * (k & 1));
                int noise = ((int)(word & 0xFF) + (int)(word >> 8 & 0xFF) - 255) / 2; /* +-127 */
                int v = 128 + fake_colour[cls][ch] + fake_grating(cls, y, x) + bright + noise / 2;
                rec[1 + p] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    }
}

/* Writes n bytes to dir/name through dir/name.tmp and a rename. */
static int fake_write(const char *dir, const char *name, const void *data, size_t n)
{
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        fprintf(stderr, "fake_cifar10: %s: cannot create: %s\n", tmp, strerror(errno));
        return 1;
    }
    size_t put = fwrite(data, 1, n, f);
    int bad = put != n;
    if (fclose(f) != 0) bad = 1;
    if (bad) {
        fprintf(stderr, "fake_cifar10: %s: write failed: %s\n", tmp, strerror(errno));
        remove(tmp);
        return 1;
    }
    if (rename(tmp, path) != 0) {
        fprintf(stderr, "fake_cifar10: %s: rename failed: %s\n", path, strerror(errno));
        remove(tmp);
        return 1;
    }
    return 0;
}

static int usage(FILE *to)
{
    fprintf(to,
            "usage: fake_cifar10 [--seed N] DIR\n"
            "writes a synthetic CIFAR-10 (official binary format, 6 x 10000 records) into DIR\n");
    return to == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return usage(stdout);
        if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            char *end;
            errno = 0;
            seed = strtoull(argv[++i], &end, 10);
            if (errno || *end || end == argv[i]) {
                fprintf(stderr,
                        "fake_cifar10: --seed: expected a non-negative integer, found \"%s\"\n",
                        argv[i]);
                return 2;
            }
        } else if (argv[i][0] == '-' || dir) {
            return usage(stderr);
        } else {
            dir = argv[i];
        }
    }
    if (!dir) return usage(stderr);
    if (strlen(dir) > 4000) {
        fprintf(stderr, "fake_cifar10: %s: path too long\n", dir);
        return 2;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "fake_cifar10: %s: cannot create directory: %s\n", dir, strerror(errno));
        return 1;
    }
    size_t bytes = (size_t)CIFAR10_FILE_RECORDS * CIFAR10_RECORD_BYTES;
    uint8_t *buf = nn_malloc(bytes);
    int rc = 0;
    for (int f = 0; f < 6 && !rc; f++) {
        fake_fill(buf, f, seed);
        rc = fake_write(dir, fake_files[f], buf, bytes);
    }
    free(buf);
    if (!rc) rc = fake_write(dir, "batches.meta.txt", fake_meta, strlen(fake_meta));
    if (!rc) printf("fake_cifar10: wrote %s (seed %llu)\n", dir, (unsigned long long)seed);
    return rc;
}
