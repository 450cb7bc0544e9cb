"""Turning a campaign run into deliveries: who is asked, and not before when."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import Campaign, ChannelIdentity, Customer, Delivery, Ticket
from storage.repositories._upsert import insert_ignore_many

AUDIENCE_KEYS = {
    "channel",
    "language",
    "tag",
    "first_contact_after",
    "first_contact_before",
    "has_ticket",
}
LESS_OFTEN_DAYS = 90
# Why someone in the audience was not asked, in the order they are checked.
SKIP_REASONS = ("opted_out", "unreachable", "no_channel", "throttled")


def parse_audience(raw: str) -> dict[str, Any]:
    data = json.loads(raw or "{}")
    if not isinstance(data, dict):
        raise ValueError("audience must be a JSON object")
    unknown = set(data) - AUDIENCE_KEYS
    if unknown:
        raise ValueError(f"unknown audience filter {sorted(unknown)[0]!r}")
    return data


def quiet_until(now: datetime, zone: ZoneInfo, start: str, end: str) -> datetime | None:
    """If `now` falls in the quiet hours of `zone`, the moment they end; else None."""
    if not start or not end or start == end:
        return None
    local = now.astimezone(zone)
    begin, finish = time.fromisoformat(start), time.fromisoformat(end)
    clock = local.time()
    overnight = finish < begin
    inside = (clock >= begin or clock < finish) if overnight else (begin <= clock < finish)
    if not inside:
        return None
    day = local.date() if clock < finish else local.date() + timedelta(days=1)
    return datetime.combine(day, finish, zone)


def zone_of(timezone: str | None, default: ZoneInfo) -> ZoneInfo:
    """A customer's zone by its name, or `default` when unset or unknown."""
    try:
        return ZoneInfo(timezone) if timezone else default
    except (ZoneInfoNotFoundError, ValueError):
        return default


async def launch(
    session: AsyncSession,
    campaign: Campaign,
    now: datetime,
    default_zone: ZoneInfo,
    run_key: str = "",
    *,
    customer_id: int | None = None,
    first_contact_after: datetime | None = None,
    first_contact_before: datetime | None = None,
) -> int:
    """Queue a delivery for every customer in the audience (narrowed by the keyword filters a
    trigger adds); returns how many were queued. A customer gets one delivery per run_key."""
    audience = parse_audience(campaign.audience)
    statement = _audience_query(audience, customer_id, first_contact_after, first_contact_before)
    deliveries: list[dict[str, Any]] = []
    skipped: dict[str, int] = {}
    rows = await session.execute(statement)
    for row, address, reason in _classified(rows, audience, campaign.throttle_days, now):
        if reason is not None:
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        assert address is not None
        zone = zone_of(row.timezone, default_zone)
        deliveries.append(
            {
                "campaign_id": campaign.id,
                "customer_id": row.id,
                "run_key": run_key,
                "channel": address[0],
                "recipient": address[1],
                "language": row.language,
                "status": "queued",
                "attempts": 0,
                "not_before": quiet_until(now, zone, campaign.quiet_start, campaign.quiet_end)
                or now,
            }
        )
    if skipped:
        campaign.skipped = json.dumps(merge_skips(skipped_of(campaign), skipped), sort_keys=True)
    return await insert_ignore_many(
        session,
        Delivery.__table__,  # type: ignore[arg-type]
        deliveries,
        ["campaign_id", "customer_id", "run_key"],
    )


def _audience_query(
    audience: dict[str, Any],
    customer_id: int | None = None,
    first_contact_after: datetime | None = None,
    first_contact_before: datetime | None = None,
) -> Any:
    # One query for the audience with each customer's address on their last channel, and the
    # deliveries written in chunks: a 10,000-customer run is a handful of statements.
    statement = (
        select(
            Customer.id,
            Customer.last_channel,
            Customer.blocked_channels,
            Customer.language,
            Customer.timezone,
            Customer.last_surveyed_at,
            Customer.survey_throttle_days,
            Customer.surveys_opted_out,
            Customer.unreachable,
            ChannelIdentity.channel,
            ChannelIdentity.external_id,
            ChannelIdentity.consent,
        )
        .outerjoin(ChannelIdentity, ChannelIdentity.customer_id == Customer.id)
        .order_by(Customer.id, ChannelIdentity.id.desc())
    )
    if customer_id is not None:
        statement = statement.where(Customer.id == customer_id)
    if first_contact_after is not None:
        statement = statement.where(Customer.created_at >= first_contact_after)
    if first_contact_before is not None:
        statement = statement.where(Customer.created_at <= first_contact_before)
    if audience.get("channel"):
        # Reachable there: an address on that channel (an email address need not be where
        # the customer wrote last).
        there = aliased(ChannelIdentity)
        on_channel = exists().where(
            there.customer_id == Customer.id, there.channel == audience["channel"]
        )
        statement = statement.where(on_channel)
    if audience.get("language"):
        statement = statement.where(Customer.language == audience["language"])
    if audience.get("tag"):
        statement = statement.where(Customer.tags.contains(str(audience["tag"])))
    if audience.get("first_contact_after"):
        after = datetime.fromisoformat(audience["first_contact_after"])
        statement = statement.where(Customer.created_at >= after)
    if audience.get("first_contact_before"):
        before = datetime.fromisoformat(audience["first_contact_before"])
        statement = statement.where(Customer.created_at < before)
    if "has_ticket" in audience:
        has = exists().where(Ticket.customer_id == Customer.id)
        statement = statement.where(has if audience["has_ticket"] else ~has)
    return statement


async def preview(
    session: AsyncSession, audience_json: str, throttle_days: int, now: datetime
) -> tuple[int, dict[str, int]]:
    """How many a campaign with this audience would ask now, and why the rest would not be:
    the same query and the same rules as `launch`, writing nothing."""
    audience = parse_audience(audience_json)
    asked = 0
    skipped: dict[str, int] = {}
    rows = await session.execute(_audience_query(audience))
    for _row, _address, reason in _classified(rows, audience, throttle_days, now):
        if reason is None:
            asked += 1
        else:
            skipped[reason] = skipped.get(reason, 0) + 1
    return asked, skipped


def _classified(
    rows: Iterable[Any], audience: dict[str, Any], throttle_days: int, now: datetime
) -> Iterator[tuple[Any, tuple[str, str] | None, str | None]]:
    """Each member of the audience with the address to ask them on and why not, if not."""
    for row, address in _one_address_each(rows, audience.get("channel") or None):
        yield row, address, _skip_reason(row, address, throttle_days, now)


def _one_address_each(
    rows: Iterable[Any], only: str | None
) -> Iterator[tuple[Any, tuple[str, str] | None]]:
    """Each customer once, with the channel to ask them on: the one they used last unless
    they blocked it, else the newest other one they did not block (only `only`, when the
    audience names a channel); never an address without consent; None for none."""
    for _, group in itertools.groupby(rows, key=lambda row: row.id):
        found = list(group)
        first = found[0]
        blocked = {c for c in (first.blocked_channels or "").split(",") if c}
        usable = [
            (row.channel, row.external_id)
            for row in found
            if row.external_id is not None
            and row.consent
            and row.channel not in blocked
            and (only is None or row.channel == only)
        ]
        usable.sort(key=lambda address: address[0] != first.last_channel)  # stable: newest next
        yield first, usable[0] if usable else None


def _skip_reason(
    row: Any, address: tuple[str, str] | None, throttle_days: int, now: datetime
) -> str | None:
    """Why this member of the audience is not asked, or None to ask them."""
    if row.surveys_opted_out:
        return "opted_out"
    if row.unreachable:
        return "unreachable"
    if address is None:
        return "no_channel"
    days = row.survey_throttle_days or throttle_days
    if row.last_surveyed_at is not None and row.last_surveyed_at > now - timedelta(days=days):
        return "throttled"
    return None


def skipped_of(campaign: Campaign) -> dict[str, int]:
    try:
        data = json.loads(campaign.skipped or "{}")
    except ValueError:
        return {}
    return {str(k): int(v) for k, v in data.items()} if isinstance(data, dict) else {}


def merge_skips(total: dict[str, int], more: dict[str, int]) -> dict[str, int]:
    return {k: total.get(k, 0) + more.get(k, 0) for k in {*total, *more}}


def describe_skips(skipped: dict[str, int]) -> str:
    """ "skipped 5: throttled 3, opted out 2" or "" when nobody was."""
    parts = [f"{r.replace('_', ' ')} {skipped[r]}" for r in SKIP_REASONS if skipped.get(r)]
    return f"skipped {sum(skipped.values())}: {', '.join(parts)}" if parts else ""
