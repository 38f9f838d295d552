"""A client of the admin API that holds every answer to the app's own `openapi.json`.

`ApiClient(app)` sends the Bearer token; each response is checked against the operation
its method and path name in the description (by status: an undocumented status fails, a
body off its schema fails, a documented body-less answer must be empty), and against what
every answer of the API carries (`Cache-Control: no-store`, no CORS header). Any test that
talks to the API through it checks the description as it goes.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema_rs

# A token with enough length and variety for production's checks (32 characters or more).
API_TOKEN = "tend-admin-api-9f3KxQ2mLwT7vRbY5nZc"
PREFIX = "/api/admin"


class Described:
    """The description as the app serves it: each operation's answers, by path pattern."""

    def __init__(self, document: dict[str, Any]):
        self.document = document
        self.components = document["components"]["schemas"]
        self.routes: list[tuple[re.Pattern, str, dict]] = []
        for path, methods in document["paths"].items():
            pattern = re.compile("^" + re.sub(r"\\{[a-z_]+\\}", "[^/]+", re.escape(path)) + "$")
            for method, operation in methods.items():
                self.routes.append((pattern, method.upper(), operation))
        self._validators: dict[str, jsonschema_rs.Validator] = {}

    def operation(self, method: str, path: str) -> dict | None:
        method = "GET" if method == "HEAD" else method
        return next((op for p, m, op in self.routes if m == method and p.match(path)), None)

    def validator(self, schema: dict) -> jsonschema_rs.Validator:
        key = repr(schema)
        if key not in self._validators:
            whole = {"components": {"schemas": self.components}, **schema}
            self._validators[key] = jsonschema_rs.Draft202012Validator(whole, validate_formats=True)
        return self._validators[key]

    def check(self, method: str, path: str, response) -> None:
        """Fail (AssertionError) when the response is not what the description says."""
        where = f"{method} {path} {response.status_code}"
        assert response.headers.get("Cache-Control") == "no-store", where
        assert not [h for h, _ in response.headers.items() if h.lower().startswith("access-")]
        assert response.status_code < 500 or response.status_code == 503, where
        operation = self.operation(method, path)
        if operation is None:  # no such route: the errors shape all the same
            assert set(response.get_json()) == {"errors"}, where
            return
        answer = operation["responses"].get(str(response.status_code))
        assert answer is not None, f"{where}: status not in openapi.json ({response.text[:300]})"
        if method == "HEAD":
            return
        content = answer.get("content")
        if content is None:
            assert response.data == b"", where
            return
        assert response.mimetype == "application/json", where
        errors = [
            f"{'/'.join(map(str, e.instance_path))}: {e.message}"
            for e in self.validator(content["application/json"]["schema"]).iter_errors(
                response.get_json()
            )
        ]
        assert not errors, f"{where}: off the description: {errors}"


class ApiClient:
    """The Flask test client, with the token, checking each answer (see `Described`)."""

    def __init__(self, app, token: str | None = API_TOKEN):
        self.app = app
        self.client = app.test_client()
        self.token = token
        served = self.client.get(
            f"{PREFIX}/openapi.json", headers={"Authorization": f"Bearer {API_TOKEN}"}
        )
        assert served.status_code == 200, served.status_code
        self.described = Described(served.get_json())
        self.seen: list[tuple[str, str, int]] = []

    def open(self, method: str, path: str, *, token: str | None = "", **kwargs):
        headers = dict(kwargs.pop("headers", {}))
        token = self.token if token == "" else token
        if token is not None:
            headers.setdefault("Authorization", f"Bearer {token}")
        response = self.client.open(PREFIX + path, method=method, headers=headers, **kwargs)
        self.described.check(method, PREFIX + path.partition("?")[0], response)
        self.seen.append((method, path, response.status_code))
        return response

    def get(self, path: str, **kwargs):
        return self.open("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.open("POST", path, **kwargs)

    def put(self, path: str, **kwargs):
        return self.open("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs):
        return self.open("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs):
        return self.open("DELETE", path, **kwargs)
