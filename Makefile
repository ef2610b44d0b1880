# The README names `make demo` and `make test`; both set up everything on a fresh clone.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
VENDOR := src/llmloop/server/static/vendor
ASSETS := $(VENDOR)/htmx.min.js $(VENDOR)/chart.umd.min.js

.PHONY: install assets demo test check fmt serve bench clean

install: $(STAMP) $(ASSETS)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Front-end libraries come from npm (pinned by ui/package-lock.json), never from the repo.
assets: $(ASSETS)

$(ASSETS): ui/package.json ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp ui/node_modules/htmx.org/dist/htmx.min.js ui/node_modules/chart.js/dist/chart.umd.min.js $(VENDOR)/

demo: install
	$(BIN)/llmloop demo

test: install
	$(BIN)/pytest

check: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

fmt: install
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

serve: install
	$(BIN)/llmloop server

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) ui/node_modules $(VENDOR) .pytest_cache .mypy_cache .ruff_cache
