# Set-up and checks. `make eval` and `make test` work on a fresh machine (2 cores, no GPU, PyPI only).
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup eval test lint typecheck imports unit bench phoenix

setup: $(VENV)/.installed

# torch first, from the pinned CPU wheel, so nothing pulls a CUDA build; never torchvision.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[models,dev,ray]"
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

imports: setup
	$(VENV)/bin/lint-imports

test: lint typecheck imports unit

# Phoenix, the OTLP receiver of the tracing integration test, in a virtual environment of its own
# (about 2 minutes and 850 MB once; its dependencies never touch the project's).
PHOENIX_VENV ?= $(or $(SKILLGAP_PHOENIX_VENV),$(HOME)/.cache/skillgap/phoenix-venv)
phoenix: $(PHOENIX_VENV)/.installed

$(PHOENIX_VENV)/.installed:
	python3 -m venv $(PHOENIX_VENV)
	$(PHOENIX_VENV)/bin/pip install -q --disable-pip-version-check "arize-phoenix>=20,<21"
	touch $@

bench: setup
	$(PY) benchmarks/overhead.py
	$(PY) benchmarks/batching.py
	$(PY) benchmarks/cache.py
	$(PY) benchmarks/default_eval.py
	$(PY) benchmarks/tracing.py
	$(PY) benchmarks/http_serving.py
	$(PY) benchmarks/router_target.py
	$(PY) benchmarks/serve_load.py
	$(PY) benchmarks/scale_out.py
	$(PY) benchmarks/startup.py
