# Switchyard: `make run` starts the back office + sync worker on the embedded default;
# `make test` runs the test suite. Both create .venv and install requirements.txt first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install test-pg soak benchmark clean

run: install
	$(BIN)/python manage.py runlocal

test: install
	$(BIN)/python -m pytest -q

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	touch $@

# The production path: PostgreSQL + Redis broker (defaults match the local services).
test-pg: install
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/switchyard} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/0} $(BIN)/python -m pytest -q

# Live soak test: a fresh soak database, the sandbox, one web server and SOAK_WORKERS (3) qcluster workers under
# SOAK_MINUTES (10; SOAK_SECONDS for short runs) of traffic, then the end-to-end checks; see README "Soak test".
soak: install
	DATABASE_URL=$${SOAK_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/switchyard_soak} \
	REDIS_URL=$${SOAK_REDIS_URL:-redis://127.0.0.1:6379/15} $(BIN)/python manage.py soak

# Rerunnable ingestion benchmark (queries per page, orders/s, peak memory); see tests/benchmarks/.
benchmark: install
	$(BIN)/python -m tests.benchmarks.bench_pull_orders $(if $(SIZES),--sizes $(SIZES),) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var
