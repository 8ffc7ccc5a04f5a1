# herald: `make run` starts the suite, `make test` runs every test. Both install what is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

PG_URL ?= postgresql://postgres@127.0.0.1:5432/herald

.PHONY: install run run-pg test test-unit protos check-protos bench migrate screenshots clean

# New top-level packages need the editable install refreshed, so they are prerequisites too.
$(INSTALLED): pyproject.toml setup.py $(wildcard libs/*/__init__.py services/*/__init__.py)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "herald needs Python 3.11 or newer")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

install: $(INSTALLED)

run: install
	$(VENV)/bin/herald up

# The production shape on this machine: PostgreSQL (the database is created if missing), two
# processes of every service and of the gateway. PG_URL=... make run-pg picks another server.
run-pg: install
	HERALD_DATABASE_URL=$${HERALD_DATABASE_URL:-$(PG_URL)} $(VENV)/bin/herald up --replicas 2

test: install
	$(PY) -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

test-unit: install
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

# The console's browser tests, writing their screenshots into docs/console/ (make test writes
# them to a temporary folder, so a test run never changes tracked files).
screenshots: install
	HERALD_SCREENSHOTS=1 $(PY) -m pytest tests/e2e -k browser $(PYTEST_ARGS)

protos: install
	$(PY) scripts/genprotos.py

migrate: install
	$(VENV)/bin/herald migrate

# Every benchmark prints one JSON line per figure; the README keeps the latest.
bench: install
	@set -e; for script in $(sort $(wildcard bench/*.py)); do echo "# $$script"; $(PY) $$script; done

clean:
	rm -rf $(VENV) var .pytest_cache
