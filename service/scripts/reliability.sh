#!/usr/bin/env bash
# The reliability suite: a real server process on loopback, and
#   1. property-based requests generated from its own /openapi.json
#      (Schemathesis, pinned, in a venv under the work dir). Every route, every
#      check: no 5xx, every response valid against the schema, every
#      schema-valid request accepted;
#   2. slow clients: connections that send half a header, while normal
#      requests are timed; the server must close them all at its header timeout;
#   3. overload: new questions at twice the embedding bound; every request is
#      answered or shed with 503 `overloaded` (reliability_load.py).
# Prints a figure table.
#
# Usage: service/scripts/reliability.sh [--short] [work-dir]
#   --short: fewer examples per route, on the debug build (what `make test` runs).
#   Default: target/release/candor (`make build`); CANDOR_BIN names another.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
short=false
if [ "${1:-}" = --short ]; then short=true; shift; fi
work="${1:-$root/target/reliability}"
if $short; then
  candor="${CANDOR_BIN:-$root/target/debug/candor}"; examples=15; seconds=3; slow=100
else
  candor="${CANDOR_BIN:-$root/target/release/candor}"; examples=200; seconds=30; slow=1000
fi
header_timeout_s=2
schemathesis=4.32.5
seed=1
[ -x "$candor" ] || { echo "missing $candor: run \`make build\` (or \`make build-debug\` for --short)" >&2; exit 1; }
mkdir -p "$work"
work="$(cd "$work" && pwd)"

venv="$work/venv"
if [ ! -x "$venv/bin/st" ] || ! "$venv/bin/st" --version 2>/dev/null | grep -q "$schemathesis"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==$schemathesis"
fi

# A small corpus of its own, indexed once per work dir.
corpus="$work/corpora/clinic"
if [ ! -f "$corpus/corpus.toml" ]; then
  mkdir -p "$corpus/docs"
  printf 'name = "clinic"\nscope = "Opening hours and services of the clinic."\n[[sources]]\npath = "docs"\n' > "$corpus/corpus.toml"
  printf -- '---\ntitle: Opening hours\ndate: 2025-01-05\n---\n# Opening hours\n\nThe clinic opens at nine on Saturdays and closes at noon. On weekdays it opens at eight.\n' > "$corpus/docs/hours.md"
  printf -- '---\ntitle: Services\ndate: 2025-02-01\n---\n# Services\n\nThe pharmacy is on the ground floor. Blood tests need an appointment.\n' > "$corpus/docs/services.md"
fi
export CANDOR_ASSETS_DIR="${CANDOR_ASSETS_DIR:-$root/.assets}"
"$candor" index --corpus "$corpus" --data-dir "$work/data" >/dev/null 2>"$work/index.log" \
  || { cat "$work/index.log" >&2; exit 1; }

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
token="reliability-admin-token"
CANDOR_ADMIN_TOKEN="$token" RUST_LOG=error "$candor" serve --corpora "$work/corpora" \
  --data-dir "$work/data" --addr "127.0.0.1:$port" --header-timeout-ms "${header_timeout_s}000" \
  >"$work/server.out" 2>"$work/server.log" &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT
base="http://127.0.0.1:$port"
. "$root/service/scripts/wait-ready.sh"
wait_ready "$base/readyz" "$server" "$work/server.log" "the Candor server"

# Every check, every phase (examples, coverage, fuzzing, stateful), a fixed seed.
set +e
(cd "$work" && "$venv/bin/st" run "$base/openapi.json" --checks all -H "Authorization: Bearer $token" \
  -n "$examples" --seed "$seed" --no-color >"$work/schemathesis.txt" 2>&1)
status=$?
set -e
summary="$(grep -E '^ *[0-9]+ generated' "$work/schemathesis.txt" | tail -1 | sed 's/^ *//')"

set +e
python3 "$root/service/scripts/reliability_load.py" "$base" clinic "$seconds" "$slow" \
  "$header_timeout_s" >"$work/load.jsonl" 2>&1
load_status=$?
set -e
kill -0 "$server" 2>/dev/null && alive=yes || alive=no
field() { python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]; p=[x for x in r if x["part"].startswith(sys.argv[2])]; print(" ".join(str(p[0].get(k)) for k in sys.argv[3:]) if p else "none")' "$work/load.jsonl" "$@"; }

printf '\n%-44s %s\n' "part" "figure"
printf '%-44s %s\n' "1. fuzzing every route (schemathesis $schemathesis)" "${summary:-no summary}"
printf '%-44s %s\n' "   examples per route, seed" "$examples, $seed"
printf '%-44s %s\n' "2. slow clients: half-header connections" "$(field 2 half_header_connections), closed at the ${header_timeout_s} s header timeout: $(field 2 closed_by_server_within_timeout_plus_1s)"
printf '%-44s %s\n' "   normal requests during, answered" "$(field 2 normal_requests normal_answered | tr ' ' /)"
printf '%-44s %s\n' "   normal p50 / p99 ms, before and during" "$(field 2 normal_p50_ms_before normal_p99_ms_before | tr ' ' /), $(field 2 normal_p50_ms_during normal_p99_ms_during | tr ' ' /)"
printf '%-44s %s\n' "3. overload: target rps, seconds, sent" "$(field 3 target_rps seconds sent | sed 's/ /, /g')"
printf '%-44s %s\n' "   answered (rps), p50 / p99 ms" "$(field 3 answered answered_rps | sed 's/ / (/;s/$/)/'), $(field 3 answered_p50_ms answered_p99_ms | tr ' ' /)"
printf '%-44s %s\n' "   shed 503 overloaded, p99 ms" "$(field 3 shed_503_overloaded shed_p99_ms | sed 's/ /, /')"
printf '%-44s %s\n' "   other outcomes" "$(field 3 other_outcomes)"
printf '%-44s %s\n' "server still up afterwards" "$alive"
if [ "$status" -ne 0 ] || [ "$load_status" -ne 0 ] || [ "$alive" != yes ]; then
  echo "reliability: failed; the reports are $work/schemathesis.txt and $work/load.jsonl" >&2
  grep -E 'ST[0-9]+|curl' "$work/schemathesis.txt" | head -40 >&2
  cat "$work/load.jsonl" >&2
  exit 1
fi
