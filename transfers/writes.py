"""The rows an import writes for its readers, in bulk, as the scheduler would write them."""

from __future__ import annotations

from datetime import date, datetime

from flask import current_app
from sqlalchemy import insert

from campaigns import schedule
from campaigns.plan import Reader, intended
from campaigns.sequence import Sequence
from campaigns.timing import start_anchor, zone_or_default
from models import Consent, Delivery, DeliveryStatus, JobStatus, Status, Subscriber, db
from subscribers import rows
from transfers.formats import Row


def planned(
    row: Row, now: datetime, sequence: Sequence, domain: str
) -> tuple[dict, dict, list[dict]]:
    """The subscriber, consent and delivery rows for one import row, as column values.

    A confirmed row gets the rows `schedule.follow` would write for a new reader, by the
    same rule (`plan.intended`), the way `schedule.sync` adds a step in bulk; the ORM's
    unit of work would cost about a millisecond a row. A note more than 14 days past is
    written skipped: history, not news. Any other row gets the worksheet email with its
    confirm link, due now, as `schedule.add_worksheet` writes it.
    """
    started = row.job_status == JobStatus.STARTED and row.started_job_on is not None
    zone = zone_or_default(row.timezone, current_app.config["DEFAULT_TIMEZONE"])
    anchor = start_anchor(date.fromisoformat(row.started_job_on), zone) if started else None
    subscriber = rows.subscriber_row(
        email=row.email,
        name=row.name,
        timezone=row.timezone,
        now=now,
        status=Status.ACTIVE if row.consented else Status.PENDING,
        created_at=row.opted_in_at,
        anchor_at=anchor,
        started_job_on=row.started_job_on if started else None,
        job_status=row.job_status,
        confirmed_at=row.confirmed_at if row.consented else None,
        worksheet_sent_at=None if row.consented else now,
    )
    if row.consented:
        reader = Reader(row.job_status, anchor, row.confirmed_at, zone)
        deliveries = [
            schedule.delivery_row(
                note.key, note.kind, note.due_at, domain=domain, now=now, status=note.status
            )
            for note in intended(sequence, reader, now=now)
            if note.status in (DeliveryStatus.SCHEDULED, DeliveryStatus.SKIPPED)
        ]
    else:
        deliveries = [schedule.worksheet_row(now=now, domain=domain)]
    consent = rows.consent_row(
        now=now,
        created_at=row.opted_in_at,
        ip=row.opt_in_ip,
        user_agent=row.user_agent,
        page_url=row.page_url,
        form_version=row.form_version,
        source="import",
        confirmed_at=row.confirmed_at if row.consented else None,
        confirmed_ip=row.confirmed_ip if row.consented else None,
    )
    return subscriber, consent, deliveries


def write(planned: list[tuple[dict, dict, list[dict]]]) -> None:
    """Insert one batch: subscribers first (their ids in order), then consents and deliveries."""
    table = Subscriber.__table__
    ids = db.session.scalars(
        insert(table).returning(table.c.id, sort_by_parameter_order=True),
        [values for values, _, _ in planned],
    ).all()
    db.session.execute(
        insert(Consent.__table__),
        [
            consent | {"subscriber_id": sid}
            for sid, (_, consent, _) in zip(ids, planned, strict=True)
        ],
    )
    notes = [
        delivery | {"subscriber_id": sid}
        for sid, (_, _, deliveries) in zip(ids, planned, strict=True)
        for delivery in deliveries
    ]
    if notes:
        db.session.execute(insert(Delivery.__table__), notes)
