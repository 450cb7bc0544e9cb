"""Survey pages under /s/: a GET never records, a POST does and the last one wins, a replayed
form counts once, forged and expired links open nothing, a mail scanner's clicks are flagged
and left out of the reports, and the page works in a real browser, with and without script."""

from __future__ import annotations

import asyncio
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from sqlalchemy import func, select

from bot.campaigns import service
from bot.config import LinksConfig
from bot.links.signing_key import link_signer
from bot.links.tokens import LinkSigner
from storage.db import create_session_pool
from storage.models import Campaign, Customer, Delivery, SurveyResponse
from storage.repositories.reports import ReportFilter, flagged_count, score_counts
from tests.browser import chromium, needs_chromium, screenshot
from tests.conftest import AppFactory, Database, RunningApp, run_otklik


class Clock:
    """The app's clock and the test's, one and the same: times never mix with the real one."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


FORM = re.compile(r'name="form" value="([^"]+)"')
STEP = re.compile(r'name="r" value="([^"]+)"')


async def _survey(database: Database, name: str = "nps", anonymous: bool = False) -> int:
    async with create_session_pool(database.engine)() as session, session.begin():
        survey = await service.create_survey(session, name, "nps", anonymous, "{}")
        return survey.id


async def _signer(database: Database) -> LinkSigner:
    """The key the running app signs with: made once and kept in the database."""
    return await link_signer(create_session_pool(database.engine), LinksConfig())


async def _delivery(database: Database, survey_id: int, sent_at: datetime) -> int:
    """A campaign email sent at `sent_at`, to a customer of its own."""
    async with create_session_pool(database.engine)() as session, session.begin():
        customer = Customer(display_name="Анна", language="ru")
        campaign = Campaign(name=f"email {sent_at}", survey_id=survey_id, status="running")
        session.add_all([customer, campaign])
        await session.flush()
        delivery = Delivery(
            campaign_id=campaign.id,
            customer_id=customer.id,
            channel="email",
            recipient="anna@example.org",
            language="ru",
            status="sent",
            sent_at=sent_at,
        )
        session.add(delivery)
        await session.flush()
        return delivery.id


async def _emailed(
    database: Database, signer: LinkSigner, survey_id: int, clock: Clock, sent_ago: timedelta
) -> str:
    """The survey page's link in an email sent `sent_ago`."""
    delivery = await _delivery(database, survey_id, clock() - sent_ago)
    return "/s/" + signer.sign("d", (delivery,), clock() + timedelta(days=1))


async def _responses(database: Database) -> list[SurveyResponse]:
    async with create_session_pool(database.engine)() as session:
        rows = await session.execute(select(SurveyResponse).order_by(SurveyResponse.id))
        return list(rows.scalars())


async def _get(app: RunningApp, path: str) -> tuple[int, str]:
    async with app.http.get(app.url + path, allow_redirects=False) as resp:
        return resp.status, await resp.text()


async def _post(app: RunningApp, path: str, data: dict[str, str]) -> tuple[int, str]:
    async with app.http.post(app.url + path, data=data, allow_redirects=False) as resp:
        return resp.status, resp.headers.get("Location", "") or await resp.text()


async def _answer(app: RunningApp, link: str, score: int, form: str | None = None) -> str:
    """Open the page, then send `score` on its form; the comment step's path."""
    status, html = await _get(app, f"{link}?score={score}")
    assert status == 200, html
    form = form or FORM.search(html).group(1)  # type: ignore[union-attr]
    status, location = await _post(app, link, {"form": form, "score": str(score)})
    assert status == 303, location
    return location


async def test_a_link_records_on_post_only_and_the_last_answer_wins(
    start_app: AppFactory, database: Database
):
    clock = Clock()
    app = await start_app(telegram_mode=None, scheduler={"enabled": False}, clock=clock)
    survey_id = await _survey(database)
    signer = await _signer(database)
    link = "/s/" + signer.sign("s", (survey_id,), clock() + timedelta(days=1))

    for score in ("", "?score=3", "?score=9", "?score=99"):  # what a scanner's GETs would be
        status, html = await _get(app, link + score)
        assert (status == 200 and "порекомендуете" in html) or "recommend" in html
    assert await _responses(database) == []  # opening the page records nothing
    status, html = await _get(app, link + "?score=9")
    assert 'data-chosen="9"' in html and 'aria-pressed="true">9<' in html

    form = FORM.search(html).group(1)  # type: ignore[union-attr]
    step = await _answer(app, link, 9, form)
    clock.advance(30)  # a person changing their mind, not a scanner's burst
    again = await _answer(app, link, 10, form)  # the same form sent again: replaces, never adds
    (answer,) = await _responses(database)
    assert (answer.score, answer.channel, answer.survey_id) == (10, "link", survey_id)
    async with create_session_pool(database.engine)() as session:
        (counts,) = await score_counts(session, ReportFilter("nps"))
    assert (counts.n, counts.total) == (1, 10)  # the roll-up took the 9 back

    status, html = await _get(app, again)
    assert (status == 200 and "Спасибо" in html) or "Thank" in html
    r = STEP.search(html).group(1)  # type: ignore[union-attr]
    status, location = await _post(app, again.split("?")[0], {"r": r, "comment": "Быстро!"})
    assert status == 303 and location.endswith("/thanks")
    status, _ = await _post(app, step.split("?")[0], {"r": r, "comment": "ещё раз"})
    assert status == 409  # a replayed comment form records nothing
    (answer,) = await _responses(database)
    assert answer.comment == "Быстро!"

    # A second visitor of the same link is another answer.
    await _answer(app, link, 4)
    assert [r.score for r in await _responses(database)] == [10, 4]


async def test_forged_expired_and_foreign_links_open_nothing(
    start_app: AppFactory, database: Database
):
    clock = Clock()
    app = await start_app(telegram_mode=None, scheduler={"enabled": False}, clock=clock)
    survey_id = await _survey(database)
    signer = await _signer(database)
    good = signer.sign("s", (survey_id,), clock() + timedelta(days=1))
    expired = signer.sign("s", (survey_id,), clock() - timedelta(seconds=1))
    stranger = LinkSigner(b"a key that is not the bot's one").sign(
        "s", (survey_id,), clock() + timedelta(days=1)
    )
    other_survey = signer.sign("s", (survey_id + 1,), clock() + timedelta(days=1))
    forged = good[:-1] + ("A" if good[-1] != "A" else "B")
    for token in (expired, stranger, other_survey, forged, good.replace(f".{survey_id}.", ".7.")):
        status, html = await _get(app, f"/s/{token}?score=9")
        assert (status == 404 and "недействительна" in html) or "not valid" in html
        status, _ = await _post(app, f"/s/{token}", {"form": "x", "score": "9"})
        assert status == 404
    status, html = await _get(app, f"/s/{good}")
    form = FORM.search(html).group(1)  # type: ignore[union-attr]
    for data in (
        {"form": form, "score": "11"},
        {"form": form},
        {"form": "f.1.2.3.x", "score": "5"},
    ):
        status, _ = await _post(app, f"/s/{good}", data)
        assert status == 400
    for path in ("/s/d.1", "/s/" + "d." + "1" * 300):
        status, _ = await _get(app, path)
        assert status == 404
    assert await _responses(database) == []


async def test_a_mail_scanner_is_told_from_a_person(
    start_app: AppFactory, database: Database, tmp_path: Path
):
    clock = Clock()
    # Every request comes from 127.0.0.1 here: the per-client limit is tested on its own.
    app = await start_app(
        telegram_mode=None, scheduler={"enabled": False}, clock=clock, links={"burst": 1000}
    )
    survey_id = await _survey(database)
    signer = await _signer(database)

    person = await _emailed(database, signer, survey_id, clock, timedelta(hours=2))
    await _answer(app, person, 8)

    scanner = await _emailed(database, signer, survey_id, clock, timedelta(hours=2))
    for score in range(11):  # a gateway opening every score link of the email
        assert (await _get(app, f"{scanner}?score={score}"))[0] == 200
    await _answer(app, scanner, 0)  # and a sandbox that ran the page's script

    hasty = await _emailed(database, signer, survey_id, clock, timedelta(hours=2))
    await _answer(app, hasty, 6)
    await _answer(app, hasty, 2)  # another score within a second or two

    early = await _emailed(database, signer, survey_id, clock, timedelta(seconds=1))
    await _answer(app, early, 1)  # seconds after the email left

    flags = {(r.score, r.flagged) for r in await _responses(database)}
    assert flags == {(8, None), (0, "all_links"), (2, "burst"), (1, "too_soon")}
    async with create_session_pool(database.engine)() as session:
        (counts,) = await score_counts(session, ReportFilter("nps"))
        assert (counts.n, counts.total) == (1, 8)  # the person's answer only
        assert await flagged_count(session, ReportFilter("nps")) == 3
        delivery = await session.get(Delivery, int(person.split(".")[1]))
        assert delivery is not None and (delivery.status, delivery.score) == ("answered", 8)
    done = await asyncio.to_thread(run_otklik, database, "report", "nps", cwd=tmp_path)
    assert done.returncode == 0 and "3 answers left out" in done.stdout, done.stdout


async def test_the_survey_link_command(tmp_path: Path, database: Database):
    await _survey(database, "после покупки")
    qr = tmp_path / "counter.png"
    done = await asyncio.to_thread(
        run_otklik, database, "survey", "link", "после покупки", "--qr", str(qr), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/s/s\.\d+\.[0-9a-z]+\.[\w-]{22}\n", done.stdout)
    assert "base_url is not set" in done.stderr
    assert qr.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for args, message in (
        (("nope",), "no survey named 'nope'"),
        (("после покупки", "--customer", "999"), "no customer 999"),
        (("после покупки", "--qr", str(tmp_path / "missing" / "x.png")), "cannot write"),
    ):
        done = await asyncio.to_thread(run_otklik, database, "survey", "link", *args, cwd=tmp_path)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
    async with create_session_pool(database.engine)() as session, session.begin():
        customer = Customer(display_name="Олег", language="en")
        session.add(customer)
    done = await asyncio.to_thread(
        run_otklik,
        database,
        "survey",
        "link",
        "после покупки",
        "--customer",
        str(customer.id),
        cwd=tmp_path,
    )
    assert done.returncode == 0 and "/s/c." in done.stdout


@needs_chromium
async def test_the_page_in_a_browser_with_and_without_script(
    start_app: AppFactory, database: Database, tmp_path: Path
):

    clock = Clock()
    app = await start_app(telegram_mode=None, scheduler={"enabled": False}, clock=clock)
    survey_id = await _survey(database, anonymous=True)
    signer = await _signer(database)
    emailed = await _emailed(database, signer, survey_id, clock, timedelta(hours=1))
    counter = "/s/" + signer.sign("s", (survey_id,), clock() + timedelta(days=1))
    shots = Path(os.environ.get("OTKLIK_SCREENSHOTS", tmp_path))
    async with chromium() as browser:
        # A phone opens an email's "9": the page sends it once it has been seen.
        phone = await browser.new_page(locale="ru-RU", viewport={"width": 390, "height": 760})
        await phone.goto(app.url + emailed + "?score=9")
        assert await phone.is_visible("[data-anonymous]")
        await screenshot(phone, str(shots / "survey-phone.png"))
        await phone.wait_for_url(re.compile(r".*/comment\?r="), timeout=15_000)
        await phone.fill("#comment", "Всё пришло вовремя")
        await screenshot(phone, str(shots / "survey-comment-phone.png"))
        await phone.click("button.send")
        await phone.wait_for_url(re.compile(r".*/thanks$"))
        # A desktop without script: the visitor picks and the button sends.
        context = await browser.new_context(
            java_script_enabled=False, locale="en-US", viewport={"width": 1100, "height": 700}
        )
        desk = await context.new_page()
        await desk.goto(app.url + counter)
        await screenshot(desk, str(shots / "survey-desktop.png"))
        await desk.click("button[value='7']")
        await desk.wait_for_url(re.compile(r".*/comment\?r="))
        assert "main reason" in (await desk.inner_text("label"))
        await desk.click("button.skip")
        await desk.wait_for_url(re.compile(r".*/thanks$"))
        await context.close()
    scores = sorted(r.score for r in await _responses(database) if r.score is not None)
    assert scores == [7, 9]
    async with create_session_pool(database.engine)() as session:
        comments = await session.execute(
            select(func.count()).where(SurveyResponse.comment == "Всё пришло вовремя")
        )
        assert comments.scalar_one() == 1
        # Anonymous: the comment is a row of its own, not on the score it explains.
        assert (
            await session.execute(
                select(func.count()).where(
                    SurveyResponse.comment == "Всё пришло вовремя", SurveyResponse.score.is_(None)
                )
            )
        ).scalar_one() == 1


async def test_a_client_that_keeps_asking_is_told_to_wait(
    start_app: AppFactory, database: Database
):
    clock = Clock()
    limits = {"burst": 3, "requests_per_minute": 1}
    app = await start_app(
        telegram_mode=None, scheduler={"enabled": False}, links=limits, clock=clock
    )
    survey_id = await _survey(database)
    signer = await _signer(database)
    link = "/s/" + signer.sign("s", (survey_id,), clock() + timedelta(days=1))
    async with aiohttp.ClientSession() as http:
        statuses = []
        for _ in range(5):
            async with http.get(app.url + link) as resp:
                statuses.append(resp.status)
                retry = resp.headers.get("Retry-After")
    assert statuses == [200, 200, 200, 429, 429] and retry is not None and int(retry) > 0
