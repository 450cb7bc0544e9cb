"""Shared fixtures: a real database per test, the fake Bot API, the real app on a real port.

The database is SQLite in a temporary directory unless OTKLIK_TEST_DATABASE_URL names a
PostgreSQL server; then every test gets a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, ClientWebSocketResponse
from aiohttp.test_utils import TestServer, get_unused_port_socket
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import Services, connect, create_app, create_services
from bot.channels.telegram.sender import CHANNEL as TELEGRAM
from bot.cli import main as cli_main
from bot.config import Settings, load_settings
from bot.core.understanding.faq_file import load_faq
from bot.web.intake import runner_options
from examples.http_channel_receiver import Receiver
from storage import migrate
from storage.db import create_engine, create_session_pool
from storage.repositories.faq import FaqRepository
from tests.fake_telegram import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("OTKLIK_TEST_DATABASE_URL", "")
TOKEN = "123456:TEST-secret-token-value"
WEBHOOK_SECRET = "hook-secret-123-test-only"


HTTP_CHANNEL_SECRET = "shop-secret-for-tests-only-123"
# How long a spawned `otklik run` may take to start (load the model, warm the FAQ, register
# its webhook). A bound for a hung process, not a speed claim: on a busy 2-core machine a start
# that takes 3 s alone has taken over 30.
SPAWN_WITHIN = 120.0


@pytest.fixture
async def platform() -> AsyncIterator[tuple[Receiver, str]]:
    """A platform behind the generic HTTP channel: the example receiver on a real port, and
    the URL Otklik posts replies to."""
    receiver = Receiver(HTTP_CHANNEL_SECRET)
    server = TestServer(receiver.app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield receiver, f"http://127.0.0.1:{server.port}/otklik"
    finally:
        await server.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Database:
    url: str
    engine: AsyncEngine
    connect_args: dict[str, Any]

    def new_engine(self) -> AsyncEngine:
        """A second engine on the same database, as a restarted process would have."""
        return create_engine(self.url, connect_args=self.connect_args)


_SQLITE_TEMPLATE: list[Path] = []  # a migrated database file, made once per test process


async def _sqlite_at_head(path: Path, spare: Path) -> None:
    """A migrated SQLite file at `path`: a copy of one migrated once (migrating every test's
    database cost 0.1 s a test; tests/test_migrations.py runs the migrations themselves)."""
    if not _SQLITE_TEMPLATE:
        template = spare / "template.db"
        engine = create_engine(f"sqlite+aiosqlite:///{template}")
        await migrate.upgrade(engine)
        await engine.dispose()  # checkpoints the journal into the file
        _SQLITE_TEMPLATE.append(template)
    shutil.copyfile(_SQLITE_TEMPLATE[0], path)


_PG_SCRIPT: list[list[str]] = []  # the statements migrating a schema to head ran, recorded once


async def _pg_at_head(engine: AsyncEngine) -> None:
    """A PostgreSQL schema at head: the statements one real migration ran, replayed as one
    script (running the 31 migrations through Alembic for every test cost 0.3-0.6 s a
    test; tests/test_migrations.py runs the migrations themselves). Anything that carried
    parameters, or a failed recording, falls back to the real migrations."""
    if _PG_SCRIPT:
        if not _PG_SCRIPT[0]:
            await migrate.upgrade(engine)
            return
        async with engine.begin() as conn:
            # One round trip: asyncpg's simple protocol takes a script of many statements.
            raw = await conn.get_raw_connection()
            await raw.driver_connection.execute(";\n".join(_PG_SCRIPT[0]))  # type: ignore[union-attr]
        return
    recorded: list[str] = []
    with_parameters: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "SHOW", "WITH")):
            return  # Alembic's look at the schema: nothing to replay
        if parameters not in (None, (), [], {}):
            with_parameters.append(statement)
        recorded.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        await migrate.upgrade(engine)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    if with_parameters:  # tests/test_migrations.py fails on it too
        print(
            "\n!!! a migration ran a statement with parameters, so every PostgreSQL test "
            f"migrates its schema the slow way: {with_parameters[0][:200]} !!!",
            file=sys.stderr,
        )
    _PG_SCRIPT.append([] if with_parameters else recorded)


@pytest.fixture
async def database(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Database]:
    if PG_URL:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(PG_URL)
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        connect_args: dict[str, Any] = {"server_settings": {"search_path": schema}}
        url = PG_URL
    else:
        await _sqlite_at_head(tmp_path / "otklik.db", tmp_path_factory.getbasetemp())
        url = f"sqlite+aiosqlite:///{tmp_path / 'otklik.db'}"
        connect_args = {}
    engine = create_engine(url, connect_args=connect_args)
    if PG_URL:
        await _pg_at_head(engine)
    try:
        yield Database(url, engine, connect_args)
    finally:
        await engine.dispose()
        if PG_URL:
            async with admin.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            await admin.dispose()


@pytest.fixture
async def faq_loaded(database: Database) -> Database:
    pool = create_session_pool(database.engine)
    async with pool() as session, session.begin():
        await FaqRepository(session).upsert(load_faq(ROOT / "faq.example.yaml"))
    return database


@pytest.fixture
async def fake_tg() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


def cli_env(database: Database, **overrides: str) -> dict[str, str]:
    """The environment for an `otklik` subprocess that should use the test's database."""
    env = {**os.environ, "OTKLIK__DATABASE__URL": database.url, **overrides}
    if database.connect_args:
        env["OTKLIK__DATABASE__SCHEMA"] = database.connect_args["server_settings"]["search_path"]
    return env


# A command run in this process borrows its standard streams and working directory: one at a
# time.
_CLI_TURN = threading.Lock()


def run_otklik(
    database: Database,
    *args: str,
    cwd: Path,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`otklik ARGS` on the test's database (`stdin`: what is typed), run in this process: the
    same parsing, config, output and exit codes as the installed command, without paying for a
    new interpreter each time. What only a real process shows (a closed pipe, signals, the
    entry point) is tested with real processes in tests/test_cli.py. Call it from a thread
    (`asyncio.to_thread`): the command runs its own event loop. `env`: more settings."""
    environ = cli_env(database, OTKLIK__LOGGING__LEVEL="WARNING", **(env or {}))
    out, err = io.StringIO(), io.StringIO()
    typed = io.StringIO(stdin or "")
    with _CLI_TURN, contextlib.chdir(cwd), redirect_stdout(out), redirect_stderr(err):
        saved_stdin, sys.stdin = sys.stdin, typed
        try:
            code = cli_main(list(args), environ=environ, set_up_logging=False)
        except SystemExit as exc:  # argparse: --help, a bad argument
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        finally:
            sys.stdin = saved_stdin
    return subprocess.CompletedProcess(["otklik", *args], code, out.getvalue(), err.getvalue())


def spawn_bot(
    database: Database,
    api_base: str,
    port: int,
    *,
    read_stderr: bool = False,
    log_to: Path | None = None,
    **overrides: str,
) -> subprocess.Popen[bytes]:
    """`otklik run` as a real process in webhook mode against the fake Bot API (to be killed);
    `read_stderr`: its stderr is a pipe the test reads (what a refused start says); `log_to`:
    its log goes to that file."""
    # A killed instance's leases (the leader's, its replies') expire in seconds.
    overrides.setdefault("OTKLIK__SCHEDULER__LEASE_SECONDS", "3")
    overrides.setdefault("OTKLIK__OUTBOX__LEASE_SECONDS", "3")
    overrides.setdefault("OTKLIK__TELEGRAM__TOKEN", TOKEN)
    # These tests are about processes (kills, restarts, several instances); understanding is
    # tested in-process. Without the model a process starts without seconds of embedding the
    # intents' phrasings, on a machine the three suites share.
    overrides.setdefault("OTKLIK__FAQ__SEMANTIC__MODE", "off")
    env = cli_env(
        database,
        OTKLIK__HTTP__PORT=str(port),
        OTKLIK__TELEGRAM__MODE="webhook",
        OTKLIK__TELEGRAM__API_BASE=api_base,
        OTKLIK__TELEGRAM__WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram/webhook",
        OTKLIK__TELEGRAM__WEBHOOK_SECRET=WEBHOOK_SECRET,
        **overrides,
    )
    if read_stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    # OTKLIK_TEST_BOT_LOG=FILE keeps the process's log there (for debugging a test).
    with open(log_to or os.environ.get("OTKLIK_TEST_BOT_LOG") or os.devnull, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def make_settings(**sections: dict[str, Any]) -> Settings:
    """Settings from defaults plus overrides, never from the real environment."""
    environ: dict[str, str] = {}
    for section, values in sections.items():
        for key, value in values.items():
            environ[f"OTKLIK__{section.upper()}__{key.upper()}"] = _toml_literal(value)
    return load_settings(None, environ=environ)


def _toml_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_literal(v)}" for k, v in value.items()) + "}"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class RunningApp:
    services: Services
    server: TestServer
    http: ClientSession
    url: str

    async def post_json(self, path: str, payload: Any) -> tuple[int, Any]:
        async with self.http.post(self.url + path, json=payload) as resp:
            return resp.status, await resp.json()

    async def chat_history(
        self, session: str, after: int | str = 0, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """The widget's restore: the session in its header, never in the URL."""
        async with self.http.get(
            f"{self.url}/api/v1/chat/history",
            params={"after": str(after)},
            headers={"X-Otklik-Session": session, **(headers or {})},
        ) as resp:
            return resp.status, await resp.json()

    @asynccontextmanager
    async def chat_socket(
        self, session: str, headers: dict[str, str] | None = None
    ) -> AsyncIterator[ClientWebSocketResponse]:
        """A widget's socket, bound to `session` by its hello frame before it is handed over
        (so a push that follows finds it)."""
        async with self.http.ws_connect(self.url + "/chat/ws", headers=headers) as socket:
            await socket.send_json({"type": "hello", "session": session})
            assert await socket.receive_json(timeout=SPAWN_WITHIN) == {"type": "ready"}
            yield socket

    closed: bool = False

    async def drain(self) -> None:
        await self.services.inbound.drain()

    async def handle_as_one_batch(self, payloads: list[dict[str, Any]]) -> None:
        """Accept Telegram updates together and handle them in one batch: all of them are ready
        before the handler first runs."""
        inbound = self.services.inbound
        ids = await asyncio.gather(
            *(inbound.accept(TELEGRAM, str(p["update_id"]), p) for p in payloads)
        )
        assert None not in ids
        await self.drain()

    async def stop(self) -> None:
        """Shut down the way a process does on SIGTERM (idempotent)."""
        if not self.closed:
            self.closed = True
            await self.http.close()
            await self.server.close()


AppFactory = Callable[..., Awaitable[RunningApp]]


@pytest.fixture
async def start_app(database: Database, fake_tg: FakeTelegram) -> AsyncIterator[AppFactory]:
    """Start the real application on a real port; call again to simulate a restart."""
    running: list[RunningApp] = []

    async def factory(
        *,
        telegram_mode: str | None = "webhook",
        clock: Callable[[], datetime] | None = None,
        engine: AsyncEngine | None = None,
        **sections: dict[str, Any],
    ) -> RunningApp:
        # Bound now and kept until the server listens on it: a port found free and bound later
        # can be taken in between (the suites run side by side), as it once was.
        sock = get_unused_port_socket("127.0.0.1")
        try:
            services, server = await _serve(sock, telegram_mode, clock, engine, sections)
        except BaseException:
            sock.close()  # a test that expects the start to fail (a bad config) leaks nothing
            raise
        await connect(services)
        port = server.port
        app = RunningApp(services, server, ClientSession(), f"http://127.0.0.1:{port}")
        running.append(app)
        return app

    async def _serve(
        sock: socket.socket,
        telegram_mode: str | None,
        clock: Callable[[], datetime] | None,
        engine: AsyncEngine | None,
        sections: dict[str, dict[str, Any]],
    ) -> tuple[Services, TestServer]:
        port = int(sock.getsockname()[1])
        overrides: dict[str, dict[str, Any]] = {
            "database": {"url": database.url},
            "http": {"port": port},  # the port it really listens on: links built from it work
            # A killed instance's leases expire in seconds, not half a minute.
            "scheduler": {"lease_seconds": 3},
            "outbox": {"lease_seconds": 3},
        }
        if telegram_mode is not None:
            overrides["telegram"] = {
                "token": TOKEN,
                "mode": telegram_mode,
                "api_base": fake_tg.base_url,
                "webhook_url": f"http://127.0.0.1:{port}/telegram/webhook",
                "webhook_secret": WEBHOOK_SECRET,
                "polling_timeout": 1,
            }
        for name, values in sections.items():
            overrides.setdefault(name, {}).update(values)
        settings = make_settings(**overrides)
        services = create_services(
            settings,
            clock=clock or (lambda: datetime(2026, 11, 24, 10, 0, tzinfo=UTC)),
            engine=engine or database.new_engine(),
        )
        server = TestServer(
            create_app(services), host="127.0.0.1", port=port, socket_factory=lambda *_: sock
        )
        await server.start_server(**runner_options(settings.http))
        return services, server

    yield factory
    for app in running:
        await app.stop()
