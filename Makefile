# The two commands: `make demo` (a full local run) and `make test` (the suite).
# Both set themselves up: virtualenv, pip, npm and the contract build, each redone
# only when its inputs changed, so a second call starts in about a second.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP_STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed
CONTRACTS_STAMP := contracts/artifacts/.built
UI_NPM_STAMP := frontend/node_modules/.installed
UI_BUILD := frontend/dist/index.html
FLOWER_STAMP := out/flower-venv/.installed
UI_SOURCES := $(shell find frontend/src -type f 2>/dev/null) frontend/index.html frontend/vite.config.ts frontend/tsconfig.json

.PHONY: setup demo test test-fast lint bench clean schema kubectl system-packages postgresql ui images infra-images
setup: $(PIP_STAMP) $(NPM_STAMP) $(CONTRACTS_STAMP) $(FLOWER_STAMP) kubectl ui system-packages postgresql

# kubectl renders the kustomize overlays in tests/unit/test_manifests.py (no cluster is contacted).
# When it is missing: Debian's kubernetes-client package (as root), else a message. The overlays use
# kustomize components and replacements, so a kubectl without an embedded kustomize v4 or later
# (Debian 12's kubernetes-client is 1.20, kustomize v2) is reported; the test says the same.
kubectl:
	@if ! command -v kubectl >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing kubectl (Debian package kubernetes-client)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client >/dev/null || exit 1; \
	  else \
	    echo "error: kubectl not found; install it (as root: apt-get install -y kubernetes-client) and run 'make setup' again" >&2; exit 1; \
	  fi; \
	fi; \
	kubectl version --client -o json 2>/dev/null | grep -q '"kustomizeVersion": *"v[4-9]' || \
	  echo "warning: $$(command -v kubectl) embeds no kustomize v4 or later: tests/unit/test_manifests.py needs kubectl 1.21 or later" >&2

# The web UI: its own npm packages, built to frontend/dist (the backend serves it in local mode).
ui: $(UI_BUILD)

$(UI_NPM_STAMP): frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(UI_BUILD): $(UI_NPM_STAMP) $(UI_SOURCES)
	cd frontend && npm run --silent build

# Debian packages the tests use: chromium (the UI's end-to-end test; playwright-core drives it, nothing
# is downloaded at run time), nginx-light (`nginx -t` checks the UI image's configuration), and podman
# with buildah, runc and debootstrap (`make images`) and aardvark-dns (names on podman's networks:
# tests/containers run the images). Installed as root when missing, else a message.
system-packages:
	@missing=""; command -v chromium >/dev/null || missing="chromium"; \
	  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx-light"; \
	  for tool in podman buildah runc debootstrap; do \
	    command -v $$tool >/dev/null || [ -x /usr/sbin/$$tool ] || missing="$$missing $$tool"; done; \
	  [ -x /usr/lib/podman/aardvark-dns ] || missing="$$missing aardvark-dns"; \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	      echo "installing Debian packages:$$missing"; \
	      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	    else \
	      echo "error: missing Debian packages:$$missing; install them (as root: apt-get install -y$$missing) and run 'make setup' again" >&2; exit 1; \
	    fi; \
	  fi

# PostgreSQL for the tests: when no server answers at KAFKAML_TEST_POSTGRES_DSN (default 127.0.0.1:5432),
# the test session starts a throw-away one from Debian's server binaries (tests/postgres_server.py),
# so those are installed (package postgresql) as root when missing, else a message.
postgresql: $(PIP_STAMP)
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! $(PY) tests/postgres_server.py; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian package postgresql (the tests start a throw-away server)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null || exit 1; \
	  else \
	    echo "error: no PostgreSQL server answers for the tests and none is installed to start one; install it (as root: apt-get install -y postgresql) or set KAFKAML_TEST_POSTGRES_DSN to a server, and run 'make setup' again" >&2; exit 1; \
	  fi; \
	fi

# Flower's own virtualenv (benchmarks/vs_flower.py compares with it; its test runs it): made here, not
# by the first run that needs it. Flower pins a rich our lock cannot share, hence a venv of its own.
$(FLOWER_STAMP): benchmarks/_flower.py | $(PIP_STAMP)
	$(PY) benchmarks/_flower.py
	@touch $@

# The three images (services, worker, UI), built with podman from docker/*.Dockerfile on base images
# made here (debootstrap; no image registry is needed), as root. Only what changed is rebuilt: the
# Debian root's image is named by a digest of its recipe, podman's layer cache does the rest.
# Sizes and durations: out/images/report.json. See docker/images.py.
images: system-packages $(PIP_STAMP)
	$(PY) docker/images.py --json out/images/report.json

# The broker (Tansu), chain (Anvil) and database (PostgreSQL) images the single-host platform
# (compose.yaml, docs/deploy-compose.md) runs beside the three above, from docker/infra/.
infra-images: images
	$(PY) docker/images.py --infra

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

# The suite runs in TEST_WORKERS processes (pytest-xdist), a test file at a time on one of them, the
# longest files first (tests/conftest.py LONGEST_FIRST, in collection order: --no-loadscope-reorder); each
# process brings up its own stack, backends and databases (tests/conftest.py). The images are part
# of the tests' set-up: cached, `make images` takes seconds (docs/testing.md). Three processes on two
# cores: the suite waits more than it computes (containers, capped benchmark runs), and three passed
# twice where two took 2.5 minutes longer (docs/testing.md).
TEST_WORKERS ?= 3
test: setup images
	$(VENV)/bin/ruff check .
	@# pytest exits 5 when it collected nothing: a suite that ran no test is a failure. It prints
	@# its 40 slowest tests, so that every run (CI's too) shows where the time goes.
	@$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=40 $(ARGS); status=$$?; \
	  if [ $$status -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; exit $$status

# A developer's quick loop: everything but the tests marked slow (real images, benchmarks end to end).
test-fast: setup
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder -m "not slow" $(ARGS)

# The committed OpenAPI schema, regenerated from the code (tests/unit/test_openapi_schema.py fails on drift).
schema: setup
	for service in backend federated_backend; do \
	  BACKEND_SECRET_KEY=schema-only KAFKAML_RUN_DIR=$$(mktemp -d) $(PY) -m $$service spectacular --validate \
	    --fail-on-warn --file $$service/openapi.yaml || exit 1; done

lint: setup
	$(VENV)/bin/ruff check .

bench: setup
	$(PY) benchmarks/local_stack.py --json out/local_stack.json

clean:
	-$(VENV)/bin/kafkaml local down
	rm -rf $(VENV) node_modules out frontend/node_modules frontend/dist
