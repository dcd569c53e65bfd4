# One entry point for newcomers and CI. Every target does its own set-up.
#   make test   - system packages (when root), virtualenv, ruff, import contracts, mypy --strict,
#                 pytest
#   make demo   - the retrofit scenario end to end: simulators, head-end, dashboard (see README)
#   make bench  - benchmarks that print figures as ratios to same-run baselines

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

DEMO_SCENARIO ?= retrofit-before

.PHONY: test lint typecheck pytest demo bench system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

system-deps:
	bash .ci/system-deps

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) system-deps
	$(BIN)/pytest -n 2 -q

test: lint typecheck pytest

demo: $(STAMP)
	$(BIN)/headend demo --scenario $(DEMO_SCENARIO)

bench: $(STAMP)
	@bash bench/run_all.sh $(BIN)/python

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis .import_linter_cache
