#!/bin/sh
# The container's start: index every corpus under $CANDOR_CORPORA (incremental,
# so a restart re-embeds only what changed), then serve them all on port 8080.
set -eu
for corpus in "$CANDOR_CORPORA"/*/; do
  [ -f "$corpus/corpus.toml" ] || continue
  candor index --corpus "$corpus" --data-dir "$CANDOR_DATA"
done
exec candor serve --corpora "$CANDOR_CORPORA" --data-dir "$CANDOR_DATA" --addr 0.0.0.0:8080
