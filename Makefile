# The two promises of the README: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench snapshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[all,dev]'
	$(BIN)/python -m pip check
	$(BIN)/python -c "import boto3, sys; sys.exit(0 if boto3.__version__.startswith('1.') else 'boto3 resolved to ' + boto3.__version__ + ', expected 1.x')"
	touch $(STAMP)

# Our own modules, byte-compiled as a normal (non-editable) install would have them:
# with PYTHONDONTWRITEBYTECODE set, an editable install recompiles them at every start.
COMPILE := $(BIN)/python -m compileall -q console screens providers

demo: $(STAMP)
	@$(COMPILE)
	$(BIN)/rollback-console demo --dir .demo --port 18787

# Four workers: most tests wait on real processes and servers, not on the CPU.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 4 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	@$(COMPILE)
	$(BIN)/python -m tests.bench
	$(BIN)/python -m tests.bench_keys
	$(BIN)/python -m tests.bench_kubernetes
	$(BIN)/python -m tests.bench_diff
	$(BIN)/python -m tests.bench_install

snapshots: $(STAMP)
	$(BIN)/python -m pytest -q tests/screens/ --snapshot-update

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache
