#!/usr/bin/env bash
# Run the suite on SQLite, then again on PostgreSQL if a server answers.
# OTKLIK_TEST_PG_URL overrides the PostgreSQL URL; extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PG_URL="${OTKLIK_TEST_PG_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/test}"

echo "=== test suite on SQLite ==="
env -u OTKLIK_TEST_DATABASE_URL "$PY" -m pytest -q "$@"
sqlite_status=$?

if "$PY" scripts/pg_ready.py "$PG_URL"; then
    echo "=== test suite on PostgreSQL ($PG_URL) ==="
    OTKLIK_TEST_DATABASE_URL="$PG_URL" "$PY" -m pytest -q "$@"
    pg_status=$?
else
    echo "!!! PostgreSQL is not reachable at $PG_URL: the PostgreSQL run is SKIPPED !!!" >&2
    pg_status=0
fi

if [ "$sqlite_status" -ne 0 ] || [ "$pg_status" -ne 0 ]; then
    echo "test suite FAILED (sqlite=$sqlite_status postgresql=$pg_status)" >&2
    exit 1
fi
