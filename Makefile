# The commands people type: make run, make test, make stack, make bench.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PYTEST_WORKERS ?= 2

.PHONY: run test stack bench lint typecheck clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

## run: the whole suite in one process on http://127.0.0.1:$${PORT:-8000}
run: $(VENV)/.installed
	$(BIN)/crm serve

## test: every test (unit, integration, e2e, contract, reliability)
test: $(VENV)/.installed
	$(BIN)/pytest -p no:cacheprovider -n $(PYTEST_WORKERS) -m "not serial" tests
	$(BIN)/pytest -p no:cacheprovider -m serial tests

## stack: the real mode: gunicorn + workers per service, RabbitMQ, PostgreSQL, SMTP sink, nginx
stack: $(VENV)/.installed
	deploy/stack.sh

## bench: every benchmark, each beside its raw baseline
bench: $(VENV)/.installed
	$(BIN)/python -m bench

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy shared services bench

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
