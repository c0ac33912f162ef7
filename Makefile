# Two commands do all the set-up on a fresh Debian/Ubuntu machine with Python 3.11+:
#   make run    install, migrate, load demo data, serve on http://127.0.0.1:8000
#   make test   install test dependencies (Chromium, PostgreSQL, Redis, Dovecot) and run every check
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test install install-test check bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test
	scripts/test-services

run: install
	$(BIN)/sportello db upgrade
	$(BIN)/sportello demo
	$(BIN)/sportello serve --host $(HOST) --port $(PORT)

test: install-test
	scripts/check

check:
	scripts/check

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
