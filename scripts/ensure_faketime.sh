#!/usr/bin/env bash
# Make sure libfaketime's `faketime` is on PATH: installed from Debian's packages when we may.
command -v faketime >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing faketime (Debian package) for the date guard" >&2
    apt-get install -y -qq faketime >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq faketime >/dev/null 2>&1; }
fi
command -v faketime >/dev/null 2>&1
