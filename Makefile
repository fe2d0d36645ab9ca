# formflow: `make run` starts a working system, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed

.PHONY: run test install browser screenshots bench bench-quick docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The browser tests drive Debian's Chromium (Playwright never downloads a browser); fonts-wqy-zenhei
# lets screenshots show Chinese text.
browser:
	@{ command -v chromium >/dev/null && fc-list | grep -qi "wqy zenhei"; } \
	  || (apt-get update && apt-get install -y --no-install-recommends chromium fonts-wqy-zenhei) \
	  || { echo "Chromium and a Chinese font are required for the browser tests: apt-get install chromium fonts-wqy-zenhei" >&2; exit 1; }

run: $(STAMP)
	$(BIN)/formflow serve

test: $(STAMP) browser
	$(BIN)/python -m pytest -n 2 -q

# Refresh the pictures in docs/screenshots (tests save to tests/artifacts/screenshots otherwise).
screenshots: $(STAMP) browser
	FORMFLOW_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q \
	  tests/test_ui_browser.py tests/test_ui_designer_browser.py tests/test_ui_perms.py tests/test_ui_views2.py tests/test_ui_wizard.py \
	  tests/test_ui_layout_browser.py tests/test_ui_permissions_browser.py

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
