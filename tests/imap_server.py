"""A real IMAP server for the tests: Debian's dovecot, started from a config of our own in a
temporary directory (never the system's service), with one mailbox and a plain password."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


@dataclass(frozen=True)
class ImapServer:
    host: str
    port: int
    user: str
    password: str

    @property
    def url(self) -> str:
        return f"imap://{self.host}:{self.port}"


def _config(root: Path, port: int, mail_user: str) -> str:
    return f"""
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
first_valid_gid = 1
mail_uid = {mail_user}
mail_gid = {mail_user}
default_internal_user = {"dovecot" if os.geteuid() == 0 else mail_user}
default_login_user = {"dovenull" if os.geteuid() == 0 else mail_user}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


@contextmanager
def dovecot(
    user: str = "support@shop.example", password: str = "imap-pass"
) -> Iterator[ImapServer]:
    if not os.path.exists(DOVECOT):
        pytest.skip("!!! no dovecot: `make test` installs Debian's dovecot-imapd !!!")
    # Short: dovecot's unix sockets live under base_dir, and a socket path has 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="otklik-imap-", dir="/tmp"))
    mail_user = "dovecot" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    for folder in ("run", "state", "mail", "home"):
        (root / folder).mkdir()
    (root / "users").write_text(f"{user}:{{PLAIN}}{password}\n")
    if os.geteuid() == 0:
        owner = pwd.getpwnam(mail_user)
        for folder in ("mail", "home"):
            os.chown(root / folder, owner.pw_uid, owner.pw_gid)
        root.chmod(0o755)
    port = free_port()
    (root / "dovecot.conf").write_text(_config(root, port, mail_user))
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(root / "dovecot.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (
                        (root / "dovecot.log").read_text()
                        if (root / "dovecot.log").exists()
                        else ""
                    )
                    pytest.skip(f"!!! dovecot did not start: {log[-500:]} !!!")
                time.sleep(0.1)
        yield ImapServer("127.0.0.1", port, user, password)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(root, ignore_errors=True)
