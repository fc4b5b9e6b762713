#!/bin/sh
# The container's start: index every corpus under $CANDOR_CORPORA (incremental,
# so a restart re-embeds only what changed), then serve them all on port 8080.
# Replicas sharing a Qdrant server with one that indexes set
# CANDOR_INDEX_AT_START=0: they copy the generations it publishes instead.
set -eu
if [ "${CANDOR_INDEX_AT_START:-1}" = 1 ]; then
  for corpus in "$CANDOR_CORPORA"/*/; do
    [ -f "$corpus/corpus.toml" ] || continue
    candor index --corpus "$corpus" --data-dir "$CANDOR_DATA"
  done
fi
exec candor serve --corpora "$CANDOR_CORPORA" --data-dir "$CANDOR_DATA" --addr 0.0.0.0:8080
