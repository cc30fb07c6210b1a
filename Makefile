# Replenish — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
FLASK  := $(VENV)/bin/flask --app wsgi

.PHONY: run test bench lint venv dev-venv clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed
dev-venv: $(VENV)/.dev-installed

run: $(VENV)/.installed
	$(PY) -m webapp.cli.runall

test: $(VENV)/.dev-installed
	$(PY) -m pytest $(PYTEST_ARGS)

# Prints the performance table (PASS/MISS per target); BENCH_ARGS=--quick for a one-minute subset.
bench: $(VENV)/.dev-installed
	$(PY) -m bench.run $(BENCH_ARGS)

# Style, types and template HTML, as CI runs them before the tests (settings in pyproject.toml).
lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check webapp tests bench
	$(VENV)/bin/ruff format --check webapp tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/djlint templates --lint

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache test-output
