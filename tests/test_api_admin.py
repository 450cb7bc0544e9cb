"""The REST API's admin resources through real HTTP to the app: FAQ entries (edits guarded by
If-Match, import and export in the CLI's YAML), canned replies, routing rules, surveys and
campaigns (preview, start, pause, resume, cancel, progress), working hours and ticket merge.
Every answer is checked against the OpenAPI document the app serves."""

from __future__ import annotations

from datetime import UTC, datetime

import yaml

from bot.app import launch_campaigns
from storage.db import create_session_pool
from storage.models import RoutingRule
from storage.repositories.customers import CustomerRepository
from tests.api_client import Api, make_token, open_api
from tests.conftest import AppFactory, Database
from tests.fake_telegram import FakeTelegram

STAFF_CHAT = -100778


async def _api(start_app: AppFactory, **config: object) -> Api:
    app = await start_app(
        telegram={"staff_chat_id": STAFF_CHAT}, scheduler={"enabled": False}, **config
    )
    return await open_api(app)


async def _say(fake_tg: FakeTelegram, api: Api, user: int, *texts: str) -> None:
    for text in texts:
        await fake_tg.deliver(fake_tg.message_update(user, text))
        await api.app.drain()


async def test_faq_entries_are_edited_safely_and_answer_customers(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    api = await _api(start_app)
    admin = await make_token(faq_loaded, "owner", "admin")
    agent = await make_token(faq_loaded, "helper", "agent")
    entry = {
        "slug": "parking",
        "language": "en",
        "question": "Is there parking?",
        "answer": "Free parking behind the building.",
        "keywords": ["car", "park"],
    }
    assert (await api.call("POST", "/api/v1/faq", None, json=entry))[0] == 401
    status, body = await api.call("POST", "/api/v1/faq", agent, json=entry)
    assert status == 403 and "admin" in body["error"]
    status, made = await api.call("POST", "/api/v1/faq", admin, json=entry)
    assert status == 201 and made["version"] == 1 and api.etag == '"1"'
    status, body = await api.call("POST", "/api/v1/faq", admin, json=entry)
    assert (status, body["field"]) == (409, "slug")
    status, body = await api.call("POST", "/api/v1/faq", admin, json={**entry, "slug": "Нет"})
    assert (status, body["field"]) == (422, "slug")

    path = f"/api/v1/faq/{made['id']}"
    status, read = await api.call("GET", path, agent)
    assert status == 200 and read["keywords"] == ["car", "park"] and api.etag == '"1"'
    change = {"answer": "Parking: free, behind the building, 40 places."}
    status, body = await api.call("PATCH", path, admin, json=change)
    assert status == 428 and "If-Match" in body["error"]
    status, edited = await api.call("PATCH", path, admin, json=change, if_match='"1"')
    assert status == 200 and edited["version"] == 2 and api.etag == '"2"'
    # A second editor who read version 1 is refused, and told what the version is now.
    status, body = await api.call("PATCH", path, admin, json={"answer": "x"}, if_match='"1"')
    assert status == 412 and api.etag == '"2"'
    status, body = await api.call("PATCH", path, admin, json={"answer": ""}, if_match='"2"')
    assert (status, body["field"]) == (422, "answer")

    await _say(fake_tg, api, 9101, "is there parking for my car")
    assert "40 places" in fake_tg.sent_texts(9101)[-1]  # the bot answers with the new text

    async with api.app.http.get(
        api.app.url + "/api/v1/faq/export",
        params={"format": "yaml"},
        headers={"Authorization": f"Bearer {agent}"},
    ) as resp:
        assert resp.status == 200 and resp.content_type == "application/yaml"
        exported = yaml.safe_load(await resp.text())
    slugs = [e["slug"] for e in exported["entries"]]
    assert "parking" in slugs and len(slugs) > 3
    status, body = await api.call("GET", "/api/v1/faq/export", agent)
    assert status == 200 and yaml.safe_load(body["yaml"]) == exported

    status, body = await api.call("POST", "/api/v1/faq/import", admin, json={"yaml": "- no"})
    assert status == 422 and body["field"] == "yaml" and "entries" in body["error"]
    only_parking = yaml.safe_dump({"entries": [e for e in exported["entries"] if slugs]})
    status, counts = await api.call(
        "POST", "/api/v1/faq/import", admin, json={"yaml": only_parking}
    )
    assert (status, counts) == (200, {"created": 0, "updated": 0, "removed": 0})
    just_one = yaml.safe_dump({"entries": [exported["entries"][slugs.index("parking")]]})
    status, counts = await api.call(
        "POST", "/api/v1/faq/import", admin, json={"yaml": just_one, "replace": True}
    )
    assert status == 200 and counts["removed"] > 2 and counts["created"] == 0
    _, listed = await api.call("GET", "/api/v1/faq", agent)
    assert [e["slug"] for e in listed["items"]] == ["parking"]

    assert (await api.call("DELETE", path, admin))[0] == 200
    assert (await api.call("DELETE", path, admin))[0] == 404
    _, audit = await api.call("GET", "/api/v1/audit", admin)
    actions = [item["action"] for item in audit["items"]]
    assert {"faq.create", "faq.update", "faq.import", "faq.delete"} <= set(actions)


async def test_canned_replies_and_routing_rules(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    api = await _api(start_app)
    admin = await make_token(faq_loaded, "owner", "admin")
    agent = await make_token(faq_loaded, "helper", "agent")
    canned = {"name": "thanks", "text": "Спасибо, что написали!"}
    assert (await api.call("POST", "/api/v1/canned", agent, json=canned))[0] == 403
    status, saved = await api.call("POST", "/api/v1/canned", admin, json=canned)
    assert status == 200 and saved["name"] == "thanks"
    status, again = await api.call(
        "POST", "/api/v1/canned", admin, json={**canned, "text": "Спасибо!"}
    )
    assert again["id"] == saved["id"] and again["text"] == "Спасибо!"  # replaced, not doubled
    status, body = await api.call("POST", "/api/v1/canned", admin, json={**canned, "name": "a b"})
    assert (status, body["field"]) == (422, "name")
    _, listed = await api.call("GET", "/api/v1/canned", agent)
    assert [c["name"] for c in listed["items"]] == ["thanks"]

    rule = {"name": "refunds", "keywords": ["возврат"], "set_category": "billing"}
    status, body = await api.call(
        "POST", "/api/v1/rules", admin, json={**rule, "pattern": "(unclosed"}
    )
    assert status == 422 and body["field"] == "pattern" and "valid expression" in body["error"]
    status, body = await api.call("POST", "/api/v1/rules", admin, json={"name": "x"})
    assert status == 422 and "at least one" in body["error"]
    assert (await api.call("POST", "/api/v1/rules", agent, json=rule))[0] == 403
    status, made = await api.call("POST", "/api/v1/rules", admin, json=rule)
    assert status == 201 and made["keywords"] == ["возврат"]
    status, body = await api.call("POST", "/api/v1/rules", admin, json=rule)
    assert (status, body["field"]) == (409, "name")

    await _say(fake_tg, api, 9201, "/complaint", "Хочу возврат денег за заказ")
    _, tickets = await api.call("GET", "/api/v1/tickets", agent)
    assert tickets["items"][0]["category"] == "billing"  # the rule routed the new ticket

    assert (await api.call("DELETE", f"/api/v1/rules/{made['id']}", admin))[0] == 200
    assert (await api.call("DELETE", f"/api/v1/rules/{made['id']}", admin))[0] == 404

    # A pattern whose matching explodes on a short text is refused when saved...
    slow = {"name": "slow", "pattern": "(a|aa)+$", "set_category": "x"}
    status, body = await api.call("POST", "/api/v1/rules", admin, json=slow)
    assert (status, body["field"]) == (422, "pattern") and "too long" in body["error"]
    # ...and one stored before that check existed is skipped, not left to stall the bot; the
    # issue's own example, ^(a+)+$, matches in microseconds with the regex engine used now.
    async with create_session_pool(faq_loaded.engine)() as session, session.begin():
        session.add(RoutingRule(name="slow", pattern="(a|aa)+$", set_category="slow"))
        session.add(RoutingRule(name="nested", pattern="^(a+)+$", set_category="nested"))
    await _say(fake_tg, api, 9202, "/complaint", "a" * 40 + "!")
    await _say(fake_tg, api, 9203, "/complaint", "a" * 40)
    _, tickets = await api.call("GET", "/api/v1/tickets", agent)
    categories = {t["id"]: t["category"] for t in tickets["items"]}
    # The runaway one was skipped on the text that made it explode, and matched on the other.
    assert sorted(categories.values()) == ["billing", "general", "slow"], categories
    assert (await api.call("DELETE", f"/api/v1/canned/{saved['id']}", agent))[0] == 403
    assert (await api.call("DELETE", f"/api/v1/canned/{saved['id']}", admin))[0] == 200


async def test_surveys_and_campaigns_from_preview_to_progress(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    api = await _api(start_app, campaigns={"rate_per_second": 1000})
    admin = await make_token(database, "owner", "admin")
    agent = await make_token(database, "helper", "agent")
    async with create_session_pool(database.engine)() as session, session.begin():
        customers = CustomerRepository(session)
        for number in range(5):
            language = "en" if number < 2 else "ru"
            await customers.get_or_create("telegram", str(9300 + number), "c", language)

    survey = {"name": "nps-q4", "kind": "nps"}
    assert (await api.call("POST", "/api/v1/surveys", agent, json=survey))[0] == 403
    status, body = await api.call("POST", "/api/v1/surveys", admin, json={**survey, "kind": "x"})
    assert (status, body["field"]) == (422, "kind")
    status, made = await api.call("POST", "/api/v1/surveys", admin, json=survey)
    assert status == 201 and made["kind"] == "nps"
    status, body = await api.call("POST", "/api/v1/surveys", admin, json=survey)
    assert (status, body["field"]) == (409, "name")
    status, body = await api.call(
        "POST", "/api/v1/surveys", admin, json={"name": "pick", "kind": "custom"}
    )
    assert status == 422 and body["field"] == "texts.options"

    status, preview = await api.call("POST", "/api/v1/campaigns/preview", agent, json={})
    assert (status, preview) == (200, {"would_ask": 5, "skipped": {}})
    english = {"audience": {"language": "en"}}
    _, preview = await api.call("POST", "/api/v1/campaigns/preview", agent, json=english)
    assert preview["would_ask"] == 2
    status, body = await api.call(
        "POST", "/api/v1/campaigns/preview", agent, json={"audience": {"size": 3}}
    )
    assert status == 422 and body["field"] == "audience.size"

    campaign = {"name": "Q4 NPS", "survey": "nps-q4", "quiet": "off"}
    status, body = await api.call(
        "POST", "/api/v1/campaigns", admin, json={**campaign, "survey": "nope"}
    )
    assert (status, body["field"]) == (422, "survey")
    status, body = await api.call(
        "POST", "/api/v1/campaigns", admin, json={**campaign, "cron": "every day"}
    )
    assert (status, body["field"]) == (422, "cron")
    assert (await api.call("POST", "/api/v1/campaigns", agent, json=campaign))[0] == 403
    status, draft = await api.call("POST", "/api/v1/campaigns", admin, json=campaign)
    assert status == 201 and draft["status"] == "draft"
    path = f"/api/v1/campaigns/{draft['id']}"

    status, body = await api.call("POST", path + "/pause", admin)
    assert (status, body["field"]) == (409, "status")
    assert (await api.call("POST", path + "/start", agent))[0] == 403
    status, started = await api.call("POST", path + "/start", admin)
    assert status == 200 and started["status"] == "scheduled"
    assert await launch_campaigns(api.app.services) == 5  # what the scheduler's tick does
    _, state = await api.call("GET", path, agent)
    assert state["status"] == "running" and state["counts"] == {"queued": 5}
    assert (state["total"], state["done"]) == (5, 0)

    assert (await api.call("POST", path + "/pause", admin))[1]["status"] == "paused"
    assert await api.app.services.campaigns.run_once() == 0  # paused: nothing goes out
    assert (await api.call("POST", path + "/resume", admin))[1]["status"] == "running"
    while await api.app.services.campaigns.run_once():
        pass
    _, state = await api.call("GET", path, agent)
    assert state["counts"] == {"sent": 5} and (state["total"], state["done"]) == (5, 5)
    assert state["status"] == "done" and state["response_rate"] == 0.0
    asked = {c.params["chat_id"] for c in fake_tg.calls_of("sendMessage")}
    assert {str(9300 + n) for n in range(5)} <= {str(chat) for chat in asked}

    status, body = await api.call("POST", path + "/cancel", admin)
    assert (status, body["field"]) == (409, "status")
    assert (await api.call("GET", "/api/v1/campaigns/999", agent))[0] == 404
    _, listed = await api.call("GET", "/api/v1/campaigns", agent)
    assert [c["name"] for c in listed["items"]] == ["Q4 NPS"]


async def test_working_hours(start_app: AppFactory, faq_loaded: Database):
    monday_noon = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 12:00 in Moscow
    api = await _api(start_app, clock=lambda: monday_noon)
    agent = await make_token(faq_loaded, "helper", "agent")
    status, hours = await api.call("GET", "/api/v1/hours", agent)
    assert status == 200 and hours["timezone"] == "Europe/Moscow"
    assert hours["weekly"]["mon"] == ["09:00-18:00"] and hours["weekly"]["sun"] == []
    assert hours["open_now"] and hours["open_until"] == "2026-03-02T15:00:00Z"
    assert hours["next_opening"] == "2026-03-03T06:00:00Z"
    assert {"date": "2026-03-08", "name": "International Women's Day"} in hours["holidays"]
    assert hours["reply_target_minutes"] == 120


async def test_ticket_merge(start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database):
    api = await _api(start_app)
    agent = await make_token(faq_loaded, "helper", "agent")
    await _say(fake_tg, api, 9401, "/complaint", "Курьер опоздал")
    await api.call("GET", "/api/v1/tickets/1", agent)
    assert api.etag is not None
    status, first = await api.call(
        "PATCH", "/api/v1/tickets/1", agent, json={"status": "resolved"}, if_match=api.etag
    )
    assert status == 200 and first["status"] == "resolved"
    await _say(fake_tg, api, 9401, "/complaint", "И опять опоздал")
    await _say(fake_tg, api, 9402, "/complaint", "Другая история")
    _, tickets = await api.call("GET", "/api/v1/tickets", agent)
    assert [t["id"] for t in tickets["items"]] == [3, 2, 1]

    merge = "/api/v1/tickets/2/merge"
    status, body = await api.call("POST", merge, agent, json={"into": 3})
    assert status == 409 and "same customer" in body["error"]
    status, body = await api.call("POST", merge, agent, json={"into": 99})
    assert (status, body["field"]) == (404, "into")
    status, target = await api.call("POST", merge, agent, json={"into": 1})
    assert status == 200 and target["id"] == 1 and target["status"] == "open"
    status, body = await api.call("POST", merge, agent, json={"into": 1})
    assert status == 409 and "already merged" in body["error"]
    _, duplicate = await api.call("GET", "/api/v1/tickets/2", agent)
    assert duplicate["status"] == "closed"
    assert duplicate["messages"][-1]["text"] == "merged into #1"
    await fake_tg.wait_for("sendMessage", count=1)
    assert any("Merged into #1" in text for text in fake_tg.sent_texts(STAFF_CHAT))
