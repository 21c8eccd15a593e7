# The two commands in README.md: `make run` (the demo) and `make test`. Each makes the
# virtualenv first, from the versions the tests last passed with (constraints.txt).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean chromium lock

$(STAMP): setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/jobplatform demo

# After changing a dependency in setup.cfg: pin the versions the tests then pass with. The
# current pins are kept where they still fit (pip-compile prefers what the file holds).
lock: $(STAMP)
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --extra dev --strip-extras --no-header --allow-unsafe --no-emit-index-url \
	  --no-emit-find-links \
	  --output-file constraints.txt setup.cfg

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

# The tests mostly wait on real processes (workers, outages, a browser), so several pytest
# processes share the machine's cores well; each runs its own platform on services of its
# own (tests/backends.py). TEST_PROCESSES=0 runs them in this one process.
TEST_PROCESSES ?= 4
test: $(STAMP) chromium
	$(BIN)/ruff check jobplatform tests bench celeryconfig.py
	$(BIN)/pytest -n $(TEST_PROCESSES) --dist worksteal

lint: $(STAMP)
	$(BIN)/ruff check jobplatform tests bench celeryconfig.py
	$(BIN)/ruff format --check jobplatform tests bench celeryconfig.py

clean:
	rm -rf $(VENV) instance *.egg-info
