/* cpu_pool.c - the cpu backend's threads: a small pool of helper threads
 * that take items of a job from a shared counter (backend_impl.h,
 * cpu_parallel). Chosen over OpenMP for three reasons, measured on the
 * 2-core machine of bench/README.md:
 *  - an OpenMP parallel region ends in a barrier that waits for every thread
 *    of the team, so on a loaded machine (other builds, other MPI workers)
 *    each of the ~30 regions of a training step waited for a descheduled
 *    helper: an MLP step at 2 threads fell to ~300 images/s against 6.5k at
 *    1 thread. Here the caller takes items itself and only waits for items
 *    a helper has already started: a helper that is not running costs
 *    nothing, so the worst case is close to one thread;
 *  - libgomp's spinning can only be set by environment variables read at
 *    program start (OMP_WAIT_POLICY, GOMP_SPINCOUNT), not by the program.
 *    Here helpers spin for POOL_SPIN_NS after their last item (the gaps
 *    between the ops of a step are microseconds, and waking a sleeping
 *    thread costs tens of microseconds in a VM), then sleep on a futex, so
 *    an idle process (an MPI worker between runs, rank 0) burns no CPU;
 *  - which thread runs an item never changes a result: every item writes
 *    its own outputs, and reductions combine per-item partial results in
 *    item order, so results are the same bits from run to run. Work is
 *    cut by the problem alone, never by the thread count (convolution's dw
 *    by the batch size, batch norm by channel, products into blocks fixed
 *    by their shape: OpenBLAS rounds a block differently from the same
 *    columns of a larger product, cpu_gemm.c), so every result is
 *    the same for any thread count too (tests/unit/backend_ops_threads.c).
 * OpenBLAS is kept at one thread (cpu_blas_single_thread): its own pool
 * would spin against this one.
 *
 * Protocol: a job has a generation number g. The claim word holds g in its
 * high 40 bits and the next unclaimed item in its low 24; an item is
 * claimed by compare-and-swap, which fails once a newer job replaced the
 * word, so a helper that wakes up late can never take an item of the wrong
 * job. The job's fields live in slot g & 1 and are not rewritten before
 * job g + 2, after every item of g + 1 is done. The caller publishes the
 * job, runs items itself, then waits until `done` reaches the item count.
 * Helpers with a slot index at or above the job's thread limit skip it.
 * The backend is driven from one thread at a time (the caller); a second,
 * concurrent caller runs its jobs serially.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "backend/cpu/cpu.h"

#define POOL_MAX_THREADS 64
#define POOL_ITEM_BITS 24
#define POOL_ITEM_MASK ((UINT64_C(1) << POOL_ITEM_BITS) - 1)
/* Helpers spin this long after their last job before they sleep. */
#define POOL_SPIN_NS 200000
/* The caller spins this many rounds for a helper's item, then yields. */
#define POOL_WAIT_SPINS 2000

typedef struct PoolJob {
    _Atomic(CpuTaskFn) fn;
    _Atomic(void *) ctx;
    atomic_int n_items;
    atomic_int n_threads; /* slots [0, n_threads) may take items */
    atomic_int done;      /* items finished */
} PoolJob;

static struct {
    pthread_mutex_t lock;      /* creation of helpers, thread count */
    atomic_int n_threads;      /* threads in use, the caller included */
    int n_helpers;             /* helpers created (slots 1..n_helpers) */
    _Atomic uint64_t claim;    /* generation << POOL_ITEM_BITS | next item */
    atomic_uint wake;          /* futex: low bits of the last generation */
    atomic_uint config;        /* futex: bumped when n_threads changes */
    atomic_int sleepers;       /* helpers asleep (or going to sleep) on wake */
    atomic_int busy;           /* a caller is inside cpu_parallel */
    uint64_t gen;              /* last generation published (the caller's) */
    PoolJob job[2];
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

static _Thread_local int tls_slot;    /* 0: a caller; k: helper k */
static _Thread_local int tls_in_task; /* inside an item: nested jobs run serially */

static long futex(atomic_uint *word, int op, unsigned val)
{
    return syscall(SYS_futex, (unsigned *)word, op, val, NULL, NULL, 0);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Claims the next item of generation gen; -1 when none is left or a newer
 * job has replaced gen. */
static int pool_claim(uint64_t gen, int n_items)
{
    uint64_t c = atomic_load_explicit(&pool.claim, memory_order_acquire);
    for (;;) {
        if (c >> POOL_ITEM_BITS != gen) return -1;
        int next = (int)(c & POOL_ITEM_MASK);
        if (next >= n_items) return -1;
        if (atomic_compare_exchange_weak_explicit(&pool.claim, &c, c + 1, memory_order_acq_rel,
                                                  memory_order_acquire))
            return next;
    }
}

/* Runs every item of generation gen that this thread can claim. */
static void pool_work(uint64_t gen, PoolJob *j)
{
    CpuTaskFn fn = atomic_load_explicit(&j->fn, memory_order_relaxed);
    void *ctx = atomic_load_explicit(&j->ctx, memory_order_relaxed);
    int n = atomic_load_explicit(&j->n_items, memory_order_relaxed);
    int i;
    while ((i = pool_claim(gen, n)) >= 0) {
        tls_in_task = 1;
        fn(ctx, i, tls_slot);
        tls_in_task = 0;
        atomic_fetch_add_explicit(&j->done, 1, memory_order_release);
    }
}

static void *pool_helper(void *arg)
{
    tls_slot = (int)(intptr_t)arg;
    uint64_t seen = atomic_load(&pool.claim) >> POOL_ITEM_BITS;
    int64_t deadline = now_ns() + POOL_SPIN_NS;
    for (unsigned spins = 0;; spins++) {
        if (tls_slot >= atomic_load_explicit(&pool.n_threads, memory_order_relaxed)) {
            /* not in use: sleep until the thread count changes */
            unsigned cfg = atomic_load(&pool.config);
            if (tls_slot >= atomic_load(&pool.n_threads))
                futex(&pool.config, FUTEX_WAIT_PRIVATE, cfg);
            deadline = now_ns() + POOL_SPIN_NS;
            continue;
        }
        uint64_t gen = atomic_load_explicit(&pool.claim, memory_order_acquire) >> POOL_ITEM_BITS;
        if (gen != seen) {
            seen = gen;
            PoolJob *j = &pool.job[gen & 1];
            if (tls_slot < atomic_load_explicit(&j->n_threads, memory_order_relaxed)) {
                pool_work(gen, j);
                deadline = now_ns() + POOL_SPIN_NS;
            }
            continue;
        }
        cpu_relax();
        if (spins % 256 != 0 || now_ns() < deadline) continue;
        /* idle for POOL_SPIN_NS: sleep until the next job is published */
        atomic_fetch_add(&pool.sleepers, 1);
        unsigned w = atomic_load(&pool.wake);
        if (atomic_load(&pool.claim) >> POOL_ITEM_BITS == seen)
            futex(&pool.wake, FUTEX_WAIT_PRIVATE, w);
        atomic_fetch_sub(&pool.sleepers, 1);
        deadline = now_ns() + POOL_SPIN_NS;
    }
    return NULL;
}

/* Starts helpers up to slot n - 1 (under pool.lock). Signals stay with the
 * caller's threads: helpers block them all. */
static void pool_grow(int n)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    while (pool.n_helpers < n - 1) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &attr, pool_helper, (void *)(intptr_t)(pool.n_helpers + 1));
        pthread_attr_destroy(&attr);
        NN_CHECK(rc == 0, "cpu backend: cannot start a helper thread (error %d)", rc);
        pool.n_helpers++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

int cpu_set_threads(int n)
{
    if (n < 1) n = 1;
    if (n > POOL_MAX_THREADS) n = POOL_MAX_THREADS;
    pthread_mutex_lock(&pool.lock);
    pool_grow(n);
    atomic_store(&pool.n_threads, n);
    atomic_fetch_add(&pool.config, 1);
    futex(&pool.config, FUTEX_WAKE_PRIVATE, INT_MAX);
    pthread_mutex_unlock(&pool.lock);
    return n;
}

int cpu_in_parallel(void) { return tls_in_task; }

int cpu_threads(void)
{
    int n = atomic_load_explicit(&pool.n_threads, memory_order_relaxed);
    if (n == 0) n = cpu_set_threads(cpu_ws_slots()); /* first use: every processor */
    return n;
}

void cpu_parallel(CpuTaskFn fn, void *ctx, int n_items, int max_threads)
{
    if (n_items <= 0) return;
    NN_CHECK((uint64_t)n_items <= POOL_ITEM_MASK, "cpu_parallel: %d items", n_items);
    int nt = tls_in_task ? 1 : cpu_threads();
    if (max_threads > 0 && nt > max_threads) nt = max_threads;
    if (nt > n_items) nt = n_items;
    int expected = 0;
    if (nt <= 1 || !atomic_compare_exchange_strong(&pool.busy, &expected, 1)) {
        for (int i = 0; i < n_items; i++) fn(ctx, i, tls_slot);
        return;
    }
    uint64_t gen = ++pool.gen;
    PoolJob *j = &pool.job[gen & 1];
    atomic_store_explicit(&j->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&j->ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&j->n_items, n_items, memory_order_relaxed);
    atomic_store_explicit(&j->n_threads, nt, memory_order_relaxed);
    atomic_store_explicit(&j->done, 0, memory_order_relaxed);
    atomic_store(&pool.claim, gen << POOL_ITEM_BITS); /* publishes the fields above */
    atomic_store(&pool.wake, (unsigned)gen);
    if (atomic_load(&pool.sleepers) > 0) futex(&pool.wake, FUTEX_WAKE_PRIVATE, INT_MAX);
    pool_work(gen, j);
    for (unsigned spins = 0; atomic_load_explicit(&j->done, memory_order_acquire) < n_items;
         spins++) {
        if (spins < POOL_WAIT_SPINS)
            cpu_relax();
        else
            sched_yield(); /* the helper holding an item may need this core */
    }
    atomic_store(&pool.busy, 0);
}

/* The cpu backend runs n threads: the caller and n - 1 helpers of its pool
 * (this file says why not OpenMP); OpenBLAS (Debian's pthread
 * build, with a second, spinning pool) is set to one thread and called from
 * the pool's threads on blocks of each product (cpu_sgemm), so there is one
 * pool and no nesting. n <= 0: the CPUs of this process's affinity mask. */
int backend_cpu_set_threads(int n)
{
    if (n <= 0) n = cpu_ws_slots();
    openblas_set_num_threads(1);
    return cpu_set_threads(n);
}
