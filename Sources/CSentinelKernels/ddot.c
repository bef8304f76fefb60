#include "CSentinelKernels.h"
#include <math.h>

/* No contraction: only the explicit fma() calls may fuse, or the order would not be the reference's. */
#pragma clang fp contract(off)

static inline __attribute__((always_inline)) double reference_ddot(const double *x, const double *y, long n) {
    double lane[32] = {0};
    long n32 = n & ~31L;
    for (long i = 0; i < n32; i += 32) {
        for (int l = 0; l < 32; l++) lane[l] = __builtin_fma(x[i + l], y[i + l], lane[l]);
    }
    double acc[4][4];
    for (int k = 0; k < 4; k++) {
        for (int j = 0; j < 4; j++) acc[k][j] = lane[8 * k + j] + lane[8 * k + 4 + j];
    }
    double v[4];
    for (int j = 0; j < 4; j++) v[j] = ((acc[0][j] + acc[1][j]) + acc[2][j]) + acc[3][j];
    double dot = (v[0] + v[2]) + (v[1] + v[3]);
    for (long i = n32; i < n; i++) {
        double p = x[i] * y[i];
        dot += p;
    }
    return dot;
}

__attribute__((target("avx2,fma"))) static double reference_ddot_fma(const double *x, const double *y, long n) {
    return reference_ddot(x, y, n);
}

double CSentinelKernels_reference_ddot_generic(const double *x, const double *y, long n) {
    return reference_ddot(x, y, n);
}

int CSentinelKernels_cpu_has_avx2_fma(void) {
    static int has = -1;
    if (has < 0) {
        __builtin_cpu_init();
        has = __builtin_cpu_supports("fma") && __builtin_cpu_supports("avx2");
    }
    return has;
}

double CSentinelKernels_reference_ddot(const double *x, const double *y, long n) {
    return CSentinelKernels_cpu_has_avx2_fma() ? reference_ddot_fma(x, y, n) : CSentinelKernels_reference_ddot_generic(x, y, n);
}
