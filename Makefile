# followup: make help lists the targets.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest-xdist workers for make test: one per CPU; JOBS=0 runs the suite in one process.
JOBS ?= logical

.DEFAULT_GOAL := help
.PHONY: help install run migrate load serve test test-fast lint format bench screenshots clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install the project with its dev tools

migrate: install ## Migrate the database named by DATABASE_URL (default: ./followup.db)
	$(BIN)/followup db upgrade

load: migrate ## Load every protocol in schedules/
	$(BIN)/followup schedule load schedules/

run: load ## Migrate, load schedules/ and serve on http://$(HOST):$(PORT)
	@# A local SECRET_KEY, made once and kept in the git-ignored .env.
	@grep -qs '^SECRET_KEY=' .env || { test ! -s .env || echo; echo "SECRET_KEY=$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(48))')"; } >> .env
	$(BIN)/followup token bootstrap
	$(BIN)/followup serve --host $(HOST) --port $(PORT)

test: install ## Run the whole test suite on every CPU (PostgreSQL too when TEST_DATABASE_URL is set)
	$(BIN)/pytest -n $(JOBS) --dist loadgroup

bench: install ## Benchmarks at 100,000 subjects (PostgreSQL too when TEST_DATABASE_URL is set) into bench/results/
	$(BIN)/python -m bench.run

lint: install ## ruff, mypy --strict, the import layers and no import circles
	$(BIN)/ruff check app tests bench scripts
	$(BIN)/mypy app
	$(BIN)/lint-imports
	$(BIN)/python scripts/check_imports.py

screenshots: install ## Screenshots of the main pages and forms into screenshots/ (needs chromium)
	$(BIN)/python -m tests.e2e_browser.screenshots

format: install ## Format the code with ruff
	$(BIN)/ruff format app tests
	$(BIN)/ruff check --fix app tests

clean: ## Remove the virtualenv, caches and the local database
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis followup.db followup.db-*
