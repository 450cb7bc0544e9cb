"""Email surveys end to end, against a real SMTP server: customers imported from CSV, a
campaign emails them, people click a score in the message and answer on the page, a scanner
opens every link and records nothing, two unsubscribe with one click, one address bounces;
the report counts exactly those."""

from __future__ import annotations

import asyncio
import os
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from subprocess import CompletedProcess

from sqlalchemy import func, select

from bot.app import launch_campaigns
from bot.campaigns import service
from bot.campaigns.surveys import survey_reply
from bot.channels.email.render import Envelope, SurveyLinks, render
from storage.db import create_session_pool
from storage.models import ChannelIdentity, Customer, Delivery, SurveyResponse
from storage.repositories.reports import ReportFilter, flagged_count, score_counts
from tests.browser import chromium, needs_chromium, screenshot
from tests.conftest import AppFactory, Database, RunningApp, run_otklik
from tests.smtp_server import smtp_server
from tests.test_survey_links import FORM, STEP

START = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # a Tuesday, 13:00 in Moscow: not quiet
LINK = re.compile(r'href="(http://127\.0\.0\.1:\d+/s/d\.[^"?]+)\?score=(\d+)"')


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def _csv(count: int) -> str:
    lines = ["name,email,language,tags,timezone,consent"]
    for n in range(count):
        lines.append(f"Клиент {n},client{n}@example.org,ru,vip;email,Europe/Moscow,yes")
    lines.append("Без согласия,noconsent@example.org,en,,,no")
    return "\n".join(lines) + "\n"


def _links(message: EmailMessage) -> dict[int, str]:
    html = message.get_body(("html",))
    assert html is not None
    found = LINK.findall(html.get_content())
    return {int(score): f"{page}?score={score}" for page, score in found}


async def _otklik(database: Database, tmp_path: Path, *args: str) -> CompletedProcess[str]:
    return await asyncio.to_thread(run_otklik, database, *args, cwd=tmp_path)


async def _answer(app: RunningApp, url: str, comment: str | None = None) -> None:
    """A person: the page opens with the score chosen, the button sends it."""
    async with app.http.get(url) as resp:
        assert resp.status == 200
        html = await resp.text()
    page, score = url.split("?score=")
    form = FORM.search(html).group(1)  # type: ignore[union-attr]
    async with app.http.post(page, data={"form": form, "score": score}) as resp:
        assert resp.status == 200, await resp.text()  # followed to the comment page
        html = await resp.text()
        step = str(resp.url)
    if comment is not None:
        r = STEP.search(html).group(1)  # type: ignore[union-attr]
        async with app.http.post(step.split("?")[0], data={"r": r, "comment": comment}) as resp:
            assert resp.status == 200 and str(resp.url).endswith("/thanks")


async def test_a_campaign_by_email_counts_what_people_did(
    start_app: AppFactory, database: Database, tmp_path: Path
):
    csv = tmp_path / "customers.csv"
    csv.write_text(_csv(50), encoding="utf-8")
    done = await asyncio.to_thread(
        run_otklik, database, "customers", "import", str(csv), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "51 customers added, 0 updated, 0 rows skipped; 50 may be emailed" in done.stdout
    again = await asyncio.to_thread(
        run_otklik, database, "customers", "import", str(csv), cwd=tmp_path
    )
    assert "0 customers added, 51 updated" in again.stdout  # a re-import never duplicates

    clock = Clock()
    with smtp_server(refuse={"client7@example.org"}) as mailbox:
        app = await start_app(
            telegram_mode=None,
            scheduler={"enabled": False},
            clock=clock,
            links={"burst": 10_000},  # every "person" here is 127.0.0.1
            email={
                "smtp_url": mailbox.url,
                "from_address": "Otklik <surveys@shop.example>",
                "support_address": "support@shop.example",
            },
        )
        async with create_session_pool(database.engine)() as session, session.begin():
            await service.create_survey(session, "nps", "nps", False, "{}")
            await service.create_campaign(
                session,
                name="После покупки",
                survey_name="nps",
                run_at=START,
                audience='{"channel": "email"}',
            )
        assert await launch_campaigns(app.services) == 50  # consent: the 51st is never asked
        await app.services.campaigns.run_until_idle()
        assert len(mailbox.messages) == 49  # client7's address is refused
        messages = {str(m["To"]): m for m in mailbox.messages}
        first = messages["client0@example.org"]
        assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert first["Auto-Submitted"] == "auto-generated"
        assert "порекомендуете" in first.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert len(_links(first)) == 11

        clock.now = START + timedelta(hours=2)  # people read their mail later
        # Two mail gateways open every link of their email: nothing is recorded.
        for address in ("client1@example.org", "client2@example.org"):
            for url in _links(messages[address]).values():
                async with app.http.get(url) as resp:
                    assert resp.status == 200
        # Eight people click a score; three of them say why.
        for n, score in zip(range(10, 18), (10, 9, 9, 8, 7, 6, 3, 10), strict=True):
            comment = "Курьер опоздал" if score <= 7 else None
            await _answer(app, _links(messages[f"client{n}@example.org"])[score], comment)
        # Two unsubscribe with one click (RFC 8058); a scanner's GET of the link changes nothing.
        for n in (20, 21):
            header = str(messages[f"client{n}@example.org"]["List-Unsubscribe"])
            unsubscribe = header.strip().strip("<>")
            async with app.http.get(unsubscribe) as resp:
                assert resp.status == 200
            async with app.http.post(
                unsubscribe,
                data="List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ) as resp:
                assert resp.status == 200

    pool = create_session_pool(database.engine)
    async with pool() as session:
        (counts,) = await score_counts(session, ReportFilter("nps"))
        assert (counts.n, counts.high, counts.low) == (8, 4, 2)  # NPS (4 - 2) / 8 = 25
        assert await flagged_count(session, ReportFilter("nps")) == 0
        comments = await session.execute(
            select(func.count()).where(SurveyResponse.comment == "Курьер опоздал")
        )
        assert comments.scalar_one() == 3  # the 7, the 6 and the 3
        channels = await session.execute(
            select(SurveyResponse.channel).where(SurveyResponse.score.is_not(None)).distinct()
        )
        assert list(channels.scalars()) == ["email"]
        opted = await session.execute(
            select(func.count()).where(Customer.surveys_opted_out.is_(True))
        )
        assert opted.scalar_one() == 2
        statuses = dict(
            (
                await session.execute(
                    select(Delivery.status, func.count()).group_by(Delivery.status)
                )
            ).all()
        )
        assert statuses == {"sent": 41, "answered": 8, "blocked": 1}
        bounced = await session.execute(
            select(Customer.blocked_channels)
            .join(ChannelIdentity, ChannelIdentity.customer_id == Customer.id)
            .where(ChannelIdentity.external_id == "client7@example.org")
        )
        assert bounced.scalar_one() == "email"  # the channel, not the customer


async def test_bad_rows_are_reported_by_line_and_nothing_is_imported(
    database: Database, tmp_path: Path
):
    csv = tmp_path / "bad.csv"
    csv.write_text(
        "email,name,consent,timezone,language\n"
        "ok@example.org,Анна,yes,,ru\n"
        "not-an-address,Борис,yes,,ru\n"
        "ok2@example.org,Вера,maybe,,ru\n"
        "ok3@example.org,Глеб,no,Mars/Olympus,ru\n"
        "ok@example.org,Анна снова,yes,,ru\n",
        encoding="utf-8",
    )
    done = await asyncio.to_thread(
        run_otklik, database, "customers", "import", str(csv), cwd=tmp_path
    )
    assert done.returncode == 2
    for line, reason in (
        (3, "not an email address"),
        (4, "consent"),
        (5, "timezone"),
        (6, "line 2"),
    ):
        assert f"bad.csv:{line}: " in done.stderr and reason in done.stderr, done.stderr
    assert "nothing imported" in done.stderr
    async with create_session_pool(database.engine)() as session:
        assert (await session.execute(select(func.count()).select_from(Customer))).scalar_one() == 0
    done = await asyncio.to_thread(
        run_otklik, database, "customers", "import", str(csv), "--skip-bad", cwd=tmp_path
    )
    assert done.returncode == 0 and "1 customers added" in done.stdout
    missing = await asyncio.to_thread(
        run_otklik, database, "customers", "import", str(tmp_path / "nope.csv"), cwd=tmp_path
    )
    assert missing.returncode == 2 and "cannot read" in missing.stderr


@needs_chromium
async def test_the_survey_email_in_a_browser(tmp_path: Path):
    """The HTML part as a mail app shows it: the question, eleven score links that fit a
    phone, the way out."""

    links = SurveyLinks(
        page=lambda d: f"https://bot.example/s/d.{d}.x.sig",
        unsubscribe=lambda d: f"https://bot.example/s/d.{d}.x.sig/unsubscribe",
    )
    reply = survey_reply("nps", {}, "ru", False, 42)
    envelope = Envelope(
        "Магазин <s@shop.example>", "a@example.org", "h@shop.example", "ru", START, "shop.example"
    )
    message = render(reply, envelope, links)
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    shots = Path(os.environ.get("OTKLIK_SCREENSHOTS", tmp_path))
    async with chromium() as browser:
        phone = await browser.new_page(viewport={"width": 390, "height": 500})
        await phone.set_content(html)
        hrefs = await phone.eval_on_selector_all("a", "els => els.map(e => e.href)")
        assert hrefs[:11] == [f"https://bot.example/s/d.42.x.sig?score={n}" for n in range(11)]
        assert hrefs[11].endswith("/unsubscribe")
        width = await phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390  # no sideways scrolling on a phone
        await screenshot(phone, str(shots / "email-survey-phone.png"))


async def test_customers_import_through_the_api(start_app: AppFactory, database: Database):
    from tests.api_client import make_token, open_api

    app = await start_app(telegram_mode=None, scheduler={"enabled": False})
    api = await open_api(app)
    admin = await make_token(database, "crm", "admin")
    agent = await make_token(database, "desk", "agent")
    path = "/api/v1/customers/import"
    status, body = await api.call("POST", path, agent, json={"csv": _csv(2)})
    assert status == 403
    status, body = await api.call("POST", path, admin, json={"csv": _csv(2)})
    assert status == 200 and (body["created"], body["updated"], body["may_be_emailed"]) == (3, 0, 2)
    bad = _csv(1) + "Кто-то,not-an-address,ru,,,yes\n"
    status, body = await api.call("POST", path, admin, json={"csv": bad})
    assert status == 422 and "line 4: not an email address" in body["error"]
    status, body = await api.call("POST", path, admin, json={"csv": bad, "skip_bad": True})
    assert status == 200 and body["updated"] == 2 and body["skipped"][0]["line"] == 4
    status, _ = await api.call("POST", path, admin, json={"csv": "name\nАнна\n"})
    assert status == 422  # no email column


@needs_chromium
async def test_customers_import_on_the_console(
    start_app: AppFactory, database: Database, tmp_path: Path
):

    from tests.staff import add_staff, sign_in_page

    app = await start_app(
        telegram_mode=None, scheduler={"enabled": False}, clock=lambda: datetime.now(UTC)
    )
    await add_staff(database, "boss", "admin")
    shots = Path(os.environ.get("OTKLIK_SCREENSHOTS", tmp_path))
    async with chromium() as browser:
        page = await browser.new_page(locale="ru-RU", viewport={"width": 390, "height": 900})
        await page.goto(app.url + "/admin/people")
        await sign_in_page(page)
        await page.wait_for_url(re.compile(r"/admin/people$"))
        form = page.locator("#import")
        await form.locator("textarea").fill(_csv(1) + "Кто-то,not-an-address,ru,,,yes\n")
        async with page.expect_navigation():
            await form.get_by_role("button").click()
        assert "строка 4: не адрес почты" in await page.inner_text(".flash")  # in Russian
        await form.locator("textarea").fill(_csv(3))
        async with page.expect_navigation():
            await form.get_by_role("button").click()
        flash = await page.inner_text(".flash")
        assert flash == (  # in the page's language, the count in its plural form
            "Добавлено: 4 клиента; обновлено: 0; строк пропущено: 0; можно опрашивать по почте: 3."
        )
        await form.scroll_into_view_if_needed()
        await screenshot(page, str(shots / "admin-import-phone.png"))
    async with create_session_pool(database.engine)() as session:
        emails = await session.execute(
            select(func.count()).where(ChannelIdentity.channel == "email")
        )
        assert emails.scalar_one() == 4


async def test_the_mail_server_down_then_back(
    start_app: AppFactory, database: Database, tmp_path: Path
):
    """Nothing listens where the SMTP server should be: the emails wait, with the reason, and
    go out once it answers; nobody is marked unreachable for the server's outage."""
    from tests.conftest import free_port

    csv = tmp_path / "two.csv"
    csv.write_text(_csv(2), encoding="utf-8")
    assert (await _otklik(database, tmp_path, "customers", "import", str(csv))).returncode == 0
    port = free_port()
    clock = Clock()
    app = await start_app(
        telegram_mode=None,
        scheduler={"enabled": False},
        clock=clock,
        email={
            "smtp_url": f"smtp://127.0.0.1:{port}",
            "from_address": "surveys@shop.example",
            "support_address": "support@shop.example",
            "timeout_seconds": 5,
        },
    )
    async with create_session_pool(database.engine)() as session, session.begin():
        await service.create_survey(session, "nps", "nps", False, "{}")
        await service.create_campaign(
            session, name="NPS", survey_name="nps", run_at=START, audience='{"channel": "email"}'
        )
    assert await launch_campaigns(app.services) == 2
    await app.services.campaigns.run_until_idle()
    async with create_session_pool(database.engine)() as session:
        rows = (await session.execute(select(Delivery.status, Delivery.error))).all()
        unreachable = await session.execute(
            select(func.count()).where(Customer.unreachable.is_(True))
        )
        assert unreachable.scalar_one() == 0
    assert [(status, error) for status, error in rows] == [
        ("queued", "mail server unreachable: SMTPConnectError"),
    ] * 2
    with smtp_server(port=port) as mailbox:
        clock.now = START + timedelta(minutes=5)  # past the retry's back-off
        await app.services.campaigns.run_until_idle()
        assert sorted(str(m["To"]) for m in mailbox.messages) == [
            "client0@example.org",
            "client1@example.org",
        ]
    async with create_session_pool(database.engine)() as session:
        statuses = (await session.execute(select(Delivery.status))).scalars().all()
        assert statuses == ["sent", "sent"]
