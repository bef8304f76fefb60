#!/usr/bin/env bash
# The whole test suite on a fresh machine: install what is missing, fetch the real sample model, unpack the
# vendored fixtures and datasets (Tests/Fixtures, Samples/data) into Samples/.cache/shared, run every test.
# ../shared (or $SENTINEL_SHARED) is not needed; when present, VendoredFixturesTests compares the vendored copy with it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. Samples/build-env.sh
Samples/install-deps.sh
Samples/fetch-minilm.sh >/dev/null
Samples/unpack-fixtures.sh >/dev/null
# The Python venv of the HuggingFace interoperability check (InteropTests; Samples/interop). It is created once
# (about 1 GB: CPU torch, transformers); a failed set-up fails the run. SENTINEL_INTEROP=0 skips the venv and the test.
if [ "${SENTINEL_INTEROP:-1}" != 0 ]; then
  Samples/interop/setup.sh >/dev/null || { echo "Samples/interop/setup.sh failed (SENTINEL_INTEROP=0 skips the interop test)" >&2; exit 1; }
fi
# The code is kept formatted (.swift-format); a difference fails the run after the tests.
format_status=0
Samples/check-format.sh || format_status=1
swift build --build-tests
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
swift test --skip-build --disable-swift-testing 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One plain closing line: "N passed, N failed" from XCTest's final summary.
summary=$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with [0-9]+ failures?" "$log" | tail -n 1)
total=$(echo "$summary" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/')
failed=$(echo "$summary" | sed -E 's/.*with ([0-9]+) failures?.*/\1/')
if [ -n "$summary" ]; then
  echo "tests: $((total - failed)) passed, $failed failed"
fi
if [ "$format_status" -ne 0 ]; then
  echo "Samples/check-format.sh failed: run Samples/check-format.sh --fix" >&2
  [ "$status" -ne 0 ] || status=1
fi
exit "$status"
