"""This process's name among the instances on one database: the owner of the leases it takes
(the leader lease, the outbox rows and inbound events it works on) and how logs name it."""

from __future__ import annotations

import os
import secrets
import socket
from functools import cache


@cache
def this_instance() -> str:
    """Host, pid and a random tag (a restarted container may reuse a pid), once a process."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(3)}"
