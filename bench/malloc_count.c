/* malloc_count.c - counts heap allocations of a process, for checking that
 * a training step allocates nothing (bench/README.md):
 *
 *   LD_PRELOAD=build/bench/libmalloc_count.so build/bench/bench_train \
 *       --steps 10 --train-only mlp
 *
 * prints "malloc_count: N allocations" at exit; the count must not grow with
 * --steps. Wraps glibc's own entry points (__libc_malloc & co.), so it
 * needs no dlsym and counts every thread's calls.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t n);
void *__libc_memalign(size_t align, size_t n);

static atomic_long n_allocs;

void *malloc(size_t n);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t n);
void *memalign(size_t align, size_t n);
void *aligned_alloc(size_t align, size_t n);
int posix_memalign(void **out, size_t align, size_t n);

void *malloc(size_t n)
{
    atomic_fetch_add(&n_allocs, 1);
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    atomic_fetch_add(&n_allocs, 1);
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    atomic_fetch_add(&n_allocs, 1);
    return __libc_realloc(p, n);
}

void *memalign(size_t align, size_t n)
{
    atomic_fetch_add(&n_allocs, 1);
    return __libc_memalign(align, n);
}

void *aligned_alloc(size_t align, size_t n) { return memalign(align, n); }

int posix_memalign(void **out, size_t align, size_t n)
{
    void *p = memalign(align, n);
    if (!p) return 12; /* ENOMEM */
    *out = p;
    return 0;
}

__attribute__((destructor)) static void report(void)
{
    char line[64];
    int len = snprintf(line, sizeof line, "malloc_count: %ld allocations\n", atomic_load(&n_allocs));
    if (len > 0) fwrite(line, 1, (size_t)len, stderr);
}
