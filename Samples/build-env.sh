# Sourced by the Samples scripts: build settings for this machine.
# SENTINEL_TARGET_CPU (read by Package.swift) compiles the encoder's vector kernels for AVX2 + FMA when this
# CPU has both; set it to empty to build for baseline x86-64, or to another -target-cpu value.
if [ -z "${SENTINEL_TARGET_CPU+set}" ] && grep -qw avx2 /proc/cpuinfo 2>/dev/null && grep -qw fma /proc/cpuinfo 2>/dev/null; then
  export SENTINEL_TARGET_CPU=haswell
fi
