# CloudTaskHub — the README's two commands are `make run` and `make test`.
# Every target installs what it needs into .venv from the pinned constraints file.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run split test lint docs format lock clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk 'BEGIN{FS=":.*## "}{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements/constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install the pinned dependency set

run: $(STAMP) ## Serve all six modules on http://127.0.0.1:8000 (SQLite, in-process bus)
	CTH_LOG_FORMAT=$${CTH_LOG_FORMAT:-text} $(BIN)/cloudtaskhub serve --modules all --host 127.0.0.1 --port 8000

split: $(STAMP) ## Run the split shape locally: Tansu broker, six module processes, Traefik on :8080
	$(BIN)/cloudtaskhub dev split

lint: $(STAMP) ## Boundaries, ruff, mypy --strict (kernel), generated docs fresh, contract gate, deploy files
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/cloudtaskhub docs --check
	$(BIN)/cloudtaskhub contracts check --against contracts.lock
	$(MAKE) --no-print-directory lint-deploy
	$(MAKE) --no-print-directory lint-observability

test: lint console-deps prometheus-install ## Lint, then every test (SQLite; PostgreSQL too at CTH_TEST_DATABASE_URL or a local server; Kafka and e2e on loopback)
	@# pytest exits 5 when a selection collects nothing; that is not a failure here.
	$(BIN)/python -m pytest -q -p no:warnings $(PYTEST_ARGS) || [ $$? -eq 5 ]

lock: ## Re-resolve dependencies and rewrite requirements/constraints.txt
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/python -m pip install --quiet -e '.[dev,bench]'
	.lockvenv/bin/python -m pip freeze --exclude-editable | grep -v '^-e' > requirements/constraints.txt
	rm -rf .lockvenv

docs: $(STAMP) ## Regenerate docs/generated (AsyncAPI, OpenAPI, Mermaid module map and canvases)
	$(BIN)/cloudtaskhub docs

format: $(STAMP) ## Format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean: ## Remove the venv, local data and caches
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

-include deploy/deploy.mk
-include deploy/observability.mk
-include deploy/bench.mk
-include deploy/console.mk
-include deploy/reliability.mk
-include deploy/swarm.mk
