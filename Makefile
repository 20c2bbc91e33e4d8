# The commands people type: make run, make test, make stack, make bench.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PYTEST_WORKERS ?= 2

.PHONY: run test stack bench lint typecheck clean mutants

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

## run: the whole suite in one process on http://127.0.0.1:$${PORT:-8000}
run: $(VENV)/.installed
	$(BIN)/crm serve

# Each pytest run prints last how many tests it skipped for want of a server; the total follows.
SERVER_SKIPS := .server-skips.jsonl

## test: every test (unit, integration, e2e, contract, reliability)
test: $(VENV)/.installed
	@rm -f $(SERVER_SKIPS)
	CRM_SERVER_SKIPS_FILE=$(SERVER_SKIPS) $(BIN)/pytest -p no:cacheprovider -n $(PYTEST_WORKERS) -m "not serial" tests \
	  && CRM_SERVER_SKIPS_FILE=$(SERVER_SKIPS) $(BIN)/pytest -p no:cacheprovider -m serial tests; \
	status=$$?; $(BIN)/python -m tests.server_skips $(SERVER_SKIPS); rm -f $(SERVER_SKIPS); exit $$status

## mutants: mutation testing of shared/events/ against the backbone's tests (not in make test;
## long: MUTANTS="shared.events.relay*" limits it to some mutants). docs/mutants.md: survivors.
MUTANT_WORKERS ?= 2
MUTANTS ?=
mutants: $(VENV)/.installed
	rm -rf mutants
	$(BIN)/mutmut run --max-children $(MUTANT_WORKERS) $(MUTANTS)
	$(BIN)/mutmut results

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
	rm -rf var .pytest_cache .mypy_cache .ruff_cache mutants
