# Every install step lives here: a fresh machine needs only python3 (>= 3.11).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint bench clean pg

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

## run: one full cycle on the built-in demo (targets, pace, findings), then the service
run: $(STAMP)
	$(BIN)/alignmon run --once
	$(BIN)/alignmon run

## test: lint, type-check and run the whole suite (SQLite and a throwaway PostgreSQL)
test: $(STAMP) pg lint
	$(BIN)/pytest -q

## pg: the PostgreSQL server binaries the suite starts a throwaway cluster from
pg:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	else echo "PostgreSQL server binaries not found: install the 'postgresql' package" >&2; fi

lint: $(STAMP)
	$(BIN)/ruff check monitor connectors tests
	$(BIN)/ruff format --check monitor connectors tests
	$(BIN)/mypy

# The bench extra (the DuckDB reference) on top of the test install.
BENCH_STAMP := $(subst .installed-,.bench-,$(STAMP))
$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	rm -f $(VENV)/.bench-*
	touch $@

## bench: performance figures, written to docs/benchmarks.md (about an hour)
bench: $(BENCH_STAMP) pg
	$(BIN)/python -m tests.bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
