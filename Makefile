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

# Ray only for a server that runs on it: `OPTLAB_EXECUTOR=ray make run` (requirements-ray.txt)
$(BIN)/.ray: $(BIN)/.runtime requirements-ray.txt
	VENV=$(VENV) PYTHON=$(PYTHON) scripts/setup.sh requirements-ray.txt
	touch $@

RUN_SETUP := $(BIN)/.runtime
ifeq ($(OPTLAB_EXECUTOR),ray)
RUN_SETUP += $(BIN)/.ray
endif

setup: $(BIN)/.runtime
setup-dev: $(BIN)/.dev

run: $(RUN_SETUP)
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
