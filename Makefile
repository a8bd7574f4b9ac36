# MatterPay developer entry points. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app portal
PYTEST := $(PY) -m pytest
# The PostgreSQL the second test run uses (trust auth on our machines and in CI).
PORTAL_TEST_PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
# A subset of the tests, e.g. `make test T=tests/api`.
T ?=

.DEFAULT_GOAL := help
.PHONY: help install browser run test test-sqlite test-pg lint fmt db-upgrade db-revision bench clean

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: $(VENV)/.installed ## Create .venv and install the portal with its dev tools.

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

browser: node_modules/.installed ## Chromium (Debian's, if missing; needs root) and axe-core for tests/browser.
	@bash tests/browser/install-chromium.sh

# axe-core, the accessibility checker the browser tests inject into every client page, from the
# npm registry at the version package-lock.json pins. Test tooling only: nothing is served.
# Without npm the accessibility tests skip saying so (and fail in CI), as without chromium.
node_modules/.installed: package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && touch $@; \
	else \
		echo "npm is missing: install Node.js and npm, or the accessibility tests will not run."; \
	fi

run: install ## Migrate SQLite, seed the demo firm, serve http://127.0.0.1:5000 with a webhook worker.
	$(FLASK) migrate
	$(FLASK) demo
	@# One delivery worker beside the web server, so the demo posts to registered endpoints too;
	@# it stops with the server.
	$(FLASK) deliver-webhooks --idle-sleep 2 & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(VENV)/bin/gunicorn --bind 127.0.0.1:5000 --workers 2 --access-logfile - wsgi:app

test: install ## Run the whole suite on SQLite, then again on PostgreSQL.
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-pg

test-sqlite: install browser ## The suite on a fresh SQLite database.
	$(PYTEST) $(T)

test-pg: install browser ## The suite on PostgreSQL (PORTAL_TEST_PG_URL); in CI an unreachable server fails.
	@if $(PY) -c "from portal.db import make_engine; make_engine('$(PORTAL_TEST_PG_URL)').connect().close()" 2>/dev/null; then \
		PORTAL_TEST_DATABASE_URL='$(PORTAL_TEST_PG_URL)' $(PYTEST) $(T); \
	elif [ -n "$$CI" ]; then \
		echo "FAILED: PostgreSQL is not reachable at $(PORTAL_TEST_PG_URL); CI must run the suite on it."; exit 1; \
	else \
		echo "SKIPPED the PostgreSQL run: no server at $(PORTAL_TEST_PG_URL) (set PORTAL_TEST_PG_URL)."; \
	fi

lint: install ## ruff check and format check.
	$(VENV)/bin/ruff check portal tests bench migrations
	$(VENV)/bin/ruff format --check portal tests bench migrations

fmt: install ## Format the code with ruff.
	$(VENV)/bin/ruff format portal tests bench migrations
	$(VENV)/bin/ruff check --fix portal tests bench migrations

db-upgrade: install ## Migrate the configured database (PORTAL_DATABASE_URL) to the newest revision.
	$(FLASK) migrate

db-revision: install ## New migration from the models: make db-revision m="what changed".
	$(VENV)/bin/alembic revision --autogenerate -m "$(m)"

bench: install ## Run the benchmarks and print their figures.
	$(PY) bench/run.py

clean: ## Remove the virtual environment, node_modules and the local database.
	rm -rf $(VENV) node_modules instance/*.sqlite3*
