"""The OpenAPI 3.1 document, built from the operations and their pydantic models: the schemas
in it are the ones requests are validated with."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from bot.api import schemas
from bot.api.operations import Operation

REF = "#/components/schemas/{model}"
COMMON_ERRORS = {
    401: "No token, or an unknown or revoked one",
    403: "The token's role may not do this",
    422: "A query or body field is invalid; `field` names it",
    429: "Too many requests; see Retry-After",
}
ERROR_TEXT = {
    400: "The body is not JSON",
    404: "No such object",
    409: "Conflicts with the object's state",
    412: "If-Match does not match: the object changed since it was read",
    413: "The body is too large",
    428: "If-Match is required",
}


def build(operations: list[Operation], version: str) -> dict[str, Any]:
    models: list[type[BaseModel]] = [schemas.Error]
    for op in operations:
        models += [m for m in (op.response, op.body) if m is not None]
    unique = list(dict.fromkeys(models))
    refs, definitions = models_json_schema([(m, "validation") for m in unique], ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(
            op, {m: refs[(m, "validation")] for m in unique}
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Otklik API",
            "version": version,
            "description": "Tickets, customers, FAQ, surveys and reports of an Otklik bot. "
            "Every call needs `Authorization: Bearer <token>` (`otklik token create`). Errors "
            'are `{"error": "...", "field": "..."}`.',
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation(op: Operation, refs: dict[type[BaseModel], dict[str, Any]]) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
        }
        for name in op.path_ids
    ]
    if op.if_match:
        parameters.append(
            {
                "name": "If-Match",
                "in": "header",
                "required": True,
                "description": "The ETag of the object as last read",
                "schema": {"type": "string", "pattern": '^(W/)?"[0-9]{1,9}"$'},
            }
        )
    if op.query is not None:
        query_schema = op.query.model_json_schema(ref_template=REF, by_alias=True)
        required = set(query_schema.get("required", []))
        for name, schema in query_schema["properties"].items():
            parameter: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": {k: v for k, v in schema.items() if k != "title"},
            }
            if "description" in schema:
                parameter["description"] = schema["description"]
            parameters.append(parameter)
    error = {"application/json": {"schema": refs[schemas.Error]}}
    content: dict[str, Any] = {"application/json": {"schema": refs[op.response]}}
    if op.alternate:
        # A text type is a string; a structured one (YAML) is whatever the document holds.
        textual = op.alternate.startswith("text/")
        content[op.alternate] = {"schema": {"type": "string"} if textual else {}}
    responses: dict[str, Any] = {str(op.status): {"description": "OK", "content": content}}
    for status in sorted({*COMMON_ERRORS, *op.errors}):
        text = COMMON_ERRORS.get(status) or ERROR_TEXT.get(status, "Error")
        responses[str(status)] = {"description": text, "content": error}
    operation: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "parameters": parameters,
        "responses": responses,
    }
    if op.roles != ("admin", "agent"):
        operation["description"] = f"Role: {', '.join(op.roles)}."
    if op.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[op.body]}},
        }
    return operation
