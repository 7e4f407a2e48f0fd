# The two commands of the README: `make run` and `make test`. Both set up a fresh machine first.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup run test unit integration e2e bench screenshots clean

setup:
	@bash scripts/setup.sh

run: setup
	$(BIN)/vigil dev

test: setup
	$(BIN)/pytest -q -p no:cacheprovider

unit: setup
	$(BIN)/pytest -q tests/unit

# The console's pages at phone and desktop width, into docs/console/ (make test writes them to a temporary directory).
screenshots: setup
	VIGIL_SCREENSHOTS_DIR=docs/console $(BIN)/pytest -q -p no:cacheprovider tests/browser/test_every_page.py

bench: setup
	$(BIN)/python -m bench.ingest_load

clean:
	rm -rf $(VENV) .cache .local
