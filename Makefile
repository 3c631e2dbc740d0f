# Every install step lives here: a fresh machine needs only python3 (>= 3.11).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint bench clean pg lock compose

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
test: $(STAMP) pg compose lint
	$(BIN)/pytest -q

## pg: the PostgreSQL server binaries the suite starts a throwaway cluster from
pg:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	else echo "PostgreSQL server binaries not found: install the 'postgresql' package" >&2; fi

## compose: docker-compose (Debian's 1.29, without the engine), which checks deploy/docker-compose.yml
compose:
	@if command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null; \
	else echo "docker-compose not found: install the 'docker-compose' package (or Docker Compose v2)" >&2; fi

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

## lock: re-pin deploy/requirements.lock (the image's dependencies and build backend, with hashes) to the newest versions pyproject.toml allows
lock: $(STAMP)
	$(BIN)/pip install --quiet 'uv>=0.5'
	$(BIN)/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")' \
		| $(BIN)/uv pip compile --quiet --upgrade --universal \
		--python-version 3.11 --generate-hashes --custom-compile-command 'make lock' \
		--output-file deploy/requirements.lock pyproject.toml -

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
