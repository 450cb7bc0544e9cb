"""Health, metrics and logs as an operator sees them."""

from __future__ import annotations

import io
import json
import logging

from bot.log_setup import JsonFormatter, RedactSecrets, setup_logging
from tests.conftest import TOKEN, AppFactory, Database
from tests.fake_telegram import FakeTelegram


async def test_healthz_and_metrics(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    app = await start_app()
    async with app.http.get(app.url + "/healthz") as resp:
        assert resp.status == 200
        assert (await resp.json())["status"] == "ok"
    update = fake_tg.message_update(11, "как вернуть товар")
    await fake_tg.deliver(update)
    await fake_tg.deliver(update)
    await fake_tg.deliver(fake_tg.message_update(11, "посоветуйте фильм"))
    await app.drain()
    async with app.http.get(app.url + "/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    assert 'otklik_updates_received_total{source="telegram"} 2.0' in text
    assert 'otklik_updates_duplicate_total{source="telegram"} 1.0' in text
    assert 'otklik_updates_handled_total{source="telegram"} 2.0' in text
    assert "otklik_faq_hits_total 1.0" in text
    assert "otklik_faq_misses_total 1.0" in text
    # Words were sure of the first question; the second took the meaning pass (or, without
    # the model, could not).
    assert 'otklik_faq_dense_total{outcome="words_sure"} 1.0' in text
    assert (
        'otklik_faq_dense_total{outcome="ran"} 1.0' in text
        or 'otklik_faq_dense_total{outcome="off"} 1.0' in text
    )
    assert 'otklik_update_handle_seconds_count{source="telegram"} 2.0' in text


def test_logs_are_json_and_never_show_secrets():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets([TOKEN, "hook-secret-123"]))
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.secrets")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("POST https://api.telegram.org/bot%s/sendMessage failed", TOKEN)
        try:
            raise RuntimeError(f"secret hook-secret-123 in error for bot{TOKEN}")
        except RuntimeError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["message"] == "POST https://api.telegram.org/bot***/sendMessage failed"
    assert lines[0]["level"] == "warning"
    assert TOKEN not in stream.getvalue()
    assert "hook-secret-123" not in stream.getvalue()
    assert "RuntimeError" in lines[1]["error"]


def test_library_chatter_is_quiet_unless_debugging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        setup_logging("info", True, [])
        assert logging.getLogger("apscheduler.executors.default").getEffectiveLevel() == (
            logging.WARNING
        )
        assert logging.getLogger("bot.app").getEffectiveLevel() == logging.INFO
        setup_logging("debug", True, [])
        assert logging.getLogger("apscheduler").getEffectiveLevel() == logging.DEBUG
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name in ("aiogram.event", "alembic", "apscheduler"):
            logging.getLogger(name).setLevel(logging.NOTSET)


async def test_database_errors_never_carry_customer_text(database: Database):
    """A failed statement's error (what a traceback at ERROR prints, and what could land in
    an error column) names the SQL, never the values a customer sent."""
    import pytest
    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    from storage.db import create_session_pool
    from storage.models import ConversationMessage

    pool = create_session_pool(database.engine)
    with pytest.raises(IntegrityError) as caught:
        async with pool() as session, session.begin():
            await session.execute(
                insert(ConversationMessage).values(
                    customer_id=None, channel="telegram", direction="in", text="тайна Анны 4276"
                )
            )
    assert "тайна Анны" not in str(caught.value)
    assert "parameters hidden" in str(caught.value)
