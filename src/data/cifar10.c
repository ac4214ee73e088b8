/* cifar10.c - the CIFAR-10 binary reader: the dataset directory, loading and
 * validating the six batch files, the class names.
 *
 * Loading reads each file with one fread straight into the final image
 * array and de-interleaves it in place (see cifar10_read_file): no staging buffer,
 * one pass over the bytes after the read. */
#include "nnsweep/data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *const cifar10_class_names[CIFAR10_N_CLASSES] = {
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
};

#define CIFAR10_DEFAULT_DIR "data/cifar-10-batches-bin"
#define CIFAR10_FILE_BYTES  ((long long)CIFAR10_FILE_RECORDS * CIFAR10_RECORD_BYTES)
#define CIFAR10_HINT                                                                               \
    "run scripts/get-cifar10.sh, or name the dataset with --data DIR or CIFAR10_DIR"

/* The training files in order, then the test file. */
static const char *const cifar10_train_files[] = {
    "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
    "data_batch_4.bin", "data_batch_5.bin",
};
static const char *const cifar10_test_file = "test_batch.bin";

const char *cifar10_default_dir(const char *flag)
{
    if (flag && flag[0]) return flag;
    const char *env = getenv("CIFAR10_DIR");
    if (env && env[0]) return env;
    return CIFAR10_DEFAULT_DIR;
}

/* Reads the batch file dir/name (CIFAR10_FILE_RECORDS records) into
 * images (CIFAR10_FILE_RECORDS, 3, 32, 32) and labels (CIFAR10_FILE_RECORDS).
 *
 * images must have CIFAR10_FILE_RECORDS bytes of writable slack after its
 * CIFAR10_FILE_RECORDS * CIFAR10_IMAGE_BYTES bytes (the file is one label
 * byte per record longer than the images): the whole file is read there with
 * one fread and then compacted forward in place, record r's label going to
 * labels[r] and its pixels from offset r*3073+1 down to r*3072. A record's
 * source never lies below its destination, so moving records in increasing
 * order never overwrites bytes still to be read; the slack is scratch
 * afterwards.
 *
 * Returns NN_ERR_INPUT for a missing, unreadable, wrongly sized file or a
 * label outside 0..9, NN_ERR_IO when reading fails; err names the file. */
static NnStatus cifar10_read_file(const char *dir, const char *name, uint8_t *images,
                                  uint8_t *labels, NnError *err)
{
    char path[4096 + 64];
    int len = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (len < 0 || (size_t)len >= sizeof path)
        return nn_error_set(err, NN_ERR_INPUT, "dataset directory %s: path too long", dir);

    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return nn_error_set(err, NN_ERR_INPUT, "%s: cannot open: %s%s%s", path, strerror(e),
                            e == ENOENT ? " (" : "", e == ENOENT ? CIFAR10_HINT ")" : "");
    }
    NnStatus st = NN_OK;
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        st = nn_error_set(err, NN_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = nn_error_set(err, NN_ERR_INPUT, "%s: not a regular file", path);
        goto done;
    }
    if ((long long)sb.st_size != CIFAR10_FILE_BYTES) {
        st = nn_error_set(err, NN_ERR_INPUT,
                          "%s: %lld bytes, expected exactly %lld (%d records of %d bytes): %s",
                          path, (long long)sb.st_size, CIFAR10_FILE_BYTES, CIFAR10_FILE_RECORDS,
                          CIFAR10_RECORD_BYTES,
                          (long long)sb.st_size < CIFAR10_FILE_BYTES
                              ? "the file is truncated (an interrupted download or copy?)"
                              : "the file is too long; not a CIFAR-10 binary batch file");
        goto done;
    }
    /* One read straight into the destination; stdio's own buffer is not
     * needed (glibc reads large requests directly into the caller's memory). */
    setvbuf(f, NULL, _IONBF, 0);
    size_t got = fread(images, 1, (size_t)CIFAR10_FILE_BYTES, f);
    if (got != (size_t)CIFAR10_FILE_BYTES) {
        if (ferror(f))
            st = nn_error_set(err, NN_ERR_IO, "%s: read failed after %zu of %lld bytes: %s", path,
                              got, CIFAR10_FILE_BYTES, strerror(errno));
        else
            st = nn_error_set(err, NN_ERR_INPUT, "%s: ended after %zu of %lld bytes (shrank?)",
                              path, got, CIFAR10_FILE_BYTES);
        goto done;
    }
    for (size_t r = 0; r < CIFAR10_FILE_RECORDS; r++) {
        const uint8_t *rec = images + r * CIFAR10_RECORD_BYTES;
        if (rec[0] >= CIFAR10_N_CLASSES) {
            st = nn_error_set(err, NN_ERR_INPUT,
                              "%s: record %zu (byte offset %zu): label %d, expected 0..%d", path, r,
                              r * CIFAR10_RECORD_BYTES, rec[0], CIFAR10_N_CLASSES - 1);
            goto done;
        }
        labels[r] = rec[0];
        memmove(images + r * CIFAR10_IMAGE_BYTES, rec + 1, CIFAR10_IMAGE_BYTES);
    }
done:
    if (fclose(f) != 0 && st == NN_OK)
        st = nn_error_set(err, NN_ERR_IO, "%s: close failed: %s", path, strerror(errno));
    return st;
}

/* The test file is read where the five training files end. */
_Static_assert(CIFAR10_N_TRAIN == 5 * CIFAR10_FILE_RECORDS && CIFAR10_N_TEST == CIFAR10_FILE_RECORDS,
               "CIFAR-10: five training files and one test file of 10000 records");

NnStatus cifar10_load(const char *dir, Cifar10 *out, NnError *err)
{
    NN_CHECK(dir && out, "cifar10_load: dir and out must not be NULL");
    memset(out, 0, sizeof *out);
    Cifar10 d = {0};
    NnStatus st = NN_OK;
    const size_t n_files = sizeof cifar10_train_files / sizeof cifar10_train_files[0];
    const size_t file_image_bytes = (size_t)CIFAR10_FILE_RECORDS * CIFAR10_IMAGE_BYTES;

    if (strlen(dir) >= sizeof d.dir)
        return nn_error_set(err, NN_ERR_INPUT, "dataset directory path too long (%zu bytes)",
                            strlen(dir));
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        int e = errno;
        return nn_error_set(err, NN_ERR_INPUT, "dataset directory %s: %s (%s)", dir, strerror(e),
                            CIFAR10_HINT);
    }
    if (!S_ISDIR(sb.st_mode))
        return nn_error_set(err, NN_ERR_INPUT, "dataset directory %s: not a directory (%s)", dir,
                            CIFAR10_HINT);

    /* The slack of CIFAR10_FILE_RECORDS bytes after the array is what
     * cifar10_read_file needs for the last file; it is given back below. */
    const size_t n_all = (size_t)CIFAR10_N_TRAIN + CIFAR10_N_TEST;
    d.images = nn_malloc(n_all * CIFAR10_IMAGE_BYTES + CIFAR10_FILE_RECORDS);
    d.labels = nn_malloc(n_all);
    /* Files in increasing order, the test file last: file k's read overruns
     * into file k+1's region, which is only filled afterwards. */
    for (size_t k = 0; k <= n_files; k++) {
        const char *name = k < n_files ? cifar10_train_files[k] : cifar10_test_file;
        st = cifar10_read_file(dir, name, d.images + k * file_image_bytes,
                               d.labels + k * CIFAR10_FILE_RECORDS, err);
        if (st != NN_OK) goto fail;
    }
    /* Shrinking keeps the data in place (mremap for blocks this large) and
     * leaves an exactly-sized array, so that sanitizers catch overruns. */
    d.images = nn_realloc(d.images, n_all * CIFAR10_IMAGE_BYTES);
    d.n_train = CIFAR10_N_TRAIN;
    d.n_test = CIFAR10_N_TEST;
    snprintf(d.dir, sizeof d.dir, "%s", dir);
    *out = d;
    return NN_OK;
fail:
    cifar10_free(&d);
    return st;
}

void cifar10_free(Cifar10 *d)
{
    if (!d) return;
    free(d->images);
    free(d->labels);
    memset(d, 0, sizeof *d);
}
