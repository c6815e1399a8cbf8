# preftree: two commands.
#   make repro   create .venv if absent, install, compose params.yaml from conf/, dvc repro
#   make test    install, run the tests
# Options: make params OVERRIDES="experiment=smoke seed=1"; VENV=/path/to/venv
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: install sandbox-deps params repro test test-fast lint deps clean-venv

$(VENV)/bin/python:
	python3 -m venv $(VENV)

# torch first, pinned: it installs the CPU wheel quickly, and a later resolver run then keeps it.
$(STAMP): pyproject.toml | $(VENV)/bin/python
	@$(MAKE) --no-print-directory sandbox-deps
	$(PY) -m pip install -qq --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -qq --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

# bubblewrap isolates model-written code (preftree.sandbox). Installed with apt when running as
# root; otherwise say how (or choose sandbox.isolation=process, which warns about weaker guarantees).
sandbox-deps:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing bubblewrap (apt)"; \
	    apt-get install -y -qq bubblewrap >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq bubblewrap >/dev/null 2>&1; } || \
	    echo "warning: could not install bubblewrap; the sandbox tests will fail"; \
	  else \
	    echo "warning: bubblewrap (bwrap) is missing: sudo apt-get install bubblewrap"; \
	  fi; }

install: $(STAMP)

params: $(STAMP)
	$(PY) -m preftree.compose $(OVERRIDES)

repro: params
	PREFTREE_RUN_GROUP="repro-$$(date -u +%Y%m%dT%H%M%SZ)-$$(git rev-parse --short HEAD 2>/dev/null || echo nogit)" \
		$(VENV)/bin/dvc repro

test: $(STAMP)
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

clean-venv:
	rm -rf $(VENV)

# deps: every stage's code deps in dvc.yaml are its import closure (`python -m preftree.deps --write` fixes them).
lint: $(STAMP)
	$(VENV)/bin/ruff check preftree stages tests
	$(VENV)/bin/ruff format --check preftree stages tests
	$(PY) -m preftree.deps --check

deps: $(STAMP)
	$(PY) -m preftree.deps --write
