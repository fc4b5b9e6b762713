# Candor's two commands: `make run` and `make test`. Both fetch what they need.
.PHONY: run test reliability assets llm llm-server wasm-target plugins chromium build build-debug clean-data scifact-answers restic-answers bench-plugins bench-peer

CARGO ?= cargo
DATA_DIR ?= data
ADDR ?= 127.0.0.1:8080

## Fetch ONNX Runtime and the embedding model into .assets/ (idempotent, quiet when done).
assets:
	@service/scripts/fetch-assets.sh

## The local language model (SmolLM2-135M-Instruct, GGUF) and its small
## OpenAI-compatible server (tests/llm-server, on node-llama-cpp).
llm:
	@service/scripts/fetch-llm.sh

## Serve the local model on $(LLM_PORT) for corpora with `[answer] composer = "llm"`.
LLM_PORT ?= 8091
llm-server: llm
	LLM_THREADS=$${LLM_THREADS:-1} node tests/llm-server/server.mjs .assets/llm/SmolLM2-135M-Instruct.Q4_1.gguf $(LLM_PORT)

## The WebAssembly target that plugins build for.
wasm-target:
	@rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

## Plugin components (wasm32-wasip2): plugins/ and the test plugins of tests/plugins/.
## Whole-program optimisation (LTO, one codegen unit) for the components only: it
## takes the release-notes parser from about 17 to about 24 MB/s, and would cost
## the service's own release build many minutes.
PLUGIN_PROFILE = CARGO_PROFILE_RELEASE_LTO=true CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
plugins: wasm-target
	$(PLUGIN_PROFILE) $(CARGO) build $(patsubst plugins/%/,-p %,$(wildcard plugins/*/)) --target wasm32-wasip2 --release --target-dir target/plugins
	$(PLUGIN_PROFILE) $(CARGO) build --manifest-path tests/plugins/Cargo.toml --target wasm32-wasip2 --release --target-dir target/plugins

build: assets
	$(CARGO) build --release --bin candor

build-debug: assets
	$(CARGO) build --bin candor

## Index every corpus under corpora/ (the Ferrule demo) and serve them on $(ADDR).
run: build plugins
	for c in corpora/*/; do target/release/candor index --corpus "$$c" --data-dir $(DATA_DIR) || exit 1; done
	target/release/candor serve --corpora corpora --data-dir $(DATA_DIR) --addr $(ADDR)

## Headless Chromium for the playground test (Debian's package).
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
	  || (apt-get update -q && apt-get install -y -q chromium) \
	  || (sudo apt-get update -q && sudo apt-get install -y -q chromium) \
	  || { echo "install chromium (Debian: apt-get install chromium) and run make test again" >&2; exit 1; }

## The whole test suite: unit tests, the real-model index tests, end-to-end HTTP tests,
## and the Qdrant tests against a real server when a Qdrant binary is at hand.
test: assets llm plugins build-debug chromium
	CARGO=$(CARGO) service/scripts/test.sh
	service/scripts/reliability.sh --short

## The reliability suite against release servers: every route fuzzed from
## /openapi.json (Schemathesis, pinned, in a venv it creates), slow clients,
## overload, a failing guardrail, kill -9 and a full disk during a reindex, a
## locked answer log, API keys. Prints figures.
reliability: build plugins
	service/scripts/reliability.sh

## SciFact as a corpus: calibrate, report answer rates and citations, benchmark /v1/answer.
scifact-answers: build
	service/scripts/scifact-answers.sh

## restic's manual and changelog as a corpus: index, calibrate and eval on the dev questions.
restic-answers: build plugins
	service/scripts/restic-answers.sh

## Plugin benchmarks: guardrail cost per call, release-notes parser throughput.
bench-plugins: build plugins
	service/scripts/bench-plugins.sh

## Candor against the LlamaIndex peer on SciFact, side by side (about 15 minutes).
bench-peer: build
	service/scripts/bench-peer.sh

clean-data:
	rm -rf $(DATA_DIR)
