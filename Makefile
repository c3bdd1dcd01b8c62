# followup: make help lists the targets.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Every install comes from the hashed lock files (see docs/deployment.md#pinned-versions):
# the runtime packages for make run, the runtime and dev packages for the tests and tools.
RUNTIME_LOCK := requirements/runtime.txt
DEV_LOCK := requirements/dev.txt
RUNTIME_STAMP := $(VENV)/.runtime-stamp
DEV_STAMP := $(VENV)/.dev-stamp
# The lock files are written by this pip-tools release; make lock installs it in a
# throwaway virtualenv so that it never mixes with the project's packages.
PIP_TOOLS := pip-tools==7.6.2
# make lock LOCK_ARGS=--upgrade (every package) or LOCK_ARGS='--upgrade-package fastapi'
LOCK_ARGS ?=
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest-xdist workers for make test: one per CPU; JOBS=0 runs the suite in one process.
JOBS ?= logical

.DEFAULT_GOAL := help
.PHONY: help install install-runtime run migrate load serve test test-fast lint lock lock-check format bench \
	screenshots clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The runtime packages exactly as locked (--require-hashes: every package pinned and
# hashed), then the project itself without dependencies: it is not in the lock.
$(RUNTIME_STAMP): $(RUNTIME_LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r $(RUNTIME_LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $@

# The dev lock holds the runtime packages at the same versions, plus the tools: after
# make run it only adds the tools to the same virtualenv.
$(DEV_STAMP): $(DEV_LOCK) $(RUNTIME_STAMP)
	$(BIN)/pip install --quiet --require-hashes -r $(DEV_LOCK)
	@touch $@

install: $(DEV_STAMP) ## Create .venv and install the project with its dev tools (from the lock)

install-runtime: $(RUNTIME_STAMP) ## Create .venv and install the project's runtime packages only

migrate: install-runtime ## Migrate the database named by DATABASE_URL (default: ./followup.db)
	$(BIN)/followup db upgrade

load: migrate ## Load every protocol in schedules/
	$(BIN)/followup schedule load schedules/

run: load ## Migrate, load schedules/ and serve on http://$(HOST):$(PORT)
	@# A local SECRET_KEY, made once and kept in the git-ignored .env.
	@grep -qs '^SECRET_KEY=' .env || { test ! -s .env || echo; echo "SECRET_KEY=$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(48))')"; } >> .env
	$(BIN)/followup token bootstrap
	$(BIN)/followup serve --host $(HOST) --port $(PORT)

test: $(DEV_STAMP) ## Run the whole test suite on every CPU (PostgreSQL too when TEST_DATABASE_URL is set)
	$(BIN)/pytest -n $(JOBS) --dist loadgroup

bench: $(DEV_STAMP) ## Benchmarks at 100,000 subjects (PostgreSQL too when TEST_DATABASE_URL is set) into bench/results/
	$(BIN)/python -m bench.run

lint: lock-check ## The lock matches pyproject.toml; ruff, mypy --strict, the import layers, no import circles
	$(BIN)/ruff check app tests bench scripts
	$(BIN)/mypy app
	$(BIN)/lint-imports
	$(BIN)/python scripts/check_imports.py

lock: ## Rewrite requirements/*.txt from pyproject.toml (keeps the pins that still fit; needs PyPI)
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH" >&2; exit 1; }
	@tools="$$(mktemp -d)" && trap 'rm -rf "$$tools"' EXIT \
	&& $(PYTHON) -m venv "$$tools" \
	&& "$$tools/bin/pip" install --quiet '$(PIP_TOOLS)' \
	&& export CUSTOM_COMPILE_COMMAND="make lock" \
	&& compile="$$tools/bin/pip-compile --quiet --generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_ARGS)" \
	&& echo "$(RUNTIME_LOCK): the runtime dependencies" \
	&& $$compile --output-file $(RUNTIME_LOCK) pyproject.toml \
	&& echo "$(DEV_LOCK): the runtime ones at the same versions, and the dev extra" \
	&& $$compile --extra dev --constraint $(RUNTIME_LOCK) --output-file $(DEV_LOCK) pyproject.toml

lock-check: $(DEV_STAMP) ## Fail in one line if pyproject.toml and requirements/*.txt disagree (no network)
	$(BIN)/python scripts/check_lock.py

screenshots: $(DEV_STAMP) ## Screenshots of the main pages and forms into screenshots/ (needs chromium)
	$(BIN)/python -m tests.e2e_browser.screenshots

format: $(DEV_STAMP) ## Format the code with ruff
	$(BIN)/ruff format app tests
	$(BIN)/ruff check --fix app tests

clean: ## Remove the virtualenv, caches and the local database
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis followup.db followup.db-*
