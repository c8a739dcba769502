# The project's interface: `make demo` runs the pipeline locally, `make test` runs every check (`make check`
# the fast lane), `make bench` runs the benchmarks, `make chaos` the chaos suite, `make package` builds the
# artifacts the stack deploys, `make template` renders the stack's template, `make deploy` / `make destroy`
# put the stack on AWS and take it off.
# Each target installs what it needs into .venv first (only when a lock changed), from the locks of `locks/`:
# exact versions with their hashes, nothing resolved. `make lock` refreshes them on purpose (docs/dependencies.md).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHECKOV_VENV := .tools/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
UV_VENV := .tools/uv
UV_STAMP := $(UV_VENV)/.installed
# pip installs a lock as it is: every pin hashed, no resolution, no dependency it does not list.
PIP_LOCKED := -m pip install --quiet --require-hashes --no-deps -r

.PHONY: demo test check bench chaos soak package deploy destroy lock template screenshots lint typecheck cfn-lint checkov unit functional e2e check-java check-python browser clean

demo: check-java $(STAMP)
	$(BIN)/ohlcv demo

# Most of the suite waits (on producers, servers, signals, Spark's JVM), so two workers, a test file each
# at a time, take two thirds of one's time on two cores (README, "Tests and benchmarks").
# `make test WORKERS=0` runs in this process alone.
WORKERS ?= 2
PARALLEL = $(if $(filter 0,$(WORKERS)),,-n $(WORKERS) --dist loadfile)

# A run leaves the work tree as it found it: what git reports before the tests, it reports after.
test: $(STAMP) browser lint typecheck cfn-lint checkov
	@mkdir -p .tools && (git status --porcelain 2>/dev/null || true) > .tools/tree-before-test
	$(BIN)/python -m pytest $(PARALLEL)
	@(git status --porcelain 2>/dev/null || true) | diff .tools/tree-before-test - || \
		{ echo "make test changed the work tree (the lines above); it must leave it as it was"; exit 1; }

# The fast lane: lint, types and the unit tests (no Spark, no browser), in well under two minutes.
check: lint typecheck
	$(BIN)/python -m pytest tests/unit

bench: $(STAMP) browser
	$(BIN)/python -m benchmarks

chaos: check-java $(STAMP)
	$(BIN)/python -m chaos

soak: $(STAMP)
	$(BIN)/python -m chaos soak

package: $(STAMP)
	$(BIN)/ohlcv package --out dist

# `make deploy STACK=ohlcv-prod BUCKET=my-artifacts [PARAMS="ProducerDesiredCount=1 AlarmEmail=me@example.com"]`
deploy: $(STAMP)
	@test -n "$(STACK)" -a -n "$(BUCKET)" || { echo "usage: make deploy STACK=<stack name> BUCKET=<artifact bucket> [PARAMS=\"Name=value ...\"]"; exit 2; }
	$(BIN)/ohlcv deploy --stack "$(STACK)" --bucket "$(BUCKET)" $(foreach p,$(PARAMS),--parameter "$(p)")

# `make destroy STACK=ohlcv-prod`: empties the stack's buckets and deletes it.
destroy: $(STAMP)
	@test -n "$(STACK)" || { echo "usage: make destroy STACK=<stack name>"; exit 2; }
	$(BIN)/ohlcv destroy --stack "$(STACK)" --yes

# cloudformation/template.yaml and sql/tables/, rendered from cloudformation/source.yaml and the files that
# define each fact once (stack_tools/render.py); a unit test fails while a committed copy differs.
template: $(STAMP)
	$(BIN)/python -m stack_tools.render

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

cfn-lint: $(STAMP)
	$(BIN)/cfn-lint cloudformation/template.yaml

# Every skipped check has its reason beside it in the template. checkov exits 0 on a template it cannot
# parse, so that counts as a failure here.
checkov: $(CHECKOV_STAMP)
	@$(CHECKOV_VENV)/bin/checkov --file cloudformation/template.yaml --framework cloudformation --compact \
		--quiet --skip-download > $(CHECKOV_VENV)/last.txt; status=$$?; cat $(CHECKOV_VENV)/last.txt; \
	if grep -q "Parsing errors" $(CHECKOV_VENV)/last.txt; then echo "checkov could not parse the template"; exit 1; fi; \
	exit $$status

# The dashboard screenshots the README and docs/dashboards.md show, taken anew by the browser test.
screenshots: check-java browser $(STAMP)
	$(BIN)/python -m pytest tests/e2e/test_dashboard_browser.py --refresh-screenshots

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

functional: $(STAMP)
	$(BIN)/python -m pytest $(PARALLEL) tests/functional

e2e: check-java browser $(STAMP)
	$(BIN)/python -m pytest $(PARALLEL) tests/e2e

check-python:
	@test -n "$(PYTHON)" || { echo "Python 3.11 is required: install python3.11 and retry."; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 13) else 1)' || \
		{ echo "Python 3.11 or 3.12 is required (Glue 5 runs 3.11); found $$($(PYTHON) --version)."; exit 1; }

# The dashboard's browser test drives Debian's Chromium (Playwright cannot download browsers offline).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null || \
			{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }; \
		else echo "Chromium was not found: the dashboard's browser test needs it (Debian/Ubuntu: sudo apt-get install chromium)."; exit 1; fi; }

check-java:
	@command -v java >/dev/null 2>&1 || { [ -n "$$JAVA_HOME" ] && [ -x "$$JAVA_HOME/bin/java" ]; } || { \
		echo "Java was not found. The local Spark needs Java 17 (as Glue 5 runs it):"; \
		echo "  Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless"; \
		echo "  macOS:         brew install openjdk@17"; \
		echo "  or set JAVA_HOME to a JDK 17."; exit 1; }

# The project itself goes in last, editable, with the locked build backend and nothing else. `--clear`: a
# changed lock goes into an empty venv, so nothing the previous one installed stays behind.
$(STAMP): locks/project.txt locks/test-data.txt pyproject.toml | check-python
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python $(PIP_LOCKED) locks/project.txt
	$(BIN)/python $(PIP_LOCKED) locks/test-data.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --editable .
	touch $(STAMP)

$(CHECKOV_STAMP): locks/checkov.txt | check-python
	$(PYTHON) -m venv --clear $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python $(PIP_LOCKED) locks/checkov.txt
	touch $(CHECKOV_STAMP)

$(UV_STAMP): locks/uv.txt | check-python
	$(PYTHON) -m venv --clear $(UV_VENV)
	$(UV_VENV)/bin/python $(PIP_LOCKED) locks/uv.txt
	touch $(UV_STAMP)

# `make lock` re-resolves every lock, keeping each pin the ranges and hold-backs still allow;
# `make lock UPGRADE="botocore boto3"` takes the newest allowed of those, `make lock UPGRADE=all` of everything.
lock: $(STAMP) $(UV_STAMP)
	$(BIN)/python -m stack_tools.lock --uv $(UV_VENV)/bin/uv \
		$(if $(filter all,$(UPGRADE)),--upgrade,$(foreach p,$(UPGRADE),--upgrade-package $(p)))

clean:
	rm -rf $(VENV) .tools lake .mypy_cache .ruff_cache .pytest_cache
