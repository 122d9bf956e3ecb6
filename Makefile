# AgentPay: two commands on a fresh machine — `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck pytest bench install migrate seed clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel

$(STAMP): $(BIN)/python requirements/base.txt requirements/prod.txt requirements/dev.txt
	$(BIN)/pip install --quiet -r requirements/dev.txt
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo

run: seed
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	HOST=$(HOST) PORT=$(PORT) $(BIN)/python manage.py run_all --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy .

pytest: install
	$(BIN)/pytest -n $${PYTEST_WORKERS:-2} $(PYTEST_ARGS)

test: lint typecheck pytest

bench: install
	@for script in benchmarks/*/run.py benchmarks/webhooks/drain.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf var staticfiles .pytest_cache .mypy_cache .ruff_cache
