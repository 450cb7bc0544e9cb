"""Where an admin-given URL may lead: public addresses only, unless the operator allows more.

An outgoing webhook is a URL typed by an admin (or an admin token), so without a check it can
make the bot post to, and report back from, what only the bot can reach: its own ports,
PostgreSQL's host, a cloud's metadata service. The check runs where the address is chosen: in
the resolver of the HTTP client that posts, so a name cannot resolve to a public address when
it is checked and a private one when it is used, and on an IP literal, which never reaches a
resolver."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


class TargetRefused(OSError):
    """The URL leads somewhere not public and not allowed; the message says why and what to
    change. An OSError, so the HTTP client reports it as a failed connection."""


def _kind(address: Address) -> str:
    """Why an address is not public, in a word an operator recognises."""
    for kind in ("loopback", "private", "link_local", "multicast", "unspecified", "reserved"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return "not public"


def _plain(address: Address) -> Address:
    """`::ffff:127.0.0.1` is 127.0.0.1 to the kernel, so it is judged as that."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True)
class TargetPolicy:
    """Public addresses, plus the networks and host names an operator allowed."""

    networks: tuple[Network, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def allowing(cls, targets: Iterable[str]) -> TargetPolicy:
        """From config: each entry an address, a network (`10.0.0.0/8`) or a host name."""
        networks: list[Network] = []
        hosts: set[str] = set()
        for target in targets:
            try:
                networks.append(ipaddress.ip_network(target.strip("[]"), strict=False))
            except ValueError:
                hosts.add(target.lower().rstrip("."))
        return cls(tuple(networks), frozenset(hosts))

    def refusal(self, host: str, address: str) -> str | None:
        """Why `host`, resolved to `address`, may not be reached; None when it may."""
        name = host.lower().rstrip(".")
        if name in self.hosts:
            return None
        try:
            ip = _plain(ipaddress.ip_address(address.split("%", 1)[0]))
        except ValueError:
            return f"{address!r} is not an IP address"
        if any(ip in network for network in self.networks):
            return None
        if ip.is_global and not ip.is_multicast:
            return None
        shown = host if host == address else f"{host} ({address})"
        return f"{shown} is a {_kind(ip)} address; add it to [webhooks] allowed_targets to allow it"

    def url_refusal(self, url: str) -> str | None:
        """What can be told from the URL alone (a literal address, `localhost`); names are
        judged again, by what they resolve to, at every send."""
        host = (urlsplit(url).hostname or "").rstrip(".")
        if not host:
            return "the URL has no host"
        if host.lower() in LOCAL_NAMES and host.lower() not in self.hosts:
            return f"{host} is the bot's own machine; add it to [webhooks] allowed_targets"
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return None
        return self.refusal(host, host)


class GuardedResolver(AbstractResolver):
    """Resolves as usual, then keeps only the addresses the policy allows."""

    def __init__(self, policy: TargetPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        allowed = [r for r in found if self._policy.refusal(host, r["host"]) is None]
        if not allowed and found:
            reason = self._policy.refusal(host, found[0]["host"])
            raise TargetRefused(reason)
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def refusal_of(error: BaseException) -> str | None:
    """The policy's reason, when an HTTP client error came from it."""
    seen: Any = error
    for _ in range(4):
        if isinstance(seen, TargetRefused):
            return str(seen)
        seen = getattr(seen, "os_error", None) or seen.__cause__
        if seen is None:
            return None
    return None
