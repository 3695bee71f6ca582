# The two commands: `make run` and `make test`. Both build .venv from pyproject.toml first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
WORKERS ?= 2
# Threads per worker (gunicorn gthread): visit create measured 2.1x the req/s of 4 sync workers
# on 2 cores (README, "Visit create under load"); a request mostly waits on the database.
THREADS ?= 4
# gunicorn kills a request's worker after this many seconds; it must outlast the evidence
# store's timeouts x attempts (3 s + 30 s, twice, by default) so a hung store is a 503, not a kill.
GUNICORN_TIMEOUT ?= 90
export FLASK_APP := wsgi

.PHONY: run test lint typecheck browser bench install migrate seed clean govuk-assets

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

migrate: install
	$(BIN)/flask db upgrade

seed: migrate
	$(BIN)/flask demo seed

# The outbox worker runs beside gunicorn and stops with it.
run: seed
	@echo "Serving on http://$(HOST):$(PORT)  (API docs: http://$(HOST):$(PORT)/api/v1/docs)"
	$(BIN)/flask outbox run & outbox=$$!; \
	trap 'kill $$outbox 2>/dev/null; wait $$outbox' EXIT INT TERM; \
	$(BIN)/gunicorn --workers $(WORKERS) --worker-class gthread --threads $(THREADS) --timeout $(GUNICORN_TIMEOUT) --bind $(HOST):$(PORT) --access-logfile - wsgi:app; \
	status=$$?; exit $$status

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

test: lint typecheck browser
	$(BIN)/python -m pytest

# The browser tests drive Debian's Chromium; install it when missing and we may (root).
browser:
	@command -v chromium >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@command -v chromium >/dev/null 2>&1 || echo "chromium is not installed: browser tests will skip here (CI fails them)"

# The perf extra (py-spy, granian) is only for the benchmarks.
bench: install
	$(BIN)/python -m pip install --quiet -e '.[test,perf]'
	$(BIN)/python -m pytest -o addopts="" -p no:cacheprovider -s tests/perf

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache .coverage

# GOV.UK Frontend's compiled files are committed under service/static/govuk, so `make run` needs
# no Node.js. This refreshes them from the npm registry (needs npm); bump the version here.
GOVUK_FRONTEND_VERSION ?= 6.6.0
govuk-assets:
	rm -rf build/govuk && mkdir -p build/govuk service/static/govuk
	cd build/govuk && npm pack --silent govuk-frontend@$(GOVUK_FRONTEND_VERSION) && tar xzf govuk-frontend-$(GOVUK_FRONTEND_VERSION).tgz
	rm -rf service/static/govuk/*
	sed 's#url(/assets/#url(/static/govuk/assets/#g' build/govuk/package/dist/govuk/govuk-frontend.min.css > service/static/govuk/govuk-frontend.min.css
	cp build/govuk/package/dist/govuk/govuk-frontend.min.js service/static/govuk/
	cp -r build/govuk/package/dist/govuk/assets service/static/govuk/
	cp build/govuk/package/LICENSE* service/static/govuk/ 2>/dev/null || true
	echo "govuk-frontend $(GOVUK_FRONTEND_VERSION)" > service/static/govuk/VERSION
	rm -rf build/govuk
