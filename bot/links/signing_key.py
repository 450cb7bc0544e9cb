"""The key survey links are signed with: `[links] secret` when the operator set one, else the
one kept in the database, so every instance and the CLI sign and read the same links."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import LinksConfig
from bot.links.tokens import LinkSigner
from storage.repositories.secrets import shared_secret

SECRET_NAME = "survey_links"


async def signer_in(session: AsyncSession, config: LinksConfig) -> LinkSigner:
    """The signer, reading (or making) the kept key in the caller's transaction."""
    if config.secret:
        return LinkSigner(config.secret.encode())
    return LinkSigner((await shared_secret(session, SECRET_NAME)).encode())


async def link_signer(pool: async_sessionmaker[AsyncSession], config: LinksConfig) -> LinkSigner:
    async with pool() as session, session.begin():
        return await signer_in(session, config)
