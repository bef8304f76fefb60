#!/usr/bin/env bash
# The whole test suite on a fresh machine: install what is missing, fetch the real sample model, run every test.
# Tests read ../shared (beside the checkout) or $SENTINEL_SHARED.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
Samples/install-deps.sh
Samples/fetch-minilm.sh >/dev/null
swift build --build-tests
swift test --skip-build
