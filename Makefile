# The two commands a newcomer runs: `make demo` and `make test`. Each bootstraps .venv itself.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BASE := $(VENV)/.installed
DEV := $(VENV)/.installed-dev

.PHONY: demo test test-heavy lint bench system-deps clean

$(BASE): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	@touch $@

$(DEV): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(BASE) $@

demo: $(BASE)
	$(VENV)/bin/finops demo

system-deps:
	bash tests/setup/system_deps.sh

# lint-imports checks the layer contracts in pyproject.toml ([tool.importlinter]).
lint: $(DEV)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# The default suite; `make test-heavy` runs the minutes-long checks (CI runs both).
# Two workers (pytest-xdist; TEST_WORKERS=0 runs in one process): each test file on one
# worker, so its module fixtures are built once; the sample warehouse is built once per run).
TEST_WORKERS ?= 2
test: $(DEV) system-deps lint
	$(VENV)/bin/pytest -m "not heavy" -n $(TEST_WORKERS) --dist loadfile --durations=15

test-heavy: $(DEV) system-deps
	$(VENV)/bin/pytest -m heavy --durations=5

bench: $(DEV)
	$(PY) bench/run.py $(BENCH)

clean:
	rm -rf $(VENV) data/warehouse .pytest_cache
