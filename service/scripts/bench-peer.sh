#!/usr/bin/env bash
# Candor against the Python peer (LlamaIndex hybrid RRF, same ONNX model) on BEIR
# SciFact, on this machine, in one go: installs the peer into a venv, runs it,
# runs `candor eval beir` in hybrid mode on a fresh index, and writes a
# side-by-side table with the ratios.
#
# Usage: service/scripts/bench-peer.sh [work-dir]   (default: target/bench-peer)
# Needs the release binary (`make build`), python3 with venv and pip, PyPI, and
# the shared reference data and peer harness beside the project.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
shared="${CANDOR_SHARED:-$root/../shared}"
work="${1:-$root/target/bench-peer}"
candor="$root/target/release/candor"
scifact="$shared/data/beir/scifact"
[ -x "$candor" ] || { echo "missing $candor: run \`make build\` first" >&2; exit 1; }
[ -f "$scifact/corpus.jsonl" ] || { echo "missing SciFact at $scifact" >&2; exit 1; }
[ -f "$shared/peers/llamaindex_hybrid.py" ] || { echo "missing the peer harness in $shared/peers" >&2; exit 1; }
mkdir -p "$work"

if [ ! -x "$work/venv/bin/python" ]; then
  python3 -m venv "$work/venv"
  "$work/venv/bin/pip" install --quiet --disable-pip-version-check -r "$shared/peers/requirements.txt"
fi

echo "== peer: LlamaIndex hybrid RRF" >&2
"$work/venv/bin/python" "$shared/peers/llamaindex_hybrid.py" --data "$scifact" \
  --model-dir "$root/.assets/model" --json-out "$work/peer.json" > /dev/null

echo "== candor: eval beir, hybrid, fresh index" >&2
rm -rf "$work/candor-data"
"$candor" eval beir --data "$scifact" --split test --mode hybrid \
  --data-dir "$work/candor-data" --json > "$work/candor.json"

python3 - "$work/peer.json" "$work/candor.json" > "$work/comparison.md" <<'PY'
import json, sys
peer, candor = (json.load(open(p)) for p in sys.argv[1:3])
p = peer["results"]["hybrid_rrf"]
rows = [
    ("nDCG@10", p["ndcg@10"], candor["ndcg_at_10"], "{:.3f}"),
    ("Recall@100", p["recall@100"], candor["recall_at_100"], "{:.3f}"),
    ("MRR@10", p["mrr@10"], candor["mrr_at_10"], "{:.3f}"),
    ("index time (s)", peer["indexing_s"]["total"], candor["index"]["total_seconds"], "{:.1f}"),
    ("query p50 (ms)", p["latency_ms"]["p50"], candor["latency_ms"]["p50"], "{:.2f}"),
    ("query p99 (ms)", p["latency_ms"]["p99"], candor["latency_ms"]["p99"], "{:.2f}"),
]
print("| BEIR SciFact test | LlamaIndex hybrid RRF | Candor hybrid | Candor / peer |")
print("|---|---:|---:|---:|")
for name, a, b, f in rows:
    print(f"| {name} | {f.format(a)} | {f.format(b)} | {b / a:.3f} |")
print()
print(f"Candor indexed {candor['index']['chunks']} chunks (whole abstracts, in windows); "
      f"the peer embedded {peer['dataset']['docs']} documents truncated at {peer['model']['max_length']} tokens. "
      f"Peer peak RSS {peer['peak_rss_mib']['end']:.0f} MiB.")
PY
cat "$work/comparison.md"
