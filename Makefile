# The two commands in README.md: `make run` and `make test`. Each makes the virtualenv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/jobplatform up

test: $(STAMP)
	$(BIN)/ruff check jobplatform tests bench celeryconfig.py
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check jobplatform tests bench celeryconfig.py
	$(BIN)/ruff format --check jobplatform tests bench celeryconfig.py

clean:
	rm -rf $(VENV) instance *.egg-info
