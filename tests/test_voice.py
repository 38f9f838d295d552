"""The pages and emails speak as the coach ("I", never "us"), and say only what is true of
every reader who reads them, wherever they signed up (the hosted page or a blog post)."""

from __future__ import annotations

import re

from support import csrf_from, signup, work

from campaigns.links import make_token
from subscribers.lifecycle import find_by_address


def test_the_unsubscribe_pages_say_i_like_every_other_page(app, client, smtp):
    signup(client)
    with app.app_context():
        public_id = find_by_address("ann@example.com").public_id
    path = f"/unsubscribe/{make_token(app.config['SECRET_KEY'], 'unsubscribe', public_id)}"
    for page in (client.get(path), client.post(path)):
        html = page.get_data(as_text=True)
        assert page.status_code == 200
        assert not re.search(r"\b(us|we|our)\b", html, re.I), html
        assert "I won't send you any more emails" in html


def test_an_email_to_a_reader_of_the_hosted_page_does_not_say_they_were_on_the_blog(
    app, client, smtp
):
    page = client.get("/signup").get_data(as_text=True)
    sent = client.post(
        "/signup", data={"csrf_token": csrf_from(page), "name": "Ann", "email": "ann@example.com"}
    )
    assert sent.status_code == 303
    work(app)
    (message,) = smtp.messages_to("ann@example.com")
    for part in ("plain", "html"):
        text = " ".join(message.get_body((part,)).get_content().split())
        assert "on my blog" not in text
        # A request to confirm: not yet on the list, and told nothing more comes unasked.
        assert "If you didn't ask, ignore this email: nothing more will come." in text
        assert "asked to hear from me" not in text
        assert "asked me for the worksheet" not in text


def test_the_icon_every_browser_asks_for_is_there(client):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.mimetype == "image/vnd.microsoft.icon"
    assert icon.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
    for path in ("/signup", "/signup/thanks"):
        assert '<link rel="icon" href="/favicon.ico">' in client.get(path).get_data(as_text=True)
