# Candidate-preference-aware communication: preference, router and notifier on Kafka.
# `make help` lists the targets. Everything installs what it needs on first use.

SHELL := /bin/bash
.DEFAULT_GOAL := help
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := python3.11
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
PY := .venv/bin/python
STACK := $(PY) -m deploy.local.stack
PYTEST_ARGS ?=

.PHONY: help setup run stop status test test-fast lint fmt schemas bench chaos clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-10s %s\n", $$1, $$2}'

setup: ## Install what is missing: uv, the Python env, Kafka jars, FerretDB, Debian packages
	@bash deploy/local/setup.sh

run: setup ## Start Kafka, FerretDB, the sinks and the three services; print where they are
	@$(STACK) up
	@$(STACK) status
	@echo
	@echo "Try it: $(PY) -m deploy.local.ats_cli interview-scheduled --candidate cand-1 --email you@example.org"
	@echo "        then read the mail in .local/mail/ (index.jsonl) and GET http://127.0.0.1:8003/v1/candidates/cand-1/timeline"
	@echo "Stop:   make stop"

stop: ## Stop everything `make run` or the tests started
	@$(STACK) down

status: ## Show what runs
	@$(STACK) status

test: setup ## Run the whole suite against the real broker and database (starts and stops them)
	@$(PY) -m pytest $(PYTEST_ARGS)

test-fast: ## Unit and handler tests only (no broker, no database)
	@$(PY) -m pytest -m "not integration and not e2e and not browser" $(PYTEST_ARGS)

lint: setup ## ruff format check, ruff lint, mypy --strict
	@$(PY) -m ruff format --check .
	@$(PY) -m ruff check .
	@$(PY) -m mypy services schemas deploy

fmt: ## Format and fix what ruff can
	@$(PY) -m ruff format .
	@$(PY) -m ruff check --fix .

schemas: ## Regenerate the JSON Schemas and the AsyncAPI document in schemas/generated/
	@$(PY) -m schemas.generate

bench: setup ## Benchmark the real stack against raw Kafka; table in README.md, JSON in bench-results/
	@$(PY) -m bench --write-readme

chaos: setup ## Kill and restart each part under load; reconcile deliveries against the script
	@$(PY) -m bench.chaos --write-readme

clean: stop ## Stop and delete local data, logs and downloads (.local/)
	rm -rf .local
