# paperlib: `make book` builds the book, `make test` runs the tests. Both set up the environment first.
#   make book                   default profile (quick: CIFAR-100, downloaded once into the data root)
#   make book PROFILE=smoke     synthetic data, no download, minutes on a CPU
#   make book PROFILE=cifar     the whole CIFAR-100 trained to convergence (one GPU)
#   make book PROFILE=paper     BREEDS from a local ImageNet root (PAPERLIB_DATA), GPU
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PROFILE ?= quick
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard nbs/*.ipynb))
EXECUTED := $(patsubst nbs/%,book/%,$(NOTEBOOKS))
# Where the chapters write their tables as CSV (paperlib.book.write_results), linked from each chapter
# and, gathered into claims.csv, from the claims page: beside the executed chapters.
RESULTS := $(CURDIR)/book/results

.PHONY: all book notebooks data test test-fast lint bench lock clean env

all: book

env: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "paperlib needs Python >= 3.11 (numpy, pandas and scipy of the lock do); $(PYTHON) is $$($(PYTHON) -V 2>&1). Run: make PYTHON=python3.11" >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || \
	  { echo "$(PYTHON) -m venv failed. On Debian or Ubuntu install its venv module first: sudo apt-get install python3-venv (or python3.11-venv, for the Python you run), then rm -rf $(VENV) and run make again" >&2; exit 1; }
	@$(PY) -m pip --version >/dev/null 2>&1 || \
	  { echo "$(VENV) has no working pip: a half-made venv (made where Python's venv module lacks ensurepip). On Debian or Ubuntu: sudo apt-get install python3-venv (or python3.11-venv, for the Python you run), then rm -rf $(VENV) and run make again" >&2; exit 1; }
	@$(PY) -c 'import shutil, sys; free = shutil.disk_usage("$(VENV)").free / 2**30; free < 7 and print(f"warning: {free:.1f} GiB free beside $(VENV); the pinned install (torch with its CUDA libraries) takes about 6.5 GiB", file=sys.stderr)'
	$(PY) -m pip install -q --disable-pip-version-check --no-cache-dir -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Fetch what the profile needs (CIFAR-100 for quick; checks the ImageNet root for paper), then
# execute every chapter with papermill into book/ and publish it; warnings are errors.
book: $(STAMP)
	$(PY) -m paperlib data --profile $(PROFILE) --download
	$(MAKE) --no-print-directory notebooks
	$(VENV)/bin/jupyter-book build book --all -n -W --keep-going

notebooks: $(STAMP)
	@for nb in $(NOTEBOOKS); do \
	  echo "papermill $$nb -> book/$$(basename $$nb) (profile $(PROFILE))"; \
	  $(VENV)/bin/papermill --no-progress-bar "$$nb" "book/$$(basename $$nb)" -p profile $(PROFILE) -p results_dir "$(RESULTS)" -k python3; \
	done
	$(PY) -m paperlib.book --results "$(RESULTS)" $(EXECUTED)

test: $(STAMP)
	$(PY) -m pytest -q

# The fast loop: unit tests and doctests, no chapter executed and no book built (markers in pyproject).
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not book and not slow"

# The rules of [tool.ruff] in pyproject.toml: lint, and the formatter's check (what CI runs).
lint: $(STAMP)
	$(VENV)/bin/ruff check paperlib tests bench scripts
	$(VENV)/bin/ruff format --check paperlib tests bench scripts

bench: $(STAMP)
	$(PY) bench/run_all.py

# Regenerate requirements.lock from pyproject.toml with uv's resolver: one universal lock (platform
# markers, hashes). It installs on Linux x86-64/aarch64 and on macOS 14+ on Apple silicon (README,
# "Platforms"); uv resolves it for other platforms too, but the locked torch has no wheel for Intel
# Macs or macOS 13, and Windows is not supported (this Makefile needs bash and .venv/bin). The versions already in the lock are
# kept where they still satisfy pyproject; `make lock UPGRADE=1` moves everything to the newest releases.
LOCK_ARGS := --universal --python-version 3.11 --extra book --extra test --extra dev --generate-hashes
lock: $(STAMP)
	$(VENV)/bin/uv pip compile pyproject.toml $(LOCK_ARGS) $(if $(UPGRADE),--upgrade) -q -o requirements.lock

clean:
	rm -rf book/_build _build book/*.ipynb book/results
