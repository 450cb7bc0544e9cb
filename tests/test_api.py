"""The REST API through real HTTP requests to the app: tokens and roles (made by the real CLI),
tickets listed, paged, shown, answered and noted, errors in one shape naming the field, and
every answer checked against the OpenAPI document the app serves."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openapi_spec_validator import validate as validate_spec
from sqlalchemy import select

from bot.core.delivery.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, check
from storage.db import create_session_pool
from storage.models import SurveyResponse, Ticket, utcnow
from storage.repositories.api import TokenRepository
from storage.repositories.reports import add_response
from tests.api_client import Api, open_api
from tests.api_client import make_token as _token
from tests.conftest import AppFactory, Database, RunningApp, run_otklik
from tests.fake_telegram import FakeTelegram

STAFF_CHAT = -100777


@pytest.fixture
async def api(start_app: AppFactory, fake_tg: FakeTelegram) -> Api:
    fake_tg.members[8] = "member"
    app = await start_app(telegram={"staff_chat_id": STAFF_CHAT}, scheduler={"enabled": False})
    return await open_api(app)


async def _complaints(fake_tg: FakeTelegram, app: RunningApp, customers: range) -> None:
    for user in customers:
        for text in ("/complaint", f"Заказ {user} не пришёл"):
            await fake_tg.deliver(fake_tg.message_update(user, text))
            await app.drain()


async def test_the_openapi_document_is_valid_and_generated_from_the_models(api: Api):
    validate_spec(api.spec)
    assert api.spec["openapi"].startswith("3.1")
    reply = api.spec["paths"]["/api/v1/tickets/{ticket_id}/reply"]["post"]
    body_ref = reply["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = api.spec["components"]["schemas"][body_ref.rsplit("/", 1)[-1]]
    assert body["properties"]["text"]["maxLength"] == 4096  # the model's own limit
    assert {"401", "403", "404", "409", "422"} <= set(reply["responses"])


async def test_tokens_roles_and_revocation_through_the_cli(
    api: Api, faq_loaded: Database, tmp_path: Path
):
    made = await asyncio.to_thread(
        run_otklik, faq_loaded, "token", "create", "helpdesk", "--role", "agent", cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    agent = made.stdout.strip()
    assert agent.startswith("otk_") and "shown only now" in made.stderr
    again = await asyncio.to_thread(
        run_otklik, faq_loaded, "token", "create", "helpdesk", "--role", "agent", cwd=tmp_path
    )
    assert again.returncode == 2 and "exists" in again.stderr
    bad_role = await asyncio.to_thread(
        run_otklik, faq_loaded, "token", "create", "x", "--role", "root", cwd=tmp_path
    )
    assert bad_role.returncode == 2 and "invalid choice" in bad_role.stderr
    admin = await _token(faq_loaded, "owner", "admin")

    assert (await api.call("GET", "/api/v1/tickets", None))[0] == 401
    assert (await api.call("GET", "/api/v1/tickets", "otk_not-a-token"))[0] == 401
    assert (await api.call("GET", "/api/v1/tickets", agent))[0] == 200
    status, body = await api.call("GET", "/api/v1/audit", agent)
    assert status == 403 and "admin" in body["error"]
    status, body = await api.call("GET", "/api/v1/audit", admin)
    assert status == 200
    assert [(i["actor"], i["action"]) for i in body["items"]] == [("cli", "token.create")]

    listed = await asyncio.to_thread(run_otklik, faq_loaded, "token", "list", cwd=tmp_path)
    assert "helpdesk" in listed.stdout and agent not in listed.stdout  # never shown again
    revoked = await asyncio.to_thread(
        run_otklik, faq_loaded, "token", "revoke", "helpdesk", cwd=tmp_path
    )
    assert revoked.returncode == 0, revoked.stderr
    status, body = await api.call("GET", "/api/v1/tickets", agent)
    assert status == 401 and "revoked" in body["error"]  # at once, no restart
    unknown = await asyncio.to_thread(
        run_otklik, faq_loaded, "token", "revoke", "nobody", cwd=tmp_path
    )
    assert unknown.returncode == 2 and "no token named 'nobody'" in unknown.stderr


async def test_tickets_listed_paged_shown_answered_and_noted(
    api: Api, fake_tg: FakeTelegram, faq_loaded: Database
):
    await _complaints(fake_tg, api.app, range(5001, 5006))
    token = await _token(faq_loaded, "agent-1", "agent")
    seen: list[int] = []
    cursor: int | None = None
    while True:
        params = {"limit": "2", **({"cursor": str(cursor)} if cursor else {})}
        status, page = await api.call("GET", "/api/v1/tickets", token, params=params)
        assert status == 200
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [5, 4, 3, 2, 1]  # newest first, each once, over three pages
    _, only_new = await api.call("GET", "/api/v1/tickets", token, params={"status": "new"})
    assert len(only_new["items"]) == 5
    _, none = await api.call("GET", "/api/v1/tickets", token, params={"channel": "vk"})
    assert none == {"items": [], "next_cursor": None}

    template = "/api/v1/tickets/{ticket_id}"
    status, ticket = await api.call("GET", "/api/v1/tickets/2", token, template=template)
    assert status == 200 and ticket["subject"] == "Заказ 5002 не пришёл"
    assert [(m["kind"], m["channel"]) for m in ticket["messages"]] == [("customer", "telegram")]

    reply = template + "/reply"
    status, sent = await api.call(
        "POST", "/api/v1/tickets/2/reply", token, json={"text": "Отправим завтра"}, template=reply
    )
    assert (status, sent) == (202, {"ticket_id": 2, "channel": "telegram"})
    assert fake_tg.sent_texts(5002)[-1].endswith("Отправим завтра")
    # The staff topic shows it too: the web and the group are one ticket.
    await fake_tg.wait_for("sendMessage", count=1)
    assert any("Отправим завтра" in t for t in fake_tg.sent_texts(STAFF_CHAT))
    notes = template + "/notes"
    status, note = await api.call(
        "POST", "/api/v1/tickets/2/notes", token, json={"text": "звонил"}, template=notes
    )
    assert status == 201 and note["ticket_id"] == 2
    _, ticket = await api.call("GET", "/api/v1/tickets/2", token, template=template)
    assert [m["kind"] for m in ticket["messages"]] == ["customer", "staff", "note"]
    assert ticket["status"] == "waiting" and ticket["first_response_at"] is not None
    # Every message is stamped by the ticket service's clock (the app's, fixed in tests), as
    # the ticket and its first response are: one history, one clock.
    stamps = {m["created_at"] for m in ticket["messages"]}
    assert stamps == {ticket["created_at"]} == {ticket["first_response_at"]}, stamps


async def test_bad_input_is_a_4xx_naming_the_field(
    api: Api, fake_tg: FakeTelegram, faq_loaded: Database
):
    await _complaints(fake_tg, api.app, range(6001, 6002))
    token = await _token(faq_loaded, "agent-2", "agent")
    cases: list[tuple[str, str, dict[str, Any], int, str | None, str]] = [
        ("GET", "/api/v1/tickets", {"params": {"limit": "0"}}, 422, "limit", "/api/v1/tickets"),
        ("GET", "/api/v1/tickets", {"params": {"limit": "١٠"}}, 422, "limit", "/api/v1/tickets"),
        (
            "GET",
            "/api/v1/tickets",
            {"params": {"status": "lost"}},
            422,
            "status",
            "/api/v1/tickets",
        ),
        (
            "GET",
            "/api/v1/tickets",
            {"params": {"cursor": "bm9wZQ"}},
            422,
            "cursor",
            "/api/v1/tickets",
        ),
        ("GET", "/api/v1/tickets", {"params": {"sort": "id"}}, 422, "sort", "/api/v1/tickets"),
        ("GET", "/api/v1/tickets/99", {}, 404, None, "/api/v1/tickets/{ticket_id}"),
        ("GET", "/api/v1/tickets/%D9%A1", {}, 404, None, "/api/v1/tickets/{ticket_id}"),
        (
            "GET",
            "/api/v1/tickets/99999999999999999999",
            {},
            404,
            None,
            "/api/v1/tickets/{ticket_id}",
        ),
        (
            "POST",
            "/api/v1/tickets/1/reply",
            {"json": {}},
            422,
            "text",
            "/api/v1/tickets/{ticket_id}/reply",
        ),
        (
            "POST",
            "/api/v1/tickets/1/reply",
            {"json": {"text": ""}},
            422,
            "text",
            "/api/v1/tickets/{ticket_id}/reply",
        ),
        (
            "POST",
            "/api/v1/tickets/1/reply",
            {"json": {"text": 5}},
            422,
            "text",
            "/api/v1/tickets/{ticket_id}/reply",
        ),
        (
            "POST",
            "/api/v1/tickets/1/reply",
            {"json": {"text": "x", "to": "y"}},
            422,
            "to",
            "/api/v1/tickets/{ticket_id}/reply",
        ),
        (
            "POST",
            "/api/v1/tickets/1/reply",
            {"json": ["x"]},
            422,
            None,
            "/api/v1/tickets/{ticket_id}/reply",
        ),
        (
            "POST",
            "/api/v1/tickets/1/reply",
            {"data": b"{not json"},
            400,
            None,
            "/api/v1/tickets/{ticket_id}/reply",
        ),
        (
            "POST",
            "/api/v1/tickets/1/reply",
            {"data": b"\xff\xfe"},
            400,
            None,
            "/api/v1/tickets/{ticket_id}/reply",
        ),
        (
            "POST",
            "/api/v1/tickets/1/reply",
            {"json": {"text": "x" * 5000}},
            422,
            "text",
            "/api/v1/tickets/{ticket_id}/reply",
        ),
        (
            "POST",
            "/api/v1/tickets/1/notes",
            {"data": b"[" * 50_000},
            400,
            None,
            "/api/v1/tickets/{ticket_id}/notes",
        ),
    ]
    for method, path, kwargs, expected, field, template in cases:
        status, body = await api.call(method, path, token, template=template, **kwargs)
        assert status == expected, (path, kwargs, body)
        assert isinstance(body["error"], str) and body["error"]
        if field is not None:
            assert body["field"] == field and f"'{field}'" in body["error"], body
    assert fake_tg.sent_texts(6001)[-1].startswith("Обращение №1 принято")  # nothing was sent


async def test_a_flood_gets_429_with_retry_after_wrong_tokens_included(
    start_app: AppFactory, faq_loaded: Database
):
    app = await start_app(telegram_mode=None, api={"burst": 5, "requests_per_minute": 6})
    token = await _token(faq_loaded, "script", "agent")
    statuses = []
    for number in range(8):  # guessing tokens costs the same budget as using one
        guess = token if number % 2 else f"otk_guess-{number}"
        async with app.http.get(
            app.url + "/api/v1/tickets", headers={"Authorization": f"Bearer {guess}"}
        ) as resp:
            statuses.append(resp.status)
            if resp.status == 429:
                assert int(resp.headers["Retry-After"]) >= 1
                assert "too many requests" in (await resp.json())["error"]
    assert statuses == [401, 200, 401, 200, 401, 429, 429, 429]


async def test_two_agents_cannot_overwrite_each_other(
    api: Api, fake_tg: FakeTelegram, faq_loaded: Database
):
    await _complaints(fake_tg, api.app, range(7001, 7002))
    token = await _token(faq_loaded, "agent-3", "agent")
    path, template = "/api/v1/tickets/1", "/api/v1/tickets/{ticket_id}"
    headers = {"Authorization": f"Bearer {token}"}
    async with api.app.http.get(api.app.url + path, headers=headers) as resp:
        read = resp.headers["ETag"]
    status, body = await api.call(
        "PATCH", path, token, json={"priority": "urgent"}, template=template
    )
    assert status == 428 and "If-Match" in body["error"]

    async def patch(change: dict[str, Any], tag: str) -> tuple[int, Any, str]:
        async with api.app.http.patch(
            api.app.url + path, json=change, headers={**headers, "If-Match": tag}
        ) as resp:
            return resp.status, await resp.json(), resp.headers.get("ETag", "")

    # Both read the same version; the first write wins, the second is told, with the new tag.
    first = await patch({"priority": "urgent", "assignee_name": "Ольга"}, read)
    assert first[0] == 200 and first[1]["priority"] == "urgent" and first[2] != read
    second = await patch({"priority": "low"}, read)
    assert second[0] == 412 and "changed since you read it" in second[1]["error"]
    assert second[2] == first[2]
    bad_channel = await patch({"reply_channel": "vk"}, first[2])
    assert bad_channel[0] == 409 and bad_channel[1]["field"] == "reply_channel"
    resolved = await patch({"status": "resolved"}, first[2])
    assert resolved[0] == 200 and resolved[1]["status"] == "resolved"
    assert "Оцените" in fake_tg.sent_texts(7001)[-1] or "оцен" in fake_tg.sent_texts(7001)[-1]
    _, ticket = await api.call("GET", path, token, template=template)
    assert ticket["priority"] == "urgent" and ticket["assignee_name"] == "Ольга"
    # The staff topic saw each change, as if made in the group.
    topic = fake_tg.sent_texts(STAFF_CHAT)
    assert any("Resolved by agent-3" in t for t in topic), topic


async def test_customers_show_search_export_and_erase(
    api: Api, fake_tg: FakeTelegram, faq_loaded: Database, tmp_path: Path
):
    await _complaints(fake_tg, api.app, range(8001, 8003))
    agent = await _token(faq_loaded, "agent-4", "agent")
    admin = await _token(faq_loaded, "owner-4", "admin")
    item = "/api/v1/customers/{customer_id}"
    _, found = await api.call("GET", "/api/v1/customers", agent, params={"q": "8002"})
    (person,) = found["items"]
    _, by_name = await api.call("GET", "/api/v1/customers", agent, params={"q": "%"})
    assert by_name["items"] == []  # LIKE wildcards are text, not patterns
    path = f"/api/v1/customers/{person['id']}"
    status, detail = await api.call("GET", path, agent, template=item)
    assert status == 200
    assert detail["identities"] == [{"channel": "telegram", "external_id": "8002"}]
    assert [m["text"] for m in detail["history"] if m["direction"] == "in"] == [
        "/complaint",
        "Заказ 8002 не пришёл",
    ]
    assert (await api.call("GET", path + "/export", agent, template=item + "/export"))[0] == 403
    assert (await api.call("DELETE", path, agent, template=item))[0] == 403
    status, exported = await api.call("GET", path + "/export", admin, template=item + "/export")
    assert status == 200 and exported["tickets"][0]["messages"][0]["text"] == "Заказ 8002 не пришёл"
    # A survey answer with a comment: after erasure the score stays, anonymous and wordless.
    async with create_session_pool(faq_loaded.engine)() as session, session.begin():
        session.add(
            SurveyResponse(kind="nps", customer_id=person["id"], score=3, comment="всё плохо")
        )
    status, erased = await api.call("DELETE", path, admin, template=item)
    assert status == 200 and erased["erased"]["conversation"] >= 4
    status, after = await api.call("GET", path, agent, template=item)
    assert after["identities"] == [] and after["history"] == [] and after["display_name"] == ""
    async with faq_loaded.engine.connect() as conn:
        scores = (
            await conn.execute(
                select(SurveyResponse.customer_id, SurveyResponse.score, SurveyResponse.comment)
            )
        ).all()
        subjects = (await conn.execute(select(Ticket.subject).order_by(Ticket.id))).scalars().all()
    assert [tuple(s) for s in scores] == [(None, 3, None)]
    assert subjects == ["Заказ 8001 не пришёл", ""]  # the other customer's ticket untouched
    # The same from the CLI, for the other customer; it asks for --yes first.
    other = [
        c
        for c in (await api.call("GET", "/api/v1/customers", agent, params={"q": "8001"}))[1][
            "items"
        ]
    ]
    (first,) = other
    out = tmp_path / "export.json"
    exported_cli = await asyncio.to_thread(
        run_otklik,
        faq_loaded,
        "customers",
        "export",
        str(first["id"]),
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert exported_cli.returncode == 0, exported_cli.stderr
    assert "Заказ 8001 не пришёл" in out.read_text(encoding="utf-8")
    refused = await asyncio.to_thread(
        run_otklik, faq_loaded, "customers", "erase", str(first["id"]), cwd=tmp_path
    )
    assert refused.returncode == 2 and "--yes" in refused.stderr
    done = await asyncio.to_thread(
        run_otklik, faq_loaded, "customers", "erase", str(first["id"]), "--yes", cwd=tmp_path
    )
    assert done.returncode == 0 and "erased" in done.stdout, done.stderr
    _, audit = await api.call("GET", "/api/v1/audit", admin)
    actions = [i["action"] for i in audit["items"]]
    assert actions[:3] == ["customer.erase", "customer.export", "customer.erase"]


async def test_reports_as_json_and_csv(api: Api, faq_loaded: Database):
    token = await _token(faq_loaded, "analyst", "agent")
    async with create_session_pool(faq_loaded.engine)() as session, session.begin():
        for score in (10, 10, 9, 8, 7, 3, 0):
            await add_response(session, SurveyResponse(kind="nps", score=score, channel="telegram"))
    status, report = await api.call("GET", "/api/v1/reports/nps", token)
    assert status == 200
    (row,) = report["rows"]
    assert (row["n"], row["promoters"], row["passives"], row["detractors"]) == (7, 3, 2, 2)
    assert row["nps"] == round(100 * (3 - 2) / 7, 1) and row["low_confidence"] is True
    assert row["margin_95"] > 0
    async with api.app.http.get(
        api.app.url + "/api/v1/reports/nps",
        params={"format": "csv", "from": "2020-01-01"},
        headers={"Authorization": f"Bearer {token}"},
    ) as resp:
        assert resp.status == 200 and resp.content_type == "text/csv"
        lines = (await resp.text()).splitlines()
    assert lines[0].startswith("period,n,promoters,passives,detractors,nps,margin_95")
    status, bad = await api.call("GET", "/api/v1/reports/nps", token, params={"from": "yesterday"})
    assert status == 422 and bad["field"] == "from"


async def test_webhooks_are_signed_retried_and_their_attempts_visible(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    app = await start_app(
        scheduler={"enabled": False},
        outbox={"retry_base_seconds": 0.2, "retry_max_seconds": 1},
        webhooks={"allowed_targets": ["127.0.0.1"]},  # the receiver is on this machine
    )
    spec = await (await app.http.get(app.url + "/api/v1/openapi.json")).json()
    api = Api(app, spec)
    received: list[tuple[str, dict[str, Any], str | None]] = []
    answers = [500]
    secret_box: list[str] = []

    async def receiver(request: web.Request) -> web.Response:
        body = await request.read()
        problem = check(
            secret_box[0],
            request.headers.get(TIMESTAMP_HEADER, ""),
            request.headers.get(SIGNATURE_HEADER, ""),
            body,
            time.time(),
        )
        received.append((request.headers["X-Otklik-Event"], json.loads(body), problem))
        return web.Response(status=answers.pop(0) if answers else 200)

    platform = web.Application()
    platform.router.add_post("/hook", receiver)
    server = TestServer(platform, host="127.0.0.1")
    await server.start_server()
    try:
        admin = await _token(faq_loaded, "integrator", "admin")
        agent = await _token(faq_loaded, "agent-5", "agent")
        hook = {"url": f"http://127.0.0.1:{server.port}/hook", "events": ["ticket.created"]}
        assert (await api.call("POST", "/api/v1/webhooks", agent, json=hook))[0] == 403
        bad = await api.call("POST", "/api/v1/webhooks", admin, json={**hook, "events": ["x"]})
        assert bad[0] == 422 and bad[1]["field"].startswith("events")
        status, made = await api.call("POST", "/api/v1/webhooks", admin, json=hook)
        assert status == 201 and made["secret"].startswith("whsec_")
        secret_box.append(made["secret"])
        await _complaints(fake_tg, app, range(9001, 9002))
        for _ in range(100):
            if len(received) >= 2:
                break
            await asyncio.sleep(0.1)
        assert [(event, problem) for event, _, problem in received] == [
            ("ticket.created", None),  # answered 500: tried again
            ("ticket.created", None),
        ]
        assert received[1][1]["data"]["subject"] == "Заказ 9001 не пришёл"
        deliveries = f"/api/v1/webhooks/{made['id']}/deliveries"
        _, listed = await api.call(
            "GET", deliveries, admin, template="/api/v1/webhooks/{webhook_id}/deliveries"
        )
        (delivery,) = listed["items"]
        assert (delivery["status"], delivery["attempts"], delivery["last_status"]) == (
            "sent",
            2,
            200,
        )
    finally:
        await server.close()


async def test_every_operation_refuses_no_token_and_the_wrong_role(
    start_app: AppFactory, database: Database
):
    """Walks the served document: every operation answers 401 without a token (and with a
    revoked one), and each admin-only operation 403 to an agent, before it reads any input."""
    app = await start_app(
        telegram_mode=None,
        scheduler={"enabled": False},
        api={"requests_per_minute": 1_000_000, "burst": 100_000},
    )
    api = await open_api(app)
    agent = await _token(database, "walker-agent", "agent")
    revoked = await _token(database, "walker-revoked", "admin")
    async with create_session_pool(database.engine)() as session, session.begin():
        row = await TokenRepository(session).named("walker-revoked")
        assert row is not None
        row.revoked_at = utcnow()
    checked = admin_only = 0
    for template, methods in api.spec["paths"].items():
        path = re.sub(r"\{[a-z_]+\}", "1", template)
        for method, operation in methods.items():
            body = {} if "requestBody" in operation else None
            for token in (None, revoked):
                status, answer = await api.call(method.upper(), path, token, json=body)
                assert status == 401, (method, template, status, answer)
            if operation.get("description", "").startswith("Role: admin"):
                admin_only += 1
                status, answer = await api.call(method.upper(), path, agent, json=body)
                assert status == 403 and "admin" in answer["error"], (method, template, answer)
            checked += 1
    assert checked >= 40 and admin_only >= 15, (checked, admin_only)


async def test_a_web_chat_visitors_session_id_is_never_shown(
    api: Api, faq_loaded: Database, tmp_path: Path
):
    """The session id is the visitor's credential: with it, the history endpoint and the
    socket are theirs. Staff see a name derived from it, in the API, the CLI and an export."""
    session_id = "visitor-secret-session-0001"
    status, _ = await api.app.post_json(
        "/api/v1/chat/messages", {"session": session_id, "text": "как вернуть товар"}
    )
    assert status == 200
    agent = await _token(faq_loaded, "agent-9", "agent")
    admin = await _token(faq_loaded, "owner-9", "admin")
    _, found = await api.call("GET", "/api/v1/customers", agent, params={"q": session_id})
    (person,) = found["items"]
    path = f"/api/v1/customers/{person['id']}"
    _, detail = await api.call("GET", path, agent, template="/api/v1/customers/{customer_id}")
    (identity,) = detail["identities"]
    assert identity["channel"] == "webchat" and identity["external_id"].startswith("visitor-")
    assert session_id not in json.dumps(detail)
    _, exported = await api.call(
        "GET", path + "/export", admin, template="/api/v1/customers/{customer_id}/export"
    )
    assert session_id not in json.dumps(exported, ensure_ascii=False)
    shown = await asyncio.to_thread(
        run_otklik, faq_loaded, "customers", "show", str(person["id"]), cwd=tmp_path
    )
    assert shown.returncode == 0 and identity["external_id"] in shown.stdout
    assert session_id not in shown.stdout
