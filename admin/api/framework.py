"""What every admin API route shares: the Bearer token, JSON in and out, the errors shape.

A route is declared once with `route()`: its method, path, request schema, query and
answers. That one declaration registers the Flask view, checks the request against its
schema before the view runs, and is what `openapi.json` lists, so the description cannot
leave out a route or describe a body the route does not check.
"""

from __future__ import annotations

import hmac
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, InternalServerError

from admin.api import check
from admin.api.schemas import SCHEMAS
from models import db
from studio.errors import NotFound, Refused
from web import limits
from web.errors import PAGES, error_page
from web.health import read_only

PREFIX = "/api/admin"
MAX_BODY = 1024 * 1024  # an email body is a few kilobytes; a worksheet, tens
bp = Blueprint("admin_api", __name__, url_prefix=PREFIX)

# Path arguments: what a key or a reader's public id can be (anything else: no such thing).
PATH_ARGUMENTS = {
    "key": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,63}$"},
    "public_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,32}$"},
}


@dataclass
class Operation:
    """One route, as `openapi.json` describes it and the view checks it."""

    method: str
    rule: str  # Flask's, under PREFIX: `/emails/<key>`
    summary: str
    answers: dict[int, str | dict | None]  # status -> schema name, or a schema; None: no body
    body: str | None = None  # the request schema's name
    body_required: bool = True
    query: dict[str, dict] = field(default_factory=dict)  # name -> schema
    query_required: tuple[str, ...] = ()
    tag: str = ""
    endpoint: str = ""

    @property
    def arguments(self) -> list[str]:
        return [part[1:-1] for part in self.rule.split("/") if part.startswith("<")]

    @cached_property
    def query_schema(self) -> dict[str, Any]:
        """The query string as one object, made once (so it can be checked as a constant)."""
        return {
            "type": "object",
            "properties": self.query,
            "required": list(self.query_required),
            "additionalProperties": False,
        }


OPERATIONS: list[Operation] = []


class Unreadable(Exception):
    """A request body that is no JSON object; a 400 in the errors shape."""


def errors(fields: dict[str, list[str]], status: int) -> Response:
    return answer({"errors": fields}, status)


def _plain(value: Any) -> Any:
    """`value` as JSON takes it: times in ISO 8601 (naive ones are UTC)."""
    if isinstance(value, datetime):
        return value.isoformat() if value.tzinfo else value.isoformat() + "+00:00"
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def answer(data: Any, status: int = 200) -> Response:
    """A JSON answer (a 204 has no body)."""
    if status == 204:
        return Response(status=204)
    text = json.dumps(data, ensure_ascii=False, default=_plain)
    return Response(text, status=status, mimetype="application/json")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError("too large a number")
    return number


def read_body(required: bool) -> dict:
    """The request's JSON object (an empty body is an empty object)."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if required:
            raise Unreadable("The request needs a JSON object.")
        return {}
    try:
        data = json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except (ValueError, RecursionError):
        raise Unreadable("The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise Unreadable("The body must be a JSON object.")
    return data


def _query(op: Operation) -> dict[str, Any]:
    """The query string, typed as the operation declares it (integers from their digits)."""
    values: dict[str, Any] = {}
    for name in request.args:
        value: Any = request.args[name]
        if name in op.query and op.query[name].get("type") == "integer":
            value = int(value) if value.isascii() and value.isdigit() and len(value) < 12 else value
        values[name] = value
    found = check.errors_of(op.query_schema, values, SCHEMAS)
    if found:
        raise Refused(found)
    return values


def _arguments(kwargs: dict[str, str]) -> None:
    for name, value in kwargs.items():
        if check.errors_of(PATH_ARGUMENTS[name], value, SCHEMAS):
            raise NotFound(f"There is no {name.replace('_', ' ')} {value!r}.")


def _prepared(op: Operation, view: Callable, kwargs: dict[str, str]) -> Any:
    _arguments(kwargs)
    if op.query or request.args:  # a query string where none is taken is refused, named
        values = _query(op)
        kwargs = kwargs | {"query": values} if op.query else kwargs
    if op.body is not None:
        body = read_body(op.body_required)
        found = check.errors_of(SCHEMAS[op.body], body, SCHEMAS)
        if found:
            raise Refused(found)
        kwargs = kwargs | {"body": body}
    return view(**kwargs)


def route(
    method: str, rule: str, summary: str, answers: dict[int, str | dict | None], **more: Any
) -> Callable[[Callable], Callable]:
    """Declare and register one route (see `Operation` for `more`)."""

    def register(view: Callable) -> Callable:
        op = Operation(method, rule, summary, answers, endpoint=view.__name__, **more)
        OPERATIONS.append(op)

        def run(**kwargs: str) -> Response:
            response = _prepared(op, view, kwargs)
            _settle(response)
            return response

        run.__name__ = run.__qualname__ = view.__name__
        run.__doc__ = view.__doc__
        bp.add_url_rule(rule, view.__name__, run, methods=[method], provide_automatic_options=False)
        return view

    return register


def pick(found: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The named fields of what a studio function answered (a mapping or an object)."""
    if isinstance(found, Mapping):
        return {name: found[name] for name in names}
    return {name: getattr(found, name) for name in names}


def _settle(response: Response) -> None:
    """A route that answered with success keeps what its service function changed; one
    that answered with an error changes nothing."""
    if response.status_code < 400:
        db.session.commit()
    else:
        db.session.rollback()


# ---- the guard and the errors, for every path under PREFIX --------------------------------


def _under_prefix() -> bool:
    return request.path == PREFIX or request.path.startswith(PREFIX + "/")


def authorised(given: str | None, token: str) -> bool:
    """Whether an Authorization header carries the token (compared in constant time)."""
    scheme, _, credentials = (given or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(credentials.strip().encode(), token.encode())


WRONG_TOKENS = "admin-api-wrong-token"  # what the wrong tokens of one client count under


def _too_many() -> Response:
    response = errors(
        {
            "authorization": [
                "Too many wrong tokens from your address. Wait a minute and try again."
            ]
        },
        429,
    )
    response.headers["Retry-After"] = "60"
    return response


def guard() -> Response | tuple[str, int] | None:
    """Before anything else under PREFIX: no token set, the API is not there (the generic
    404 page); a wrong or missing token, 401; a path or method the API has not, in JSON.

    Wrong tokens count per client (an IPv4 address or an IPv6 /64) against
    ADMIN_LOGIN_RATE_LIMIT, as the dashboard's passwords do: once a client has used it
    up, it gets 429 whatever it sends until the window passes, so nobody can keep
    guessing."""
    if not _under_prefix():
        return None
    token = current_app.config["ADMIN_API_TOKEN"]
    if not token:
        return error_page(404)
    limit, client = current_app.config["ADMIN_LOGIN_RATE_LIMIT"], limits.client_network()
    if not limits.room(limit, WRONG_TOKENS, client):
        return _too_many()
    if not authorised(request.headers.get("Authorization"), token):
        limits.spend(limit, WRONG_TOKENS, client)
        response = errors({"authorization": ["Send Authorization: Bearer <ADMIN_API_TOKEN>."]}, 401)
        response.headers["WWW-Authenticate"] = 'Bearer realm="admin API"'
        return response
    if request.routing_exception is not None:
        return _http_error(request.routing_exception)
    request.max_content_length = MAX_BODY
    return None


def private(response: Response) -> Response:
    """Nothing under PREFIX is cached. (No CORS: no answer names another origin.)"""
    if _under_prefix():
        response.headers["Cache-Control"] = "no-store"
    return response


def _http_error(err: Exception) -> Response:
    if not isinstance(err, HTTPException):
        raise err
    response = errors({"request": [err.description or err.name]}, err.code or 400)
    for name, value in err.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


@bp.errorhandler(Unreadable)
def _unreadable(err: Unreadable) -> Response:
    return errors({"request": [str(err)]}, 400)


@bp.errorhandler(Refused)
def _refused(err: Refused) -> Response:
    db.session.rollback()
    return errors({str(k): [str(m) for m in v] for k, v in err.errors.items()}, 422)


@bp.errorhandler(NotFound)
def _not_found(err: NotFound) -> Response:
    db.session.rollback()
    named = next(iter(request.view_args or request.args or {}), "request")
    return errors({named: [str(err) or "Not found."]}, 404)


def _http(err: HTTPException) -> Response:
    if isinstance(err, InternalServerError):
        db.session.rollback()
        return errors({"server": ["Something went wrong on the server; try again."]}, 500)
    return _http_error(err)


def _database(err: DBAPIError) -> Response:
    """A database that refuses writes: 503, nothing changed; any other error is a 500."""
    db.session.rollback()
    if not read_only(err):
        raise err
    return errors({"server": ["The database takes no changes just now; try again."]}, 503)


# By code too: the app's own pages for these codes would otherwise answer first.
for _code in (*PAGES, HTTPException):
    bp.register_error_handler(_code, _http)
bp.register_error_handler(DBAPIError, _database)


def init_app(app: Flask) -> None:
    """Guard every path under PREFIX and register the routes. The API is Bearer only: no
    cookie opens it, so it takes no CSRF token (the dashboard's forms each check their own;
    an app-wide Flask-WTF CSRFProtect, if one is ever added first, leaves this blueprint be)."""
    app.before_request(guard)
    app.after_request(private)
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)
    app.register_blueprint(bp)
