"""`/api/admin/openapi.json`: the OpenAPI 3.1 description, written from the routes' own
declarations (`framework.OPERATIONS`) and the shapes of `admin.api.schemas`.

Hand-declared, with no library: the schemas are one dict of JSON Schema, which OpenAPI 3.1
takes as it is, and the same dict checks the requests. A test checks every response of the
suite against this description, and schemathesis fuzzes the API from it.
"""

from __future__ import annotations

import re
from typing import Any

from admin.api.framework import OPERATIONS, PATH_ARGUMENTS, PREFIX, Operation, answer, route
from admin.api.schemas import SCHEMAS, ref

TITLE = "Tend admin API"
VERSION = "1"
DESCRIPTION = (
    "The coach's powers for automation: the emails, the sequence, the pages, the worksheet, "
    "the coach's settings and one reader at a time. Authorised by `Authorization: Bearer "
    "<ADMIN_API_TOKEN>`; with ADMIN_API_TOKEN unset every route is a 404. Errors are "
    '`{"errors": {field: [message]}}`.'
)
REASONS = {
    200: "OK",
    201: "Created",
    204: "Done; no content",
    400: "The body is no JSON object",
    401: "No token, or a wrong one",
    404: "No such email, page, version or reader",
    413: "The body is too large",
    422: "Bad input, each field named; nothing changed",
    429: "Too many wrong tokens from this client; wait for Retry-After seconds",
    503: "Not available just now; nothing changed",
}


def _path(rule: str) -> str:
    return PREFIX + re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def _answer(status: int, schema: str | dict | None) -> dict[str, Any]:
    described: dict[str, Any] = {"description": REASONS.get(status, str(status))}
    if schema is not None:
        shown = ref(schema) if isinstance(schema, str) else schema
        described["content"] = {"application/json": {"schema": shown}}
    if status == 401:
        described["headers"] = {
            "WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}
        }
    if status == 429:
        described["headers"] = {
            "Retry-After": {"schema": {"type": "string"}, "description": "seconds"}
        }
    return described


def _answers(op: Operation) -> dict[str, Any]:
    statuses: dict[int, str | dict | None] = dict(op.answers)
    statuses.setdefault(401, "Errors")
    statuses.setdefault(429, "Errors")
    if op.arguments:
        statuses.setdefault(404, "Errors")
    if op.body is not None:
        statuses.setdefault(400, "Errors")
        statuses.setdefault(413, "Errors")
    statuses.setdefault(422, "Errors")  # a query string a route does not take, at least
    return {str(status): _answer(status, statuses[status]) for status in sorted(statuses)}


def _parameters(op: Operation) -> list[dict[str, Any]]:
    found = [
        {"name": name, "in": "path", "required": True, "schema": PATH_ARGUMENTS[name]}
        for name in op.arguments
    ]
    found += [
        {"name": name, "in": "query", "required": name in op.query_required, "schema": schema}
        for name, schema in op.query.items()
    ]
    return found


def operation(op: Operation) -> dict[str, Any]:
    described: dict[str, Any] = {
        "operationId": op.endpoint,
        "summary": op.summary,
        "tags": [op.tag] if op.tag else [],
        "responses": _answers(op),
    }
    if op.arguments or op.query:
        described["parameters"] = _parameters(op)
    if op.body is not None:
        described["requestBody"] = {
            "required": op.body_required,
            "content": {"application/json": {"schema": ref(op.body)}},
        }
    return described


def document() -> dict[str, Any]:
    """The whole description."""
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(_path(op.rule), {})[op.method.lower()] = operation(op)
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION, "description": DESCRIPTION},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "ADMIN_API_TOKEN",
                }
            },
        },
    }


DOCUMENT = {
    "type": "object",
    "required": ["openapi", "info", "paths", "components"],
    "properties": {"openapi": {"const": "3.1.0"}},
}


@route("GET", "/openapi.json", "This description", {200: DOCUMENT}, tag="description")
def openapi_json():
    return answer(document())
