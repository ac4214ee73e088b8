/* data.h - CIFAR-10 in its official binary format, held in memory once.
 *
 * Files (https://www.cs.toronto.edu/~kriz/cifar.html, binary version):
 * data_batch_1.bin .. data_batch_5.bin and test_batch.bin, each exactly
 * 10000 records of 1 label byte (0..9) + 3072 pixel bytes (1024 red, 1024
 * green, 1024 blue, rows top to bottom): the images are stored as uint8
 * (N, 3, 32, 32), which is already NCHW.
 *
 * The dataset directory comes from --data, else $CIFAR10_DIR, else
 * ./data/cifar-10-batches-bin (where scripts/get-cifar10.sh puts it).
 */
#ifndef NNSWEEP_DATA_H
#define NNSWEEP_DATA_H

#include <stdint.h>

#include "nnsweep/core.h"

#define CIFAR10_IMAGE_BYTES 3072
#define CIFAR10_RECORD_BYTES 3073
#define CIFAR10_FILE_RECORDS 10000
#define CIFAR10_N_TRAIN 50000
#define CIFAR10_N_TEST 10000
#define CIFAR10_N_CLASSES 10

extern const char *const cifar10_class_names[CIFAR10_N_CLASSES];

/* The whole dataset in one array: the training images, then the test
 * images, so that an index range names the same images in this host copy
 * and in a backend's copy of it (a worker uploads it to its GPU once). */
typedef struct Cifar10 {
    uint8_t *images; /* (n_train + n_test, 3, 32, 32), owned */
    uint8_t *labels; /* (n_train + n_test) */
    int n_train, n_test; /* 50000, 10000 */
    char dir[4096];
} Cifar10;

/* The dataset directory: flag if not NULL/empty, else $CIFAR10_DIR, else
 * "data/cifar-10-batches-bin". Returns a pointer to static or flag storage. */
const char *cifar10_default_dir(const char *flag);

/* Reads and validates all six files of dir into *out (which the caller
 * releases with cifar10_free). On error (missing file, wrong size, label
 * out of range) returns NN_ERR_INPUT with a message that names the file and
 * what was expected, and leaves *out empty. */
NnStatus cifar10_load(const char *dir, Cifar10 *out, NnError *err);
void cifar10_free(Cifar10 *d); /* accepts NULL and empty */

/* Images [first, first + n) of a Cifar10's array (and of any copy of it). */
typedef struct DataRange {
    int first, n;
} DataRange;

/* Train/val/test ranges: the validation set is the last val_split images of
 * the training files (the same for every run and seed, so that runs are
 * compared on the same images); train is the rest. n_train_limit and
 * n_test_limit > 0 keep only the first images (tests, quick sweeps). */
typedef struct DataSplit {
    DataRange train, val, test;
} DataSplit;
NnStatus data_split(const Cifar10 *d, int val_split, int n_train_limit, int n_test_limit,
                    DataSplit *out, NnError *err);

/* Per-channel mean and standard deviation (population) of x/255 over n
 * images (n, 3, 32, 32), n >= 1: what `normalize: meanstd` uses, from the
 * training images. */
void data_channel_stats(const uint8_t *images, int n, float mean[3], float std[3]);

/* The order of an epoch: idx (n) = a permutation of [0, n) that depends
 * only on (seed, epoch) (Fisher-Yates with rng_below_at draws of
 * RNG_STREAM_SHUFFLE). */
void data_epoch_order(int32_t *idx, int n, uint64_t seed, int epoch);

#endif
