# One entry point for people, hooks and CI: what passes here passes in CI.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install worker test test-fast test-faults lint format typecheck check contracts bench demo clean

$(STAMP): pyproject.toml contracts/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv with the service and its development tools

worker: install ## Run the worker on its defaults (local Redis, SQLite file here)
	$(BIN)/licensing worker

demo: install ## The spec's two examples through the configured Redis and database
	$(BIN)/licensing demo

test: install ## Every test: unit, store, contracts, end-to-end, faults, deploy
	@# pytest exits 5 when it collected nothing: that must fail, not pass quietly.
	$(BIN)/pytest; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; \
	exit $$status

test-fast: install ## Everything but the slower fault-injection suite
	$(BIN)/pytest -m "not faults"

test-faults: install ## Several workers, crashes, pauses and cut links
	$(BIN)/pytest -m faults

lint: install ## ruff: lint and formatting
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: install ## mypy, strict, on the service and contracts packages
	$(BIN)/mypy

check: lint typecheck test ## What CI runs

contracts: install ## Regenerate contracts/schemas and contracts/asyncapi.json
	$(BIN)/licensing export-contracts contracts

bench: install ## The benchmark (see docs/performance.md)
	$(BIN)/licensing bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
