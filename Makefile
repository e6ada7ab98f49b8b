# Two commands from a fresh clone: `make demo` and `make test`. Each creates .venv and
# installs the project first; only Python 3.11 and make are needed.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo test

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "Python 3.11 is required; set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# Sets up SQLite, demo data and an admin account, runs a first dunning pass, then serves
# the admin on http://127.0.0.1:8000/admin/ with two qclusters beside it, one for the main
# queue and one for imports (Ctrl-C stops all three).
demo: install
	$(BIN)/python bin/demo.py

# The whole suite. DATABASE_URL selects PostgreSQL; without it the tests use SQLite.
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)
