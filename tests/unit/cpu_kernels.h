/* cpu_kernels.h - which kernels the cpu backend runs on this machine:
 * printed by the cpu tests, and checked under NNSWEEP_AVX2=0 (the _generic
 * tests), which must run the paths of a CPU without AVX2 + FMA, or they
 * would check the AVX2 kernels a second time. Needs check.h and
 * backend/cpu/cpu.h. */
#ifndef NNSWEEP_TESTS_CPU_KERNELS_H
#define NNSWEEP_TESTS_CPU_KERNELS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_cpu_kernels(void)
{
    const char *env = getenv("NNSWEEP_AVX2");
    int avx2 = cpu_avx2_fma_available();
    printf("cpu kernels: %s\n", avx2 ? "AVX2 + FMA" : "generic (im2col, OpenBLAS)");
    if (env && strcmp(env, "0") == 0) CHECK(!avx2, "NNSWEEP_AVX2=0, yet the AVX2 kernels run");
}

#endif
