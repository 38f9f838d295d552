"""The send job: claim a batch of deliveries, re-check, render, send, record. Ids in, never objects."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

import idna
from flask import current_app
from sqlalchemy import select, update

from campaigns import render as rendering
from campaigns.schedule import WORKSHEET, cancel_open
from campaigns.timing import backoff
from models import Delivery, DeliveryStatus, Status, Subscriber, db, utcnow
from workers.transport import (
    ConnectionLost,
    OutboxTransport,
    PermanentFailure,
    SMTPSettings,
    SMTPTransport,
    TemporaryFailure,
    Undeliverable,
)

log = logging.getLogger("tend.send")


def open_transport():
    """The configured transport, as a context manager holding one connection for a batch."""
    cfg = current_app.config
    if cfg["MAIL_BACKEND"] == "smtp":
        return SMTPTransport(
            SMTPSettings(
                host=cfg["SMTP_HOST"],
                port=cfg["SMTP_PORT"],
                username=cfg["SMTP_USERNAME"],
                password=cfg["SMTP_PASSWORD"],
                security=cfg["SMTP_SECURITY"],
                timeout=cfg["SMTP_TIMEOUT"],
            )
        )
    return OutboxTransport(cfg.get("OUTBOX_PATH") or f"{current_app.instance_path}/outbox")


def envelope_address(address: str) -> str:
    """An ASCII local part keeps the envelope ASCII: the domain goes out as IDNA."""
    local, _, domain = address.rpartition("@")
    if local.isascii() and not domain.isascii():
        try:
            return f"{local}@{idna.encode(domain).decode('ascii')}"
        except idna.IDNAError:
            return address
    return address


def _claim(job_id: str, ids: list[int], now: datetime) -> list[int]:
    """Take the rows this job was given, if they are still waiting for it."""
    lease = timedelta(seconds=current_app.config["SEND_LEASE_SECONDS"])
    claimed = db.session.scalars(
        update(Delivery)
        .where(
            Delivery.id.in_(ids),
            Delivery.status == DeliveryStatus.QUEUED,
            Delivery.job_id == job_id,
        )
        .values(status=DeliveryStatus.SENDING, lease_until=now + lease)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    return sorted(claimed)


def _may_receive(delivery: Delivery, subscriber: Subscriber) -> bool:
    if delivery.kind == WORKSHEET:
        return subscriber.status in (Status.PENDING, Status.ACTIVE)
    return subscriber.status == Status.ACTIVE


def _compose(delivery: Delivery, subscriber: Subscriber, sender: rendering.Sender, now: datetime):
    sequence = current_app.extensions["tend.sequence"]
    if delivery.kind == WORKSHEET:
        transactional = True
        email = rendering.render(
            "worksheet",
            subject="Your worksheet: what you need from your next company",
            preheader="One click and it's yours.",
            name=subscriber.name,
            public_id=subscriber.public_id,
            sender=sender,
            transactional=True,
            extra={"confirm": subscriber.status == Status.PENDING},
        )
    else:
        step = sequence.step(delivery.step)
        if step is None:
            return None
        transactional = False
        email = rendering.render(
            step.template,
            subject=step.subject,
            preheader=step.preheader,
            name=subscriber.name,
            public_id=subscriber.public_id,
            sender=sender,
            transactional=False,
        )
    return rendering.build_message(
        email,
        to_name=subscriber.name,
        to_address=subscriber.email,
        public_id=subscriber.public_id,
        message_id=delivery.message_id,
        sender=sender,
        transactional=transactional,
        date=now,
    )


def send_batch(job_id: str, ids: Iterable[int], now: str | None = None) -> dict[str, int]:
    """Send the deliveries of one batch over one connection; safe to run twice (sends once)."""
    try:
        return _send_batch(job_id, list(ids), datetime.fromisoformat(now) if now else None)
    finally:
        db.session.remove()


def _send_batch(job_id: str, ids: list[int], fixed_now: datetime | None) -> dict[str, int]:
    clock = (lambda: fixed_now) if fixed_now else utcnow
    counts = {"sent": 0, "retry": 0, "failed": 0, "skipped": 0}
    claimed = _claim(job_id, ids, clock())
    if not claimed:
        return counts
    sender = rendering.Sender.from_config(current_app.config)
    envelope_from = sender.envelope_from
    rows = db.session.execute(
        select(Delivery, Subscriber)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.id.in_(claimed))
        .order_by(Delivery.id)
    ).all()
    transport_down: str | None = None
    with open_transport() as transport:
        for delivery, subscriber in rows:
            now = clock()
            if not _may_receive(delivery, subscriber):
                delivery.status, delivery.lease_until = DeliveryStatus.CANCELLED, None
                counts["skipped"] += 1
                db.session.commit()
                continue
            if transport_down:
                # The server is gone for this batch: put the rest back without spending attempts.
                _retry(delivery, now, transport_down, spend=False)
                counts["retry"] += 1
                db.session.commit()
                continue
            message = _compose(delivery, subscriber, sender, now)
            if message is None:
                delivery.status, delivery.last_error = (
                    DeliveryStatus.CANCELLED,
                    "step no longer in the sequence",
                )
                counts["skipped"] += 1
                db.session.commit()
                continue
            delivery.attempts += 1
            try:
                transport.send(message, envelope_from, envelope_address(subscriber.email))
            except ConnectionLost as err:
                counts["failed" if _retry(delivery, now, str(err)) else "retry"] += 1
                transport_down = str(err)
            except TemporaryFailure as err:
                counts["failed" if _retry(delivery, now, str(err)) else "retry"] += 1
            except PermanentFailure as err:
                _fail(delivery, str(err))
                subscriber.status = Status.BOUNCED
                cancel_open(subscriber)
                counts["failed"] += 1
            except Undeliverable as err:
                _fail(delivery, str(err))
                counts["failed"] += 1
            else:
                delivery.status, delivery.sent_at, delivery.lease_until = (
                    DeliveryStatus.SENT,
                    now,
                    None,
                )
                delivery.last_error = None
                if delivery.kind != WORKSHEET:
                    subscriber.last_drip_at = max(filter(None, [subscriber.last_drip_at, now]))
                counts["sent"] += 1
            # One commit per email: a worker killed mid-batch re-sends at most the one in flight.
            db.session.commit()
    log.info("batch %s: %s", job_id, counts)
    return counts


def _retry(delivery: Delivery, now: datetime, error: str, *, spend: bool = True) -> bool:
    """Back on the schedule with backoff; True when its attempts are used up (now failed)."""
    delivery.last_error = error[:2000]
    delivery.lease_until = None
    if spend and delivery.attempts >= current_app.config["MAX_SEND_ATTEMPTS"]:
        delivery.status = DeliveryStatus.FAILED
        return True
    delivery.status = DeliveryStatus.SCHEDULED
    delivery.due_at = now + backoff(max(delivery.attempts, 1))
    return False


def _fail(delivery: Delivery, error: str) -> None:
    delivery.status, delivery.lease_until, delivery.last_error = (
        DeliveryStatus.FAILED,
        None,
        error[:2000],
    )
