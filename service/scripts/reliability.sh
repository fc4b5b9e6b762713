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
#      (2 to 4: reliability_load.py);
#   5. kill -9 during a reindex, and a restart;
#   6. the disk filling up during a reindex;
#   7. the answer log locked by another process;
#   8. API keys: missing, wrong, revoked, rate-exceeded, another corpus
#      (5 to 8: reliability_faults.py, each on servers of its own).
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

# Small corpora of its own, indexed once per work dir. The fuzzing server
# serves two healthy ones, so that questions naming no corpus are routed.
corpus="$work/fuzz/clinic"
if [ ! -f "$corpus/corpus.toml" ]; then
  mkdir -p "$corpus/docs"
  printf 'name = "clinic"\nscope = "Opening hours and services of the clinic."\n[[sources]]\npath = "docs"\n' > "$corpus/corpus.toml"
  printf -- '---\ntitle: Opening hours\ndate: 2025-01-05\n---\n# Opening hours\n\nThe clinic opens at nine on Saturdays and closes at noon. On weekdays it opens at eight.\n' > "$corpus/docs/hours.md"
  printf -- '---\ntitle: Services\ndate: 2025-02-01\n---\n# Services\n\nThe pharmacy is on the ground floor. Blood tests need an appointment.\n' > "$corpus/docs/services.md"
fi
garden="$work/fuzz/garden"
if [ ! -f "$garden/corpus.toml" ]; then
  mkdir -p "$garden/docs"
  printf 'name = "garden"\nscope = "Watering and pruning in the community garden."\n[[sources]]\npath = "docs"\n' > "$garden/corpus.toml"
  printf -- '---\ntitle: Watering\ndate: 2025-03-01\n---\n# Watering\n\nThe beds are watered at dawn for twenty minutes. Roses are pruned in March.\n' > "$garden/docs/watering.md"
fi
# The load server serves the clinic beside the same documents behind a
# guardrail that sleeps past its deadline on every call (a test component of
# tests/plugins, `make plugins`). It is kept out of the fuzzing, which it
# would only slow down.
faulty="$work/load/faulty"
if [ ! -f "$faulty/corpus.toml" ]; then
  mkdir -p "$faulty"
  cp -r "$corpus/docs" "$faulty/"
  ln -sfn "$corpus" "$work/load/clinic"
  printf 'name = "faulty"\nscope = "Opening hours and services of the clinic."\n[[sources]]\npath = "docs"\n[[guardrails]]\nplugin = "hostile-guardrail"\nstage = "input"\ntimeout_ms = 200\n[guardrails.config]\ndo = "sleep"\n' > "$faulty/corpus.toml"
fi
export CANDOR_PLUGINS_DIR="${CANDOR_PLUGINS_DIR:-$root/target/plugins/wasm32-wasip2/release}"
[ -f "$CANDOR_PLUGINS_DIR/hostile_guardrail.wasm" ] || { echo "missing the test components: run \`make plugins\` first" >&2; exit 1; }
export CANDOR_ASSETS_DIR="${CANDOR_ASSETS_DIR:-$root/.assets}"
for c in "$corpus" "$garden" "$faulty"; do
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

start_server "$work/fuzz"
# Every check, every phase (examples, coverage, fuzzing, stateful), a fixed seed.
set +e
(cd "$work" && "$venv/bin/st" run "$base/openapi.json" --checks all -H "Authorization: Bearer $token" \
  -n "$examples" --seed "$seed" --no-color >"$work/schemathesis.txt" 2>&1)
status=$?
set -e
summary="$(grep -E '^ *[0-9]+ generated' "$work/schemathesis.txt" | tail -1 | sed 's/^ *//')"
fuzz_alive="$(stop_server)"

start_server "$work/load"

set +e
python3 "$root/service/scripts/reliability_load.py" "$base" clinic "$seconds" "$slow" \
  "$header_timeout_s" faulty >"$work/load.jsonl" 2>&1
load_status=$?
set -e
load_alive="$(stop_server)"
alive=$([ "$fuzz_alive" = yes ] && [ "$load_alive" = yes ] && echo yes || echo no)

set +e
python3 "$root/service/scripts/reliability_faults.py" "$candor" "$work" "$seconds" "$token" \
  >"$work/faults.jsonl" 2>"$work/faults.err"
faults_status=$?
set -e
# `field PART KEY...`: the part's figures from the reports, space-separated.
field() { python3 -c 'import json,sys; r=[json.loads(l) for f in sys.argv[1:3] for l in open(f) if l.startswith("{")]; p=[x for x in r if x["part"].startswith(sys.argv[3] + ".")]; print(" ".join(str(p[0].get(k)) for k in sys.argv[4:]) if p else "none")' "$work/load.jsonl" "$work/faults.jsonl" "$@"; }

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
printf '%-44s %s\n' "5. kill -9 mid-reindex (phase), restart s" "$(field 5 killed_in_phase restart_to_ready_s | sed 's/ /, /')"
printf '%-44s %s\n' "   answered old generation: before, after" "$(field 5 before_kill_answered_old_generation before_kill_requests | tr ' ' /), $(field 5 after_restart_answered_old_generation after_restart_requests | tr ' ' /)"
printf '%-44s %s\n' "   cut by the kill, left behind, next reindex" "$(field 5 cut_by_the_kill left_behind next_reindex | sed 's/ /, /g')"
printf '%-44s %s\n' "6. full disk: generation bytes; room left" "$(field 6 generation_bytes); $(field 6 room_left_bytes)"
printf '%-44s %s\n' "   jobs" "$(field 6 jobs)"
printf '%-44s %s\n' "   their causes" "$(field 6 job_errors)"
printf '%-44s %s\n' "   answered meanwhile (not logged)" "$(field 6 answered_serving_generation requests | tr ' ' /) ($(field 6 answered_unlogged))"
printf '%-44s %s\n' "   left behind, reindex with room" "$(field 6 left_behind), $(field 6 reindex_with_room), generations $(field 6 generations)"
printf '%-44s %s\n' "7. answer log locked: served with a warning" "$(field 7 answered_with_a_warning_no_answer_id requests | tr ' ' /), counted $(field 7 failures_counted), logged again $(field 7 logged_again_after)/5"
printf '%-44s %s\n' "8. keys: missing, wrong" "$(field 8 'missing key' 'wrong key')"
printf '%-44s %s\n' "   other corpus, allowed corpus" "$(field 8 'corpus the key may not read' 'allowed corpus')"
printf '%-44s %s\n' "   6 at once (burst 3), retry-after" "$(field 8 'past the rate (6 at once, burst 3)' retry_after)"
printf '%-44s %s\n' "   revoked by a reload" "$(field 8 'revoked by a reload')"
printf '%-44s %s\n' "server still up afterwards" "$alive"
if [ "$status" -ne 0 ] || [ "$load_status" -ne 0 ] || [ "$faults_status" -ne 0 ] || [ "$alive" != yes ]; then
  echo "reliability: failed; the reports are under $work (schemathesis.txt, load.jsonl, faults.jsonl)" >&2
  grep -E 'ST[0-9]+|curl' "$work/schemathesis.txt" | head -40 >&2
  cat "$work/load.jsonl" "$work/faults.jsonl" "$work/faults.err" >&2
  exit 1
fi
