#!/usr/bin/env bash
# Code gates, run by .ci/run before the tests (and by `make gates`); exits non-zero on a failure:
#   - bandit (pinned in constraints.txt, a dev dependency) on app/: no medium or high findings;
#   - no |safe, Markup( or render_template_string outside the reviewed allowlist;
#   - ruff (pinned; configured in pyproject.toml): no findings in the code, tests and tools.
# Both live in .ci/code_gates.py; tests/test_code_gates.py runs the same checks under pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

make --no-print-directory install-dev   # the venv with the pinned bandit
echo "== code gates =="
.venv/bin/bandit --version 2>&1 | sed -n 1p   # sed reads it all: no SIGPIPE under pipefail
.venv/bin/python .ci/code_gates.py
echo "== ruff =="
.venv/bin/ruff --version
.venv/bin/ruff check .
