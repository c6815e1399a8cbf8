# preftree: two commands.
#   make repro   create .venv if absent, install, compose params.yaml from conf/, dvc repro
#   make test    install, run the tests
# Options: make params OVERRIDES="experiment=smoke seed=1"; VENV=/path/to/venv
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: install params repro test test-fast lint clean-venv

$(VENV)/bin/python:
	python3 -m venv $(VENV)

# torch first, pinned: it installs the CPU wheel quickly, and a later resolver run then keeps it.
$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

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

lint: $(STAMP)
	$(VENV)/bin/ruff check preftree stages tests
	$(VENV)/bin/ruff format --check preftree stages tests
