# Switchboard: the front door. `make demo` sets everything up and runs the main job; `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SB     := $(BIN)/switchboard
FLOWS  := $(filter-out flows/broken/%,$(wildcard flows/*.toml flows/*.json))

.PHONY: install test lint-flows diagrams suites demo bench soak schema check emulate screenshots playground clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@missing=""; \
	command -v dot >/dev/null 2>&1 || missing="$$missing graphviz"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  echo "installing the Debian packages:$$missing (diagrams; the Redis store's and the playground's tests)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null \
	  || echo "warning: could not install$$missing; render still writes .dot and .mmd, Redis tests fail"; fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

test: install
	$(BIN)/python -m pytest

lint-flows: install
	$(SB) lint flows --exclude 'flows/broken/*'

diagrams: install
	@mkdir -p docs/diagrams
	@for f in $(FLOWS); do n=$$(basename $${f%.*}); \
	  $(SB) render $$f -o docs/diagrams/$$n.svg || exit 1; done

suites: install  # regenerate flows/tests/ from the shipped flows' graphs (and run them)
	@for f in $(FLOWS); do n=$$(basename $${f%.*}); \
	  $(SB) test --generate $$f -o flows/tests/$$n || exit 1; done

demo: install
	@mkdir -p out && rm -f out/*-audit.jsonl
	@echo "== 1. lint every shipped flow"
	$(SB) lint flows --exclude 'flows/broken/*'
	@echo "== 2. render the retail topology"
	$(SB) render flows/retail.toml -o out/retail.svg
	@echo "== 3. a scripted retail conversation against the embedded Realtime emulator"
	$(SB) run flows/retail.toml --script flows/scripts/retail.toml --audit out/retail-audit.jsonl
	$(SB) log out/retail-audit.jsonl
	@echo "== 4. the chat-supervisor pattern: escalations to the (scripted) supervisor"
	$(SB) run flows/chat_supervisor.toml --script flows/scripts/chat_supervisor.toml --audit out/supervisor-audit.jsonl
	$(SB) log out/supervisor-audit.jsonl
	@echo "== 5. every flow's tests: the scripts' expectations and the suites generated from the graphs"
	$(SB) test flows/scripts flows/tests --coverage --junit out/junit.xml

bench: install  # rewrites docs/benchmarks.md; fails (last) when a relay or lint target fails
	$(BIN)/python tools/bench_render.py --write
	$(BIN)/python tools/bench_runtime.py --write
	$(BIN)/python tools/bench_flowtest.py --write
	$(BIN)/python tools/bench_snapshot.py --write
	$(BIN)/python tools/bench_playground.py --write
	$(BIN)/python tools/bench_relay.py --write || status=1; \
	$(BIN)/python tools/bench_workers.py --write || status=1; \
	$(BIN)/python tools/bench_lint.py --write --check || status=1; exit $${status:-0}

soak: install  # not in `make test`: 1,000 relay conversations, 10% hostile; a 3-relay fleet losing one (300); rewrites their sections
	$(BIN)/python tools/soak_relay.py --write && $(BIN)/python tools/fault_resume.py --conversations 300 --write

screenshots: install  # docs/playground-*.png: the retail and chat-supervisor scripts typed into the page
	$(BIN)/python tools/playground_drive.py --screenshots

playground: install  # the browser playground on the shipped flows
	$(SB) playground flows

emulate: install
	$(SB) emulate --script flows/scripts/retail.toml --port 8765

schema: install
	$(SB) schema > schemas/flow.schema.json
	$(SB) schema --script > schemas/script.schema.json

check: install
	$(BIN)/ruff check engine tests tools
	$(BIN)/ruff format --check engine tests tools
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
