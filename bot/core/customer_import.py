"""Customers from a CSV file: name, email, language, tags, time zone, consent.

An email address is an identity of its customer (channel "email"), as a Telegram chat is, so
`/link` and staff merges join it to the same person's chats. A row whose address is known
updates that customer; nothing is ever duplicated. Without consent the address is kept (a
support email can still be answered) but no survey is ever sent to it. Every bad row is
reported with its line number, and none is imported unless the caller asks to skip them.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.texts import t
from storage.models import ChannelIdentity, Customer

EMAIL = "email"
COLUMNS = ("name", "email", "language", "tags", "timezone", "consent")
MAX_ROWS = 100_000
_ADDRESS = re.compile(r"[^@\s<>,;\"]{1,64}@[A-Za-z0-9.-]{1,255}\.[A-Za-z]{2,63}")
_YES = {"yes", "y", "true", "1", "да", "д"}
_NO = {"no", "n", "false", "0", "нет", "н", ""}


@dataclass(frozen=True)
class ImportRow:
    line: int
    name: str
    email: str
    language: str
    tags: tuple[str, ...]
    timezone: str
    consent: bool


@dataclass(frozen=True)
class BadRow:
    """A line that cannot be imported: why, as a catalog key and its values, so each adapter
    says it in its own language (the CLI and the API in English, the console in the page's)."""

    line: int
    key: str
    values: tuple[tuple[str, object], ...] = ()

    def said(self, language: str) -> str:
        return t(self.key, language, **dict(self.values))

    @property
    def reason(self) -> str:
        return self.said("en")


def _bad(line: int, key: str, **values: object) -> BadRow:
    return BadRow(line, f"import_{key}", tuple(values.items()))


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int


def parse(text: str, default_language: str) -> tuple[list[ImportRow], list[BadRow]]:
    """The rows of a CSV file with a header line (columns in any order, `email` required)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [(name or "").strip().lower() for name in reader.fieldnames or []]
    if "email" not in header:
        return [], [_bad(1, "no_email_column", columns=", ".join(COLUMNS))]
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        return [], [
            _bad(1, "unknown_columns", unknown=", ".join(unknown), columns=", ".join(COLUMNS))
        ]
    reader.fieldnames = header
    rows: list[ImportRow] = []
    bad: list[BadRow] = []
    seen: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        if len(rows) + len(bad) >= MAX_ROWS:
            bad.append(_bad(line, "too_many_rows", rows=MAX_ROWS))
            break
        found = _row(line, record, default_language)
        if isinstance(found, BadRow):
            bad.append(found)
        elif found.email in seen:
            bad.append(_bad(line, "repeated", email=found.email, first=seen[found.email]))
        else:
            seen[found.email] = line
            rows.append(found)
    return rows, bad


def _row(
    line: int, record: dict[str | None, str | list[str] | None], default: str
) -> ImportRow | BadRow:
    if None in record:
        return _bad(line, "extra_values")

    def value(name: str) -> str:
        raw = record.get(name)
        return raw.strip() if isinstance(raw, str) else ""

    email = value("email").lower()
    if not _ADDRESS.fullmatch(email) or len(email) > 128:
        return _bad(line, "bad_email", email=repr(email[:80]))
    language = value("language").lower() or default
    if language not in ("ru", "en"):
        return _bad(line, "bad_language", language=repr(language[:20]))
    timezone = value("timezone")
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return _bad(line, "bad_timezone", timezone=repr(timezone[:40]))
    consent = value("consent").lower()
    if consent not in _YES | _NO:
        return _bad(line, "bad_consent", consent=repr(consent[:20]))
    tags = tuple(t.strip() for t in re.split(r"[;,|]", value("tags")) if t.strip())
    return ImportRow(line, value("name")[:256], email, language, tags, timezone, consent in _YES)


async def apply(session: AsyncSession, rows: list[ImportRow]) -> ImportResult:
    """Create or update each row's customer, in the caller's transaction."""
    known = (
        {
            identity.external_id: identity
            for identity in (
                await session.execute(
                    select(ChannelIdentity).where(
                        ChannelIdentity.channel == EMAIL,
                        ChannelIdentity.external_id.in_([row.email for row in rows]),
                    )
                )
            ).scalars()
        }
        if rows
        else {}
    )
    created = updated = 0
    for row in rows:
        identity = known.get(row.email)
        customer = await session.get(Customer, identity.customer_id) if identity else None
        if identity is None or customer is None:
            customer = Customer(display_name=row.name, language=row.language, last_channel=EMAIL)
            session.add(customer)
            await session.flush()
            identity = ChannelIdentity(
                channel=EMAIL, external_id=row.email, customer_id=customer.id
            )
            session.add(identity)
            created += 1
        else:
            updated += 1
        if row.name:
            customer.display_name = row.name
        customer.language = row.language
        customer.tags = "\n".join(row.tags)
        customer.timezone = row.timezone
        identity.consent = row.consent
    return ImportResult(created, updated)
