#!/usr/bin/env bash
# `make test`: formatting and lints (`cargo fmt --check`, clippy with warnings
# as errors), then the workspace's tests, with a real Qdrant server behind the
# Qdrant tests whenever a Qdrant binary is at hand.
#
# The binary is CANDOR_TEST_QDRANT_BIN, or the test peer beside the project
# (../shared/bin/qdrant). With one, the end-to-end tests start and kill their
# own servers from it, and the library's contract, build and replica tests use
# one server this script starts on loopback (CANDOR_TEST_QDRANT_URL) and stops
# at the end. Without one those tests say they were skipped, and fail instead
# under CI, where the binary is always present.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
cargo="${CARGO:-cargo}"

qdrant="${CANDOR_TEST_QDRANT_BIN:-$root/../shared/bin/qdrant}"
if [ -x "$qdrant" ]; then
  export CANDOR_TEST_QDRANT_BIN="$qdrant"
  if [ -z "${CANDOR_TEST_QDRANT_URL:-}" ]; then
    storage="$(mktemp -d)"
    read -r http grpc < <(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1", 0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
    QDRANT__SERVICE__HOST=127.0.0.1 QDRANT__SERVICE__HTTP_PORT="$http" QDRANT__SERVICE__GRPC_PORT="$grpc" \
    QDRANT__STORAGE__STORAGE_PATH="$storage/storage" QDRANT__STORAGE__SNAPSHOTS_PATH="$storage/snapshots" \
    QDRANT__TELEMETRY_DISABLED=true "$qdrant" >"$storage/qdrant.log" 2>&1 &
    pid=$!
    trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$storage"' EXIT
    . "$root/service/scripts/wait-ready.sh"
    wait_ready "http://127.0.0.1:$http/readyz" "$pid" "$storage/qdrant.log" "the test Qdrant server"
    export CANDOR_TEST_QDRANT_URL="http://127.0.0.1:$grpc"
  fi
fi

# Arguments narrow the run (`service/scripts/test.sh -p candor --lib -- qdrant`).
if [ $# -eq 0 ]; then
  # The whole run checks style first: a formatting slip or a lint fails it in
  # seconds, before the long tests.
  "$cargo" fmt --version >/dev/null 2>&1 && "$cargo" clippy --version >/dev/null 2>&1 \
    || rustup component add rustfmt clippy
  "$cargo" fmt --all --check
  "$cargo" clippy --workspace --all-targets -- -D warnings
  set -- --workspace
fi
# Every test binary runs even after one fails, so a run reports all failures.
"$cargo" test --no-fail-fast "$@"
