# Developer commands. `make test` is the one command the README and CI use.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install lint test test-fast bench demo deploy-check

install:
	python3 -m venv $(VENV)
	$(PY) -m pip install -q -e ".[dev]"

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

test:
	$(PY) -m pytest -q --durations=40

# Day-to-day: no PostgreSQL, S3, real workers, real models or CLI subprocesses, two
# processes (about 55 s on 2 cores).
test-fast:
	$(PY) -m pytest -q -n 2 -m "not slow and not postgres and not s3"

# The Helm chart, compose file and Dockerfile, validated offline (infra/helm/check.sh).
deploy-check:
	VENV=$(VENV) bash infra/helm/check.sh

bench:
	$(PY) bench/accuracy.py --calls 8 --minutes 3.5
	$(PY) bench/throughput.py --calls 8 --minutes 3.5 --model tiny.en --beam-size 5
	$(PY) bench/embedded.py
	$(PY) bench/hostile.py

demo:
	$(VENV)/bin/callscribe demo ./demo
