# Vigil — `make help` lists the targets.
SHELL := /bin/bash
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: help bootstrap demo test check fmt lint typecheck unit integration bench kafka-start kafka-stop clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  make %-12s %s\n", $$1, $$2}'

bootstrap:  ## install the Python env, Kafka and chain tools (idempotent)
	@bash scripts/bootstrap.sh

demo: bootstrap  ## run the local demo: Kafka, engine, simulated platform (Ctrl-C stops)
	@bash scripts/demo.sh

test: bootstrap  ## install what is needed and run every check and test (what CI runs)
	@$(MAKE) --no-print-directory check

check:  ## ruff, mypy and the whole pytest suite (integration tests included)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest $(PYTEST_ARGS)

fmt:  ## format and fix lint
	$(PY) -m ruff format reputation streams config chain sim tests bench
	$(PY) -m ruff check --fix .

unit:  ## fast tests only (no broker, no node)
	$(PY) -m pytest -m "not integration" $(PYTEST_ARGS)

integration:  ## tests against real Kafka / anvil only
	$(PY) -m pytest -m integration $(PYTEST_ARGS)

bench: bootstrap  ## throughput benchmark through the real broker
	$(PY) bench/throughput.py

kafka-start:  ## start a local Kafka on 127.0.0.1:9092
	@bash deploy/kafka/kafka.sh start

kafka-stop:  ## stop the local Kafka
	@bash deploy/kafka/kafka.sh stop

clean:  ## remove local state (keeps downloads)
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
