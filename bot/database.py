"""The database as the settings describe it: one place that builds the engine, so the server
and every CLI command connect the same way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import DatabaseConfig
from storage import migrate
from storage.db import create_engine, create_session_pool


def engine_for(config: DatabaseConfig) -> AsyncEngine:
    return create_engine(config.url, echo=config.echo, schema=config.schema)


@asynccontextmanager
async def command_database(
    config: DatabaseConfig,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """For a one-shot command: migrate if configured, hand out sessions, dispose at the end."""
    engine = engine_for(config)
    try:
        if config.auto_migrate:
            await migrate.upgrade(engine)
        yield create_session_pool(engine)
    finally:
        await engine.dispose()
