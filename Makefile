# The two entry points of the README: `make demo` and `make test`. Both bootstrap a fresh
# machine (host packages, a virtualenv) first; caches live under ~/.cache/schedcp.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup prepare demo check unit test crds clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml hack/apt-packages.txt hack/setup-host.sh
	bash hack/setup-host.sh
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

prepare: setup
	$(VENV)/bin/schedcp dev prepare

demo: prepare
	$(VENV)/bin/schedcp demo

# Lint, types and the layers (settings in pyproject.toml): seconds, so `make test` runs them
# first and fails before the long preparation.
check: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# The pure-logic tests (marker `unit`): no cluster, no VM, no caches to build.
unit: setup
	$(PY) -m pytest -m unit $(PYTEST_ARGS)

# The tests run the one scx scheduler they load (scx_bpfland, ~7 min cold); the benchmark
# builds the rest with `schedcp dev prepare --scx`.
test: check prepare
	$(VENV)/bin/schedcp dev prepare --scx scx_bpfland
	$(PY) -m pytest $(PYTEST_ARGS)

crds: setup
	$(VENV)/bin/schedcp crds generate

clean:
	rm -rf $(VENV)
