# Common Ground: `make run` serves the app with demo data; `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
export FLASK_APP := wsgi

.PHONY: run test gates install install-dev clean bench

$(VENV)/.installed: pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Common Ground needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

# axe-core for the accessibility tests and vnu-jar (the Nu HTML checker; it runs on Java) for
# tests/test_html_valid.py (kept for the tests, never served). Without npm or Java those checks
# skip with a reason (CI sets CG_REQUIRE_BROWSER=1, which fails instead).
node_modules/.installed: package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --no-audit --no-fund --silent && touch $@; \
	else echo "npm not found: browser accessibility checks will be skipped"; fi

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: $(VENV)/.installed
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo --if-empty
	@echo ""
	@echo "  Common Ground is running at http://127.0.0.1:$(PORT)  (Ctrl+C stops it)"
	@echo ""
	$(BIN)/flask run --host 127.0.0.1 --port $(PORT)

# The suite runs on SQLite; with TEST_DATABASE_URL set, on SQLite and PostgreSQL side by side.
test: $(VENV)/.installed-dev node_modules/.installed
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		bash tests/support/both_databases.sh $(BIN)/python $(PYTEST_ARGS); \
	else \
		$(BIN)/python -m pytest $(PYTEST_ARGS); \
	fi

# bandit on app/ and no unreviewed |safe / Markup( / render_template_string (CI runs this first).
gates: $(VENV)/.installed-dev
	bash .ci/gates.sh

# Benchmark (bench/README.md): gunicorn + wrk on SQLite, then on PostgreSQL (BENCH_PG_URL, default
# the cg_bench database, whose public schema is dropped), a table and bench/results.json.
# FACTOR=10 seeds 10x the data (its runs are kept next to the factor-1 ones for the comparison);
# BENCH_ARGS passes options, e.g. BENCH_ARGS="--duration 3 --skip-seed" (python bench/run.py -h).
FACTOR ?= 1
$(VENV)/.installed-bench: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[bench]'
	touch $@

bench: $(VENV)/.installed-bench
	@command -v wrk >/dev/null 2>&1 || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get install -y wrk || { $$SUDO apt-get update && $$SUDO apt-get install -y wrk; }; }
	$(BIN)/python bench/run.py --factor $(FACTOR) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
