# Seawall: `make serve` runs the registry, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: serve test test-sqlite test-postgres lint bench system-packages clean

$(VENV)/.runtime-installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.test-installed: requirements-test.lock $(VENV)/.runtime-installed
	$(BIN)/pip install --quiet --require-hashes -r requirements-test.lock
	touch $@

serve: $(VENV)/.runtime-installed
	$(BIN)/seawall serve

system-packages:
	scripts/install-system-packages.sh

lint: $(VENV)/.test-installed
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

test-sqlite: $(VENV)/.test-installed system-packages
	SEAWALL_TEST_DATABASE=sqlite $(BIN)/pytest

test-postgres: $(VENV)/.test-installed system-packages
	scripts/test-postgres.sh $(BIN)/pytest

test: lint test-sqlite test-postgres

# --prefault-gib touches memory once first, because a fresh virtual machine
# backs guest pages lazily and the first touch of each page is slow.
bench: $(VENV)/.test-installed system-packages
	$(BIN)/python benchmarks/run.py --prefault-gib 16
	$(BIN)/python benchmarks/scanning.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
