# preftree: two commands.
#   make repro   create .venv if absent, install, compose params.yaml from conf/ if it changed, dvc repro
#   make test    install, run the tests
# Options: make params OVERRIDES="experiment=smoke seed=1"; VENV=/path/to/venv
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: install sandbox-deps params repro test test-fast lint deps clean-venv plots plots-check browser-deps gpu-check

$(VENV)/bin/python:
	python3 -m venv $(VENV)

# torch first, pinned: it installs the CPU wheel quickly, and a later resolver run then keeps it.
$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -qq --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -qq --disable-pip-version-check -e '.[dev]'
	@$(MAKE) --no-print-directory sandbox-deps
	@touch $(STAMP)

# $(call apt_install,<package>,<what fails without it>): apt-get install as root (one update retry),
# else say how; never fails the build.
apt_install = { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing $(1) (apt)"; \
	    apt-get install -y -qq $(1) >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq $(1) >/dev/null 2>&1; } || \
	    echo "warning: could not install $(1); $(2)"; \
	  else \
	    echo "warning: $(1) is missing ($(2)): sudo apt-get install $(1)"; \
	  fi; }

# bubblewrap isolates model-written code (preftree.sandbox). Installed with apt when running as
# root; otherwise say how (or choose sandbox.isolation=process, which warns about weaker guarantees).
# Then the packages sandboxed code may import, pinned by sandbox.packages (params.yaml, else conf/), into
# $(VENV)/sandbox-site for the sandbox's /usr/bin/python3 (preftree.sandbox_install; nothing when it matches).
# Run it again after changing sandbox.packages: stages stop naming the mismatch until then.
sandbox-deps: | $(VENV)/bin/python
	@command -v bwrap >/dev/null 2>&1 || $(call apt_install,bubblewrap,the sandbox tests will fail)
	$(PY) -m preftree.sandbox_install install $(if $(wildcard params.yaml),--params params.yaml)

install: $(STAMP)

# OVERRIDES reaches preftree.compose as one environment string (never split by the shell), so braces,
# spaces and quotes pass unchanged: make params OVERRIDES="+eval.benchmarks.he={path: /d/he.jsonl, limit: null}"
params: $(STAMP)
	$(PY) -m preftree.compose --env OVERRIDES

# repro keeps the params.yaml you composed: it recomposes only when conf/ changed since `make params`
# (with the same overrides, printing the changed keys), or composes OVERRIDES when given.
repro: $(STAMP)
	$(PY) -m preftree.compose --refresh --env OVERRIDES
	PREFTREE_RUN_GROUP="repro-$$(date -u +%Y%m%dT%H%M%SZ)-$$(git rev-parse --short HEAD 2>/dev/null || echo nogit)" \
		$(VENV)/bin/dvc repro

# chromium (apt, as root) lets the tests check the offline plots page in a headless browser
test: $(STAMP)
	@$(MAKE) --no-print-directory browser-deps
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

# plots: $(PLOTS_DIR)/index.html that opens with no network. .dvc/config points `dvc plots show` at
# tools/dvc-plots.html, which loads only vega-bundle.js beside the page, written here from the pinned
# vl-convert-python (never committed). plots-check opens the page in headless chromium with the network
# blocked, checks that every plot is drawn with named axes and saves docs/img/dvc-plots.png.
PLOTS_DIR ?= dvc_plots
plots: $(STAMP)
	$(PY) tools/vega_bundle.py $(PLOTS_DIR)
	$(VENV)/bin/dvc plots show -o $(PLOTS_DIR)

plots-check: plots browser-deps
	$(PY) tools/screenshot.py $(PLOTS_DIR)/index.html --png docs/img/dvc-plots.png

browser-deps:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  $(call apt_install,chromium,the headless plots check will be skipped)

# gpu-check: does the `gpu` extra (vLLM, DeepSpeed) resolve beside the pins? `pip install --dry-run --report`,
# nothing installed, no GPU needed; prints the versions pip chose, or the conflict (docs/gpu.md#installing).
# pip downloads the wheels it weighs (1.5-2.8 GB; 1-1.5 min on idle cores). GPU_PYTHON=python3.13 asks that Python's pip.
GPU_PYTHON ?= $(PY)
gpu-check: $(STAMP)
	$(PY) -m preftree.gpu_check --python $(GPU_PYTHON)
