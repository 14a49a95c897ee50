# supportlab — the whole quick start is `make demo` and `make test`.
# Both create .venv and install the pinned dependencies on first use (and again when pins change).

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	&& { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint bench validate clean help

help:
	@echo "make demo   - build the simulated PRM world and run the supportlab loop"
	@echo "make test   - run the test suite"
	@echo "make lint   - ruff"
	@echo "make bench  - run the benchmarks (minutes; figures on stdout)"

$(STAMP): requirements.lock pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: Python 3.11 or newer is required (python3.11+ not found on PATH)" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e . \
	  || $(BIN)/python -m pip install --quiet --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/supportlab demo

# pytest exit code 5 means "no tests collected": that is a failure here, never a silent pass.
test: $(STAMP)
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks validation

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_ingest.py
	$(BIN)/python benchmarks/bench_simulate.py
	$(BIN)/python benchmarks/bench_metrics.py --events 10000000 --spark
	$(BIN)/python benchmarks/bench_estimation.py

validate: $(STAMP)
	$(BIN)/python validation/validate_estimators.py --sims 4000 --bootstrap-variants --extended

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
