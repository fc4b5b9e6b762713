#!/usr/bin/env bash
# Serves restic's manual and changelog as a corpus and measures its answers, as a
# new user would set it up: a corpus folder whose sources are the shared copy of
# restic's docs (linked, never copied), the `rst` parser for the manual and
# `release-notes` for the changelog, calibrated with `candor calibrate` on the
# dev questions, then `candor eval answer` on them and, with the same
# calibration, on held-out sets it was not calibrated on.
#
# Usage: service/scripts/restic-answers.sh [work-dir] [questions.jsonl] [held-out.jsonl ...]
#   work-dir defaults to target/restic-answers; questions to the shared dev set;
#   the held-out sets to restic-second-set.jsonl (85 questions) and
#   restic-third-set.jsonl (115) beside this script, each written from
#   restic's docs without reading the dev set.
# Needs the release binary (`make build`), the plugins (`make plugins`) and the
# shared reference data.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
data="${CANDOR_SHARED_DATA:-$root/../shared/data}"
work="${1:-$root/target/restic-answers}"
questions="${2:-$data/docs/restic/questions-dev.jsonl}"
shift $(($# < 2 ? $# : 2))
held_out=("$@")
if [ ${#held_out[@]} -eq 0 ]; then
  held_out=("$root/service/scripts/restic-second-set.jsonl" "$root/service/scripts/restic-third-set.jsonl")
fi
candor="${CANDOR_BIN:-$root/target/release/candor}"
[ -x "$candor" ] || { echo "missing $candor: run \`make build\` first" >&2; exit 1; }
[ -f "$data/docs/restic/CHANGELOG.md" ] || { echo "missing restic's docs at $data/docs/restic" >&2; exit 1; }
[ -f "$questions" ] || { echo "missing $questions" >&2; exit 1; }
export CANDOR_PLUGINS_DIR="${CANDOR_PLUGINS_DIR:-$root/target/plugins/wasm32-wasip2/release}"

corpus="$work/corpora/restic"
mkdir -p "$corpus"
ln -sfn "$(cd "$data/docs/restic" && pwd)" "$corpus/restic"
cat > "$corpus/corpus.toml" <<'TOML'
# restic's user manual (reStructuredText) and its changelog, read from the link
# `restic/` to the shared copy.
name = "restic"
scope = """Using restic, the open-source backup program: installing it, preparing \
repositories (local, SFTP, REST server, S3 and other cloud storage, rclone), backing \
up, restoring, mounting, managing snapshots and retention (forget, prune, check, copy, \
rewrite), encryption and keys, scripting, tuning, troubleshooting, its repository \
design and REST protocol, and the history of its releases. It does not cover other \
backup tools or general IT advice."""

[[sources]]
path = "restic/doc"
glob = "*.rst"
[sources.parser]
plugin = "rst"

[[sources]]
path = "restic"
glob = "CHANGELOG.md"
[sources.parser]
plugin = "release-notes"
[sources.parser.config]
product = "restic"
series = "restic-releases"

[recency]
half_life_days = 730
weight = 0.05
TOML

# Questions as the commands take them: `text`, and for facts the gold strings
# and the document that answers (ids as this corpus names them), written to
# <dir>/in_scope.jsonl, unanswerable.jsonl and out_of_scope.jsonl.
split() {
python3 - "$1" "$2" <<'PY'
import json, os, sys
src, work = sys.argv[1], sys.argv[2]
os.makedirs(work, exist_ok=True)
out = {k: open(f"{work}/{k}.jsonl", "w") for k in ("in_scope", "unanswerable", "out_of_scope")}
kinds = {"fact": "in_scope", "unanswerable": "unanswerable", "oos": "out_of_scope"}
for n, line in enumerate(open(src, encoding="utf-8"), 1):
    if not line.strip():
        continue
    q = json.loads(line)
    kind = kinds.get(q.get("kind"))
    if kind is None:
        sys.exit(f"{src}:{n}: unknown kind {q.get('kind')!r}")
    row = {"text": q["q"]}
    if kind == "in_scope":
        doc = "restic/" + q["doc"]
        row.update(gold=q["gold"], doc=doc, relevant=[doc])
    out[kind].write(json.dumps(row) + "\n")
PY
}
split "$questions" "$work"

"$candor" index --corpus "$corpus" --data-dir "$work/data"
"$candor" calibrate --corpus "$corpus" --data-dir "$work/data" \
  --in-scope "$work/in_scope.jsonl" --unanswerable "$work/unanswerable.jsonl" \
  --out-of-scope "$work/out_of_scope.jsonl"
"$candor" eval answer --corpus "$corpus" --data-dir "$work/data" \
  --in-scope "$work/in_scope.jsonl" --unanswerable "$work/unanswerable.jsonl" \
  --out-of-scope "$work/out_of_scope.jsonl"
for set in "${held_out[@]}"; do
  [ -f "$set" ] || { echo "missing $set" >&2; exit 1; }
  dir="$work/held-out/$(basename "$set" .jsonl)"
  split "$set" "$dir"
  echo "held out: $(basename "$set"), same calibration:"
  "$candor" eval answer --corpus "$corpus" --data-dir "$work/data" \
    --in-scope "$dir/in_scope.jsonl" --unanswerable "$dir/unanswerable.jsonl" \
    --out-of-scope "$dir/out_of_scope.jsonl"
done
