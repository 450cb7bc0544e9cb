"""Outgoing webhooks cannot be pointed at what only the bot can reach. A local server stands in
for an internal service (it answers a secret, and counts who came); DNS is the only thing faked,
by a resolver that answers what an attacker's name server would."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from bot.core.delivery.outbox import RetryPolicy
from bot.core.delivery.public_targets import TargetPolicy
from bot.core.delivery.webhooks import WebhookSender, emit
from storage.db import create_session_pool
from storage.models import Webhook, WebhookDelivery, utcnow
from tests.api_client import Api, open_api
from tests.api_client import make_token as _token
from tests.conftest import AppFactory, Database

SECRET = "db-password=hunter2; internal build 7.3"


@dataclass
class Internal:
    """A service on the loopback interface: what an attacker would like to read."""

    server: TestServer
    hits: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        assert self.server.port is not None
        return self.server.port


@pytest.fixture
async def internal() -> AsyncIterator[Internal]:
    box: list[Internal] = []

    async def anything(request: web.Request) -> web.Response:
        box[0].hits.append(request.path)
        if request.path == "/bounce":
            # An allowed receiver that redirects inward.
            raise web.HTTPFound(f"http://127.0.0.1:{request.url.port}/secret")
        return web.Response(status=500, text=SECRET)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", anything)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    box.append(Internal(server))
    yield box[0]
    await server.close()


class NameServer(AbstractResolver):
    """Answers each name with the addresses given, in turn (a rebinding name server answers
    a public address first and a private one next)."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        address = (
            self.answers[host].pop(0) if len(self.answers[host]) > 1 else self.answers[host][0]
        )
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": family,
                "proto": 0,
                "flags": 0,
            }
        ]

    async def close(self) -> None:
        return None


async def _deliveries(database: Database, url: str) -> list[WebhookDelivery]:
    """Register `url` straight in SQL (as an old row, or one registered by name) and queue one
    event for it."""
    pool = create_session_pool(database.engine)
    async with pool() as session, session.begin():
        session.add(
            Webhook(url=url, events="ticket.created", secret="whsec_x", created_at=utcnow())
        )
        await session.flush()
        await emit(session, "ticket.created", {"ticket_id": 1})
    async with pool() as session:
        return list((await session.execute(select(WebhookDelivery))).scalars())


async def _send(database: Database, **options: object) -> WebhookDelivery:
    pool = create_session_pool(database.engine)
    sender = WebhookSender(pool, RetryPolicy(0.01, 0.01, 3), timeout=5, **options)  # type: ignore[arg-type]
    try:
        assert await sender.run_once() == 1
    finally:
        await sender.stop()
    async with pool() as session:
        (delivery,) = (await session.execute(select(WebhookDelivery))).scalars()
        return delivery


@pytest.fixture
async def api(start_app: AppFactory) -> Api:
    return await open_api(await start_app(telegram_mode=None, scheduler={"enabled": False}))


async def test_registering_an_internal_address_is_refused(api: Api, database: Database):
    admin = await _token(database, "hooker", "admin")
    internal_hosts = (
        "127.0.0.1",
        "localhost",
        "LocalHost.",
        "[::1]",
        "10.1.2.3",
        "169.254.169.254",
        "[::ffff:127.0.0.1]",
        "0.0.0.0",
        "192.168.0.10",
        "[fe80::1]",
    )
    for host in internal_hosts:
        status, answer = await api.call(
            "POST",
            "/api/v1/webhooks",
            admin,
            json={"url": f"http://{host}:8080/x", "events": ["ticket.created"]},
        )
        assert status == 422 and answer["field"] == "url", (host, answer)
        assert "allowed_targets" in answer["error"], answer
    status, _ = await api.call(
        "POST",
        "/api/v1/webhooks",
        admin,
        json={"url": "https://93.184.215.14/hook", "events": ["ticket.created"]},
    )
    assert status == 201


async def test_a_literal_internal_address_is_never_posted_to(
    database: Database, internal: Internal
):
    """A row stored before the check (or by hand) is still refused at send time, once, and
    not tried again."""
    await _deliveries(database, f"http://127.0.0.1:{internal.port}/secret")
    delivery = await _send(database)
    assert internal.hits == []
    assert delivery.status == "failed" and delivery.attempts == 1
    assert delivery.last_error is not None and delivery.last_error.startswith("refused: 127.0.0.1")


async def test_a_name_is_judged_by_what_it_resolves_to_at_send_time(
    database: Database, internal: Internal
):
    """Registered while it resolved to a public address; by the time of the send it resolves
    to the loopback interface."""
    dns = NameServer({"hooks.example.com": ["93.184.215.14", "127.0.0.1"]})
    await dns.resolve("hooks.example.com")  # what the attacker showed at registration
    await _deliveries(database, f"http://hooks.example.com:{internal.port}/secret")
    delivery = await _send(database, dns=dns)
    assert dns.asked[-1] == "hooks.example.com"
    assert internal.hits == []
    assert delivery.status == "failed"
    assert delivery.last_error == (
        "refused: hooks.example.com (127.0.0.1) is a loopback address; add it to [webhooks] "
        "allowed_targets to allow it"
    )


async def test_an_allowed_target_gets_only_its_status_kept_and_no_redirect_followed(
    database: Database, internal: Internal
):
    await _deliveries(database, f"http://127.0.0.1:{internal.port}/secret")
    delivery = await _send(database, policy=TargetPolicy.allowing(["127.0.0.0/8"]))
    assert internal.hits == ["/secret"]  # allowed: it was posted to
    assert (delivery.status, delivery.last_status, delivery.last_error) == (
        "pending",
        500,
        "HTTP 500",
    )
    assert SECRET not in str(delivery.last_error)


async def test_a_redirect_is_not_followed(database: Database, internal: Internal):
    await _deliveries(database, f"http://127.0.0.1:{internal.port}/bounce")
    delivery = await _send(database, policy=TargetPolicy.allowing(["127.0.0.1"]))
    assert internal.hits == ["/bounce"]
    assert (delivery.last_status, delivery.last_error) == (302, "HTTP 302")


async def test_removing_a_webhook_cancels_its_pending_retries(api: Api, database: Database):
    admin = await _token(database, "remover", "admin")
    status, made = await api.call(
        "POST",
        "/api/v1/webhooks",
        admin,
        json={"url": "https://hooks.example.com/otklik", "events": ["ticket.created"]},
    )
    assert status == 201
    pool = create_session_pool(database.engine)
    async with pool() as session, session.begin():
        await emit(session, "ticket.created", {"ticket_id": 7})
        await emit(session, "ticket.created", {"ticket_id": 8})
    status, _ = await api.call(
        "DELETE", f"/api/v1/webhooks/{made['id']}", admin, template="/api/v1/webhooks/{webhook_id}"
    )
    assert status == 200
    async with pool() as session:
        rows = (await session.execute(select(WebhookDelivery.status))).scalars().all()
    assert rows == ["cancelled", "cancelled"]
    sender = WebhookSender(pool, RetryPolicy(0.01, 0.01, 3))
    try:
        assert await sender.run_once() == 0  # nothing left to post
    finally:
        await sender.stop()
