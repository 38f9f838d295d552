"""A JSON body sent where a page reads a form: taken only when it has a form's shape.

Flask-WTF reads a JSON body as the form when one comes (`request.is_json`), and trusts it
to be an object of strings. `1e999999`, `"x"`, 5,000 `[`, `{"password": {}}` or a lone
surrogate would each reach a view as something no form holds, and end in a 500. Here such
a body is refused first: 400, the generic page with the banner, and one WARNING line.

The routes that take JSON as JSON (`/api/…`, `/webhooks/…`) read and check their bodies
themselves, and are left alone.
"""

from __future__ import annotations

import json
import logging

from flask import Flask, abort, request

JSON_ROUTES = ("/api/", "/webhooks/")
# A form's worth of JSON; a longer (or unmeasured, chunked) one is not a form's.
FORM_JSON_MAX = 64 * 1024
log = logging.getLogger("tend.bodies")


def _text(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no page, log or database can hold it
        return False
    return True


def form_shaped(data: object) -> bool:
    """Whether `data` is what a form posts: an object of strings (or of lists of strings)."""
    if not isinstance(data, dict):
        return False
    for key, value in data.items():
        values = value if isinstance(value, list) else [value]
        if not _text(key) or not all(_text(v) for v in values):
            return False
    return True


def refuse_unshaped_json() -> None:
    """Before a form route's view: a JSON body that is not form-shaped is a 400."""
    if not request.is_json or request.path.startswith(JSON_ROUTES):
        return
    data = None
    length = request.content_length
    if length is not None and length <= FORM_JSON_MAX:
        try:
            data = json.loads(request.get_data(cache=True))
        except (ValueError, RecursionError):
            data = None
    if form_shaped(data):
        return
    rule = request.url_rule.rule if request.url_rule else "<unmatched>"
    log.warning("refused a JSON body that is not a form's: %s %s", request.method, rule)
    abort(400)


def init_app(app: Flask) -> None:
    app.before_request(refuse_unshaped_json)
