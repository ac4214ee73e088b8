/* cpu_platform.c - what the cpu backend asks of the machine, read once
 * per process: its processors (the workspace slots and the default thread
 * count), whether it has AVX2 + FMA, OpenBLAS kept at one thread, and
 * 64-byte aligned memory. The bottom of the cpu backend: it calls no other
 * file of it (cpu.h lists the files and their order).
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/cpu/cpu.h"

int cpu_ws_slots(void)
{
    static int slots; /* set once; the value is the same for every thread */
    int n = __atomic_load_n(&slots, __ATOMIC_RELAXED);
    if (n == 0) {
        cpu_set_t set;
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        n = online > 0 ? (int)online : 1;
        if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
        if (n < 1) n = 1;
        __atomic_store_n(&slots, n, __ATOMIC_RELAXED);
    }
    return n;
}

void cpu_blas_single_thread(void)
{
    static int done;
    if (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
        openblas_set_num_threads(1);
        __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    }
}

int cpu_avx2_fma_available(void)
{
    static int state; /* 0: not read yet, 1: no, 2: yes; the same for every thread */
    int s = __atomic_load_n(&state, __ATOMIC_RELAXED);
    if (s == 0) {
        const char *env = getenv("NNSWEEP_AVX2");
        s = 1;
#if defined(__x86_64__) && defined(__GNUC__)
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
            !(env && strcmp(env, "0") == 0))
            s = 2;
#else
        (void)env;
#endif
        __atomic_store_n(&state, s, __ATOMIC_RELAXED);
    }
    return s == 2;
}

int backend_cpu_cores(void) { return cpu_ws_slots(); }

/* Zeroed host memory aligned to 64 bytes (whole AVX vectors and cache
 * lines), NULL when out of memory. Released with free (free_ref). */
void *alloc_cpu(size_t bytes)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 1) != 0) return NULL;
    memset(p, 0, bytes ? bytes : 1);
    return p;
}
