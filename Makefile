# `make serve` and `make test` work on a fresh machine: each builds .venv when missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5006
CHROMIUM := /usr/bin/chromium

.PHONY: venv serve test lint format bench bench-learning screenshots chromium lock clean

venv: $(STAMP)

# Torch goes first, pinned by constraints.txt to the CPU build (a bare `torch` requirement
# would pull a multi-GB CUDA build). A torch already in .venv (say a CUDA build a GPU user
# installed) is kept: the project install is then constrained to that version. Everything
# else comes at the versions in lock.txt, the ones the tests passed with.
$(STAMP): pyproject.toml constraints.txt lock.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet -c constraints.txt torch
	$(PY) -m pip install --quiet -c lock.txt -c <($(PY) -c "import torch; print('torch==' + torch.__version__)") -e ".[dev,distributed]"
	touch $@

serve: $(STAMP)
	$(VENV)/bin/workbench serve --host $(HOST) --port $(PORT)

# Debian's chromium drives the browser tests; Playwright cannot download its own here.
chromium:
	@test -x $(CHROMIUM) || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@test -x $(CHROMIUM) || { echo "error: $(CHROMIUM) is missing; install Debian's chromium package"; exit 1; }

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# pytest exits 5 when it collects no test: make treats any non-zero exit as failure.
test: $(STAMP) chromium lint
	WORKBENCH_QUICK=1 $(PY) -m pytest

# The README's pictures: every page served from a fresh home, shot in Chromium with live
# data (docs/screenshots/*.png), and each page's first-paint and first-data seconds.
screenshots: $(STAMP) chromium
	$(PY) docs/screenshots.py --timings docs/screenshots/timings.md

# Each writes its section of benchmarks/RESULTS.md (the memory run takes 10 minutes, the
# coverage curves about half an hour on 2 cores).
bench: $(STAMP)
	$(PY) benchmarks/bench_vector_env.py
	$(PY) benchmarks/bench_sac.py
	$(PY) benchmarks/bench_metra.py
	$(PY) benchmarks/bench_coverage.py
	$(PY) benchmarks/bench_hilp.py
	$(PY) benchmarks/bench_horizon.py
	$(PY) benchmarks/bench_live_overhead.py
	$(PY) benchmarks/bench_live_overhead.py --memory-minutes 10

# Learning checks too long for `make test` (METRA against DIAYN in a maze: minutes).
bench-learning: $(STAMP)
	$(PY) -m pytest benchmarks/test_long_learning.py

# lock.txt afresh: the newest versions pyproject.toml's ranges allow, resolved in a
# scratch venv, then the whole suite run on them (a failing lock is not kept).
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet -c constraints.txt torch
	.venv-lock/bin/python -m pip install --quiet -e ".[dev,distributed]"
	{ sed -n '/^#/p' lock.txt; .venv-lock/bin/python -m pip freeze --exclude-editable \
	  | grep -v -E '^(torch==|-e |rl[-_]workbench)'; } > lock.txt.new
	rm -rf .venv-lock
	cp lock.txt lock.txt.old && mv lock.txt.new lock.txt
	$(MAKE) test || { mv lock.txt.old lock.txt; echo "the new versions fail the tests: lock.txt kept"; exit 1; }
	rm -f lock.txt.old

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
