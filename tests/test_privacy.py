"""The "Your data" link in every email: download as JSON, delete (POST only), suppression after."""

from __future__ import annotations

import json
import re

from sqlalchemy import func, select
from support import SECRET, signup, tampered, work

from campaigns.links import make_token
from models import Consent, Delivery, Status, Subscriber, Suppression, db
from subscribers.suppression import suppression_hash


def privacy_path(smtp, address="ann@example.com") -> str:
    text = smtp.messages_to(address)[-1].get_body(("plain",)).get_content()
    url = re.search(r"https://tend\.example/privacy/[\w.\-]+", text).group(0)
    return url.removeprefix("https://tend.example")


def counts(app) -> dict[str, int]:
    with app.app_context():
        return {
            model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
            for model in (Subscriber, Consent, Delivery, Suppression)
        }


def test_link_in_every_email_opens_a_page_that_changes_nothing(app, client, smtp):
    signup(client)
    work(app)
    path = privacy_path(smtp)
    before = counts(app)
    page = app.test_client().get(path)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "ann@example.com" in html and "Ann Lee" in html
    assert "Download my data" in html and "Delete my data" in html
    assert page.headers["Cache-Control"] == "private, no-store"
    assert counts(app) == before


def test_download_is_json_with_profile_consents_and_deliveries(app, client, smtp):
    signup(client)
    work(app)
    response = app.test_client().get(privacy_path(smtp) + "/data.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.data)
    assert data["profile"]["email"] == "ann@example.com"
    assert data["profile"]["name"] == "Ann Lee"
    assert data["profile"]["status"] == Status.PENDING
    (consent,) = data["consents"]
    assert consent["source"] == "api" and consent["ip"] == "127.0.0.1" and consent["form_version"]
    (delivery,) = data["deliveries"]
    assert delivery["email"] == "worksheet" and delivery["status"] == "sent" and delivery["sent_at"]


def test_delete_removes_everything_but_a_hash_and_the_link_dies(make_app, smtp):
    app = make_app(DOUBLE_OPT_IN="0")
    signup(app.test_client())
    signup(app.test_client(), email="bob@example.com", name="Bob")
    work(app)
    path = privacy_path(smtp)
    response = app.test_client().post(path + "/delete")
    assert response.status_code == 200 and "Your data is deleted" in response.get_data(as_text=True)
    with app.app_context():
        assert [s.email for s in db.session.scalars(select(Subscriber))] == ["bob@example.com"]
        remaining = db.session.scalars(select(Delivery.subscriber_id).distinct()).all()
        assert (
            len(remaining) == 1
            and db.session.scalar(select(func.count()).select_from(Consent)) == 1
        )
        (suppression,) = db.session.scalars(select(Suppression)).all()
        assert suppression.email_hash == suppression_hash("ann@example.com")
        assert suppression.reason == "forgotten"
        kept = [str(getattr(suppression, c.key)) for c in Suppression.__table__.columns]
        assert not any("ann" in value for value in kept)  # only the hash of the address stays
    assert app.test_client().get(path).status_code == 404
    assert app.test_client().get(path + "/data.json").status_code == 404
    assert app.test_client().post(path + "/delete").status_code == 404


def test_signing_up_again_after_delete_needs_a_new_confirmation(make_app, smtp):
    app = make_app(DOUBLE_OPT_IN="0")  # single opt-in for everyone else
    signup(app.test_client())
    work(app)
    app.test_client().post(privacy_path(smtp) + "/delete")
    signup(app.test_client())
    work(app)
    with app.app_context():
        sub = db.session.scalar(select(Subscriber))
        assert sub.status == Status.PENDING and sub.confirmed_at is None
        assert all(d.kind == "worksheet" for d in sub.deliveries)
    text = smtp.messages_to("ann@example.com")[-1].get_body(("plain",)).get_content()
    assert "https://tend.example/confirm/" in text


def test_get_never_deletes(app, client, smtp):
    signup(client)
    work(app)
    path = privacy_path(smtp)
    assert app.test_client().get(path + "/delete").status_code == 405
    assert counts(app)["subscribers"] == 1


def test_tampered_or_foreign_tokens_are_404(app, client):
    signup(client)
    with app.app_context():
        public_id = db.session.scalar(select(Subscriber.public_id))
    good = make_token(SECRET, "privacy", public_id)
    wrong_purpose = make_token(SECRET, "unsubscribe", public_id)
    other_key = make_token("another-secret-key-that-is-long-enough-987", "privacy", public_id)
    for token in (tampered(good), wrong_purpose, other_key, "x", "a" * 300):
        for path in (f"/privacy/{token}", f"/privacy/{token}/data.json"):
            page = client.get(path)
            assert page.status_code == 404
            assert "This link is not valid" in page.get_data(as_text=True)
        assert client.post(f"/privacy/{token}/delete").status_code == 404
    assert counts(app)["subscribers"] == 1
    assert client.get(f"/privacy/{good}").status_code == 200


# Each field of the download, and the words of the "Your data" page that tell the reader of it.
SAID_ON_THE_PAGE = {
    "profile.email": "email address",
    "profile.name": "your name",
    "profile.status": "whether you're on my list",
    "profile.timezone": "your time zone",
    "profile.signed_up_at": "when you signed up",
    "profile.confirmed_at": "when you confirmed",
    "profile.unsubscribed_at": "when you unsubscribed",
    "profile.job_status": "whether you've started a new one",
    "profile.started_job_on": "the day it starts",
    "profile.drip_anchor_at": "the day it starts",
    "profile.called_name": "the name you asked me to call you by",
    "profile.soft_bounces": "turned one away for a while",
    "consents.given_at": "when you signed up",
    "consents.source": "and how",
    "consents.ip": "your IP address",
    "consents.user_agent": "user agent",
    "consents.page_url": "the page the form was on",
    "consents.form_version": "the version of the form",
    "consents.confirmed_at": "when you confirmed",
    "consents.confirmed_ip": "the IP address you confirmed from",
    "consents.left_at": "each time you left my list",
    "consents.left_reason": "and why",
    "consents.note": "the note of how you asked",
    "profile.confirmation_emails": "how many emails asking you",
    "deliveries.email": "a record of each email",
    "deliveries.kind": "a record of each email",
    "deliveries.status": "whether it reached you",
    "deliveries.due_at": "or will send",
    "deliveries.sent_at": "sent you",
    "deliveries.attempts": "how many times",
    "deliveries.last_error": "the mail server's answer",
}


def test_the_page_names_everything_the_download_holds(app, client, smtp):
    signup(client, timezone="Europe/Paris", page="https://blog.example/post")
    work(app)
    path = privacy_path(smtp)
    page = app.test_client().get(path).get_data(as_text=True)
    text = " ".join(re.sub(r"<[^>]+>", " ", page).replace("&#39;", "'").split())
    data = json.loads(app.test_client().get(path + "/data.json").data)
    fields = {f"profile.{k}" for k in data["profile"]}
    fields |= {f"{part}.{k}" for part in ("consents", "deliveries") for k in data[part][0]}
    assert fields == set(SAID_ON_THE_PAGE), "a field of the download the page does not name"
    assert [f for f, words in SAID_ON_THE_PAGE.items() if words not in text] == []
