# Sourced by the Samples scripts: build settings for this machine.
# SENTINEL_TARGET_CPU (read by Package.swift) compiles the encoder's vector kernels for AVX2 + FMA when this
# CPU has both; set it to empty to build for baseline x86-64, or to another -target-cpu value.
if [ -z "${SENTINEL_TARGET_CPU+set}" ] && grep -qw avx2 /proc/cpuinfo 2>/dev/null && grep -qw fma /proc/cpuinfo 2>/dev/null; then
  export SENTINEL_TARGET_CPU=haswell
fi
# Debug builds (the test suite) compile the encoder and the scheme with -O: the end-to-end tests run the
# real model many times. SENTINEL_OPTIMIZE_DEBUG=0 turns it off.
export SENTINEL_OPTIMIZE_DEBUG=${SENTINEL_OPTIMIZE_DEBUG-1}
