# Two commands a new user needs: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check bench install clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## Start the bot on SQLite with the example FAQ: web chat at http://127.0.0.1:8080/chat
run: $(STAMP)
	$(BIN)/otklik faq import faq.example.yaml
	$(BIN)/otklik run

## Run the whole test suite on SQLite, then on PostgreSQL when one is reachable
test: $(STAMP)
	bash scripts/test.sh

## Lint, format check and strict type check
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Webhook throughput benchmark (see README)
bench: $(STAMP)
	$(BIN)/python bench/webhook.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
