#!/usr/bin/env bash
# Make sure Debian's chromium is there for the browser tests (Playwright drives it through
# executable_path; Playwright's own browser download does not work here). Installed from
# Debian's packages when we may; the browser tests skip, loudly, where it cannot be had.
command -v "${OTKLIK_CHROMIUM:-/usr/bin/chromium}" >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium (Debian package) for the browser tests" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 \
            && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; }
fi
command -v "${OTKLIK_CHROMIUM:-/usr/bin/chromium}" >/dev/null 2>&1 \
    || echo "!!! chromium is not available: the browser tests will be SKIPPED !!!" >&2
exit 0
