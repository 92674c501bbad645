# Every target creates .venv itself, so `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-cmdb install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/opsdesk init
	$(BIN)/opsdesk demo
	$(BIN)/opsdesk serve --host 127.0.0.1 --port 8000

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/opsdesk manage makemigrations --check --dry-run

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

bench-cmdb: $(STAMP)
	$(BIN)/python benchmarks/cmdb.py $(BENCH_ARGS)

.PHONY: bench-incidents
bench-incidents: $(STAMP)
	$(BIN)/python benchmarks/incidents.py $(BENCH_ARGS)

.PHONY: bench-alerts
bench-alerts: $(STAMP)
	$(BIN)/python benchmarks/alerts.py $(BENCH_ARGS)

.PHONY: bench-knowledge
bench-knowledge: $(STAMP)
	$(BIN)/python benchmarks/knowledge.py $(BENCH_ARGS)

.PHONY: bench-changes
bench-changes: $(STAMP)
	$(BIN)/python benchmarks/changes.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
