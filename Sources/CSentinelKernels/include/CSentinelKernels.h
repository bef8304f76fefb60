#ifndef CSENTINEL_KERNELS_H
#define CSENTINEL_KERNELS_H

/// The dot product of x and y (n doubles) in the order of OpenBLAS's SkylakeX ddot kernel, which numpy
/// used for the SentinelLMs reference converter: 32 fused multiply-add lanes over n rounded down to a
/// multiple of 32, the reduction lane[8k+j] + lane[8k+4+j], ((a0 + a1) + a2) + a3, (v0 + v2) + (v1 + v3),
/// then the remainder added left to right without fusing.
/// Uses the CPU's FMA instructions when it has them (chosen at run time); the result is the same either way.
double CSentinelKernels_reference_ddot(const double *x, const double *y, long n);

/// The same without FMA instructions (fma() from libm): what runs on a CPU without FMA. For tests.
double CSentinelKernels_reference_ddot_generic(const double *x, const double *y, long n);

/// 1 when the CPU has AVX2 and FMA (what the encoder's Swift kernels are compiled for), else 0.
int CSentinelKernels_cpu_has_avx2_fma(void);

#endif
