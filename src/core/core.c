/* core.c - errors, checked allocation, clock, number formatting, buffers,
 * "did you mean", hashing. */
#include "nnsweep/core.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static NnAbortHook abort_hook;

NnStatus nn_error_set(NnError *err, NnStatus status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}

int nn_status_exit_code(NnStatus status)
{
    switch (status) {
    case NN_OK: return 0;
    case NN_ERR_INPUT: return 2;
    default: return 1;
    }
}

void nn_set_abort_hook(NnAbortHook hook) { abort_hook = hook; }

void nn_fatal_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: fatal: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    if (abort_hook) abort_hook();
    abort();
}

void *nn_malloc_at(size_t bytes, const char *file, int line)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p) nn_fatal_at(file, line, "out of host memory allocating %zu bytes", bytes);
    return p;
}

void *nn_calloc_at(size_t n, size_t size, const char *file, int line)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) nn_fatal_at(file, line, "out of host memory allocating %zu x %zu bytes", n, size);
    return p;
}

void *nn_realloc_at(void *p, size_t bytes, const char *file, int line)
{
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q) nn_fatal_at(file, line, "out of host memory reallocating %zu bytes", bytes);
    return q;
}

void *nn_aligned_alloc_at(size_t bytes, const char *file, int line)
{
    size_t rounded = (bytes + 63) / 64 * 64;
    void *p = NULL;
    if (posix_memalign(&p, 64, rounded ? rounded : 64) != 0)
        nn_fatal_at(file, line, "out of host memory allocating %zu aligned bytes", bytes);
    memset(p, 0, rounded ? rounded : 64);
    return p;
}

char *nn_strdup_at(const char *s, const char *file, int line)
{
    size_t n = strlen(s) + 1;
    char *d = nn_malloc_at(n, file, line);
    memcpy(d, s, n);
    return d;
}

double nn_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void nn_format_double(char *buf, size_t size, double v)
{
    if (!buf || size == 0) return;
    /* the shortest precision that reads back as v: a value that needs more
     * than 15 digits (a random draw) is known after two or three tries, not
     * seventeen (sweep expansion formats every drawn number) */
    snprintf(buf, size, "%.15g", v);
    int from = strtod(buf, NULL) == v ? 1 : 16, to = from == 1 ? 15 : 17;
    for (int prec = from; prec <= to; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
}

void nn_buf_append(NnBuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        b->data = nn_realloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void nn_buf_printf(NnBuf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    NN_CHECK(n >= 0, "vsnprintf failed");
    if ((size_t)n < sizeof small) {
        nn_buf_append(b, small, (size_t)n);
        return;
    }
    char *big = nn_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    nn_buf_append(b, big, (size_t)n);
    free(big);
}

void nn_buf_free(NnBuf *b)
{
    if (!b) return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

NnStatus nn_buf_read_file(NnBuf *b, const char *path, NnError *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return nn_error_set(err, NN_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    char chunk[65536];
    size_t got;
    errno = 0;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) nn_buf_append(b, chunk, got);
    int bad = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    if (bad) return nn_error_set(err, NN_ERR_INPUT, "%s: cannot read: %s", path, strerror(bad));
    return NN_OK;
}

void nn_suggest_init(NnSuggest *s, const char *word)
{
    s->word = word;
    s->best = NULL;
    s->best_distance = 0;
}

static int same_char(char a, char b)
{
    return a == b || ((a == '-' || a == '_') && (b == '-' || b == '_'));
}

/* Edit distance of a and b (insertions, deletions, substitutions and
 * swaps of two neighbours: optimal string alignment; '-' == '_'); 99 for
 * strings of 64 or more characters. */
static int edit_distance(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    if (na > 63 || nb > 63) return 99;
    int d[64][64];
    for (size_t i = 0; i <= na; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= nb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            int sub = d[i - 1][j - 1] + !same_char(a[i - 1], b[j - 1]);
            int del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            if (i > 1 && j > 1 && same_char(a[i - 1], b[j - 2]) &&
                same_char(a[i - 2], b[j - 1]) && d[i - 2][j - 2] + 1 < d[i][j])
                d[i][j] = d[i - 2][j - 2] + 1;
        }
    return d[na][nb];
}

void nn_suggest_offer(NnSuggest *s, const char *name)
{
    size_t nw = strlen(s->word), nn = strlen(name), common = 0;
    while (common < nw && common < nn && same_char(s->word[common], name[common])) common++;
    int d = edit_distance(s->word, name);
    int limit = 1 + (int)(nw / 4);
    if (limit > 3) limit = 3;
    int prefix = common >= 3 && (common == nw || common == nn);
    if ((d <= limit || prefix) && (!s->best || d < s->best_distance)) {
        s->best = name;
        s->best_distance = d;
    }
}

uint64_t nn_hash64(const void *data, size_t n, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    /* final avalanche (splitmix64) so that short ids use well-mixed bits */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}
