# The two commands the README starts with: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint typecheck bench clean

# pip's "a new release of pip is available" notice is not for the people running the demo.
PIP    := $(BIN)/python -m pip --disable-pip-version-check
# What the installed package is built from: `make demo` reinstalls when any of it changes.
PACKAGE_FILES := pyproject.toml $(shell find shared functions -type f -not -path '*/__pycache__/*' 2>/dev/null)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# A regular install, not an editable one: setuptools warns on every editable install (about folders
# that shadow the package), and the demo needs none of it.
$(VENV)/.installed: $(PACKAGE_FILES) | $(BIN)/python
	$(PIP) install --quiet .
	touch $@

# Editable for development: the tests run against the working tree.
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/backup-responder demo

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

# Test-only Node tools: the Azurite storage emulator and the Adaptive Cards renderer.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# checkov validates the Bicep; it lives in its own venv because it pins versions of boto3 and others.
CHECKOV := $(VENV)/tools/checkov/bin/checkov
$(CHECKOV): | $(BIN)/python
	$(PYTHON) -m venv $(VENV)/tools/checkov
	$(VENV)/tools/checkov/bin/python -m pip --disable-pip-version-check install --quiet checkov==3.3.30

test: lint typecheck node_modules/.installed $(CHECKOV)
	$(BIN)/python -m pytest

# The figures of the performance issue, each beside its baseline (bench/README.md).
bench: $(VENV)/.installed-test
	$(BIN)/python bench/run.py
	$(BIN)/python bench/phases.py
	$(BIN)/python bench/aws_cold_start.py

clean:
	rm -rf $(VENV) outbox build *.egg-info
