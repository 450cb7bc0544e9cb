"""What `otklik run` must hold before it resumes or sends anything: its HTTP port, and (on
SQLite) the database file. A second process started by mistake must leave without touching the
first one's work: resuming the same pending updates and replies would send them twice.

The SQLite claim is an advisory `flock` on a file beside the database (`otklik.db.lock`), not
on the database itself: closing any descriptor of the database file would drop SQLite's own
POSIX locks in this process. The kernel releases a flock when its process dies, so a killed
bot never leaves a stale claim behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.engine import make_url


class ClaimError(Exception):
    """Something this process needs is held by another one; said in one line."""


class ListenError(ClaimError):
    """The HTTP port cannot be opened (taken, or not allowed)."""


class DatabaseInUse(ClaimError):
    """Another `otklik run` works on this SQLite file."""


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for PostgreSQL and in-memory databases."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        return None
    return Path(database).resolve()


@contextlib.contextmanager
def claim_sqlite_file(url: str) -> Iterator[Path | None]:
    """Hold the database file for this process's lifetime; raise DatabaseInUse at once if
    another process holds it. PostgreSQL needs no claim here (several instances there are a
    matter of leases, not of one owner)."""
    database = sqlite_file(url)
    if database is None:
        yield None
        return
    lock_path = database.with_name(database.name + ".lock")
    try:
        handle = open(lock_path, "a+")  # noqa: SIM115 - held until the context ends
    except OSError as exc:
        raise DatabaseInUse(f"cannot open {lock_path}: {exc.strerror}") from None
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise DatabaseInUse(
                f"another otklik process (pid {holder}) is running on {database}; "
                "stop it first, or give this one its own [database] url "
                "(several instances need PostgreSQL)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield database
        finally:
            with contextlib.suppress(OSError):
                handle.truncate(0)
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def listen_socket(host: str, port: int) -> socket.socket:
    """A bound, listening socket for the HTTP server, opened before anything else starts.
    SO_REUSEADDR as aiohttp sets it (a restart need not wait out TIME_WAIT); never
    SO_REUSEPORT, which would let a second process share the port."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.setblocking(False)
    return sock
