# `make run` and `make test` work on a fresh clone: they create .venv and install into it
# first. The install is redone only when pyproject.toml changes (the stamp file).

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint schema install chromium

run: $(STAMP)
	$(BIN)/gamify serve

test: $(STAMP) chromium
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

schema: $(STAMP)
	$(BIN)/gamify export-schema --output schema.graphql

install: $(STAMP)

# The browser tests drive Debian's Chromium (Playwright's own browser download cannot work
# on these machines); installed with apt when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q chromium; }

$(BIN)/python:
	python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)
