# supportlab — the whole quick start is `make demo` and `make test`.
# Both create .venv and install the pinned dependencies on first use (and again when pins change).
# The installer's own output goes to .venv/install.log; the screen shows one line, or the log's tail on failure.

# The first Python 3.11+ on PATH. Probes stay silent: pyenv shims print errors for versions not selected.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { echo $$p; break; }; \
	done)
VENV := .venv
BIN := $(VENV)/bin
LOG := $(VENV)/install.log
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint lab bench bench-tiny validate lock clean help

help:
	@echo "make demo   - simulate a PRM world into the workspace database, validate it and summarise it"
	@echo "make test   - run the test suite"
	@echo "make lab    - open JupyterLab on notebooks/ with the project's kernel"
	@echo "make lint   - ruff, the layer contract (import-linter) and the type checker (mypy)"
	@echo "make bench  - run the benchmarks (minutes; figures on stdout)"
	@echo "make validate - the estimators' and the designs' false-positive rates and coverage by simulation (minutes)"
	@echo "make lock   - re-pin requirements.lock after a change to pyproject.toml's dependencies"

# pip runs with its output in $(LOG); a failure prints the log's tail and the log's path.
define pip_step
$(BIN)/python -m pip install --disable-pip-version-check --no-input $(1) >>$(LOG) 2>&1 || { \
  echo "error: installing into $(VENV) failed (pip install $(1)); last lines of $(LOG):" >&2; \
  grep -v '^Requirement already satisfied' $(LOG) | tail -n 15 | cut -c1-300 >&2; echo "full log: $(LOG)" >&2; exit 1; }
endef

$(STAMP): requirements.lock pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: Python 3.11 or newer is required (python3.11+ not found on PATH)" >&2; exit 1; }
	@if [ -x $(BIN)/python ]; then echo "updating $(VENV) (pinned dependencies changed)…"; \
	else echo "setting up $(VENV) (first run, about a minute)…"; \
	  $(PYTHON) -m venv $(VENV) || { echo "error: '$(PYTHON) -m venv $(VENV)' failed" >&2; exit 1; }; fi
	@: > $(LOG)
	@$(call pip_step,$$(grep '^pip==' requirements.lock))
	@$(call pip_step,-r requirements.lock)
	@$(BIN)/python -m pip install --disable-pip-version-check --no-input --no-deps --no-build-isolation -e . \
	  >>$(LOG) 2>&1 || $(call pip_step,--no-deps -e .)
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

demo: $(STAMP)
	@$(BIN)/supportlab demo

# pytest exit code 5 means "no tests collected": that is a failure here, never a silent pass.
test: $(STAMP)
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; exit $$rc

# JupyterLab on the project's notebooks; the kernel is this .venv's Python ("python3" inside it).
# Jupyter refuses to run as root without --allow-root (containers, CI): it is added for root only.
LAB_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
lab: $(STAMP)
	@$(BIN)/jupyter lab --notebook-dir=notebooks $(LAB_ROOT) $(LAB_ARGS)

# The layer contract and the type checker's settings are in pyproject.toml ([tool.importlinter], [tool.mypy]).
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks validation
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_ingest.py
	$(BIN)/python benchmarks/bench_simulate.py
	$(BIN)/python benchmarks/bench_metrics.py --events 10000000 --spark
	$(BIN)/python benchmarks/bench_estimation.py
	$(BIN)/python benchmarks/bench_assign.py
	$(BIN)/python benchmarks/bench_evaluate.py
	$(BIN)/python benchmarks/bench_report.py

# Every benchmark at a tiny size (seconds): what tests/benchmarks runs.
bench-tiny: $(STAMP)
	$(BIN)/python benchmarks/bench_ingest.py --tiny
	$(BIN)/python benchmarks/bench_simulate.py --tiny
	$(BIN)/python benchmarks/bench_metrics.py --tiny
	$(BIN)/python benchmarks/bench_estimation.py --tiny
	$(BIN)/python benchmarks/bench_assign.py --tiny
	$(BIN)/python benchmarks/bench_evaluate.py --tiny
	$(BIN)/python benchmarks/bench_report.py --tiny

validate: $(STAMP)
	$(BIN)/python validation/validate_estimators.py --sims 4000 --bootstrap-variants --extended
	$(BIN)/python validation/validate_designs.py

# Resolve pyproject.toml's dependencies (with every extra) afresh in a scratch environment and pin them.
lock:
	@test -n "$(PYTHON)" || { echo "error: Python 3.11 or newer is required" >&2; exit 1; }
	@rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	@.lock-venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip setuptools
	@.lock-venv/bin/python -m pip install --quiet --disable-pip-version-check ".[spark,dev]"
	@.lock-venv/bin/python -m pip freeze --all --exclude-editable | grep -v '^supportlab' | sort -f > .lock-venv/pins
	@{ sed -n '1,3p' requirements.lock; grep '^pip==' .lock-venv/pins; grep -v '^pip==' .lock-venv/pins; } \
	  > requirements.lock.new
	@mv requirements.lock.new requirements.lock && rm -rf .lock-venv
	@echo "requirements.lock re-pinned ($$(grep -c '==' requirements.lock) packages)"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .import_linter_cache
