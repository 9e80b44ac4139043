# Switchyard: `make run` starts the back office + sync worker on the embedded default;
# `make test` runs the test suite. Both create .venv and install requirements.txt first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Test processes (pytest-xdist): one per core by default; TEST_WORKERS=0 runs the suite in this process.
TEST_WORKERS ?= auto
# make benchmark-scale: worker counts, emulated shops, seconds of traffic, orders per second over all shops.
SCALE_WORKERS ?= 1 2 4
SCALE_SHOPS ?= 20
SCALE_SECONDS ?= 90
SCALE_ORDERS_PER_SECOND ?= 3

.PHONY: run test install test-pg soak benchmark benchmark-latency benchmark-scale benchmark-api clean

run: install
	$(BIN)/python manage.py runlocal

test: install
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	touch $@

# The production path: PostgreSQL + Redis broker (defaults match the local services).
test-pg: install
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/switchyard} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/0} $(BIN)/python -m pytest -q -n $(TEST_WORKERS)

# Live soak test: a fresh soak database, the sandbox, one web server and SOAK_WORKERS (3) qcluster workers under
# SOAK_MINUTES (10; SOAK_SECONDS for short runs) of traffic, then the end-to-end checks; see README "Soak test".
soak: install
	DATABASE_URL=$${SOAK_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/switchyard_soak} \
	REDIS_URL=$${SOAK_REDIS_URL:-redis://127.0.0.1:6379/15} $(BIN)/python manage.py soak

# Rerunnable benchmarks: pull_orders (orders/s min/median/max, ratio to raw, queries per page, API calls ÷ minimum,
# memory in its own pass) on SQLite and then on PostgreSQL at BENCH_DATABASE_URL when it answers (its test_ database
# is created and dropped), then API calls ÷ minimum for every flow of every connector (benchmark-api); JSON in
# artifacts/benchmarks/, README tables regenerated from them. See tests/benchmarks/.
# BENCH_ARGS=--admin runs the admin benchmark instead (PostgreSQL at DATABASE_URL, seeded by manage.py seed_scale).
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/switchyard_bench
BENCH_PULL = $(BIN)/python -m tests.benchmarks.bench_pull_orders $(if $(SIZES),--sizes $(SIZES),) $(if $(RUNS),--runs $(RUNS),) $(if $(MEMORY_SIZES),--memory-sizes $(MEMORY_SIZES),) $(BENCH_ARGS)
benchmark: install
ifneq ($(filter --admin,$(BENCH_ARGS)),)
	$(BENCH_PULL)
else
	DATABASE_URL= $(BENCH_PULL)
	@if $(BIN)/python -m tests.benchmarks.pg_reachable "$(BENCH_DATABASE_URL)"; then \
	  DATABASE_URL="$(BENCH_DATABASE_URL)" $(BENCH_PULL); \
	else echo "PostgreSQL does not answer at BENCH_DATABASE_URL: SQLite only"; fi
	DATABASE_URL= $(BIN)/python -m tests.benchmarks.bench_api_calls $(if $(API_ORDERS),--orders $(API_ORDERS),)
endif
	$(BIN)/python -m tests.benchmarks.readme_table

# Inventory latency per connector (stock change at the emulated source → quantity at the emulated TikTok shop): the
# chain measured in the sandbox, the schedule delays from the engine's rules; JSON in
# artifacts/benchmarks/inventory_latency.json. See README "Performance" → "Inventory latency".
benchmark-latency: install
	$(BIN)/python -m tests.benchmarks.bench_inventory_latency $(if $(RUNS),--runs $(RUNS),)

# Scale-out on PostgreSQL + Redis (issue #14 item 6): for each of SCALE_WORKERS ("1 2 4") qcluster workers, a fresh
# scale database (the name must contain "scale"), Redis db 14, the sandbox demo plus shops up to SCALE_SHOPS (20),
# SCALE_SECONDS (90) of traffic at SCALE_ORDERS_PER_SECOND (3) over all shops, a drain until every order reached OSA;
# orders/s, latency, lateness of due flows, fairness, remote calls and 429s. JSON in artifacts/benchmarks/scale_out.json,
# README table regenerated. See README "Performance" → "Scale-out".
benchmark-scale: install
	DATABASE_URL=$${SCALE_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/switchyard_scale} \
	REDIS_URL=$${SCALE_REDIS_URL:-redis://127.0.0.1:6379/14} \
	SCALE_WORKERS="$(SCALE_WORKERS)" SCALE_SHOPS=$(SCALE_SHOPS) SCALE_SECONDS=$(SCALE_SECONDS) \
	SCALE_ORDERS_PER_SECOND=$(SCALE_ORDERS_PER_SECOND) $(BIN)/python -m tests.benchmarks.bench_scale_out
	$(BIN)/python -m tests.benchmarks.readme_table

# API calls ÷ theoretical minimum for every flow of every connector (issue #14 item 1): a known workload in the sandbox
# emulators (API_ORDERS, 250, orders per shop and rows per list), every registry flow run through the engine, calls read
# from its sync runs; JSON in artifacts/benchmarks/api_calls.json, README table regenerated. See README "Performance".
benchmark-api: install
	$(BIN)/python -m tests.benchmarks.bench_api_calls $(if $(API_ORDERS),--orders $(API_ORDERS),)
	$(BIN)/python -m tests.benchmarks.readme_table

clean:
	rm -rf $(VENV) var
