# Switchboard: the front door. `make demo` sets everything up and runs the main job; `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SB     := $(BIN)/switchboard
FLOWS  := $(filter-out flows/broken/%,$(wildcard flows/*.toml flows/*.json))

.PHONY: install test lint-flows diagrams demo bench schema check clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@command -v dot >/dev/null 2>&1 || { \
	  echo "graphviz 'dot' not found: installing the Debian package graphviz"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq graphviz >/dev/null \
	  || echo "warning: could not install graphviz; render will still write .dot and .mmd"; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

test: install
	$(BIN)/python -m pytest

lint-flows: install
	$(SB) lint flows --exclude 'flows/broken/*'

schema: install
	$(SB) schema > schemas/flow.schema.json

check: install
	$(BIN)/ruff check engine tests tools
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
