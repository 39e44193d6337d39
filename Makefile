# `make run` and `make test` set up everything they need on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test worker bench clean

$(PY):
	@python=$$(scripts/find-python) && echo "Creating $(VENV) with $$python" && "$$python" -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip

$(VENV)/.deps: requirements.txt | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.dev-deps: requirements-dev.txt $(VENV)/.deps
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

# The `codecosts` command (pyproject.toml), installed as an editable copy of this checkout.
$(VENV)/.cli: pyproject.toml $(VENV)/.deps
	@# -qq: setuptools warns about editable installs in general; errors still show.
	$(PY) -m pip install -qq --disable-pip-version-check --no-deps -e .
	@touch $@

## run: serve the whole product on http://$HOST:$PORT (default 127.0.0.1:3739), local mode.
# `codecosts proxy start` makes var/ (0700, files 0600) and its secret key, migrates, serves.
run: $(VENV)/.cli
	@umask 077 && exec $(VENV)/bin/codecosts proxy start

# The real Claude Code CLI the tests drive (npm, pinned in tests/clients/package-lock.json).
CLAUDE := tests/clients/node_modules/.bin/claude
$(CLAUDE): tests/clients/package.json tests/clients/package-lock.json
	npm ci --prefix tests/clients --no-audit --no-fund --silent
	@touch $@

## test: the whole suite; uses DATABASE_URL / REDIS_URL when they are set.
test: $(VENV)/.dev-deps $(VENV)/.cli $(CLAUDE)
	SECRET_KEY=$${SECRET_KEY:-test-only-secret-key} $(PY) -m pytest $(PYTEST_ARGS)

## worker: a Celery worker for the usage queue (needs REDIS_URL).
worker: $(VENV)/.deps
	exec $(VENV)/bin/celery -A codecosts worker -Q usage,default --loglevel INFO

## bench: the proxy overhead benchmark (see README).
bench: $(VENV)/.dev-deps
	SECRET_KEY=$${SECRET_KEY:-bench-only-secret-key} $(PY) benchmarks/proxy_overhead.py $(ARGS)

clean:
	rm -rf $(VENV) var/test-*.sqlite3 .pytest_cache codecosts.egg-info tests/clients/node_modules
