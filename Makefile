# MatterPay developer entry points. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app portal
PYTEST := $(PY) -m pytest
# The PostgreSQL the second test run uses (trust auth on our machines and in CI).
PORTAL_TEST_PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
# The port `make run` serves on (macOS often has 5000 taken by AirPlay): `make run PORT=5050`.
PORT ?= 5000
# Links and the console's address printed by the demo follow the port unless PORTAL_BASE_URL is set.
RUN_ENV = PORTAL_BASE_URL="$${PORTAL_BASE_URL:-http://127.0.0.1:$(PORT)}"
# A subset of the tests, e.g. `make test T=tests/api`.
T ?=
# Test processes (pytest-xdist): one per core by default; `make test XDIST=0` runs in one process.
XDIST ?= auto
# Message catalogs: one folder per language, each compiled to a .mo (not committed).
BABEL := $(VENV)/bin/pybabel
CATALOGS := portal/translations
POT := $(CATALOGS)/messages.pot
PO_FILES := $(wildcard $(CATALOGS)/*/LC_MESSAGES/messages.po)
MO_FILES := $(PO_FILES:.po=.mo)
# Lazy strings (module-level messages) besides Babel's default keywords (_, gettext, ngettext...).
BABEL_KEYWORDS := -k lazy_gettext -k lazy_ngettext:1,2 -k lazy_pgettext:1c,2

.DEFAULT_GOAL := help
.PHONY: help install browser run prod-local test test-sqlite test-pg test-prod-layout lint fmt db-upgrade db-revision bench clean messages translations language

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

install: $(VENV)/.installed $(MO_FILES) ## Create .venv, install the portal with its dev tools, compile the catalogs.

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

translations: $(MO_FILES) ## Compile the message catalogs (.po -> .mo); `make install` does it too.

# A .mo is rebuilt whenever its .po is newer. Fuzzy entries are left out (they are not reviewed).
$(CATALOGS)/%/LC_MESSAGES/messages.mo: $(CATALOGS)/%/LC_MESSAGES/messages.po $(VENV)/.installed
	$(BABEL) compile --statistics -l $* -i $< -o $@

messages: $(VENV)/.installed ## Extract every string into messages.pot, update each catalog, compile.
	$(BABEL) extract -F babel.cfg $(BABEL_KEYWORDS) --project MatterPay --version 1 \
		--copyright-holder "MatterPay contributors" --sort-by-file --add-location file --width 100 \
		-o $(POT) .
	@# English is the source language: its entries stay empty (gettext shows the source text)
	@# unless the wording is overridden, so it never takes fuzzy guesses. Other languages get
	@# Babel's fuzzy suggestions for changed strings, to be reviewed (the tests refuse them).
	@for po in $(PO_FILES); do \
		lang=$$(basename $$(dirname $$(dirname $$po))); \
		fuzzy=$$([ "$$lang" = en ] && echo --no-fuzzy-matching); \
		$(BABEL) update -i $(POT) -d $(CATALOGS) -l $$lang --ignore-obsolete --width 100 $$fuzzy || exit 1; \
	done
	$(MAKE) --no-print-directory translations
	@$(PY) -m portal.catalogs || echo "Translate the entries listed above in $(CATALOGS)/<language>/LC_MESSAGES/messages.po, then run make translations."

language: $(VENV)/.installed ## Start a catalog for a new language: make language L=fr (see README "Languages").
	@test -n "$(L)" || { echo "usage: make language L=<language code, e.g. fr>"; exit 2; }
	$(BABEL) init -i $(POT) -d $(CATALOGS) -l $(L) --width 100

browser: node_modules/.installed ## Chromium (Debian's, if missing; needs root) and axe-core for tests/browser.
	@bash tests/browser/install-chromium.sh

# axe-core, the accessibility checker the browser tests inject into every client page, from the
# npm registry at the version package-lock.json pins. Test tooling only: nothing is served.
# Without npm the accessibility tests fail saying so, as they do without chromium.
node_modules/.installed: package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && touch $@; \
	else \
		echo "npm is missing: install Node.js and npm, or the accessibility tests will not run."; \
	fi

run: install ## Migrate SQLite, seed the demo, serve http://127.0.0.1:$(PORT) (PORT=5000) until Ctrl-C.
	$(FLASK) migrate
	$(RUN_ENV) $(FLASK) demo
	@# One delivery worker beside the web server, so the demo posts to registered endpoints and
	@# sends the email outbox (to instance/outbox without PORTAL_MAIL_SERVER) too; it stops
	@# with the server.
	$(RUN_ENV) $(FLASK) deliver-webhooks --idle-sleep 2 & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(RUN_ENV) GUNICORN_BIND=127.0.0.1:$(PORT) WEB_CONCURRENCY=2 $(VENV)/bin/gunicorn -c gunicorn.conf.py wsgi:app

prod-local: install ## The production layout on loopback: PostgreSQL, Redis, gunicorn, 2 delivery workers.
	$(PY) ops/layout.py serve

test: install ## Lint, then the whole suite on SQLite, then on PostgreSQL, then the production layout.
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-pg
	$(MAKE) --no-print-directory test-prod-layout

test-sqlite: install browser ## The suite on a fresh SQLite database.
	$(PYTEST) -n $(XDIST) --dist worksteal $(T)

test-pg: install browser ## The suite on PostgreSQL (PORTAL_TEST_PG_URL); in CI an unreachable server fails.
	@if $(PY) -c "from portal.db import make_engine; make_engine('$(PORTAL_TEST_PG_URL)').connect().close()" 2>/dev/null; then \
		PORTAL_TEST_DATABASE_URL='$(PORTAL_TEST_PG_URL)' $(PYTEST) -n $(XDIST) --dist worksteal $(T); \
	elif [ -n "$$CI" ]; then \
		echo "FAILED: PostgreSQL is not reachable at $(PORTAL_TEST_PG_URL); CI must run the suite on it."; exit 1; \
	else \
		echo "SKIPPED the PostgreSQL run: no server at $(PORTAL_TEST_PG_URL) (set PORTAL_TEST_PG_URL)."; \
	fi

test-prod-layout: install ## One pay flow over HTTP through the production layout (make prod-local).
	PORTAL_TEST_PG_URL='$(PORTAL_TEST_PG_URL)' $(PY) ops/layout.py check

lint: install ## ruff, the layer contracts (import-linter, pyproject.toml) and mypy on portal/.
	$(VENV)/bin/ruff check portal tests bench migrations ops gunicorn.conf.py
	$(VENV)/bin/ruff format --check portal tests bench migrations ops gunicorn.conf.py
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy

fmt: install ## Format the code with ruff.
	$(VENV)/bin/ruff format portal tests bench migrations ops gunicorn.conf.py
	$(VENV)/bin/ruff check --fix portal tests bench migrations ops gunicorn.conf.py

db-upgrade: install ## Migrate the configured database (PORTAL_DATABASE_URL) to the newest revision.
	$(FLASK) migrate

db-revision: install ## New migration from the models: make db-revision m="what changed".
	$(VENV)/bin/alembic revision --autogenerate -m "$(m)"

bench: install ## Run every benchmark; print the figures and write bench/results/report.md.
	$(PY) bench/run.py

clean: ## Remove the virtual environment, node_modules, the local database and the compiled catalogs.
	rm -rf $(VENV) node_modules instance/*.sqlite3* $(MO_FILES)
