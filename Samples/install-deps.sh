#!/usr/bin/env bash
# Installs the Debian -dev packages Sentinel builds against, when any is missing.
# libzip (torch zip archives), json-c (ordered JSON), OpenBLAS (sgemm), libsodium (BLAKE2b), libcrypto (SHA-256);
# xz-utils unpacks the vendored fixtures (Samples/unpack-fixtures.sh).
set -euo pipefail
need=()
for pkg in libzip-dev libjson-c-dev libopenblas-dev libsodium-dev libssl-dev pkg-config xz-utils; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing ${need[*]}" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >&2
fi
