#!/usr/bin/env bash
# Run the suite on SQLite, again on PostgreSQL if a server answers, and a date guard:
# the SQLite suite again with the system clock moved more than a year ahead, into a week when
# daylight saving changes (libfaketime). A test that mixes a fixed clock with the real one fails
# there. OTKLIK_TEST_PG_URL overrides the PostgreSQL URL; extra arguments go to pytest.
# OTKLIK_DATE_GUARD=0 skips the date guard (say so: it is part of CI). The browser tests run in
# the SQLite run only: the three runs took turns at the one browser (minutes of waiting), and
# every page they open is also fetched over plain HTTP by the PostgreSQL and date-guard runs.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PG_URL="${OTKLIK_TEST_PG_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/test}"

bash scripts/ensure_chromium.sh
bash scripts/ensure_dovecot.sh || echo "!!! no dovecot: the IMAP tests will be SKIPPED !!!" >&2

# The three runs go side by side (each in its own temporary directory): they share nothing
# but the browser, which they take in turns (tests/browser.py), and most of a run is waiting
# on sockets and timers, so together they take little more than the longest one (measured on
# this project's 2-core machine: 6.5, 8.5 and 7.5 minutes alone; 9.5 side by side).
# OTKLIK_TEST_SERIAL=1 runs them one after the other.
logs="$(mktemp -d)"
sqlite_status=0
pg_status=0
date_status=0
# The schema fuzzing (tests/test_api_fuzz.py, a minute and more) runs once: on PostgreSQL when
# it answers (its integer and text types are the stricter), else on SQLite; never under the
# moved clock, which changes nothing it checks. Likewise the understanding figures
# (tests/test_faq_quality.py: neither database nor clock) run in the SQLite run only
# (OTKLIK_ONCE=0 in the others).
fuzz_here() { [ "$1" = "$fuzz_in" ] && echo 1 || echo 0; }
run_sqlite() {
    echo "=== test suite on SQLite ==="
    env -u OTKLIK_TEST_DATABASE_URL OTKLIK_FUZZ="$(fuzz_here sqlite)" \
        "$PY" -m pytest -q --durations=10 --basetemp="$logs/sqlite-tmp" "$@"
}
run_pg() {
    echo "=== test suite on PostgreSQL ($PG_URL) ==="
    OTKLIK_TEST_DATABASE_URL="$PG_URL" OTKLIK_FUZZ="$(fuzz_here pg)" OTKLIK_TEST_BROWSER=0 OTKLIK_ONCE=0 \
        "$PY" -m pytest -q --durations=10 --basetemp="$logs/pg-tmp" "$@"
}
run_date_guard() {
    local moved offset
    moved="$("$PY" scripts/guard_date.py)"
    # An offset, not "@moment": "@" starts every process at that moment, so a bot spawned a
    # minute into the run would live a minute in the past of the test that started it.
    offset=$(( $(date -u -d "$moved" +%s) - $(date -u +%s) ))
    echo "=== date guard: test suite on SQLite with the clock at $moved (faketime +${offset}s) ==="
    env -u OTKLIK_TEST_DATABASE_URL OTKLIK_FUZZ=0 OTKLIK_TEST_BROWSER=0 OTKLIK_ONCE=0 faketime -f "+${offset}" \
        "$PY" -m pytest -q --durations=10 --basetemp="$logs/date-tmp" "$@"
}

pg_ready=0
fuzz_in=sqlite
if "$PY" scripts/pg_ready.py "$PG_URL"; then
    pg_ready=1
    fuzz_in=pg
else
    echo "!!! PostgreSQL is not reachable at $PG_URL: the PostgreSQL run is SKIPPED !!!" >&2
fi
date_ready=0
if [ "${OTKLIK_DATE_GUARD:-1}" = "0" ]; then
    echo "!!! OTKLIK_DATE_GUARD=0: the moved-clock run is SKIPPED !!!" >&2
elif bash scripts/ensure_faketime.sh; then
    date_ready=1
else
    echo "!!! faketime is not available: the moved-clock run is SKIPPED !!!" >&2
fi

if [ "${OTKLIK_TEST_SERIAL:-0}" = "1" ]; then
    run_sqlite "$@"; sqlite_status=$?
    if [ "$pg_ready" = 1 ]; then run_pg "$@"; pg_status=$?; fi
    if [ "$date_ready" = 1 ]; then run_date_guard "$@"; date_status=$?; fi
else
    pg_pid="" date_pid=""
    # The PostgreSQL run is the longest (its fuzzing and multi-instance tests): when the three
    # want more than the two cores, the other two yield to it (nice), having minutes to spare.
    # Without PostgreSQL nothing yields.
    yield_to_pg() { if [ "$pg_ready" = 1 ]; then renice -n 10 -p "$BASHPID" >/dev/null; fi; }
    ( yield_to_pg; run_sqlite "$@" ) >"$logs/sqlite.log" 2>&1 & sqlite_pid=$!
    if [ "$pg_ready" = 1 ]; then run_pg "$@" >"$logs/pg.log" 2>&1 & pg_pid=$!; fi
    if [ "$date_ready" = 1 ]; then
        ( yield_to_pg; run_date_guard "$@" ) >"$logs/date.log" 2>&1 & date_pid=$!
    fi
    echo "=== SQLite, PostgreSQL and date guard runs side by side (logs follow when done) ==="
    wait "$sqlite_pid"; sqlite_status=$?; cat "$logs/sqlite.log"
    if [ -n "$pg_pid" ]; then wait "$pg_pid"; pg_status=$?; cat "$logs/pg.log"; fi
    if [ -n "$date_pid" ]; then wait "$date_pid"; date_status=$?; cat "$logs/date.log"; fi
fi
rm -rf "$logs"

if [ "$sqlite_status" -ne 0 ] || [ "$pg_status" -ne 0 ] || [ "$date_status" -ne 0 ]; then
    echo "test suite FAILED (sqlite=$sqlite_status postgresql=$pg_status date=$date_status)" >&2
    exit 1
fi
