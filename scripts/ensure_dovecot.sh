#!/usr/bin/env bash
# Make sure Debian's dovecot (an IMAP server) is installed for the email tests; they start their
# own instance from a config in a temporary directory, never the system's service.
command -v dovecot >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing dovecot-imapd (Debian package) for the IMAP tests" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends dovecot-imapd >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 \
             && apt-get install -y -qq --no-install-recommends dovecot-imapd >/dev/null 2>&1; }
    # The package starts the system service; the tests run their own, so stop it.
    (command -v systemctl >/dev/null 2>&1 && systemctl stop dovecot) >/dev/null 2>&1 || true
    pkill -x dovecot >/dev/null 2>&1 || true
fi
command -v dovecot >/dev/null 2>&1
