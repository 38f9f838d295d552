"""What a reader's or an operator's browser does: forms, tokens, the bot challenge."""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from models import db

from .env import ADMIN_PASSWORD


def csrf_from(html: str) -> str:
    """The CSRF token a page's form carries."""
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def answer(app, email: str, job_status: str, *, now: datetime, started_on=None) -> None:
    """The reader answers the start-date page at `now`: "started" (with the day), "looking"
    or "not_changing". The service the page calls, so a test can choose the time."""
    from signup import service
    from subscribers.lifecycle import find_by_address

    with app.test_request_context():
        found = find_by_address(email)
        service.answer(found, job_status, now=now, started_on=started_on)
        db.session.remove()


def started_path(app, email: str) -> str:
    """The path of a reader's start-date page, as the links in their emails give it."""
    from campaigns.links import make_token
    from subscribers.lifecycle import find_by_address

    with app.app_context():
        public_id = find_by_address(email).public_id
        db.session.remove()
    return f"/started/{make_token(app.config['SECRET_KEY'], 'started', public_id)}"


def signup(client, email: str = "ann@example.com", name: str = "Ann Lee", **extra) -> None:
    """Sign up through the API, as the embed does, and insist it was accepted."""
    response = client.post("/api/subscribe", json={"name": name, "email": email, **extra})
    assert response.status_code == 202, response.get_data(as_text=True)


def admin_client(app):
    """A browser of its own: login attempts are limited per address, and the limiter's
    counters outlive a test (one process-wide key prefix), so each test gets a fresh address."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = (
        f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"
    )
    return client


def login(client, password: str = ADMIN_PASSWORD):
    page = client.get("/admin/login").get_data(as_text=True)
    return client.post("/admin/login", data={"csrf_token": csrf_from(page), "password": password})


def tampered(token: str) -> str:
    """The token with one character of its signature changed: never valid.

    A changed last character is not enough: base64's last character of a signature may
    carry unused bits, so some replacements decode to the same bytes.
    """
    spot = len(token) - 5
    other = "A" if token[spot] != "A" else "B"
    return token[:spot] + other + token[spot + 1 :]


def solve(challenge: dict) -> str:
    """The payload a browser sends for an ALTCHA challenge, found by the altcha package's
    own solver (not Tend's code: it shows the format is ALTCHA's)."""
    from altcha import PayloadV1, solve_challenge_v1

    solution = solve_challenge_v1(
        challenge["challenge"], challenge["salt"], challenge["algorithm"], challenge["maxnumber"]
    )
    assert solution is not None, "the challenge has no solution"
    return PayloadV1(
        challenge["algorithm"],
        challenge["challenge"],
        solution.number,
        challenge["salt"],
        challenge["signature"],
    ).to_base64()


def solution_from(client) -> str:
    """A fresh solution, the way the embed gets one: GET /api/challenge, then solve it."""
    response = client.get("/api/challenge")
    assert response.status_code == 200, response.status_code
    return solve(response.get_json())


def hosted_fields(html: str) -> dict[str, str]:
    """The hidden fields the hosted form carries (csrf_token, altcha, ...), by name."""
    return dict(
        re.findall(
            r'name="(csrf_token|altcha|email_checked)" (?:type="hidden" )?value="([^"]*)"', html
        )
    )
