# optlab: `make run` sets up and starts the dashboard; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup setup-dev run test lint format bench

$(BIN)/.runtime: requirements.txt scripts/setup.sh
	VENV=$(VENV) PYTHON=$(PYTHON) scripts/setup.sh requirements.txt
	touch $@

$(BIN)/.dev: $(BIN)/.runtime requirements-dev.txt
	VENV=$(VENV) PYTHON=$(PYTHON) scripts/setup.sh requirements-dev.txt
	touch $@

setup: $(BIN)/.runtime
setup-dev: $(BIN)/.dev

run: setup
	VENV=$(VENV) scripts/serve.sh

test: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/hadolint Dockerfile

format: setup-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup-dev
	$(BIN)/python benchmarks/bench_engine.py
