# Covenant Desk — `make run` serves the demo, `make test` runs the default suite.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test unit integration e2e check lint typecheck contracts bench browser kafka clean-db help

help:
	@echo "make run    - build the environment, start embedded PostgreSQL, seed the demo brand, serve http://127.0.0.1:8000"
	@echo "make test   - lint, type check, import contracts and the full default test suite"
	@echo "make bench  - benchmarks (append vs raw INSERT, projection catch-up, directory search p95)"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --quiet
	@touch $@

run: $(VENV)/.synced
	$(BIN)/covenant-desk serve --seed

# Debian's chromium for the portal tests (a test tool's own browser download cannot work here).
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

lint: $(VENV)/.synced
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.synced
	$(BIN)/mypy

contracts: $(VENV)/.synced
	$(BIN)/lint-imports

check: lint typecheck contracts

test: check browser
	$(BIN)/pytest

unit: $(VENV)/.synced
	$(BIN)/pytest tests/unit

bench: $(VENV)/.synced
	$(BIN)/python -m tests.benchmarks.run

clean-db:
	rm -rf var/pgdata var/test-pgdata
