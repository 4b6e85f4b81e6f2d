# The two commands of the quick start: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint setup system-deps clean bench ui ui-types clients

# The browser UI (web/): npm ci when the lock file changes, a Vite build when its sources change.
WEB_SRC := $(shell find web/src -type f 2>/dev/null) web/index.html web/vite.config.ts web/tsconfig.json
NODE_STAMP := web/node_modules/.pagi-installed
UI_STAMP := web/dist/.pagi-built

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the project's dependency list changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(NODE_STAMP): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

$(UI_STAMP): $(NODE_STAMP) $(WEB_SRC)
	cd web && npm run --silent build
	touch $(UI_STAMP)

ui: $(UI_STAMP)

# tests/clients: the official NATS JavaScript client behind the `nats` CLI's syntax, which runs the
# docs' bus recipes in tests/clients (the Go CLI itself is not installable here), and the reference
# MCP servers from npm (server-everything, server-filesystem) that tests/mcp starts.
CLIENTS_STAMP := tests/clients/node_modules/.pagi-installed

$(CLIENTS_STAMP): tests/clients/package.json tests/clients/package-lock.json
	cd tests/clients && npm ci --no-audit --no-fund --loglevel=error
	touch $(CLIENTS_STAMP)

clients: $(CLIENTS_STAMP)

# web/src/generated/bus.ts from bus_schemas: run after changing a shape the UI reads (the file is
# committed so `npm run build` needs no Python; tests/test_ui_types.py fails when it is out of date).
ui-types: $(NODE_STAMP) | $(STAMP)
	$(BIN)/python -m bus_schemas ui-schema | node web/scripts/bus-types.mjs > web/src/generated/bus.ts.new
	mv web/src/generated/bus.ts.new web/src/generated/bus.ts

system-deps:
	@./scripts/install-system-deps.sh

setup: system-deps $(STAMP) ui clients

run: setup
	$(BIN)/pagi up

test: setup
	cd web && npm run --silent test
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	cd web && npm run --silent typecheck

# Every benchmark in bench/ (each module with a __main__ block) with its default arguments, one
# after the other (they share the machine); the figures go in bench/README.md. Not part of `make test`.
bench: setup
	@failed=""; for f in bench/*.py; do \
	  grep -q '__main__' $$f || continue; m=bench.$$(basename $$f .py); \
	  echo "== python -m $$m"; $(BIN)/python -m $$m || failed="$$failed $$m"; \
	done; if [ -n "$$failed" ]; then echo "failed:$$failed"; exit 1; fi

clean:
	rm -rf $(VENV) .pagi web/node_modules web/dist tests/clients/node_modules
