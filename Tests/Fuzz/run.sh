#!/usr/bin/env bash
# Builds and runs one libFuzzer harness of this nested package (issue 12, item 1).
# Usage: Tests/Fuzz/run.sh NAME SECONDS [extra libFuzzer flags]    (NAME: one of `Tests/Fuzz/run.sh list`)
#        Tests/Fuzz/run.sh build                                   (builds every harness)
# Seeds are made from the vendored fixtures and the sample model (make-seeds.py) into Tests/Fuzz/.corpus/seeds/NAME;
# the growing corpus is Tests/Fuzz/.corpus/NAME, crashes/timeouts/OOMs go to Tests/Fuzz/.artifacts/NAME/, the log
# to Tests/Fuzz/.logs/NAME.log (all git-ignored). A finding is committed by copying the artifact to
# Tests/Fuzz/Regressions/NAME/ (FuzzRegressionTests replays that folder in the normal suite) and fixing the cause.
# Runs at nice 10; on a shared machine run at most two at a time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
harnesses="FuzzSafeTensors FuzzPickle FuzzTorchZip FuzzTorchLegacy FuzzJSON FuzzTokenizerJSON FuzzWordPiece FuzzByteLevelBPE FuzzUnigram"
name=${1:?usage: run.sh NAME SECONDS | build | list}
if [ "$name" = list ]; then echo $harnesses; exit 0; fi

# The main package's identity is the name of its directory (Package.swift reads it from here).
export SENTINEL_PACKAGE=$(basename "$root" | tr '[:upper:]' '[:lower:]')
export SENTINEL_SHARED=${SENTINEL_SHARED:-$root/Samples/.cache/shared}
export SENTINEL_FUZZ_MINILM=${SENTINEL_FUZZ_MINILM:-$root/Samples/.cache/all-MiniLM-L6-v2}
[ -d "$SENTINEL_SHARED/fixtures" ] || "$root/Samples/unpack-fixtures.sh" >&2
[ -f "$SENTINEL_FUZZ_MINILM/.complete" ] || "$root/Samples/fetch-minilm.sh" >/dev/null
# No SENTINEL_TARGET_CPU / SENTINEL_OPTIMIZE_DEBUG here: the harnesses build for baseline x86-64.
unset SENTINEL_TARGET_CPU SENTINEL_OPTIMIZE_DEBUG
config=${FUZZ_CONFIGURATION:-release}
# --sanitize=fuzzer makes libFuzzer's main the executables' entry point; but SwiftPM passes the two sanitizers to
# swiftc as two flags, of which swiftc keeps the last (no coverage counters in Swift code), so the combined flag
# follows: every Swift module gets both the coverage counters and AddressSanitizer.
flags=(-c "$config" --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address)
build() {
  (cd "$here" && nice -n 10 swift build "${flags[@]}" "$@")
}
if [ "$name" = build ]; then build; exit 0; fi
case " $harnesses " in *" $name "*) ;; *) echo "unknown harness $name (one of: $harnesses)" >&2; exit 64 ;; esac
seconds=${2:?usage: run.sh NAME SECONDS}
shift 2
built=$(cd "$here" && swift build "${flags[@]}" --show-bin-path)/$name
# FUZZ_SKIP_BUILD=1 runs the binary built last (while sources are being edited for a fix).
if [ -z "${FUZZ_SKIP_BUILD:-}" ] && [ ! -f "$here/.skip-build" ] || [ ! -x "$built" ]; then build --product "$name" >&2; fi
# Run a copy, so that a rebuild (a fix being tested) does not swap the binary under a running fuzzer.
mkdir -p "$here/.bin"
bin="$here/.bin/$name.$$"
cp "$built" "$bin"
trap 'rm -f "$bin"' EXIT

seeds="$here/.corpus/seeds"
if [ ! -d "$seeds/$name" ]; then
  rm -rf "$seeds.tmp" && python3 "$here/make-seeds.py" "$SENTINEL_SHARED" "$SENTINEL_FUZZ_MINILM" "$seeds.tmp" >&2
  rm -rf "$seeds" && mv "$seeds.tmp" "$seeds"
fi
corpus="$here/.corpus/$name"
mkdir -p "$corpus" "$here/.artifacts/$name" "$here/.logs"
dict=()
[ -f "$here/Dictionaries/$name.dict" ] && dict=(-dict="$here/Dictionaries/$name.dict")
regressions=()
[ -d "$here/Regressions/$name" ] && regressions=("$here/Regressions/$name")
# -timeout: an input taking over 10 s is a finding (slow input); -rss_limit_mb: one over 2.5 GB is one too.
# SWIFT_BACKTRACE=enable=no: a Swift trap is reported by libFuzzer (the runtime's backtracer trips AddressSanitizer).
SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} \
  nice -n 10 "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2560 -max_len=65536 -print_final_stats=1 \
  -artifact_prefix="$here/.artifacts/$name/" "${dict[@]}" "$@" "$corpus" "$seeds/$name" "${regressions[@]}" 2>&1 | tee "$here/.logs/$name.log"
