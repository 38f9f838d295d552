"""What a reader types: names a mail client would make a link of, over-long local parts, and
"Did you mean …?" for a likely typo in a common mail domain (no DNS)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from support import BANNER, EMAIL_MSG, NAME_MSG, hosted_fields

from models import Subscriber, db
from signup.typos import suggest
from subscribers.fields import clean_email, clean_name

REAL_NAMES = [
    "J. R. R. Tolkien",
    "Dr. Émile Zola-Ångström",
    "Mary-Kate O'Neil",
    "A.J. Smith",
    "H.R. Giger",
    "E. E. Cummings",
    "Martin Luther King Jr.",
    "Ann Lee, Ph.D.",
    "St. John Rivers",
    "Mr. T",
    "María José Carreño Quiñones",
    "Björk Guðmundsdóttir",
    "Nguyễn Văn An",
    "李小龍",
    "محمد بن سلمان",
    "O'Brien-Smith III",
    "S.M.A.R.T. Ann",
    "AC/DC Fan",
    "Ann 2.0",
]
LINK_LIKE_NAMES = [
    "bit.ly/3xYz",
    "Win $500 at evil.example/claim",
    "visit example.com",
    "EVIL.EXAMPLE",
    "x.co",
    "t.me/spam",
    "Ann (bit.ly/x)",
    "ann.lee@example.com",
    "go-to.evil-site.example now",
    "münchen.de",
    "evil。example",  # the ideographic full stop, which IDNA reads as a dot
    "ｅｖｉｌ．ｅｘａｍｐｌｅ",  # fullwidth
    "Dr.Who",  # .who is a real top-level domain
    "see http://spam.example",
    "hxxps://x",
    "www.spam",
]


@pytest.mark.parametrize("name", REAL_NAMES)
def test_real_names_are_kept_as_given(name):
    assert clean_name(name) == name


@pytest.mark.parametrize("name", LINK_LIKE_NAMES)
def test_names_a_mail_client_would_turn_into_a_link_are_refused(name):
    assert clean_name(name) is None


@pytest.mark.parametrize("name", ["bit.ly/3xYz", "Win $500 at evil.example/claim"])
def test_a_link_for_a_name_gets_the_name_message_and_stores_nothing(app, client, name):
    response = client.post("/api/subscribe", json={"name": name, "email": "ann@example.com"})
    assert response.status_code == 400
    assert response.get_json() == {"errors": {"name": [NAME_MSG]}, "message": BANNER}
    with app.app_context():
        assert db.session.scalars(select(Subscriber)).all() == []


@pytest.mark.parametrize(
    ("address", "valid"),
    [
        ("a" * 64 + "@example.com", True),
        ("a" * 65 + "@example.com", False),
        ("a" * 240 + "@example.com", False),
        ("ann@example.com", True),
    ],
)
def test_local_parts_over_64_characters_are_refused(address, valid):
    assert (clean_email(address) is not None) is valid


TYPOS = [
    ("ann@gmial.con", "ann@gmail.com"),
    ("ann@gmial.com", "ann@gmail.com"),
    ("ann@hotnail.com", "ann@hotmail.com"),
    ("ann@yaho.com", "ann@yahoo.com"),
    ("ann@gmal.com", "ann@gmail.com"),
    ("ann@outlok.com", "ann@outlook.com"),
    ("ann@gmail.cm", "ann@gmail.com"),
    ("ann@gmail.comm", "ann@gmail.com"),
    ("ann@aol.co", "ann@aol.com"),
    ("ann@comcast.nte", "ann@comcast.net"),
    ("Ann.Lee@Hotmial.con", "Ann.Lee@hotmail.com"),
    ("ann@yahooo.co.uk", "ann@yahoo.co.uk"),
]
NOT_TYPOS = [
    "ann@gmail.com",
    "ann@example.com",
    "ann@acme.com",  # two letters from me.com, but a domain of its own
    "ann@gmx.at",
    "ann@live.fr",
    "ann@mail.ru",
    "ann@web.com",
    "ann@uni-bonn.de",
    "ann@tend.example",
]


@pytest.mark.parametrize(("typed", "meant"), TYPOS)
def test_a_likely_typo_of_a_common_domain_is_suggested(typed, meant):
    assert suggest(typed) == meant


@pytest.mark.parametrize("typed", NOT_TYPOS)
def test_other_domains_are_taken_as_typed(typed):
    assert suggest(typed) is None


def _subscribers(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Subscriber.email)))


def test_the_hosted_form_asks_did_you_mean_and_the_reader_may_take_it(app, client):
    fields = hosted_fields(client.get("/signup").get_data(as_text=True))
    asked = client.post("/signup", data={"name": "Ann", "email": "ann@gmial.con", **fields})
    html = asked.get_data(as_text=True)
    assert asked.status_code == 200 and BANNER not in html and EMAIL_MSG not in html
    assert re.search(
        r'Did you mean <button type="submit" class="suggestion" name="email_suggestion" '
        r'value="ann@gmail.com">ann@gmail.com</button>\?',
        html,
    )
    assert 'aria-describedby="email-hint"' in html
    assert _subscribers(app) == []
    taken = client.post(
        "/signup",
        data={
            "name": "Ann",
            "email": "ann@gmial.con",
            "email_suggestion": "ann@gmail.com",
            **hosted_fields(html),
        },
    )
    assert taken.status_code == 303 and _subscribers(app) == ["ann@gmail.com"]


def test_the_hosted_form_keeps_the_address_when_the_reader_ignores_the_hint(app, client):
    fields = hosted_fields(client.get("/signup").get_data(as_text=True))
    asked = client.post("/signup", data={"name": "Ann", "email": "ann@hotnail.com", **fields})
    kept = hosted_fields(asked.get_data(as_text=True))
    assert kept["email_checked"] == "ann@hotnail.com"
    again = client.post("/signup", data={"name": "Ann", "email": "ann@hotnail.com", **kept})
    assert again.status_code == 303 and _subscribers(app) == ["ann@hotnail.com"]


def test_a_suggestion_cannot_swap_in_another_address(app, client):
    fields = hosted_fields(client.get("/signup").get_data(as_text=True))
    sneaky = client.post(
        "/signup",
        data={
            "name": "Ann",
            "email": "ann@example.com",
            "email_suggestion": "victim@example.com",
            **fields,
        },
    )
    assert sneaky.status_code == 303 and _subscribers(app) == ["ann@example.com"]


def test_the_api_suggests_only_to_a_page_that_asks(app, client):
    asked = client.post(
        "/api/subscribe", json={"name": "Ann", "email": "ann@yaho.com", "email_checked": ""}
    )
    assert asked.status_code == 200
    assert asked.get_json() == {"status": "check", "suggestion": "ann@yahoo.com"}
    assert _subscribers(app) == []
    kept = client.post(
        "/api/subscribe",
        json={"name": "Ann", "email": "ann@yaho.com", "email_checked": "ann@yaho.com"},
    )
    assert kept.status_code == 202
    # A server's call (no email_checked) is never answered with a question.
    server = client.post("/api/subscribe", json={"name": "Bo", "email": "bo@gmial.con"})
    assert server.status_code == 202
    assert sorted(_subscribers(app)) == ["ann@yaho.com", "bo@gmial.con"]
