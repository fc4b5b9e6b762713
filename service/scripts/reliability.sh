#!/usr/bin/env bash
# The reliability suite: a real server process on loopback, and
#   1. property-based requests generated from its own /openapi.json
#      (Schemathesis, pinned, in a venv under the work dir). Every route, every
#      check: no 5xx, every response valid against the schema, every
#      schema-valid request accepted;
#   2. slow clients: connections that send half a header, while normal
#      requests are timed; the server must close them all at its header timeout;
#   3. overload: new questions at twice the embedding bound; every request is
#      answered or shed with 503 `overloaded`;
#   4. a guardrail that times out on every call, in a corpus of its own, asked
#      by 16 clients at once while the other corpus's answers are timed
#      (2 to 4: reliability_load.py).
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

# A small corpus of its own, indexed once per work dir. The fuzzing server
# serves it alone: with several corpora, a search that names none is refused,
# which no schema can say.
corpus="$work/one/clinic"
if [ ! -f "$corpus/corpus.toml" ]; then
  mkdir -p "$corpus/docs"
  printf 'name = "clinic"\nscope = "Opening hours and services of the clinic."\n[[sources]]\npath = "docs"\n' > "$corpus/corpus.toml"
  printf -- '---\ntitle: Opening hours\ndate: 2025-01-05\n---\n# Opening hours\n\nThe clinic opens at nine on Saturdays and closes at noon. On weekdays it opens at eight.\n' > "$corpus/docs/hours.md"
  printf -- '---\ntitle: Services\ndate: 2025-02-01\n---\n# Services\n\nThe pharmacy is on the ground floor. Blood tests need an appointment.\n' > "$corpus/docs/services.md"
fi
# The load server adds the same documents behind a guardrail that sleeps past
# its deadline on every call (a test component of tests/plugins, `make plugins`).
faulty="$work/two/faulty"
if [ ! -f "$faulty/corpus.toml" ]; then
  mkdir -p "$faulty"
  cp -r "$corpus/docs" "$faulty/"
  ln -sfn "$corpus" "$work/two/clinic"
  printf 'name = "faulty"\nscope = "Opening hours and services of the clinic."\n[[sources]]\npath = "docs"\n[[guardrails]]\nplugin = "hostile-guardrail"\nstage = "input"\ntimeout_ms = 200\n[guardrails.config]\ndo = "sleep"\n' > "$faulty/corpus.toml"
fi
export CANDOR_PLUGINS_DIR="${CANDOR_PLUGINS_DIR:-$root/target/plugins/wasm32-wasip2/release}"
[ -f "$CANDOR_PLUGINS_DIR/hostile_guardrail.wasm" ] || { echo "missing the test components: run \`make plugins\` first" >&2; exit 1; }
export CANDOR_ASSETS_DIR="${CANDOR_ASSETS_DIR:-$root/.assets}"
for c in "$corpus" "$faulty"; do
  "$candor" index --corpus "$c" --data-dir "$work/data" >/dev/null 2>"$work/index.log" \
    || { cat "$work/index.log" >&2; exit 1; }
done

. "$root/service/scripts/wait-ready.sh"
token="reliability-admin-token"
server=""
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
# Serves the corpora under $1 on a free port: sets $server and $base.
start_server() {
  local port
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  CANDOR_ADMIN_TOKEN="$token" RUST_LOG=error "$candor" serve --corpora "$1" \
    --data-dir "$work/data" --addr "127.0.0.1:$port" --header-timeout-ms "${header_timeout_s}000" \
    >"$work/server.out" 2>"$work/server.log" &
  server=$!
  base="http://127.0.0.1:$port"
  wait_ready "$base/readyz" "$server" "$work/server.log" "the Candor server"
}
# Stops the server; says whether it was still up.
stop_server() {
  if kill -0 "$server" 2>/dev/null; then echo yes; else echo no; fi
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
}

start_server "$work/one"
# Every check, every phase (examples, coverage, fuzzing, stateful), a fixed seed.
set +e
(cd "$work" && "$venv/bin/st" run "$base/openapi.json" --checks all -H "Authorization: Bearer $token" \
  -n "$examples" --seed "$seed" --no-color >"$work/schemathesis.txt" 2>&1)
status=$?
set -e
summary="$(grep -E '^ *[0-9]+ generated' "$work/schemathesis.txt" | tail -1 | sed 's/^ *//')"
fuzz_alive="$(stop_server)"

start_server "$work/two"

set +e
python3 "$root/service/scripts/reliability_load.py" "$base" clinic "$seconds" "$slow" \
  "$header_timeout_s" faulty >"$work/load.jsonl" 2>&1
load_status=$?
set -e
load_alive="$(stop_server)"
alive=$([ "$fuzz_alive" = yes ] && [ "$load_alive" = yes ] && echo yes || echo no)
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
printf '%-44s %s\n' "4. failing guardrail: requests, blocked" "$(field 4 faulty_requests faulty_blocked_guardrail_unavailable | sed 's/ /, /'), p99 $(field 4 faulty_p99_ms) ms"
printf '%-44s %s\n' "   other corpus: requests, answered" "$(field 4 other_corpus_requests other_corpus_answered | sed 's/ /, /')"
printf '%-44s %s\n' "   other p50 / p99 ms, before and during" "$(field 4 other_p50_ms_before other_p99_ms_before | tr ' ' /), $(field 4 other_p50_ms_during other_p99_ms_during | tr ' ' /)"
printf '%-44s %s\n' "server still up afterwards" "$alive"
if [ "$status" -ne 0 ] || [ "$load_status" -ne 0 ] || [ "$alive" != yes ]; then
  echo "reliability: failed; the reports are $work/schemathesis.txt and $work/load.jsonl" >&2
  grep -E 'ST[0-9]+|curl' "$work/schemathesis.txt" | head -40 >&2
  cat "$work/load.jsonl" >&2
  exit 1
fi
