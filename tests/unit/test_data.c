/* test_data.c - the CIFAR-10 reader, split, channel statistics and epoch
 * order (data.h).
 *
 *   test_data FAKE_DIR
 *
 * Runs on the real dataset when CIFAR10_DIR is set and holds test_batch.bin
 * (then it also checks the known labels and statistics of CIFAR-10; a
 * broken file there fails the test), otherwise on FAKE_DIR, written
 * by tests/fake_cifar10 (the CTest fixture cifar10_fake). Error cases work on
 * a temporary directory of symbolic links to the good files plus one broken
 * copy. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "nnsweep/data.h"
#include "nnsweep/rng.h"

#define FILE_BYTES ((long)CIFAR10_FILE_RECORDS * CIFAR10_RECORD_BYTES)

static const char *const files[6] = {
    "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
    "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin",
};

static char src_dir[PATH_MAX]; /* absolute path of the dataset under test */

/* ---- helpers --------------------------------------------------------------- */

static int is_empty(const Cifar10 *d)
{
    return !d->images && !d->labels && d->n_train == 0 && d->n_test == 0 && d->dir[0] == '\0';
}

/* Reads record r of file name in dir: label and 3072 pixels. Returns 0 ok. */
static int read_record(const char *dir, const char *name, long r, uint8_t rec[CIFAR10_RECORD_BYTES])
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    int ok = fseek(f, r * CIFAR10_RECORD_BYTES, SEEK_SET) == 0 &&
             fread(rec, 1, CIFAR10_RECORD_BYTES, f) == CIFAR10_RECORD_BYTES;
    fclose(f);
    return ok ? 0 : -1;
}

/* A temporary directory holding links to the six files of src_dir. */
static void case_dir_make(char *dir, size_t size)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, size, "%s/nnsweep-test-data-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    NN_CHECK(mkdtemp(dir), "mkdtemp %s: %s", dir, strerror(errno));
    for (int k = 0; k < 6; k++) {
        char from[PATH_MAX + 64], to[PATH_MAX + 64];
        snprintf(from, sizeof from, "%s/%s", src_dir, files[k]);
        snprintf(to, sizeof to, "%s/%s", dir, files[k]);
        NN_CHECK(symlink(from, to) == 0, "symlink %s: %s", to, strerror(errno));
    }
}

static void case_dir_remove(const char *dir)
{
    for (int k = 0; k < 6; k++) {
        char p[PATH_MAX + 64];
        snprintf(p, sizeof p, "%s/%s", dir, files[k]);
        if (unlink(p) != 0) rmdir(p); /* a directory put in place of a file */
    }
    NN_CHECK(rmdir(dir) == 0, "rmdir %s: %s", dir, strerror(errno));
}

/* Replaces the link dir/name by a real copy of its first keep bytes plus
 * extra zero bytes, with byte patch_at (if >= 0) set to patch. */
static void case_dir_copy(const char *dir, const char *name, long keep, long extra, long patch_at,
                          uint8_t patch)
{
    char from[PATH_MAX + 64], to[PATH_MAX + 64];
    snprintf(from, sizeof from, "%s/%s", src_dir, name);
    snprintf(to, sizeof to, "%s/%s", dir, name);
    uint8_t *buf = nn_calloc((size_t)(keep + extra), 1);
    FILE *f = fopen(from, "rb");
    NN_CHECK(f && fread(buf, 1, (size_t)keep, f) == (size_t)keep, "read %s", from);
    fclose(f);
    if (patch_at >= 0) buf[patch_at] = patch;
    NN_CHECK(unlink(to) == 0, "unlink %s: %s", to, strerror(errno));
    f = fopen(to, "wb");
    NN_CHECK(f && fwrite(buf, 1, (size_t)(keep + extra), f) == (size_t)(keep + extra) &&
                 fclose(f) == 0,
             "write %s", to);
    free(buf);
}

/* Loads dir, expecting NN_ERR_INPUT with every one of the words in the
 * message (NULL-terminated) and an empty result. */
static void expect_load_error(const char *what, const char *dir, const char *const *words)
{
    Cifar10 d;
    memset(&d, 0xA5, sizeof d); /* garbage: the loader must not trust or free it */
    NnError err = {{0}};
    NnStatus st = cifar10_load(dir, &d, &err);
    CHECK(st == NN_ERR_INPUT, "%s: status %d, expected NN_ERR_INPUT (%s)", what, st, err.msg);
    CHECK(is_empty(&d), "%s: the result is not left empty", what);
    for (int i = 0; words[i]; i++)
        CHECK(strstr(err.msg, words[i]), "%s: message \"%s\" lacks \"%s\"", what, err.msg,
              words[i]);
    printf("  %s: %s\n", what, err.msg);
    cifar10_free(&d);
}

/* ---- tests -------------------------------------------------------------- */

static void test_default_dir(void)
{
    const char *old = getenv("CIFAR10_DIR");
    char *saved = old ? strdup(old) : NULL;
    setenv("CIFAR10_DIR", "/from/env", 1);
    CHECK(!strcmp(cifar10_default_dir("/from/flag"), "/from/flag"), "flag first");
    CHECK(!strcmp(cifar10_default_dir(NULL), "/from/env"), "then $CIFAR10_DIR");
    CHECK(!strcmp(cifar10_default_dir(""), "/from/env"), "an empty flag is no flag");
    setenv("CIFAR10_DIR", "", 1);
    CHECK(!strcmp(cifar10_default_dir(NULL), "data/cifar-10-batches-bin"), "empty env");
    unsetenv("CIFAR10_DIR");
    CHECK(!strcmp(cifar10_default_dir(NULL), "data/cifar-10-batches-bin"), "default");
    if (saved) setenv("CIFAR10_DIR", saved, 1);
    free(saved);
}

static void test_class_names(const char *dir)
{
    CHECK(!strcmp(cifar10_class_names[0], "airplane") && !strcmp(cifar10_class_names[3], "cat") &&
              !strcmp(cifar10_class_names[9], "truck"),
          "class names");
    char path[PATH_MAX + 64], line[64];
    snprintf(path, sizeof path, "%s/batches.meta.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) return; /* optional file */
    for (int c = 0; c < CIFAR10_N_CLASSES && fgets(line, sizeof line, f); c++) {
        line[strcspn(line, "\r\n")] = '\0';
        CHECK(!strcmp(line, cifar10_class_names[c]), "class %d: %s has \"%s\", we say \"%s\"", c,
              path, line, cifar10_class_names[c]);
    }
    fclose(f);
}

static void test_contents(const Cifar10 *d, const char *dir, int real)
{
    CHECK(d->n_train == 50000 && d->n_test == 10000, "counts %d %d", d->n_train, d->n_test);
    CHECK(!strcmp(d->dir, dir), "dir \"%s\"", d->dir);
    long hist_train[CIFAR10_N_CLASSES] = {0}, hist_test[CIFAR10_N_CLASSES] = {0}, bad = 0;
    for (int i = 0; i < d->n_train + d->n_test; i++) {
        bad += d->labels[i] >= CIFAR10_N_CLASSES;
        (i < d->n_train ? hist_train : hist_test)[d->labels[i] % CIFAR10_N_CLASSES]++;
    }
    CHECK(bad == 0, "%ld labels out of range", bad);
    /* both the real and the fake set are balanced */
    for (int c = 0; c < CIFAR10_N_CLASSES; c++)
        CHECK(hist_train[c] == 5000 && hist_test[c] == 1000, "class %d: %ld train, %ld test", c,
              hist_train[c], hist_test[c]);

    /* Records against bytes read independently: first, second, middle and
     * last record of every file (catches de-interleaving and file offsets). */
    const long rs[] = {0, 1, 4999, 9999};
    for (int k = 0; k < 6; k++) {
        for (size_t q = 0; q < sizeof rs / sizeof rs[0]; q++) {
            uint8_t rec[CIFAR10_RECORD_BYTES];
            int ok = read_record(dir, files[k], rs[q], rec) == 0;
            CHECK(ok, "cannot read record %ld of %s", rs[q], files[k]);
            if (!ok) continue;
            long i = k * 10000L + rs[q]; /* the test file follows the five training files */
            const uint8_t *lab = d->labels;
            const uint8_t *img = d->images + i * CIFAR10_IMAGE_BYTES;
            CHECK(lab[i] == rec[0], "%s record %ld: label %d, file says %d", files[k], rs[q],
                  lab[i], rec[0]);
            CHECK(!memcmp(img, rec + 1, CIFAR10_IMAGE_BYTES), "%s record %ld: pixels differ",
                  files[k], rs[q]);
        }
    }
    if (real) {
        /* README.txt of the dataset: the official order */
        const int train0[10] = {6, 9, 9, 4, 1, 1, 2, 7, 8, 3};
        const int test0[10] = {3, 8, 8, 0, 6, 6, 1, 6, 3, 1};
        for (int i = 0; i < 10; i++)
            CHECK(d->labels[i] == train0[i] && d->labels[d->n_train + i] == test0[i],
                  "label %d: train %d (expected %d), test %d (expected %d)", i, d->labels[i],
                  train0[i], d->labels[d->n_train + i], test0[i]);
    }
}

static void test_load_errors(const Cifar10 *good)
{
    char dir[PATH_MAX], p[PATH_MAX + 64];

    expect_load_error("missing dir", "/nonexistent/cifar-10-batches-bin",
                      (const char *const[]){"/nonexistent/cifar-10-batches-bin", NULL});
    snprintf(p, sizeof p, "%s/data_batch_1.bin", src_dir);
    expect_load_error("dir is a file", p,
                      (const char *const[]){"data_batch_1.bin", "not a directory", NULL});

    case_dir_make(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/data_batch_4.bin", dir);
    NN_CHECK(unlink(p) == 0, "unlink %s", p);
    expect_load_error("missing file", dir,
                      (const char *const[]){"data_batch_4.bin", "No such file", NULL});
    case_dir_remove(dir);

    case_dir_make(dir, sizeof dir);
    case_dir_copy(dir, "data_batch_3.bin", FILE_BYTES - 100, 0, -1, 0);
    expect_load_error(
        "truncated file", dir,
        (const char *const[]){"data_batch_3.bin", "30729900", "30730000", "truncated", NULL});
    case_dir_remove(dir);

    case_dir_make(dir, sizeof dir);
    case_dir_copy(dir, "test_batch.bin", FILE_BYTES, 1, -1, 0);
    expect_load_error("oversized file", dir,
                      (const char *const[]){"test_batch.bin", "30730001", "30730000", NULL});
    case_dir_remove(dir);

    case_dir_make(dir, sizeof dir);
    case_dir_copy(dir, "data_batch_1.bin", 0, 0, -1, 0);
    expect_load_error("empty file", dir,
                      (const char *const[]){"data_batch_1.bin", " 0 bytes", NULL});
    case_dir_remove(dir);

    case_dir_make(dir, sizeof dir);
    case_dir_copy(dir, "data_batch_5.bin", FILE_BYTES, 0, 1234L * CIFAR10_RECORD_BYTES, 10);
    expect_load_error("label 10", dir,
                      (const char *const[]){"data_batch_5.bin", "record 1234", "label 10", NULL});
    case_dir_remove(dir);

    case_dir_make(dir, sizeof dir);
    case_dir_copy(dir, "test_batch.bin", FILE_BYTES, 0, 9999L * CIFAR10_RECORD_BYTES, 255);
    expect_load_error("label 255 in the last record", dir,
                      (const char *const[]){"test_batch.bin", "record 9999", "label 255", NULL});
    case_dir_remove(dir);

    case_dir_make(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/data_batch_2.bin", dir);
    NN_CHECK(unlink(p) == 0 && mkdir(p, 0755) == 0, "mkdir %s", p);
    expect_load_error("directory in place of a file", dir,
                      (const char *const[]){"data_batch_2.bin", NULL});
    case_dir_remove(dir);

    /* a directory of links loads and gives the same data */
    case_dir_make(dir, sizeof dir);
    Cifar10 d;
    NnError err = {{0}};
    NnStatus st = cifar10_load(dir, &d, &err);
    CHECK(st == NN_OK, "load through links: %s", err.msg);
    if (st == NN_OK) {
        CHECK(!memcmp(d.images, good->images,
                      ((size_t)CIFAR10_N_TRAIN + CIFAR10_N_TEST) * CIFAR10_IMAGE_BYTES) &&
                  !memcmp(d.labels, good->labels, CIFAR10_N_TRAIN + CIFAR10_N_TEST),
              "second load differs");
    }
    cifar10_free(&d);
    case_dir_remove(dir);
}

static void test_split(const Cifar10 *d)
{
    DataSplit s;
    NnError err = {{0}};

    /* ranges into the one array: training images first, then the test ones */
    CHECK(data_split(d, 0, 0, 0, &s, &err) == NN_OK, "split 0: %s", err.msg);
    CHECK(s.train.first == 0 && s.train.n == 50000, "train without val: %d+%d", s.train.first,
          s.train.n);
    CHECK(s.val.n == 0, "no val: n %d", s.val.n);
    CHECK(s.test.first == 50000 && s.test.n == 10000, "test: %d+%d", s.test.first, s.test.n);

    CHECK(data_split(d, 5000, 0, 0, &s, &err) == NN_OK, "split 5000: %s", err.msg);
    CHECK(s.train.first == 0 && s.train.n == 45000, "train: n %d", s.train.n);
    CHECK(s.val.first == 45000 && s.val.n == 5000, "val is not the tail: %d+%d", s.val.first,
          s.val.n);

    CHECK(data_split(d, 5000, 1000, 500, &s, &err) == NN_OK, "split with limits: %s", err.msg);
    CHECK(s.train.first == 0 && s.train.n == 1000, "train limit: n %d", s.train.n);
    CHECK(s.val.first == 45000 && s.val.n == 5000, "val with limits");
    CHECK(s.test.first == 50000 && s.test.n == 500, "test limit: n %d", s.test.n);

    CHECK(data_split(d, 49999, 1, 10000, &s, &err) == NN_OK, "largest val: %s", err.msg);
    CHECK(s.train.n == 1 && s.val.n == 49999 && s.val.first == 1 && s.test.n == 10000,
          "largest val: %d %d %d", s.train.n, s.val.n, s.test.n);

    const struct {
        int val, ntrain, ntest;
        const char *key;
    } bad[] = {
        {-1, 0, 0, "val_split"},    {50000, 0, 0, "val_split"},       {60000, 0, 0, "val_split"},
        {0, -1, 0, "train_images"}, {5000, 45001, 0, "train_images"}, {0, 50001, 0, "train_images"},
        {0, 0, -5, "test_images"},  {0, 0, 10001, "test_images"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&s, 0xA5, sizeof s);
        err.msg[0] = '\0';
        NnStatus st = data_split(d, bad[i].val, bad[i].ntrain, bad[i].ntest, &s, &err);
        CHECK(st == NN_ERR_INPUT, "split(%d, %d, %d): status %d", bad[i].val, bad[i].ntrain,
              bad[i].ntest, st);
        CHECK(!strncmp(err.msg, bad[i].key, strlen(bad[i].key)),
              "split(%d, %d, %d): \"%s\" lacks %s", bad[i].val, bad[i].ntrain, bad[i].ntest,
              err.msg, bad[i].key);
        CHECK(s.train.n == 0 && s.val.n == 0 && s.test.n == 0 && s.test.first == 0,
              "split(%d, %d, %d) left a result", bad[i].val, bad[i].ntrain, bad[i].ntest);
        if (i < 3 || i == 4 || i == 7) printf("  %s\n", err.msg);
    }
}

/* Two-pass reference in double. */
static void stats_direct(const uint8_t *images, int n_images, double mean[3], double std[3])
{
    for (int c = 0; c < 3; c++) {
        double s = 0, q = 0;
        for (int i = 0; i < n_images; i++)
            for (int k = 0; k < 1024; k++)
                s += images[(size_t)i * CIFAR10_IMAGE_BYTES + c * 1024 + k];
        double n = (double)n_images * 1024, m = s / n;
        for (int i = 0; i < n_images; i++)
            for (int k = 0; k < 1024; k++) {
                double e = images[(size_t)i * CIFAR10_IMAGE_BYTES + c * 1024 + k] - m;
                q += e * e;
            }
        mean[c] = m / 255;
        std[c] = sqrt(q / n) / 255;
    }
}

static void test_stats(const Cifar10 *d, int real)
{
    DataSplit s;
    NnError err = {{0}};
    NN_CHECK(data_split(d, 0, 0, 0, &s, &err) == NN_OK, "%s", err.msg);
    float mean[3], std[3];
    double rm[3], rs[3];

    DataRange ranges[3] = {s.train, s.test, {123, 7}};
    const char *names[3] = {"train", "test", "7 images"};
    for (int v = 0; v < 3; v++) {
        const uint8_t *first = d->images + (size_t)ranges[v].first * CIFAR10_IMAGE_BYTES;
        data_channel_stats(first, ranges[v].n, mean, std);
        stats_direct(first, ranges[v].n, rm, rs);
        float rmf[3] = {(float)rm[0], (float)rm[1], (float)rm[2]};
        float rsf[3] = {(float)rs[0], (float)rs[1], (float)rs[2]};
        char what[64];
        snprintf(what, sizeof what, "%s mean", names[v]);
        check_close(what, mean, rmf, 3, 1e-7, 1e-6);
        snprintf(what, sizeof what, "%s std", names[v]);
        check_close(what, std, rsf, 3, 1e-7, 1e-6);
        printf("  %s: mean %.4f %.4f %.4f, std %.4f %.4f %.4f\n", names[v], mean[0], mean[1],
               mean[2], std[0], std[1], std[2]);
        if (v == 0 && real) {
            /* the usual CIFAR-10 constants, and the exact means in levels
             * from the dataset's README.txt */
            const float km[3] = {0.4914f, 0.4822f, 0.4465f}, ks[3] = {0.2470f, 0.2435f, 0.2616f};
            check_close("CIFAR-10 train mean", mean, km, 3, 1e-3, 0);
            check_close("CIFAR-10 train std", std, ks, 3, 1e-3, 0);
            const float levels[3] = {125.306918046875f, 122.950394140625f, 113.86538318359375f};
            float got[3] = {mean[0] * 255, mean[1] * 255, mean[2] * 255};
            check_close("CIFAR-10 train mean in levels", got, levels, 3, 0, 1e-6);
        }
        if (v == 1 && real) {
            const float km[3] = {0.4942f, 0.4851f, 0.4504f}, ks[3] = {0.2467f, 0.2429f, 0.2616f};
            check_close("CIFAR-10 test mean", mean, km, 3, 1e-3, 0);
            check_close("CIFAR-10 test std", std, ks, 3, 1e-3, 0);
        }
    }
    /* a constant image: std exactly 0, no NaN */
    uint8_t flat[CIFAR10_IMAGE_BYTES];
    memset(flat, 51, sizeof flat);
    data_channel_stats(flat, 1, mean, std);
    CHECK(mean[0] == 0.2f && mean[2] == 0.2f && std[0] == 0 && std[1] == 0 && std[2] == 0,
          "constant image: mean %g std %g", mean[0], std[0]);
}

static int is_permutation(const int32_t *idx, int n)
{
    char *seen = nn_calloc((size_t)n + 1, 1);
    int ok = 1;
    for (int i = 0; i < n && ok; i++) {
        ok = idx[i] >= 0 && idx[i] < n && !seen[idx[i]];
        if (ok) seen[idx[i]] = 1;
    }
    free(seen);
    return ok;
}

static int n_same(const int32_t *a, const int32_t *b, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++) k += a[i] == b[i];
    return k;
}

static void test_epoch_order(void)
{
    const int n = 50000;
    int32_t *a = nn_malloc(n * sizeof *a), *b = nn_malloc(n * sizeof *b);
    int32_t *c = nn_malloc(n * sizeof *c), *e = nn_malloc(n * sizeof *e);
    data_epoch_order(a, n, 1, 0);
    CHECK(is_permutation(a, n), "seed 1 epoch 0 is not a permutation");
    data_epoch_order(b, n, 1, 0);
    CHECK(!memcmp(a, b, n * sizeof *a), "not deterministic");
    data_epoch_order(b, n, 1, 1);
    CHECK(is_permutation(b, n), "seed 1 epoch 1 is not a permutation");
    data_epoch_order(c, n, 2, 0);
    CHECK(is_permutation(c, n), "seed 2 epoch 0 is not a permutation");
    data_epoch_order(e, n, 2, 1);
    /* random permutations agree in about one position */
    CHECK(n_same(a, b, n) < 20, "epochs 0 and 1 agree in %d positions", n_same(a, b, n));
    CHECK(n_same(a, c, n) < 20, "seeds 1 and 2 agree in %d positions", n_same(a, c, n));
    CHECK(n_same(b, e, n) < 20, "seeds 1 and 2, epoch 1, agree in %d positions", n_same(b, e, n));
    CHECK(n_same(a, e, n) < 20, "(1,0) and (2,1) agree in %d positions", n_same(a, e, n));
    long identity = 0;
    for (int i = 0; i < n; i++) identity += a[i] == i;
    CHECK(identity < 20, "order keeps %ld images in place", identity);

    /* The documented draws (split.c): position i from n-1 down to 1 swaps
     * with j = rng_below_at(seed, rng_stream(RNG_STREAM_SHUFFLE, epoch), i, i + 1). */
    for (int i = 0; i < n; i++) c[i] = i;
    uint64_t hi = rng_stream(RNG_STREAM_SHUFFLE, 7);
    for (int i = n - 1; i > 0; i--) {
        uint32_t j = rng_below_at(99, hi, (uint64_t)i, (uint32_t)i + 1);
        int32_t t = c[i];
        c[i] = c[j];
        c[j] = t;
    }
    data_epoch_order(e, n, 99, 7);
    CHECK(!memcmp(c, e, n * sizeof *c), "order differs from the documented draws");

    int32_t one = -1;
    data_epoch_order(&one, 1, 5, 3);
    CHECK(one == 0, "n = 1: %d", one);
    data_epoch_order(NULL, 0, 5, 3); /* n = 0: nothing to do */

    /* Uniform over all 6 orders of 3 (Sattolo's off-by-one gives only 2,
     * a biased bound skews the counts): 6000 epochs, expected 1000 each,
     * standard deviation 29. */
    long count[3][3][3] = {{{0}}};
    for (int ep = 0; ep < 6000; ep++) {
        int32_t p[3];
        data_epoch_order(p, 3, 42, ep);
        CHECK(is_permutation(p, 3), "n = 3, epoch %d", ep);
        if (is_permutation(p, 3)) count[p[0]][p[1]][p[2]]++;
    }
    for (int x = 0; x < 3; x++)
        for (int y = 0; y < 3; y++)
            for (int z = 0; z < 3; z++)
                if (x != y && y != z && x != z)
                    CHECK(labs(count[x][y][z] - 1000) < 150, "order %d%d%d came %ld times of 6000",
                          x, y, z, count[x][y][z]);
    free(a);
    free(b);
    free(c);
    free(e);
}

/* The fake set must be learnable: the nearest class mean (of the training
 * images, in pixel space) classifies most test images right. On the real set
 * this classifier gets about 28%. */
static void test_learnable(const Cifar10 *d, int real)
{
    double *centre = nn_calloc((size_t)CIFAR10_N_CLASSES * CIFAR10_IMAGE_BYTES, sizeof *centre);
    long n_class[CIFAR10_N_CLASSES] = {0};
    for (int i = 0; i < d->n_train; i++) {
        const uint8_t *img = d->images + (size_t)i * CIFAR10_IMAGE_BYTES;
        double *m = centre + (size_t)d->labels[i] * CIFAR10_IMAGE_BYTES;
        for (int k = 0; k < CIFAR10_IMAGE_BYTES; k++) m[k] += img[k];
        n_class[d->labels[i]]++;
    }
    for (int c = 0; c < CIFAR10_N_CLASSES; c++)
        for (int k = 0; k < CIFAR10_IMAGE_BYTES; k++)
            centre[(size_t)c * CIFAR10_IMAGE_BYTES + k] /= (double)(n_class[c] ? n_class[c] : 1);
    long right = 0;
    for (int i = 0; i < d->n_test; i++) {
        const uint8_t *img = d->images + (size_t)(d->n_train + i) * CIFAR10_IMAGE_BYTES;
        double best = INFINITY;
        int arg = -1;
        for (int c = 0; c < CIFAR10_N_CLASSES; c++) {
            const double *m = centre + (size_t)c * CIFAR10_IMAGE_BYTES;
            double dist = 0;
            for (int k = 0; k < CIFAR10_IMAGE_BYTES; k++) dist += (img[k] - m[k]) * (img[k] - m[k]);
            if (dist < best) {
                best = dist;
                arg = c;
            }
        }
        right += arg == d->labels[d->n_train + i];
    }
    double acc = (double)right / d->n_test;
    printf("  nearest class mean: test accuracy %.4f\n", acc);
    if (real)
        CHECK(acc > 0.2 && acc < 0.4, "real CIFAR-10: nearest class mean %.4f", acc);
    else
        CHECK(acc > 0.6 && acc < 0.99, "fake CIFAR-10: nearest class mean %.4f", acc);
    free(centre);
}

int main(int argc, char **argv)
{
    /* The real set when CIFAR10_DIR names a folder with the data in it (as
     * the Makefile's `data` target decides: test_batch.bin is there); the
     * Makefile exports CIFAR10_DIR even before the data is fetched. */
    const char *env = getenv("CIFAR10_DIR");
    int real = 0;
    if (env && env[0]) {
        char probe[PATH_MAX + 64];
        snprintf(probe, sizeof probe, "%s/test_batch.bin", env);
        real = access(probe, F_OK) == 0;
        if (!real) printf("test_data: CIFAR10_DIR=%s holds no test_batch.bin: not using it\n", env);
    }
    const char *dir = real ? env : argc > 1 ? argv[1] : NULL;
    if (!dir) {
        fprintf(stderr, "usage: test_data FAKE_DIR (or set CIFAR10_DIR to the real dataset)\n");
        return 2;
    }
    char dir_copy[PATH_MAX];
    snprintf(dir_copy, sizeof dir_copy, "%s", dir);
    dir = dir_copy;
    NN_CHECK(realpath(dir, src_dir), "dataset %s: %s", dir, strerror(errno));
    printf("test_data: %s dataset at %s\n", real ? "real (CIFAR10_DIR)" : "fake", dir);

    test_default_dir();
    test_class_names(dir);

    Cifar10 d;
    NnError err = {{0}};
    double t0 = nn_now();
    NnStatus st = cifar10_load(dir, &d, &err);
    double t1 = nn_now();
    CHECK(st == NN_OK, "load %s: %s", dir, err.msg);
    if (st != NN_OK) return check_exit_code();
    printf("  loaded %d + %d images in %.3f s\n", d.n_train, d.n_test, t1 - t0);

    test_contents(&d, dir, real);
    test_load_errors(&d);
    test_split(&d);
    test_stats(&d, real);
    test_epoch_order();
    test_learnable(&d, real);

    cifar10_free(&d);
    CHECK(is_empty(&d), "cifar10_free leaves the struct empty");
    cifar10_free(&d); /* twice is fine */
    cifar10_free(NULL);
    return check_exit_code();
}
