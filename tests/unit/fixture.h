/* fixture.h - reader of the parity fixture files that tests/make_fixtures.py
 * writes (PyTorch reference data for test_parity.c). Tests only.
 *
 * Format (little-endian; the script's header describes the entries):
 *
 *   magic     8 bytes  "NNSWFIX1"
 *   n         uint32   number of entries
 *   n entries, each:
 *     name_len  uint32, then name_len bytes of ASCII name (no NUL)
 *     dtype     uint32   0 = float32, 1 = int32, 2 = uint8, 3 = text (ASCII, no NUL)
 *     ndim      uint32   1..4, then shape uint32[ndim]
 *     data      prod(shape) elements of dtype, packed (not aligned)
 *
 * fixture_load reads a whole file and copies each entry's data into its own
 * allocation (so float and int32 data are aligned; text gets a NUL). Every
 * length is checked against the file size: a truncated or corrupt file is an
 * error with a message, never an out-of-bounds read. Hosts are assumed
 * little-endian (checked at load).
 */
#ifndef NNSWEEP_TESTS_FIXTURE_H
#define NNSWEEP_TESTS_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURE_MAGIC "NNSWFIX1"
#define FIXTURE_MAX_DIMS 4

typedef enum FixtureType { FX_F32 = 0, FX_I32 = 1, FX_U8 = 2, FX_TEXT = 3 } FixtureType;

typedef struct FixtureEntry {
    char name[64];
    FixtureType type;
    int ndim;
    size_t shape[FIXTURE_MAX_DIMS];
    size_t n;   /* elements: prod(shape) */
    void *data; /* owned by the fixture; text is NUL-terminated */
} FixtureEntry;

typedef struct Fixture {
    char path[512];
    int n;
    FixtureEntry *entries; /* (n) */
} Fixture;

static void fixture_free(Fixture *fx)
{
    if (!fx) return;
    for (int i = 0; i < fx->n; i++) free(fx->entries[i].data);
    free(fx->entries);
    fx->entries = NULL;
    fx->n = 0;
}

/* Reads an uint32 at *pos of buf (size bytes); 0 when it does not fit. */
static int fixture_u32(const unsigned char *buf, size_t size, size_t *pos, uint32_t *out)
{
    if (*pos > size || size - *pos < 4) return 0;
    const unsigned char *p = buf + *pos;
    *out = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    *pos += 4;
    return 1;
}

/* Loads path into *fx. Returns 0, or -1 after printing "path: reason" to
 * stderr (missing file, bad magic, truncated entry, unknown dtype). */
static int fixture_load(Fixture *fx, const char *path)
{
    memset(fx, 0, sizeof *fx);
    snprintf(fx->path, sizeof fx->path, "%s", path);
    const uint32_t one = 1;
    if (*(const unsigned char *)&one != 1) {
        fprintf(stderr, "%s: the fixture reader assumes a little-endian host\n", path);
        return -1;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        fprintf(stderr, "%s: missing fixture; regenerate with "
                        "`/usr/bin/python3 tests/make_fixtures.py`\n", path);
        return -1;
    }
    unsigned char *buf = NULL;
    size_t size = 0, cap = 0, got;
    do {
        if (size == cap) {
            cap = cap ? 2 * cap : 1 << 16;
            unsigned char *nb = realloc(buf, cap);
            if (!nb) {
                fprintf(stderr, "%s: out of memory\n", path);
                free(buf);
                fclose(f);
                return -1;
            }
            buf = nb;
        }
        got = fread(buf + size, 1, cap - size, f);
        size += got;
    } while (got > 0);
    int read_error = ferror(f);
    fclose(f);
    const char *why = NULL;
    size_t pos = 0;
    uint32_t n = 0;
    if (read_error) {
        why = "read error";
        goto fail;
    }
    if (size < 8 || memcmp(buf, FIXTURE_MAGIC, 8) != 0) {
        why = "not a fixture file (magic " FIXTURE_MAGIC " missing)";
        goto fail;
    }
    pos = 8;
    if (!fixture_u32(buf, size, &pos, &n) || n > 100000) {
        why = "bad entry count";
        goto fail;
    }
    fx->entries = calloc(n ? n : 1, sizeof *fx->entries);
    if (!fx->entries) {
        why = "out of memory";
        goto fail;
    }
    for (uint32_t i = 0; i < n; i++) {
        FixtureEntry *e = &fx->entries[i];
        uint32_t len, type, ndim, d;
        if (!fixture_u32(buf, size, &pos, &len) || len == 0 || len >= sizeof e->name ||
            size - pos < len) {
            why = "bad entry name";
            goto fail;
        }
        memcpy(e->name, buf + pos, len);
        e->name[len] = '\0';
        pos += len;
        if (!fixture_u32(buf, size, &pos, &type) || type > FX_TEXT) {
            why = "bad dtype";
            goto fail;
        }
        if (!fixture_u32(buf, size, &pos, &ndim) || ndim < 1 || ndim > FIXTURE_MAX_DIMS) {
            why = "bad ndim";
            goto fail;
        }
        e->type = (FixtureType)type;
        e->ndim = (int)ndim;
        e->n = 1;
        for (uint32_t k = 0; k < ndim; k++) {
            if (!fixture_u32(buf, size, &pos, &d) || (d && e->n > SIZE_MAX / d)) {
                why = "bad shape";
                goto fail;
            }
            e->shape[k] = d;
            e->n *= d;
        }
        size_t esize = e->type == FX_F32 || e->type == FX_I32 ? 4 : 1;
        if (e->n > (size - pos) / esize) {
            why = "entry runs past the end of the file (truncated?)";
            goto fail;
        }
        size_t bytes = e->n * esize;
        e->data = malloc(bytes + 1);
        if (!e->data) {
            why = "out of memory";
            goto fail;
        }
        memcpy(e->data, buf + pos, bytes);
        ((char *)e->data)[bytes] = '\0';
        pos += bytes;
        fx->n = (int)i + 1;
    }
    if (pos != size) {
        why = "trailing bytes after the last entry";
        goto fail;
    }
    free(buf);
    return 0;
fail:
    fprintf(stderr, "%s: %s (at byte %zu of %zu, entry %d)\n", path, why, pos, size, fx->n);
    free(buf);
    fixture_free(fx);
    return -1;
}

/* The entry called name, or NULL. */
static const FixtureEntry *fixture_find(const Fixture *fx, const char *name)
{
    for (int i = 0; i < fx->n; i++)
        if (strcmp(fx->entries[i].name, name) == 0) return &fx->entries[i];
    return NULL;
}

/* The data of entry name when it exists, has type `type` and, when n is not
 * 0, exactly n elements; otherwise NULL after printing why. The pointer is
 * owned by the fixture. */
static const void *fixture_get(const Fixture *fx, const char *name, FixtureType type, size_t n)
{
    static const char *const type_names[] = {"float32", "int32", "uint8", "text"};
    const FixtureEntry *e = fixture_find(fx, name);
    if (!e) {
        fprintf(stderr, "%s: no entry '%s'\n", fx->path, name);
        return NULL;
    }
    if (e->type != type || (n && e->n != n)) {
        fprintf(stderr, "%s: entry '%s' is %s with %zu elements, expected %s with %zu\n",
                fx->path, name, type_names[e->type], e->n, type_names[type], n);
        return NULL;
    }
    return e->data;
}

#endif
