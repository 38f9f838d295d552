"""subscribers/: finding, who may receive, stopping, suppression, one row shape, field lengths."""

from __future__ import annotations

import ast
import csv
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from campaigns.schedule import CHECKIN, DRIP, WORKSHEET
from models import (
    Consent,
    Delivery,
    DeliveryStatus,
    JobStatus,
    Status,
    Subscriber,
    Suppression,
    db,
)
from subscribers.fields import EMAIL_MAX, NAME_MAX
from subscribers.lifecycle import (
    StopReason,
    find_by_address,
    find_by_public_id,
    known_among,
    may_receive,
    stop,
)
from subscribers.suppression import (
    Reason,
    is_suppressed,
    suppress,
    suppress_many,
    suppressed_among,
    suppression_hash,
)

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
EARLIER = NOW - timedelta(days=30)


def add_subscriber(email: str, status: str = Status.ACTIVE, **columns) -> Subscriber:
    subscriber = Subscriber(
        email=email, email_key=email.lower(), name="Ann", status=status, **columns
    )
    db.session.add(subscriber)
    db.session.flush()
    return subscriber


def add_delivery(subscriber: Subscriber, step: str, status: str) -> None:
    db.session.add(
        Delivery(
            subscriber=subscriber,
            step=step,
            kind=WORKSHEET if step == WORKSHEET else DRIP,
            status=status,
            due_at=EARLIER,
            lease_until=NOW if status in (DeliveryStatus.QUEUED, DeliveryStatus.SENDING) else None,
            message_id=f"<{step}.{subscriber.id}@tend.example>",
        )
    )


def test_subscribers_sits_below_every_feature():
    """It may use `campaigns` and the schema; signup, workers, bounces and admin use it."""
    ours = {"signup", "workers", "bounces", "admin", "app", "campaigns", "models", "subscribers"}
    used = set()
    for path in (ROOT / "subscribers").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                used.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                used.update(alias.name.split(".")[0] for alias in node.names)
    assert used & ours == {"campaigns", "models", "subscribers"}


# ---- who may receive -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "job_status", "expected"),
    [
        (WORKSHEET, Status.PENDING, JobStatus.UNKNOWN, True),
        (WORKSHEET, Status.ACTIVE, JobStatus.UNKNOWN, True),
        (WORKSHEET, Status.ACTIVE, JobStatus.STARTED, True),
        (WORKSHEET, Status.ACTIVE, JobStatus.NOT_CHANGING, True),
        (WORKSHEET, Status.UNSUBSCRIBED, JobStatus.UNKNOWN, False),
        (WORKSHEET, Status.BOUNCED, JobStatus.UNKNOWN, False),
        (DRIP, Status.PENDING, JobStatus.STARTED, False),
        (DRIP, Status.ACTIVE, JobStatus.STARTED, True),
        (DRIP, Status.UNSUBSCRIBED, JobStatus.STARTED, False),
        (DRIP, Status.BOUNCED, JobStatus.STARTED, False),
        # An after-hire note never reaches a reader who has given no start date.
        (DRIP, Status.ACTIVE, JobStatus.UNKNOWN, False),
        (DRIP, Status.ACTIVE, JobStatus.LOOKING, False),
        (DRIP, Status.ACTIVE, JobStatus.NOT_CHANGING, False),
        # A check-in asks only those who have not said, or are still looking.
        (CHECKIN, Status.PENDING, JobStatus.UNKNOWN, False),
        (CHECKIN, Status.ACTIVE, JobStatus.UNKNOWN, True),
        (CHECKIN, Status.ACTIVE, JobStatus.LOOKING, True),
        (CHECKIN, Status.ACTIVE, JobStatus.NOT_CHANGING, False),
        (CHECKIN, Status.ACTIVE, JobStatus.STARTED, False),
        (CHECKIN, Status.UNSUBSCRIBED, JobStatus.UNKNOWN, False),
        # Any other kind is ruled as strictly as the after-hire drip.
        ("newsletter", Status.PENDING, JobStatus.STARTED, False),
        ("newsletter", Status.ACTIVE, JobStatus.STARTED, True),
        ("newsletter", Status.ACTIVE, JobStatus.UNKNOWN, False),
    ],
)
def test_who_may_receive_each_kind_of_email(kind, status, job_status, expected):
    assert may_receive(kind, status, job_status) is expected


# ---- stopping --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "before", "left_at", "after", "unsubscribed_at"),
    [
        (StopReason.UNSUBSCRIBE, Status.ACTIVE, None, Status.UNSUBSCRIBED, NOW),
        (StopReason.UNSUBSCRIBE, Status.PENDING, None, Status.UNSUBSCRIBED, NOW),
        # An unsubscribe changes nobody who has left already; a bounced address stays bounced.
        (StopReason.UNSUBSCRIBE, Status.BOUNCED, None, Status.BOUNCED, None),
        (StopReason.UNSUBSCRIBE, Status.UNSUBSCRIBED, EARLIER, Status.UNSUBSCRIBED, EARLIER),
        (StopReason.BOUNCE, Status.ACTIVE, None, Status.BOUNCED, None),
        (StopReason.BOUNCE, Status.PENDING, None, Status.BOUNCED, None),
        (StopReason.BOUNCE, Status.UNSUBSCRIBED, EARLIER, Status.BOUNCED, EARLIER),
        (StopReason.COMPLAINT, Status.ACTIVE, None, Status.UNSUBSCRIBED, NOW),
        (StopReason.COMPLAINT, Status.UNSUBSCRIBED, EARLIER, Status.UNSUBSCRIBED, EARLIER),
        (StopReason.COMPLAINT, Status.BOUNCED, None, Status.UNSUBSCRIBED, NOW),
    ],
)
def test_stop_sets_the_status_and_cancels_every_unsent_email(
    app, reason, before, left_at, after, unsubscribed_at
):
    with app.app_context():
        ann = add_subscriber("Ann@example.com", before, unsubscribed_at=left_at)
        bob = add_subscriber("bob@example.com")
        add_delivery(ann, WORKSHEET, DeliveryStatus.SENT)
        add_delivery(ann, "month-1", DeliveryStatus.SCHEDULED)
        add_delivery(ann, "month-3", DeliveryStatus.QUEUED)
        add_delivery(ann, "month-6", DeliveryStatus.SENDING)
        add_delivery(bob, "month-1", DeliveryStatus.SCHEDULED)
        db.session.commit()

        stop(ann, reason, now=NOW)
        db.session.commit()
        db.session.expire_all()

        ann = find_by_address("ann@example.com")
        assert (ann.status, ann.unsubscribed_at) == (after, unsubscribed_at)
        rows = db.session.execute(
            select(Subscriber.email, Delivery.step, Delivery.status, Delivery.lease_until)
            .join(Subscriber)
            .order_by(Delivery.id)
        ).all()
    assert rows == [
        ("Ann@example.com", WORKSHEET, DeliveryStatus.SENT, None),
        ("Ann@example.com", "month-1", DeliveryStatus.CANCELLED, None),
        ("Ann@example.com", "month-3", DeliveryStatus.CANCELLED, None),
        ("Ann@example.com", "month-6", DeliveryStatus.CANCELLED, None),
        ("bob@example.com", "month-1", DeliveryStatus.SCHEDULED, None),
    ]


def test_stop_twice_changes_nothing_more(app):
    with app.app_context():
        ann = add_subscriber("ann@example.com")
        stop(ann, StopReason.COMPLAINT, now=EARLIER)
        stop(ann, StopReason.COMPLAINT, now=NOW)
        stop(ann, StopReason.UNSUBSCRIBE, now=NOW)
        db.session.commit()
        assert (ann.status, ann.unsubscribed_at) == (Status.UNSUBSCRIBED, EARLIER)


# ---- finding ---------------------------------------------------------------------------


def test_find_by_address_in_any_case_and_by_public_id(app):
    with app.app_context():
        ann = add_subscriber("Ann.Lee@Example.com")
        db.session.commit()
        assert find_by_address("ann.lee@example.com") is ann
        assert find_by_address("ANN.LEE@EXAMPLE.COM") is ann
        assert find_by_address("ann@example.com") is None
        assert find_by_public_id(ann.public_id) is ann
        assert find_by_public_id("no-such-id") is None
        assert find_by_public_id("") is None
        assert find_by_public_id(None) is None


def test_known_among_finds_every_status_across_chunks(app):
    with app.app_context():
        for i, status in enumerate([Status.PENDING, Status.ACTIVE, Status.UNSUBSCRIBED]):
            add_subscriber(f"s{i}@example.com", status)
        db.session.commit()
        keys = [f"s{i}@example.com" for i in range(5)]
        assert known_among(keys, chunk=2) == {"s0@example.com", "s1@example.com", "s2@example.com"}
        assert known_among([]) == set()


# ---- suppression -----------------------------------------------------------------------


def test_suppress_keeps_only_a_hash_once(app):
    with app.app_context():
        assert not is_suppressed("ann@example.com")
        assert suppress("ann@example.com", Reason.BOUNCE, now=NOW) is True
        assert suppress("ann@example.com", Reason.COMPLAINT, now=NOW) is False
        db.session.commit()
        assert is_suppressed("ann@example.com")
        (row,) = db.session.scalars(select(Suppression)).all()
        assert (row.email_hash, row.reason) == (suppression_hash("ann@example.com"), "bounce")
        assert "ann" not in row.email_hash and len(row.email_hash) == 64


def test_suppress_many_adds_only_new_addresses(app):
    with app.app_context():
        suppress("old@example.com", Reason.BOUNCE, now=EARLIER)
        added = suppress_many(
            ["old@example.com", "a@example.com", "b@example.com", "a@example.com"],
            Reason.IMPORTED,
            now=NOW,
        )
        db.session.commit()
        assert added == 2
        reasons = dict(db.session.execute(select(Suppression.email_hash, Suppression.reason)).all())
        assert suppress_many([], Reason.IMPORTED, now=NOW) == 0
        keys = ["old@example.com", "a@example.com", "b@example.com", "c@example.com"]
        assert suppressed_among(keys, chunk=1) == set(keys[:3])
    assert reasons == {
        suppression_hash("old@example.com"): Reason.BOUNCE,
        suppression_hash("a@example.com"): Reason.IMPORTED,
        suppression_hash("b@example.com"): Reason.IMPORTED,
    }


# ---- one row shape ---------------------------------------------------------------------


def _shape(app, email: str) -> dict:
    """The rows one signup wrote: unique values as present or not, times as "time"."""
    unique = {"id", "public_id", "email", "email_key", "subscriber_id", "message_id", "job_id"}

    def columns(obj) -> dict:
        out = {}
        for column in obj.__table__.columns:
            value = getattr(obj, column.key)
            if column.key in unique:
                out[column.key] = value is not None
            elif column.key == "updated_at":
                continue  # the ORM's own bookkeeping (onupdate) on the ORM path
            else:
                out[column.key] = "time" if isinstance(value, datetime) else value
        return out

    with app.app_context():
        subscriber = find_by_address(email)
        (consent,) = db.session.scalars(select(Consent).where(Consent.subscriber == subscriber))
        (delivery,) = db.session.scalars(select(Delivery).where(Delivery.subscriber == subscriber))
        return {
            "subscriber": columns(subscriber),
            "consent": columns(consent),
            "delivery": columns(delivery),
        }


def test_a_new_pending_signup_writes_the_same_rows_on_either_path(make_app):
    """The one-statement insert (double opt-in) and the ORM path (here: single opt-in for
    a suppressed address, which must confirm) build their rows from the same builders."""
    one_statement = make_app()
    response = one_statement.test_client().post(
        "/api/subscribe", json={"name": "Ann", "email": "ann@example.com"}
    )
    assert response.status_code == 202

    orm = make_app(DOUBLE_OPT_IN="0")
    with orm.app_context():
        suppress("bob@example.com", Reason.FORGOTTEN, now=NOW)
        db.session.commit()
    response = orm.test_client().post(
        "/api/subscribe", json={"name": "Ann", "email": "bob@example.com"}
    )
    assert response.status_code == 202

    ann, bob = _shape(one_statement, "ann@example.com"), _shape(orm, "bob@example.com")
    assert ann == bob
    assert ann["subscriber"]["status"] == Status.PENDING
    assert ann["delivery"]["status"] == DeliveryStatus.QUEUED
    assert ann["consent"]["source"] == "api"


def test_an_imported_consent_is_kept_to_its_columns(app, tmp_path):
    agent = "Mozilla/5.0 " + "x" * 700
    path = tmp_path / "tend.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["email", "name", "status", "signed_up_at", "consent_user_agent", "started_job_on"]
        )
        writer.writerow(
            ["ann@example.com", "Ann", "pending", "2026-01-05T10:00:00Z", agent, "2026-02-01xx"]
        )
    result = app.test_cli_runner().invoke(args=["subscribers", "import", str(path)])
    assert result.exit_code == 0, result.output
    with app.app_context():
        ann = find_by_address("ann@example.com")
        assert ann.started_job_on == date(2026, 2, 1)
        assert ann.consents[0].user_agent == agent[:512]


# ---- field lengths ---------------------------------------------------------------------


def test_the_forms_maxlength_is_what_the_checks_accept(client):
    page = client.get("/signup").get_data(as_text=True)
    maxlength = {
        name: int(limit)
        for name, limit in re.findall(r'<input[^>]*name="(\w+)"[^>]*maxlength="(\d+)"', page)
    }
    assert maxlength == {"name": NAME_MAX, "email": EMAIL_MAX} == {"name": 100, "email": 254}

    script = client.get("/embed.js").get_data(as_text=True)
    assert json.loads(re.search(r"var MAX = (\{.*?\});", script).group(1)) == maxlength

    def api(name: str, email: str) -> int:
        return client.post("/api/subscribe", json={"name": name, "email": email}).status_code

    def address(length: int) -> str:
        # The longest local part (64) and domain labels (63) a valid address may have.
        head = f"{'a' * 64}@{'b' * 63}.{'c' * 63}."
        return head + "d" * (length - len(head) - len(".com")) + ".com"

    assert len(address(EMAIL_MAX)) == EMAIL_MAX
    assert api("N" * NAME_MAX, "ann@example.com") == 202
    assert api("N" * (NAME_MAX + 1), "bob@example.com") == 400
    assert api("Cy", address(EMAIL_MAX)) == 202
    assert api("Cy", address(EMAIL_MAX + 1)) == 400
