# The entry point for every routine task. `make run` and `make test` are the two commands
# the README promises to work on a fresh machine with only Python 3.11 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup run worker migrate seed test e2e schemathesis check lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

migrate: setup
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo

run: seed
	WELLSPRING_PORT=$(PORT) $(BIN)/honcho start -f Procfile

worker: setup
	$(BIN)/celery -A config worker -Q default,ingest,quality,reports -l INFO

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

e2e: setup
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)

# Schemathesis over the whole API against a live server on a throwaway database (CI runs it;
# SCHEMATHESIS_ARGS="--max-examples 50" digs deeper).
schemathesis: setup
	$(BIN)/python tools/run_schemathesis.py $(SCHEMATHESIS_ARGS)

check: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run

lint: check

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) var *.egg-info
