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
# gunicorn restarts a worker that stops answering for this many seconds. Our own bounds answer a
# hung dependency with a 503 long before it: the database's DATABASE_TIMEOUT_SECONDS, and a hung
# evidence store's worst case, S3_MAX_ATTEMPTS x (S3_CONNECT_TIMEOUT + 1 s for "100 Continue" +
# S3_READ_TIMEOUT) + 1 s back-off per retry + two one-try clean-ups of 2 s = 2 x (3 + 1 + 30) + 1
# + 4 = 73 s by default. Exported, so the app refuses to start with S3 settings whose worst case
# reaches it (storage/s3.py).
GUNICORN_TIMEOUT ?= 90
export GUNICORN_TIMEOUT
export FLASK_APP := wsgi

.PHONY: run test lint typecheck browser bench install migrate seed clean govuk-assets vendor-app fuzz audit lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools

# constraints.txt is the lock: every dependency's version, as audited by `make audit`.
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c constraints.txt pip setuptools -e '.[test]'
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

test: lint typecheck audit browser
	$(BIN)/python -m pytest

# The locked dependency set against PyPI's vulnerability data (tests/dependency_audit.py says
# what happens offline: CI fails, a laptop is told no audit ran).
audit: install
	$(BIN)/python -m tests.dependency_audit constraints.txt

# Re-resolve pyproject.toml's ranges in a fresh virtualenv and write the lock from it; after
# changing a dependency, or to take upgrades (then `make audit`).
lock:
	rm -rf build/lock && $(PYTHON) -m venv build/lock
	build/lock/bin/python -m pip install --quiet --upgrade pip setuptools
	build/lock/bin/python -m pip install --quiet -e '.[test]'
	{ echo "# The lock: every dependency (and pip, setuptools) at the version \`make install\` installs and"; \
	  echo "# \`make audit\` audits. Written by \`make lock\` from pyproject.toml's ranges; do not edit by hand."; \
	  build/lock/bin/python -m pip freeze --all --exclude-editable; } > constraints.txt
	rm -rf build/lock

# A deeper fuzz run on demand (the normal suite runs FUZZ_EXAMPLES=10): examples per operation,
# role and mode. FUZZ_SEED=N replays a run; add DATABASE_URL=... CI=true for PostgreSQL.
FUZZ_EXAMPLES ?= 200
fuzz: install
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -o addopts="" -p no:cacheprovider -q \
		tests/api/test_fuzz.py tests/api/test_feedback_fuzz.py

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

# The tablet app's front-end libraries (README, "The tablet app") are committed under
# service/static/vendor, so `make run` needs no Node.js. This refreshes them from the npm registry
# (needs npm); bump a version here, then run the browser tests (tests/browser/test_tablet_app.py).
DEXIE_VERSION ?= 4.4.7
SIGNATURE_PAD_VERSION ?= 5.1.4
WORKBOX_VERSION ?= 7.4.1
WORKBOX_MODULES := workbox-core workbox-precaching workbox-routing workbox-strategies
vendor-app:
	rm -rf build/vendor-app && mkdir -p build/vendor-app
	cd build/vendor-app && npm pack --silent dexie@$(DEXIE_VERSION) signature_pad@$(SIGNATURE_PAD_VERSION) \
		workbox-sw@$(WORKBOX_VERSION) workbox-window@$(WORKBOX_VERSION) \
		$(foreach module,$(WORKBOX_MODULES),$(module)@$(WORKBOX_VERSION)) >/dev/null
	cd build/vendor-app && for tarball in *.tgz; do mkdir -p "$${tarball%.tgz}" && tar xzf "$$tarball" -C "$${tarball%.tgz}"; done
	rm -rf service/static/vendor && mkdir -p service/static/vendor/dexie service/static/vendor/signature_pad service/static/vendor/workbox
	cp build/vendor-app/dexie-$(DEXIE_VERSION)/package/dist/dexie.min.js build/vendor-app/dexie-$(DEXIE_VERSION)/package/LICENSE service/static/vendor/dexie/
	cp build/vendor-app/signature_pad-$(SIGNATURE_PAD_VERSION)/package/dist/signature_pad.umd.min.js service/static/vendor/signature_pad/
	cp build/vendor-app/signature_pad-$(SIGNATURE_PAD_VERSION)/package/LICENSE* service/static/vendor/signature_pad/ 2>/dev/null || true
	cp build/vendor-app/workbox-sw-$(WORKBOX_VERSION)/package/build/workbox-sw.js \
		build/vendor-app/workbox-window-$(WORKBOX_VERSION)/package/build/workbox-window.prod.umd.js \
		build/vendor-app/workbox-sw-$(WORKBOX_VERSION)/package/LICENSE service/static/vendor/workbox/
	$(foreach module,$(WORKBOX_MODULES),cp build/vendor-app/$(module)-$(WORKBOX_VERSION)/package/build/$(module).prod.js service/static/vendor/workbox/;)
	sed -i '/^\/\/# sourceMappingURL=/d' service/static/vendor/*/*.js
	{ echo "dexie $(DEXIE_VERSION)"; echo "signature_pad $(SIGNATURE_PAD_VERSION)"; \
	  echo "workbox $(WORKBOX_VERSION) (workbox-sw, workbox-window, $(WORKBOX_MODULES))"; } > service/static/vendor/VERSIONS
	rm -rf build/vendor-app
