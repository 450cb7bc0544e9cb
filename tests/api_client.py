"""A client for the REST API in tests: real HTTP to the running app, every answer checked
against the OpenAPI document the app serves; and tokens made straight in the database."""

from __future__ import annotations

import re
from typing import Any

from openapi_schema_validator import OAS31Validator

from storage.db import create_session_pool
from storage.repositories.api import TokenRepository
from tests.conftest import Database, RunningApp


async def make_token(database: Database, name: str, role: str) -> str:
    async with create_session_pool(database.engine)() as session, session.begin():
        _, token = await TokenRepository(session).create(name, role)
    return token


class Api:
    """Calls the API and checks every answer against the document the app serves."""

    def __init__(self, app: RunningApp, spec: dict[str, Any]) -> None:
        self.app = app
        self.spec = spec
        self.etag: str | None = None  # of the last answer

    def template_of(self, path: str) -> str:
        """The document's path for a real one: /api/v1/faq/3 is /api/v1/faq/{entry_id}."""
        if path in self.spec["paths"]:
            return path
        found = [t for t in self.spec["paths"] if _template_pattern(t).match(path)]
        assert len(found) == 1, (path, found)
        return str(found[0])

    async def call(
        self,
        method: str,
        path: str,
        token: str | None,
        *,
        json: Any = None,
        data: bytes | None = None,
        params: dict[str, str] | None = None,
        template: str | None = None,
        if_match: str | None = None,
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        if if_match is not None:
            headers["If-Match"] = if_match
        async with self.app.http.request(
            method, self.app.url + path, json=json, data=data, params=params, headers=headers
        ) as resp:
            self.etag = resp.headers.get("ETag")
            body = await resp.json()
            assert resp.content_type == "application/json"
        operation = self.spec["paths"][template or self.template_of(path)][method.lower()]
        assert str(resp.status) in operation["responses"], (resp.status, body)
        schema = operation["responses"][str(resp.status)]["content"]["application/json"]["schema"]
        OAS31Validator({**schema, "components": self.spec["components"]}).validate(body)
        return resp.status, body


def _template_pattern(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(template)) + "$")


async def open_api(app: RunningApp) -> Api:
    """The client for a running app, with the document it serves (no token needed for it)."""
    async with app.http.get(app.url + "/api/v1/openapi.json") as resp:
        assert resp.status == 200
        spec = await resp.json()
    return Api(app, spec)
