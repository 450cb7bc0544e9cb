"""An app's name among the instances on one database: the owner of the leases it takes (the
leader lease, the outbox rows and inbound events it works on) and how logs name it. One per
app, not per process: two apps in one process (the tests) are two instances."""

from __future__ import annotations

import os
import secrets
import socket


def this_instance() -> str:
    """Host, pid and a random tag (a restarted container may reuse a pid; two apps in one
    process differ by it): a new name each call, taken once per app."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(3)}"
