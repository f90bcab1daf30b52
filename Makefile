# Set-up and checks. `make eval` and `make test` work on a fresh machine (2 cores, no GPU, PyPI only).
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup eval test lint typecheck unit bench

setup: $(VENV)/.installed

# torch first, from the pinned CPU wheel, so nothing pulls a CUDA build; never torchvision.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[models,dev]"
	touch $@

eval: setup
	$(VENV)/bin/skillgap eval

lint: setup
	$(PY) -m ruff check .

typecheck: setup
	$(PY) -m mypy

# pytest exits 5 when it collects nothing; that is not a failure of the suite.
unit: setup
	$(PY) -m pytest $(PYTEST_ARGS) || [ $$? -eq 5 ]

test: lint typecheck unit

bench: setup
	$(PY) benchmarks/overhead.py
	$(PY) benchmarks/batching.py
	$(PY) benchmarks/cache.py
