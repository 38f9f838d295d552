"""Consent that sticks: a reader who left comes back only by their own click, a complaint or
a bounce is never mailed again by a signup, no address is bombed with confirmation emails,
and unconfirmed signups do not linger.

Real Redis, a real RQ worker, the SMTP sink on loopback; time is passed in (`now=`).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from support import ADMIN_PASSWORD, admin_client, login, signup, tick, work

from bounces.events import Event, Kind, apply
from models import Consent, Delivery, DeliveryStatus, Status, Subscriber, Suppression, db
from signup import service
from subscribers.lifecycle import find_by_address
from subscribers.privacy import forget

T = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)
ANN = "ann@example.com"
NOTES = ("drip", "checkin")


def subscribe(app, at: datetime, email: str = ANN) -> None:
    """A signup at `at`, as the form makes it (the service the views call)."""
    with app.test_request_context():
        entry = service.Entry("Ann Lee", email, email, "UTC")
        service.subscribe(entry, service.Context("192.0.2.9", "Firefox", None, "test"), now=at)
        db.session.remove()


def confirm_via_link(app, smtp, address: str = ANN) -> int:
    """The reader's own click: the button on the page the last email's confirm link opens."""
    text = smtp.messages_to(address)[-1].get_body(("plain",)).get_content()
    path = re.search(r"https://tend\.example(/confirm/[\w.\-]+)", text).group(1)
    return app.test_client().post(path).status_code


def unsubscribe(app, at: datetime, email: str = ANN) -> None:
    with app.test_request_context():
        service.unsubscribe(find_by_address(email), now=at)
        db.session.remove()


def the_reader(app, email: str = ANN):
    with app.app_context():
        sub = find_by_address(email)
        if sub is None:
            return None
        facts = {
            "status": sub.status,
            "unsubscribed_at": sub.unsubscribed_at,
            "confirm_requests": sub.confirm_requests,
            "open_notes": sorted(
                d.step for d in sub.deliveries if d.kind in NOTES and d.status == "scheduled"
            ),
            "consents": [
                (c.created_at, c.confirmed_at, c.left_at, c.left_reason) for c in sub.consents
            ],
        }
        db.session.remove()
        return facts


def emails_to(smtp, address: str = ANN) -> list[str]:
    """For each email `address` got: `confirm` when it asks to confirm, else `list mail`."""
    out = []
    for message in smtp.messages_to(address):
        text = message.get_body(("plain",)).get_content()
        out.append("confirm" if "/confirm/" in text else "list mail")
    return out


def a_leaver(app, smtp, mode: str) -> datetime:
    """Ann signed up, confirmed (or, single opt-in, was on the list at once), then left."""
    subscribe(app, T)
    work(app)
    if mode == "1":
        assert confirm_via_link(app, smtp) == 303
    left = T + timedelta(days=3)
    unsubscribe(app, left)
    return left


# ---- a leaver is not signed back up by anyone else --------------------------------------


@pytest.mark.parametrize("mode", ["0", "1"])
def test_a_leaver_signed_up_by_someone_else_stays_unsubscribed_until_their_own_click(
    make_app, smtp, mode
):
    app = make_app(DOUBLE_OPT_IN=mode)
    left = a_leaver(app, smtp, mode)
    before = len(smtp.messages_to(ANN))
    back = left + timedelta(days=5)
    subscribe(app, back)  # anyone can type her address into the form
    work(app)
    ann = the_reader(app)
    assert (ann["status"], ann["unsubscribed_at"]) == (Status.UNSUBSCRIBED, left)
    assert ann["open_notes"] == []  # no drip and no check-in rescheduled
    # She gets one email, in both modes: the request to confirm, with no List-Unsubscribe.
    (message,) = smtp.messages_to(ANN)[before:]
    assert emails_to(smtp)[before:] == ["confirm"]
    assert "List-Unsubscribe" not in message
    assert (
        "If you didn't ask, ignore this email: nothing more will come."
        in message.get_body(("plain",)).get_content()
    )
    # Her own click brings her back: active, on the drip again.
    assert confirm_via_link(app, smtp) == 303
    ann = the_reader(app)
    assert (ann["status"], ann["unsubscribed_at"]) == (Status.ACTIVE, None)
    assert ann["open_notes"] == ["checkin-1", "checkin-2", "checkin-3"]


def test_an_old_confirm_link_does_not_bring_a_leaver_back_unasked(app, smtp):
    subscribe(app, T)
    work(app)
    text = smtp.messages_to(ANN)[-1].get_body(("plain",)).get_content()
    path = re.search(r"https://tend\.example(/confirm/[\w.\-]+)", text).group(1)
    assert app.test_client().post(path).status_code == 303
    left = T + timedelta(days=3)
    unsubscribe(app, left)
    app.test_client().post(path)  # the first email's link, clicked again later
    ann = the_reader(app)
    assert (ann["status"], ann["unsubscribed_at"], ann["open_notes"]) == (
        Status.UNSUBSCRIBED,
        left,
        [],
    )


def test_a_leaver_gets_at_most_one_confirmation_email_per_30_days(make_app, smtp):
    app = make_app(DOUBLE_OPT_IN="0", RESEND_MINUTES="0")
    left = a_leaver(app, smtp, "0")
    for days in (1, 2, 10, 29):  # someone keeps typing her address
        subscribe(app, left + timedelta(days=days))
    work(app)
    assert emails_to(smtp) == ["list mail", "confirm"]
    subscribe(app, left + timedelta(days=31))  # thirty days after the last one
    work(app)
    assert emails_to(smtp) == ["list mail", "confirm", "confirm"]
    assert the_reader(app)["status"] == Status.UNSUBSCRIBED


# ---- a complaint or a bounce is final ---------------------------------------------------


@pytest.mark.parametrize("kind", [Kind.COMPLAINT, Kind.HARD_BOUNCE])
@pytest.mark.parametrize("mode", ["0", "1"])
def test_a_complained_or_bounced_address_gets_nothing_from_a_signup(make_app, smtp, kind, mode):
    app = make_app(DOUBLE_OPT_IN=mode, RESEND_MINUTES="0")
    signup(app.test_client())
    work(app)
    with app.test_request_context():
        apply([Event(kind, ANN)], now=T, provider="test")
    before = the_reader(app)
    # The hosted form answers as it does for anyone: the thank-you page.
    client = app.test_client()
    page = client.get("/signup").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    answer = client.post("/signup", data={"name": "Ann Lee", "email": ANN, "csrf_token": token})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/signup/thanks")
    signup(app.test_client())  # and the API, twice
    signup(app.test_client())
    work(app)
    assert len(smtp.messages_to(ANN)) == 1  # only the first email, before the complaint
    assert the_reader(app) == before


def test_a_complained_address_that_was_forgotten_gets_nothing_either(make_app, smtp):
    app = make_app(DOUBLE_OPT_IN="0")
    signup(app.test_client())
    work(app)
    with app.test_request_context():
        apply([Event(Kind.COMPLAINT, ANN)], now=T, provider="test")
        forget(find_by_address(ANN), now=T)
    signup(app.test_client())
    work(app)
    assert len(smtp.messages_to(ANN)) == 1
    assert the_reader(app) is None  # nothing stored for it


# ---- no list-bombing ----------------------------------------------------------------------


def test_an_address_that_never_confirms_gets_three_confirmation_emails_in_all(make_app, smtp):
    app = make_app(DOUBLE_OPT_IN="1", RESEND_MINUTES="0")
    client = app.test_client()
    for _ in range(10):
        page = client.get("/signup").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        answer = client.post(
            "/signup", data={"name": "Victim", "email": "victim@example.com", "csrf_token": token}
        )
        assert answer.status_code == 303 and answer.headers["Location"].endswith("/signup/thanks")
    work(app)
    assert emails_to(smtp, "victim@example.com") == ["confirm"] * 3
    victim = the_reader(app, "victim@example.com")
    assert (victim["status"], victim["confirm_requests"]) == (Status.PENDING, 3)


def test_a_leaver_who_never_confirmed_is_not_bombed_either(make_app, smtp):
    app = make_app(RESEND_MINUTES="0")
    subscribe(app, T)
    subscribe(app, T + timedelta(minutes=1))
    work(app)
    unsubscribe(app, T + timedelta(minutes=2))  # e.g. the provider's unsubscribe
    for months in range(1, 6):  # a month apart: the 30-day rule lets each one through
        subscribe(app, T + timedelta(days=31 * months))
    work(app)
    assert emails_to(smtp) == ["confirm"] * 3


def test_a_confirmed_reader_who_asks_again_gets_the_worksheet_again(make_app, smtp):
    app = make_app(RESEND_MINUTES="0")
    subscribe(app, T)
    work(app)
    assert confirm_via_link(app, smtp) == 303
    for minutes in range(1, 5):
        subscribe(app, T + timedelta(minutes=minutes))
    work(app)
    assert emails_to(smtp) == ["confirm"] + ["list mail"] * 4


# ---- the history of leaving and coming back -------------------------------------------------


def test_the_consent_record_keeps_each_leaving_and_each_return(make_app, smtp):
    app = make_app(RESEND_MINUTES="0", ADMIN_PASSWORD=ADMIN_PASSWORD)
    left = a_leaver(app, smtp, "1")
    back = left + timedelta(days=40)
    subscribe(app, back)
    work(app)
    assert confirm_via_link(app, smtp) == 303
    with app.app_context():
        confirmed_again = find_by_address(ANN).confirmed_at
        db.session.remove()
    complained = confirmed_again + timedelta(days=2)
    with app.test_request_context():
        apply([Event(Kind.COMPLAINT, ANN)], now=complained, provider="test")
    first, second = the_reader(app)["consents"]
    assert first[0] == T and first[1] is not None and first[2:] == (left, "unsubscribe")
    assert second[:2] == (back, confirmed_again) and second[2:] == (complained, "complaint")

    # The operator's page and the reader's own download show the same history.
    operator = admin_client(app)
    login(operator)
    with app.app_context():
        public_id = find_by_address(ANN).public_id
        db.session.remove()
    page = operator.get(f"/admin/subscribers/{public_id}").get_data(as_text=True)
    for cell in ('<th scope="col">Left</th>', left.isoformat(), "unsubscribe", "complaint"):
        assert cell in page
    data = json.loads(operator.get(f"/admin/subscribers/{public_id}/data.json").data)
    assert [(c["left_at"], c["left_reason"]) for c in data["consents"]] == [
        (left.isoformat(), "unsubscribe"),
        (complained.isoformat(), "complaint"),
    ]
    assert data["consents"][1]["given_at"] == back.isoformat()


def test_a_bounce_ends_the_consent_too(app, smtp):
    subscribe(app, T)
    work(app)
    assert confirm_via_link(app, smtp) == 303
    with app.test_request_context():
        apply([Event(Kind.HARD_BOUNCE, ANN)], now=T + timedelta(days=1), provider="test")
    ((_, _, left_at, reason),) = the_reader(app)["consents"]
    assert (left_at, reason) == (T + timedelta(days=1), "bounce")


# ---- unconfirmed signups are deleted ------------------------------------------------------


def test_unconfirmed_signups_are_deleted_after_UNCONFIRMED_DAYS(make_app, smtp):
    app = make_app(UNCONFIRMED_DAYS="30", RESEND_MINUTES="0")
    subscribe(app, T, "pending@example.com")
    subscribe(app, T + timedelta(days=5), "pending@example.com")  # asked again on day 5
    subscribe(app, T, "active@example.com")
    subscribe(app, T, "leaver@example.com")
    work(app)
    assert confirm_via_link(app, smtp, "active@example.com") == 303
    unsubscribe(app, T + timedelta(days=1), "leaver@example.com")

    def on_the_list():
        with app.app_context():
            found = {
                "subscribers": set(db.session.scalars(select(Subscriber.email))),
                "consents": db.session.scalar(select(func.count()).select_from(Consent)),
                "deliveries": db.session.scalar(select(func.count()).select_from(Delivery)),
            }
            db.session.remove()
            return found

    tick(app, T + timedelta(days=34))  # 30 days after the first signup, 29 after the last ask
    assert "pending@example.com" in on_the_list()["subscribers"]
    tick(app, T + timedelta(days=35, minutes=1))
    after = on_the_list()
    assert after["subscribers"] == {"active@example.com", "leaver@example.com"}
    with app.app_context():
        assert (
            db.session.scalar(select(func.count()).select_from(Consent).join(Subscriber))
            == after["consents"]
            == 2
        )
        assert db.session.scalar(select(func.count()).select_from(Suppression)) == 0
        kept = db.session.scalars(select(Delivery.status).join(Subscriber)).all()
        assert len(kept) == after["deliveries"] and DeliveryStatus.SENT in kept
        db.session.remove()
    # A new signup afterwards is a new start: one confirmation email.
    subscribe(app, T + timedelta(days=36), "pending@example.com")
    work(app)
    assert emails_to(smtp, "pending@example.com") == ["confirm", "confirm", "confirm"]
