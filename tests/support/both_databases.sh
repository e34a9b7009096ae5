#!/usr/bin/env bash
# `make test` with TEST_DATABASE_URL set: the whole suite on SQLite and on PostgreSQL side by
# side (one core each), each with its own Redis database for the tests that share one, then
# both logs in full. Exits non-zero when either run failed.
set -uo pipefail
PYTHON="$1"; shift
out="test-output"
mkdir -p "$out"
echo "== the suite on SQLite and on PostgreSQL ($TEST_DATABASE_URL), side by side =="
start=$(date +%s)
( env -u TEST_DATABASE_URL CG_MACHINES_REDIS_URL="redis://127.0.0.1:6379/4" \
    "$PYTHON" -m pytest "$@" > "$out/sqlite.log" 2>&1; echo $? > "$out/sqlite.rc" ) &
( CG_MACHINES_REDIS_URL="redis://127.0.0.1:6379/5" \
    "$PYTHON" -m pytest "$@" > "$out/postgresql.log" 2>&1; echo $? > "$out/postgresql.rc" ) &
wait
echo "== SQLite =="
cat "$out/sqlite.log"
echo "== PostgreSQL =="
cat "$out/postgresql.log"
sqlite_rc=$(cat "$out/sqlite.rc"); pg_rc=$(cat "$out/postgresql.rc")
echo "== both databases in $(( $(date +%s) - start )) s: SQLite exit $sqlite_rc, PostgreSQL exit $pg_rc =="
[ "$sqlite_rc" -eq 0 ] && [ "$pg_rc" -eq 0 ]
