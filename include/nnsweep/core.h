/* core.h - errors, status codes, checked allocation and small utilities.
 *
 * Three kinds of failure, three mechanisms (STYLE.md, Errors):
 *  1. Programmer errors and dead resources: NN_CHECK / nn_fatal print
 *     "file:line: message" and call the abort hook (MPI_Abort under MPI,
 *     abort() otherwise). Host allocation goes through nn_malloc & co.,
 *     which never return NULL.
 *  2. Recoverable input and I/O errors: functions return an NnStatus and
 *     fill a caller-provided NnError with one message that names the file,
 *     line or key and what was expected. The caller propagates and prints
 *     once at the top.
 *  3. A failed run (NaN loss, out of memory) is a result: see train.h.
 */
#ifndef NNSWEEP_CORE_H
#define NNSWEEP_CORE_H

#include <stddef.h>
#include <stdint.h>

#define NNSWEEP_VERSION "0.1.0"

typedef enum NnStatus {
    NN_OK = 0,
    NN_ERR_INPUT, /* bad config, sweep file, flag or dataset: exit code 2 */
    NN_ERR_IO,    /* a file or HDF5 operation failed: exit code 1 */
    NN_ERR_RUN,   /* a run failed (out of memory, ...): recorded, not fatal */
} NnStatus;

/* Detail of a recoverable error; filled by the callee, printed by the top. */
typedef struct NnError {
    char msg[1024];
} NnError;

/* Sets err->msg from a printf format (err may be NULL) and returns status. */
NnStatus nn_error_set(NnError *err, NnStatus status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Exit code for a status: 0 ok, 2 input, 1 anything else. */
int nn_status_exit_code(NnStatus status);

/* Abort hook: called by nn_fatal after the message is printed. The MPI
 * layer installs one that calls MPI_Abort so that no rank is left hanging. */
typedef void (*NnAbortHook)(void);
void nn_set_abort_hook(NnAbortHook hook);

/* Prints "file:line: message" to stderr and aborts through the hook. */
_Noreturn void nn_fatal_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define nn_fatal(...) nn_fatal_at(__FILE__, __LINE__, __VA_ARGS__)

/* Assertion that stays on in release builds. */
#define NN_CHECK(cond, ...)                                                \
    do {                                                                   \
        if (!(cond)) nn_fatal_at(__FILE__, __LINE__, __VA_ARGS__);         \
    } while (0)

/* Host allocation that never returns NULL (aborts with file:line). The
 * returned memory is owned by the caller and released with free(). */
void *nn_malloc_at(size_t bytes, const char *file, int line);
void *nn_calloc_at(size_t n, size_t size, const char *file, int line);
void *nn_realloc_at(void *p, size_t bytes, const char *file, int line);
/* 64-byte aligned, zeroed; release with free(). */
void *nn_aligned_alloc_at(size_t bytes, const char *file, int line);
char *nn_strdup_at(const char *s, const char *file, int line);
#define nn_malloc(bytes) nn_malloc_at((bytes), __FILE__, __LINE__)
#define nn_calloc(n, size) nn_calloc_at((n), (size), __FILE__, __LINE__)
#define nn_realloc(p, bytes) nn_realloc_at((p), (bytes), __FILE__, __LINE__)
#define nn_aligned_alloc(bytes) nn_aligned_alloc_at((bytes), __FILE__, __LINE__)
#define nn_strdup(s) nn_strdup_at((s), __FILE__, __LINE__)

/* Monotonic wall clock in seconds. */
double nn_now(void);

/* Shortest decimal text that reads back as exactly the same double
 * (like Python's repr): 0.05 -> "0.05", 1e-4 -> "0.0001", 3 -> "3".
 * Writes at most 32 bytes including the NUL into buf. */
void nn_format_double(char *buf, size_t size, double v);

/* Growable string buffer (for JSON, tables, messages). */
typedef struct NnBuf {
    char *data; /* NUL-terminated; owned by the buffer */
    size_t len;
    size_t cap;
} NnBuf;
void nn_buf_printf(NnBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void nn_buf_append(NnBuf *b, const char *s, size_t n);
void nn_buf_free(NnBuf *b);
/* Appends the whole file at path to b. NN_ERR_INPUT naming the file and
 * the system's reason when it cannot be opened or read; b keeps what it
 * held before, plus whatever was read (the caller frees it either way). */
NnStatus nn_buf_read_file(NnBuf *b, const char *path, NnError *err);

/* "Did you mean": offer the known names one by one; best is the closest
 * to word, or NULL when none is close. Close: an edit distance (a
 * character inserted, deleted, replaced, or two neighbours swapped; '-' and
 * '_' equal) of at most 1 + strlen(word) / 4 (at most 3), or one being a
 * prefix of the other with at least 3 characters in common. Ties keep the
 * first offered. The strings are borrowed. The one helper behind every
 * "did you mean" (run config keys, sweep parameters, command-line options). */
typedef struct NnSuggest {
    const char *word;
    const char *best; /* NULL until a close name is offered */
    int best_distance;
} NnSuggest;
void nn_suggest_init(NnSuggest *s, const char *word);
void nn_suggest_offer(NnSuggest *s, const char *name);

/* 64-bit FNV-1a hash of bytes. */
uint64_t nn_hash64(const void *data, size_t n, uint64_t seed);

#endif
