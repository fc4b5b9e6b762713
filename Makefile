# Candor's two commands: `make run` and `make test`. Both fetch what they need.
.PHONY: run test assets wasm-target plugins build build-debug clean-data scifact-answers bench-plugins

CARGO ?= cargo
DATA_DIR ?= data
ADDR ?= 127.0.0.1:8080

## Fetch ONNX Runtime and the embedding model into .assets/ (idempotent, quiet when done).
assets:
	@service/scripts/fetch-assets.sh

## The WebAssembly target that plugins build for.
wasm-target:
	@rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

## Plugin components (wasm32-wasip2): plugins/ and the test plugins of tests/plugins/.
plugins: wasm-target
	$(CARGO) build $(patsubst plugins/%/,-p %,$(wildcard plugins/*/)) --target wasm32-wasip2 --release --target-dir target/plugins
	$(CARGO) build --manifest-path tests/plugins/Cargo.toml --target wasm32-wasip2 --release --target-dir target/plugins

build: assets
	$(CARGO) build --release --bin candor

build-debug: assets
	$(CARGO) build --bin candor

## Index the starter corpus and serve every corpus on $(ADDR).
run: build
	target/release/candor index --corpus corpora/starter --data-dir $(DATA_DIR)
	target/release/candor serve --corpora corpora --data-dir $(DATA_DIR) --addr $(ADDR)

## The whole test suite: unit tests, the real-model index tests, end-to-end HTTP tests.
test: assets plugins build-debug
	$(CARGO) test --workspace

## SciFact as a corpus: calibrate, report answer rates and citations, benchmark /v1/answer.
scifact-answers: build
	service/scripts/scifact-answers.sh

## Plugin benchmarks: guardrail cost per call, release-notes parser throughput.
bench-plugins: build plugins
	service/scripts/bench-plugins.sh

clean-data:
	rm -rf $(DATA_DIR)
