#!/usr/bin/env bash
# Measures the plugins as the project reports them: each guardrail's cost per call
# (a fresh instance every call, instantiation included) and the release-notes
# parser's throughput on a large generated changelog.
#
# Usage: service/scripts/bench-plugins.sh [work-dir]   (default: target/bench-plugins)
# Needs the release binary (`make build`, or CANDOR_BIN naming another build)
# and the components (`make plugins`).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
work="${1:-$root/target/bench-plugins}"
candor="${CANDOR_BIN:-$root/target/release/candor}"
plugins="$root/target/plugins/wasm32-wasip2/release"
[ -x "$candor" ] || { echo "missing $candor: run \`make build\` first" >&2; exit 1; }
[ -f "$plugins/release_notes.wasm" ] || { echo "missing components: run \`make plugins\` first" >&2; exit 1; }
mkdir -p "$work"
cd "$work"

# About 12 MB of Keep a Changelog entries, the same bytes on every run.
if [ ! -f CHANGELOG.md ]; then
  awk 'BEGIN {
    print "# Changelog\n\nAll notable changes to Ferrule are documented in this file.\n"
    for (i = 40000; i > 0; i--) {
      major = int(i / 1000); minor = int(i / 10) % 100; patch = i % 10
      day = 1 + i % 28; month = 1 + int(i / 28) % 12; year = 2000 + int(i / 336) % 100
      printf "## [%d.%d.%d] - %04d-%02d-%02d\n", major, minor, patch, year, month, day
      printf "### Added\n- Incremental backups of PostgreSQL databases through WAL archiving (change %d).\n", i
      printf "- A retention rule that keeps one monthly snapshot for a year.\n"
      printf "### Fixed\n- Restores no longer fail when a folder name contains a colon or a space.\n\n"
    }
  }' > CHANGELOG.md
fi

echo "== parser: release-notes on $(du -h CHANGELOG.md | cut -f1) CHANGELOG.md"
"$candor" plugin bench "$plugins/release_notes.wasm" --file CHANGELOG.md \
  --config '{"product":"Ferrule"}' --calls 5 --data-dir data

question="What is John's phone number?"
for plugin in pii_redact topic_policy prompt_injection; do
  echo "== guardrail: $plugin"
  config='{}'
  [ "$plugin" = topic_policy ] && config='{"topics":[{"name":"medical-dosage","phrases":["dosage","how many mg"],"reason":"Ask a pharmacist."}]}'
  "$candor" plugin bench "$plugins/$plugin.wasm" --question "$question" --config "$config" \
    --calls 2000 --data-dir data
done
