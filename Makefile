# The two commands in README.md: `make run` and `make test`. Each makes the virtualenv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean chromium

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/jobplatform up

# The browser tests drive Debian's chromium (never a downloaded one): installed here when it
# is missing and we may (root with apt); otherwise the tests say it is missing.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the browser tests ..."; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -qq chromium >/dev/null 2>&1 || \
	      { apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null; }; \
	  else \
	    echo "chromium is missing (/usr/bin/chromium): the browser tests will say so"; \
	  fi; \
	fi

test: $(STAMP) chromium
	$(BIN)/ruff check jobplatform tests bench celeryconfig.py
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check jobplatform tests bench celeryconfig.py
	$(BIN)/ruff format --check jobplatform tests bench celeryconfig.py

clean:
	rm -rf $(VENV) instance *.egg-info
