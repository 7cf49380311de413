# The two commands a newcomer needs: `make demo` and `make test`.
# Each creates .venv and installs what it needs by itself.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo demo-script test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[demo]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

## Run the demo network on an embedded Synapse (Ctrl-C stops it).
demo: $(VENV)/.demo-installed
	$(BIN)/natverk demo $(ARGS)

## The demo's scripted conversation, no Matrix client needed.
demo-script: $(VENV)/.demo-installed
	$(BIN)/natverk demo --script $(ARGS)

## Lint, type-check and run the whole test suite (starts its own Synapse).
test: $(VENV)/.dev-installed lint
	$(BIN)/pytest -q $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Benchmarks (print ratios against a baseline measured in the same run).
bench: $(VENV)/.dev-installed
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) demo-data .mypy_cache .ruff_cache .pytest_cache
