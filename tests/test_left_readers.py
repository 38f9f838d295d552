"""The pages a reader reaches from an old email after they left: true to what will happen.

An unsubscribed reader may still open a check-in's answer or the confirm link of their first
email. Nothing on those pages may promise a note or a question that will never come.
"""

from __future__ import annotations

import html as html_lib
import re
from datetime import timedelta

import pytest
from support import signup, started_path, tick, work

from campaigns.links import make_token
from models import utcnow
from subscribers.lifecycle import find_by_address

PROMISES = [
    "I'll check in again later",
    "I'll send a short note at",
    "I'll only write now and then",
    "I'll ask",
    "the link at the bottom of my emails",
    "No notes about a new job will come until",
]


def token_of(app, purpose: str, email: str = "ann@example.com") -> str:
    with app.app_context():
        return make_token(app.config["SECRET_KEY"], purpose, find_by_address(email).public_id)


def text_of(response) -> str:
    text = " ".join(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)).split())
    return html_lib.unescape(re.sub(r" ([.,:;])", r"\1", text))


def unsubscribed(app, client) -> None:
    assert client.post(f"/unsubscribe/{token_of(app, 'unsubscribe')}").status_code == 200


@pytest.mark.parametrize("hint", ["", "?answer=looking", "?answer=not_changing", "?answer=started"])
def test_the_start_date_page_promises_an_unsubscribed_reader_nothing(make_app, smtp, hint):
    app = make_app(DOUBLE_OPT_IN="0")
    client = app.test_client()
    signup(client)
    unsubscribed(app, client)
    page = client.get(started_path(app, "ann@example.com") + hint)
    text = text_of(page)
    assert page.status_code == 200
    assert "You've unsubscribed" in text
    assert "To hear from me again, sign up again for the worksheet." in text
    assert [p for p in PROMISES if p in text] == []
    assert "<form" not in page.get_data(as_text=True)  # nothing to answer that would count


def test_an_answer_sent_after_leaving_promises_nothing_either(make_app, smtp):
    app = make_app(DOUBLE_OPT_IN="0")
    client = app.test_client()
    signup(client)
    path = started_path(app, "ann@example.com")
    client.get(path)
    unsubscribed(app, client)
    # The page was open in another tab before they left; they press "still looking" now.
    text = text_of(client.post(path, data={"answer": "looking"}))
    assert "Good luck with the search." in text and "You've unsubscribed" in text
    assert [p for p in PROMISES if p in text] == []


def test_a_reader_never_asked_is_not_told_they_will_be_asked_once_more(make_app, smtp):
    app = make_app(DOUBLE_OPT_IN="0")
    client = app.test_client()
    signup(client)
    text = text_of(client.post(started_path(app, "ann@example.com"), data={"answer": "looking"}))
    assert "once more" not in text
    assert re.search(
        r"I'll ask you on \w+, \w+ \d+, \d{4}, and at most 2 more times after that", text
    )


def test_a_reader_asked_before_is_told_once_more(make_app, smtp):
    app = make_app(DOUBLE_OPT_IN="0", DRIP_WINDOW="00:00-23:59", DRIP_DAYS="Mon-Sun")
    client = app.test_client()
    signup(client)
    work(app)
    tick(app, utcnow() + timedelta(weeks=6, minutes=1), pretend=True)
    work(app)
    assert [m["Subject"] for m in smtp.messages_to("ann@example.com")][-1] == (
        "Have you started somewhere new?"
    )
    text = text_of(client.post(started_path(app, "ann@example.com"), data={"answer": "looking"}))
    assert re.search(
        r"I'll ask once more on \w+, \w+ \d+, \d{4}, and at most 1 more time after", text
    )


def test_an_old_confirm_link_after_unsubscribing_gives_the_worksheet_and_says_why_no_email(
    app, client, smtp
):
    signup(client)
    confirm = token_of(app, "confirm")
    client.post(f"/confirm/{confirm}")
    unsubscribed(app, client)
    work(app)
    sent = len(smtp.received)

    pressed = client.post(f"/confirm/{confirm}")  # "Get my worksheet", from the first email
    assert pressed.status_code == 303
    page = client.get(pressed.headers["Location"])
    text = text_of(page)
    assert "Here is your worksheet, Ann" in text
    assert "You've unsubscribed since you asked for it" in text
    assert "this link didn't sign you up again, and I won't send you any emails" in text
    assert "To get them again, sign up again." in text
    assert [p for p in PROMISES if p in text] == []
    download = re.search(r'href="(/worksheet/[^"]+)" download', page.get_data(as_text=True))
    assert download, "the worksheet the button promised"
    pdf = client.get(download.group(1))
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    with app.app_context():
        assert find_by_address("ann@example.com").status == "unsubscribed"
    work(app)
    assert len(smtp.received) == sent  # and no email
