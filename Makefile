# formflow: `make run` starts a working system, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed

.PHONY: run test install bench bench-quick docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	command -v chromium >/dev/null || (apt-get update && apt-get install -y --no-install-recommends chromium)
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/formflow serve

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_storage.py
	$(BIN)/python benchmarks/bench_expr.py

bench-quick: $(STAMP)
	$(BIN)/python benchmarks/bench_storage.py --records 20000
	$(BIN)/python benchmarks/bench_expr.py --quick

docs: $(STAMP)
	$(BIN)/python -m engine.app_schema
	$(BIN)/python -m engine.expr.docs

clean:
	rm -rf $(VENV) build *.egg-info
