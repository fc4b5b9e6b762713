#!/usr/bin/env bash
# Serves BEIR SciFact as a corpus and measures the answer API on it, as the
# project reports it: import, index, calibrate on the train questions against one
# half of the FiQA out-of-scope probes, then report on the test questions against
# the other half, and benchmark /v1/answer over HTTP.
#
# Usage: service/scripts/scifact-answers.sh [work-dir]   (default: target/scifact-answers)
# Needs the release binary (`make build`) and the shared reference data.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
data="${CANDOR_SHARED_DATA:-$root/../shared/data}"
work="${1:-$root/target/scifact-answers}"
candor="${CANDOR_BIN:-$root/target/release/candor}"
[ -x "$candor" ] || { echo "missing $candor: run \`make build\` first" >&2; exit 1; }
[ -f "$data/beir/scifact/corpus.jsonl" ] || { echo "missing SciFact at $data/beir/scifact" >&2; exit 1; }

mkdir -p "$work"
cd "$work"
if [ ! -f corpora/scifact/corpus.toml ]; then
  "$candor" import beir --data "$data/beir/scifact" --name scifact --out corpora/scifact \
    --scope "Scientific claims in biomedicine and the life sciences, checked against research paper abstracts: medicine, biology, genetics, immunology, epidemiology and public health. It does not cover finance, personal advice, technology products or current events."
fi
"$candor" index --corpus corpora/scifact --data-dir data

# Odd lines calibrate, even lines report: a fixed, reproducible split.
awk 'NR % 2 == 1' "$data/probes/out_of_scope_fiqa.jsonl" > fiqa-calibrate.jsonl
awk 'NR % 2 == 0' "$data/probes/out_of_scope_fiqa.jsonl" > fiqa-report.jsonl

"$candor" calibrate --corpus corpora/scifact --data-dir data \
  --in-scope corpora/scifact/eval/queries-train.jsonl --out-of-scope fiqa-calibrate.jsonl
"$candor" eval answer --corpus corpora/scifact --data-dir data \
  --in-scope corpora/scifact/eval/queries-test.jsonl --out-of-scope fiqa-report.jsonl

cat corpora/scifact/eval/queries-train.jsonl corpora/scifact/eval/queries-test.jsonl > questions.jsonl
"$candor" bench answer --corpora corpora --data-dir data --corpus scifact --questions questions.jsonl --requests 300
