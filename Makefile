# Two commands a new user needs: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The bot's own dependencies only (for `make run`), or those and the test and lint tools.
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev

.PHONY: run test check bench install clean

$(RUNTIME): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@touch $(RUNTIME)

$(DEV): $(RUNTIME)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(DEV)

install: $(DEV)

## Start the bot on SQLite with the example FAQ: web chat at http://127.0.0.1:8080/chat
run: $(RUNTIME)
	$(BIN)/otklik faq import faq.example.yaml
	$(BIN)/otklik run

## Run the whole test suite on SQLite, then on PostgreSQL when one is reachable
test: $(DEV)
	bash scripts/test.sh

## Lint, format check and strict type check
check: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Webhook throughput benchmark (see README)
bench: $(DEV)
	$(BIN)/python bench/webhook.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
