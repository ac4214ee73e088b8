/* check.h - the one test helper: CHECK with file:line, check_close with
 * atol + rtol * |ref| that prints the first mismatches and the max error.
 * Every test binary returns check_exit_code() from main: non-zero when any
 * check failed. GPU tests return CHECK_SKIP (77, CTest SKIP_RETURN_CODE)
 * when no GPU is present. */
#ifndef NNSWEEP_TESTS_CHECK_H
#define NNSWEEP_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stddef.h>

#define CHECK_SKIP 77

/* One pair of counters for the whole test binary, whichever of its files
 * a check is in (weak: each file that includes this defines them, the
 * linker keeps one); static ones would leave the checks of a second file
 * out of check_exit_code. */
__attribute__((weak)) int check_failures;
__attribute__((weak)) int check_count;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        check_count++;                                                         \
        if (!(cond)) {                                                         \
            check_failures++;                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
        }                                                                      \
    } while (0)

/* Compares n floats: |got - ref| <= atol + rtol * |ref| for each, NaN equal
 * only to NaN, an infinity only to the same infinity. Prints up to 5 mismatches and the max abs error. Returns 1
 * when all match. */
#define check_close(what, got, ref, n, atol, rtol) \
    check_close_at(__FILE__, __LINE__, (what), (got), (ref), (n), (atol), (rtol))

static inline int check_close_at(const char *file, int line, const char *what, const float *got,
                                 const float *ref, size_t n, double atol, double rtol)
{
    size_t bad = 0;
    double max_err = 0;
    size_t max_at = 0;
    for (size_t i = 0; i < n; i++) {
        double g = got[i], r = ref[i];
        int ok;
        if (isnan(r) || isnan(g)) {
            ok = isnan(r) && isnan(g);
        } else if (isinf(r) || isinf(g)) {
            ok = g == r; /* equal infinities match; inf - inf would be NaN */
        } else {
            double e = fabs(g - r);
            if (e > max_err) {
                max_err = e;
                max_at = i;
            }
            ok = e <= atol + rtol * fabs(r);
        }
        if (!ok) {
            if (bad < 5)
                fprintf(stderr, "%s:%d: %s[%zu]: got %.9g, expected %.9g (atol %g, rtol %g)\n",
                        file, line, what, i, g, r, atol, rtol);
            bad++;
        }
    }
    check_count++;
    if (bad) {
        check_failures++;
        fprintf(stderr, "%s:%d: %s: %zu of %zu values differ; max abs error %.3g at [%zu]\n", file,
                line, what, bad, n, max_err, max_at);
        return 0;
    }
    return 1;
}

static inline int check_exit_code(void)
{
    if (check_failures) {
        fprintf(stderr, "FAILED: %d of %d checks\n", check_failures, check_count);
        return 1;
    }
    printf("ok: %d checks\n", check_count);
    return 0;
}

#endif
