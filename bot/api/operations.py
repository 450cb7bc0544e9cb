"""An API operation described once: its route, who may call it, what it takes and gives.

`mount` turns each into an aiohttp route that authenticates the bearer token, checks the role,
validates the query and body with the operation's models (422 naming the field) and serialises
the answer with its response model; `bot.api.spec` builds the OpenAPI document from the same
descriptions."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError

from bot.core import untrusted
from bot.web.errors import client_gone, json_response
from bot.web.flood import client_address, retry_after
from bot.web.keys import API_LIMITER, SESSION_POOL, SETTINGS
from storage.db import DB_ERRORS
from storage.models import utcnow
from storage.repositories.api import TokenRepository

log = logging.getLogger(__name__)
ROLES = ("admin", "agent")
MAX_BODY = 64 * 1024


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Caller:
    name: str
    role: str

    @property
    def actor(self) -> str:
        return f"token:{self.name}"


@dataclass
class Call:
    request: web.Request
    caller: Caller
    query: Any = None
    body: Any = None
    ids: dict[str, int] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # added to the answer (ETag)


Handler = Callable[[Call], Awaitable[Any]]  # a response model, or a ready response (CSV)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # "/api/v1/tickets/{ticket_id}": path parameters are ids
    summary: str
    handler: Handler
    response: type[BaseModel]
    roles: tuple[str, ...] = ROLES
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()  # beyond 401, 403, 422 and 429, which every one may answer
    if_match: bool = False  # needs If-Match: the ETag of what the caller read
    alternate: str = ""  # a media type `format=` may ask for instead of JSON (text/csv)
    max_body: int = MAX_BODY

    @property
    def path_ids(self) -> list[str]:
        return [part[1:-1] for part in self.path.split("/") if part.startswith("{")]

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


def expected_version(call: Call, what: str) -> int:
    """The version the caller read, from If-Match: 428 without one, 422 for a malformed one."""
    given = call.request.headers.get("If-Match", "").strip().removeprefix("W/")
    if not given:
        raise ApiError(428, f"send If-Match with the ETag of the {what} you read (GET it first)")
    version = given.strip('"')
    if not (version.isascii() and version.isdigit() and len(version) <= 9):
        raise ApiError(422, "header field 'If-Match': not an ETag this API gave", "If-Match")
    return int(version)


def error(status: int, message: str, field_name: str | None = None) -> web.Response:
    body: dict[str, Any] = {"error": message}
    if field_name is not None:
        body["field"] = field_name
    return json_response(body, status=status)


def _field_of(exc: ValidationError, where: str) -> tuple[str, str]:
    first = exc.errors()[0]
    name = ".".join(str(part) for part in first["loc"]) or where
    return name, f"{where} field '{name}': {first['msg']}"


async def _authenticate(request: web.Request) -> Caller:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "an 'Authorization: Bearer <token>' header is required")
    async with request.app[SESSION_POOL]() as session, session.begin():
        row = await TokenRepository(session).active(token.strip())
        if row is None:
            raise ApiError(401, "unknown or revoked token")
        row.last_used_at = utcnow()
        return Caller(row.name, row.role)


def mount(operations: list[Operation]) -> list[web.RouteDef]:
    # Ids are digits in the route itself: /faq/export is not entry "export", and a method a
    # path lacks is a 405 naming the ones it has, not a 404 from its neighbour's template.
    return [
        web.route(op.method, re.sub(r"\{(\w+)\}", r"{\1:[0-9]+}", op.path), _endpoint(op))
        for op in operations
    ]


def _endpoint(op: Operation) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def endpoint(request: web.Request) -> web.StreamResponse:
        config = request.app[SETTINGS].api
        wait = request.app[API_LIMITER].take(client_address(request, config.trust_forwarded_for))
        if wait > 0:
            response = error(429, f"too many requests; try again in {retry_after(wait)} s")
            response.headers["Retry-After"] = retry_after(wait)
            return response
        call: Call | None = None
        try:
            caller = await _authenticate(request)
            if caller.role not in op.roles:
                raise ApiError(403, f"this needs the {' or '.join(op.roles)} role")
            call = Call(request, caller)
            for name in op.path_ids:
                value = untrusted.parse_id(request.match_info[name])
                if value is None:
                    raise ApiError(404, f"no such {name.removesuffix('_id')}")
                call.ids[name] = value
            if op.query is not None:
                try:
                    call.query = op.query.model_validate(dict(request.query), by_alias=True)
                except ValidationError as exc:
                    name, message = _field_of(exc, "query")
                    raise ApiError(422, message, name) from None
            if op.body is not None:
                call.body = await _body(request, op.body, op.max_body)
            answer = await op.handler(call)
        except ApiError as exc:
            failed = error(exc.status, exc.message, exc.field)
            if call is not None:
                failed.headers.update(call.headers)  # a 412 says what the ETag is now
            return failed
        except IntegrityError:  # a name or slug taken by a concurrent request
            return error(409, "conflicts with what another request just saved; read it again")
        except DB_ERRORS as exc:
            if client_gone(request, exc):
                log.debug("api: client left during %s %s", op.method, op.path)
                return error(400, "the connection closed")
            log.warning("api: database unavailable for %s %s", op.method, op.path)
            return error(503, "database unavailable, try again")
        if isinstance(answer, web.StreamResponse):  # a CSV report, a YAML export
            return answer
        response = json_response(answer.model_dump(mode="json", by_alias=True), status=op.status)
        response.headers.update(call.headers)
        return response

    endpoint.__name__ = op.operation_id
    return endpoint


async def _body(request: web.Request, model: type[BaseModel], limit: int) -> BaseModel:
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"body larger than {limit} bytes")
    raw = await request.read()  # already read, within [http] body_seconds (bot.web.intake)
    if len(raw) > limit:
        raise ApiError(413, f"body larger than {limit} bytes")
    try:
        payload = untrusted.loads(raw.decode("utf-8"))
    except (untrusted.BadJson, UnicodeDecodeError):
        raise ApiError(400, "the body is not JSON") from None
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        name, message = _field_of(exc, "body")
        raise ApiError(422, message, name) from None
