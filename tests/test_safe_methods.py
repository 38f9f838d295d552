"""Only POST acts: GET, HEAD and OPTIONS on every route that takes a POST change nothing.

Link scanners and mail previewers open links with GET and HEAD, and browsers send OPTIONS
before a cross-origin POST. The routes are read from the app's URL map, so a route added
later is covered without editing this file (a new kind of URL argument fails loudly below).
"""

from __future__ import annotations

import sqlalchemy as sa
from support import csrf_from

from admin import login_link
from campaigns.links import make_token
from models import db, utcnow

PASSWORD = "a long operator password"
# What the stored state is: everything a reader or the operator could see change.
TABLES = ("subscribers", "consents", "deliveries", "suppressions", "transfers")
# Query strings a link in an email adds (a check-in's one-click answers): still only a page.
QUERIES = {"signup.started": ["", "?answer=looking", "?answer=not_changing", "?welcome=1"]}


def _snapshot(app) -> dict[str, list[tuple]]:
    with app.app_context():
        state = {
            table: sorted(
                tuple(str(v) for v in row)
                for row in db.session.execute(sa.text(f"SELECT * FROM {table}")).all()
            )
            for table in TABLES
        }
        db.session.remove()
    return state


def _value(argument: str, rule, app, public_id: str) -> str:
    if argument == "token" and rule.endpoint == "admin.login_by_link":
        with app.app_context():
            return login_link.make(app.config, utcnow())
    if argument == "token":
        purpose = rule.rule.strip("/").split("/")[0]
        return make_token(app.config["SECRET_KEY"], purpose, public_id)
    if argument == "public_id":
        return public_id
    if argument == "provider":
        return "mailgun"
    if argument == "key":
        return "month-1"
    raise AssertionError(f"add a value for <{argument}> in {rule.rule} to this test")


def test_get_head_and_options_never_change_anything(make_app):
    app = make_app(ADMIN_PASSWORD=PASSWORD)
    client = app.test_client()
    assert (
        client.post("/api/subscribe", json={"name": "Ann", "email": "ann@example.com"}).status_code
        == 202
    )
    with app.app_context():
        public_id = db.session.scalar(sa.text("SELECT public_id FROM subscribers"))
        db.session.remove()
    login = client.get("/admin/login")
    client.post("/admin/login", data={"password": PASSWORD, "csrf_token": csrf_from(login.text)})
    assert client.get("/admin/").status_code == 200  # logged in: admin views really run

    before = _snapshot(app)
    acting = [rule for rule in app.url_map.iter_rules() if "POST" in rule.methods]
    assert {"signup.confirm", "signup.unsubscribe", "signup.started"} <= {
        rule.endpoint for rule in acting
    }
    answered = []
    for rule in acting:
        path = rule.rule
        for argument in rule.arguments:
            path = path.replace(f"<{argument}>", _value(argument, rule, app, public_id))
            path = path.replace(f"<string:{argument}>", _value(argument, rule, app, public_id))
        for query in QUERIES.get(rule.endpoint, [""]):
            for method in ("GET", "HEAD", "OPTIONS"):
                response = client.open(path + query, method=method)
                assert response.status_code < 500, (method, path, response.status_code)
                answered.append((method, path, response.status_code))
                assert _snapshot(app) == before, f"{method} {path}{query} changed stored state"
    # The reader's pages answered (not just 405s): confirm, unsubscribe and started show a page.
    shown = {
        path.split("/")[1]
        for method, path, status in answered
        if method == "HEAD" and status == 200
    }
    assert {"confirm", "unsubscribe", "started"} <= shown
