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
.PHONY: help install browser run prod-local test test-sqlite test-pg test-prod-layout lint fmt db-upgrade db-revision bench clean

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

install: $(VENV)/.installed ## Create .venv and install the portal with its dev tools.

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

browser: ## Install Debian's chromium for tests/browser if it is missing (needs root and apt-get).
	@bash tests/browser/install-chromium.sh

run: install ## Migrate SQLite, seed the demo firm, serve http://127.0.0.1:5000 with a webhook worker.
	$(FLASK) migrate
	$(FLASK) demo
	@# One delivery worker beside the web server, so the demo posts to registered endpoints too;
	@# it stops with the server.
	$(FLASK) deliver-webhooks --idle-sleep 2 & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	GUNICORN_BIND=127.0.0.1:5000 WEB_CONCURRENCY=2 $(VENV)/bin/gunicorn -c gunicorn.conf.py wsgi:app

prod-local: install ## The production layout on loopback: PostgreSQL, Redis, gunicorn, 2 webhook workers.
	$(PY) ops/layout.py serve

test: install ## Run the whole suite on SQLite, then on PostgreSQL, then the production layout.
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-pg
	$(MAKE) --no-print-directory test-prod-layout

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

test-prod-layout: install ## One pay flow over HTTP through the production layout (make prod-local).
	PORTAL_TEST_PG_URL='$(PORTAL_TEST_PG_URL)' $(PY) ops/layout.py check

lint: install ## ruff check and format check.
	$(VENV)/bin/ruff check portal tests bench migrations ops gunicorn.conf.py
	$(VENV)/bin/ruff format --check portal tests bench migrations ops gunicorn.conf.py

fmt: install ## Format the code with ruff.
	$(VENV)/bin/ruff format portal tests bench migrations ops gunicorn.conf.py
	$(VENV)/bin/ruff check --fix portal tests bench migrations ops gunicorn.conf.py

db-upgrade: install ## Migrate the configured database (PORTAL_DATABASE_URL) to the newest revision.
	$(FLASK) migrate

db-revision: install ## New migration from the models: make db-revision m="what changed".
	$(VENV)/bin/alembic revision --autogenerate -m "$(m)"

bench: install ## Run every benchmark; print the figures and write bench/results/report.md.
	$(PY) bench/run.py

clean: ## Remove the virtual environment and the local database.
	rm -rf $(VENV) instance/*.sqlite3*
