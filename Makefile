# Set-up and checks. `make eval` and `make test` work on a fresh machine (2 cores, no GPU, PyPI only).
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup eval test lint typecheck imports unit bench phoenix vision-setup conformance-vision

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

test: lint typecheck imports unit conformance-vision

# The torchvision venv: torchvision does not import beside the CPU torch wheel above, so the families
# whose processors need it (Molmo2; the default torchvision image and video processors of the
# `vision`-marked families) run in a venv of their own with a torch build it pairs with (on
# x86_64 a CUDA build that runs on the CPU: 5.6 GB, about 10 minutes once on a busy 2-core
# machine; kept between runs).
VISION_VENV ?= $(or $(SKILLGAP_VISION_VENV),$(HOME)/.cache/skillgap/vision-venv)
VISION_PY := $(VISION_VENV)/bin/python
# A torch + torchvision pair PyPI has for this machine (aarch64's: a CPU build; not run here).
ifeq ($(shell uname -m),aarch64)
VISION_TORCH ?= torch==2.9.1 torchvision==0.24.1
else
VISION_TORCH ?= torch==2.14.1 torchvision==0.29.1
endif
# What the venv was built from: a change of the pair, of pyproject.toml or of checkout reinstalls.
VISION_STAMP := $(VISION_VENV)/.installed-$(subst ==,-,$(subst $(eval) ,_,$(VISION_TORCH)))

# flock: .ci/run starts this in the background early; `make test` then waits for it.
vision-setup:
	@mkdir -p $(dir $(VISION_VENV))
	@flock $(VISION_VENV).lock $(MAKE) --no-print-directory vision-install

.PHONY: vision-install
vision-install:
	@want="$(CURDIR) $$(sha256sum pyproject.toml | cut -c1-16)"; \
	if [ "$$(cat $(VISION_STAMP) 2>/dev/null)" != "$$want" ]; then \
	  set -e; \
	  if [ ! -f $(VISION_STAMP) ]; then rm -rf $(VISION_VENV); python3 -m venv $(VISION_VENV); \
	    $(VISION_PY) -m pip install -q $(VISION_TORCH); fi; \
	  $(VISION_PY) -m pip install -q -e ".[models,vision]" "pytest>=8" "jsonschema>=4"; \
	  echo "$$want" > $(VISION_STAMP); \
	fi

conformance-vision: vision-setup
	SKILLGAP_REQUIRE_TORCHVISION=1 $(VISION_PY) -m pytest $(PYTEST_ARGS) -m vision tests/conformance

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
