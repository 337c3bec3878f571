# The two commands: `make demo` (a full local run) and `make test` (the suite).
# Both set themselves up: virtualenv, pip, npm and the contract build, each redone
# only when its inputs changed, so a second call starts in about a second.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP_STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed
CONTRACTS_STAMP := contracts/artifacts/.built

.PHONY: setup demo test lint bench clean schema
setup: $(PIP_STAMP) $(NPM_STAMP) $(CONTRACTS_STAMP)

$(VENV)/bin/python:
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11'"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(PIP_STAMP): $(VENV)/bin/python pyproject.toml requirements-lock.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements-lock.txt -e '.[dev]'
	@touch $@

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The compiled contracts are committed; this rebuilds them only when a source or the compiler changed.
$(CONTRACTS_STAMP): contracts/*.sol contracts/build.py package-lock.json | $(PIP_STAMP) $(NPM_STAMP)
	$(PY) contracts/build.py

demo: setup
	$(VENV)/bin/kafkaml demo $(ARGS)

test: setup
	$(VENV)/bin/ruff check .
	@# pytest exits 5 when it collected nothing: a suite that ran no test is a failure.
	@$(PY) -m pytest $(ARGS); status=$$?; \
	  if [ $$status -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; exit $$status

# The committed OpenAPI schema, regenerated from the code (tests/unit/test_openapi_schema.py fails on drift).
schema: setup
	BACKEND_SECRET_KEY=schema-only KAFKAML_RUN_DIR=$$(mktemp -d) $(PY) -m backend spectacular --validate --fail-on-warn --file backend/openapi.yaml

lint: setup
	$(VENV)/bin/ruff check .

bench: setup
	$(PY) benchmarks/local_stack.py --json out/local_stack.json

clean:
	-$(VENV)/bin/kafkaml local down
	rm -rf $(VENV) node_modules out
