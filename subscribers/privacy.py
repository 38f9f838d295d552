"""The privacy rules: what is stored about a subscriber, and how they are forgotten.

Used by the reader's own privacy page (`signup.privacy`) and the dashboard alike. Forgetting
removes the profile, its consent records and every delivery, and keeps only a hash of the
address on the suppression list, so no import or signup mails it again without a fresh
confirmation.
"""

from __future__ import annotations

import json
from datetime import date, datetime

from flask import Response, current_app
from sqlalchemy import delete, select

from campaigns import tallies
from models import Consent, Delivery, DeliveryStatus, Subscriber, db
from subscribers.lifecycle import detach_audit
from subscribers.suppression import Reason, suppress


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value else None


def data_of(subscriber: Subscriber) -> dict:
    """Everything stored about one subscriber: profile, consent records, deliveries."""
    consents = db.session.scalars(
        select(Consent).where(Consent.subscriber_id == subscriber.id).order_by(Consent.id)
    ).all()
    deliveries = db.session.scalars(
        select(Delivery).where(Delivery.subscriber_id == subscriber.id).order_by(Delivery.id)
    ).all()
    return {
        "profile": {
            "email": subscriber.email,
            "name": subscriber.name,
            "status": subscriber.status,
            "timezone": subscriber.timezone,
            "signed_up_at": _iso(subscriber.created_at),
            "confirmed_at": _iso(subscriber.confirmed_at),
            "unsubscribed_at": _iso(subscriber.unsubscribed_at),
            "job_status": subscriber.job_status,
            "started_job_on": _iso(subscriber.started_job_on),
            "called_name": subscriber.called_name,
            "drip_anchor_at": _iso(subscriber.anchor_at),
            "soft_bounces": subscriber.soft_bounces,
            "confirmation_emails": subscriber.confirm_requests,
        },
        # One per signup that asked for email, in order: given, confirmed, and when and why
        # it ended (unsubscribe, complaint, bounce). A return is the next one.
        "consents": [
            {
                "given_at": _iso(c.created_at),
                "source": c.source,
                "ip": c.ip,
                "user_agent": c.user_agent,
                "page_url": c.page_url,
                "form_version": c.form_version,
                "confirmed_at": _iso(c.confirmed_at),
                "confirmed_ip": c.confirmed_ip,
                "left_at": _iso(c.left_at),
                "left_reason": c.left_reason,
                "note": c.note,
            }
            for c in consents
        ],
        "deliveries": [
            {
                "email": d.step,
                "kind": d.kind,
                "status": d.status,
                "due_at": _iso(d.due_at),
                "sent_at": _iso(d.sent_at),
                "attempts": d.attempts,
                "last_error": d.last_error,
            }
            for d in deliveries
        ],
    }


def data_response(subscriber: Subscriber, *, now: datetime) -> Response:
    """The subscriber's data as a JSON download that no cache keeps."""
    body = {"exported_at": now.isoformat(), **data_of(subscriber)}
    response = Response(
        json.dumps(body, indent=2, ensure_ascii=False) + "\n", mimetype="application/json"
    )
    response.headers["Content-Disposition"] = 'attachment; filename="tend-my-data.json"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def forget(subscriber: Subscriber, *, now: datetime, reason: str = Reason.FORGOTTEN) -> None:
    """Delete the subscriber, their consents and deliveries; keep the address's hash suppressed."""
    suppress(subscriber.email_key, reason, now=now)
    sid = subscriber.id
    db.session.expunge(subscriber)
    tallies.forget_rows(
        db.session.execute(
            select(Delivery.step, Delivery.sent_at).where(
                Delivery.subscriber_id == sid, Delivery.status == DeliveryStatus.SENT
            )
        ).all()
    )
    # Explicit deletes: the same on PostgreSQL and on SQLite without foreign key enforcement.
    detach_audit([sid])
    db.session.execute(delete(Delivery).where(Delivery.subscriber_id == sid))
    db.session.execute(delete(Consent).where(Consent.subscriber_id == sid))
    db.session.execute(delete(Subscriber).where(Subscriber.id == sid))
    db.session.commit()
    current_app.logger.info("subscriber forgotten", extra={"reason": reason})
