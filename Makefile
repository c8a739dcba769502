# The project's interface: `make demo` runs the pipeline locally, `make test` runs every check,
# `make bench` runs the benchmarks.
# Each target installs what it needs into .venv first (only when pyproject.toml changed).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint typecheck cfn-lint unit functional e2e check-java check-python clean

demo: check-java $(STAMP)
	$(BIN)/ohlcv demo

test: $(STAMP) lint typecheck cfn-lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

cfn-lint: $(STAMP)
	$(BIN)/cfn-lint cloudformation/template.yaml

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

functional: $(STAMP)
	$(BIN)/python -m pytest tests/functional

e2e: check-java $(STAMP)
	$(BIN)/python -m pytest tests/e2e

check-python:
	@test -n "$(PYTHON)" || { echo "Python 3.11 is required: install python3.11 and retry."; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 13) else 1)' || \
		{ echo "Python 3.11 or 3.12 is required (Glue 5 runs 3.11); found $$($(PYTHON) --version)."; exit 1; }

check-java:
	@command -v java >/dev/null 2>&1 || { [ -n "$$JAVA_HOME" ] && [ -x "$$JAVA_HOME/bin/java" ]; } || { \
		echo "Java was not found. The local Spark needs Java 17 (as Glue 5 runs it):"; \
		echo "  Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless"; \
		echo "  macOS:         brew install openjdk@17"; \
		echo "  or set JAVA_HOME to a JDK 17."; exit 1; }

$(STAMP): pyproject.toml | check-python
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[stack,dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) lake .mypy_cache .ruff_cache .pytest_cache
