"""What a channel package gives the application, and what it gets from it.

A channel is one package under `bot/channels/`: its inbound route (or poller), its sender and
its capabilities. `bot/channels/registry.py` builds the configured ones; the application mounts
their routes, hands their senders to the outbox and starts, connects, disconnects and stops
them, in that order. Nothing in `bot/core` imports a channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.channel import Capabilities
from bot.core.conversation import Conversation
from bot.core.delivery.inbound_queue import InboundQueue
from bot.core.delivery.outbox import ChannelSender, Outbox
from bot.core.delivery.rate_limit import RateLimiter
from bot.metrics import Metrics


@dataclass(frozen=True)
class CoreServices:
    """The conversation core as an inbound route needs it."""

    session_pool: async_sessionmaker[AsyncSession]
    conversation: Conversation
    outbox: Outbox
    metrics: Metrics
    inbound: InboundQueue  # store now, handle in batches: where routes put what arrived


class ChannelPackage(Protocol):
    @property
    def name(self) -> str:
        """The channel's id: in identities, outbox rows, metrics labels."""
        ...

    @property
    def capabilities(self) -> Capabilities: ...

    @property
    def sender(self) -> ChannelSender: ...

    @property
    def campaign_sender(self) -> ChannelSender | None:
        """None: campaigns do not use this channel."""
        ...

    @property
    def staff_sender(self) -> ChannelSender | None:
        """Where tickets are posted for staff (Telegram's staff group); None: no staff side."""
        ...

    @property
    def limiter(self) -> RateLimiter | None:
        """The platform's own rate limit, campaigns included; None: the Telegram token's."""
        ...

    def routes(self, core: CoreServices) -> list[web.RouteDef]:
        """Its inbound routes; registers its sources with `core.inbound` on the way."""
        ...

    async def start(self) -> None:
        """Before the application serves."""
        ...

    async def connect(self) -> None:
        """Once the HTTP port listens: tell the platform where to deliver, or start polling."""
        ...

    async def disconnect(self) -> None:
        """On the way down, before the inbound queue drains: take nothing new."""
        ...

    async def stop(self) -> None:
        """Last, once the outbox has stopped: close clients."""
        ...


@runtime_checkable
class LeaderWork(Protocol):
    """A channel with work only one instance may do (reading a shared mailbox): it starts when
    this instance becomes the leader and stops when it steps down (bot/leadership.py)."""

    async def lead(self) -> None: ...

    async def step_down(self) -> None: ...
