#!/usr/bin/env bash
# Run the suite on SQLite, then again on PostgreSQL if a server answers, then a date guard:
# the SQLite suite again with the system clock moved more than a year ahead, into a week when
# daylight saving changes (libfaketime). A test that mixes a fixed clock with the real one fails
# there. OTKLIK_TEST_PG_URL overrides the PostgreSQL URL; extra arguments go to pytest.
# OTKLIK_DATE_GUARD=0 skips the date guard (say so: it is part of CI).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PG_URL="${OTKLIK_TEST_PG_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/test}"

bash scripts/ensure_chromium.sh

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

date_status=0
if [ "${OTKLIK_DATE_GUARD:-1}" = "0" ]; then
    echo "!!! OTKLIK_DATE_GUARD=0: the moved-clock run is SKIPPED !!!" >&2
elif bash scripts/ensure_faketime.sh; then
    moved="$("$PY" scripts/guard_date.py)"
    # An offset, not "@moment": "@" starts every process at that moment, so a bot spawned a
    # minute into the run would live a minute in the past of the test that started it.
    offset=$(( $(date -u -d "$moved" +%s) - $(date -u +%s) ))
    echo "=== date guard: test suite on SQLite with the clock at $moved (faketime +${offset}s) ==="
    env -u OTKLIK_TEST_DATABASE_URL faketime -f "+${offset}" "$PY" -m pytest -q "$@"
    date_status=$?
else
    echo "!!! faketime is not available: the moved-clock run is SKIPPED !!!" >&2
fi

if [ "$sqlite_status" -ne 0 ] || [ "$pg_status" -ne 0 ] || [ "$date_status" -ne 0 ]; then
    echo "test suite FAILED (sqlite=$sqlite_status postgresql=$pg_status date=$date_status)" >&2
    exit 1
fi
