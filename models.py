"""The schema, in one place: subscribers, their consent, and every email as a delivery row.

All datetimes are stored as naive UTC and handed to Python as aware UTC, so SQLite and
PostgreSQL behave the same.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from enum import StrEnum, nonmember

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Aware UTC in Python, naive UTC in the database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


class ISODate(TypeDecorator):
    """A date in Python and in the database; ISO text ("2027-03-01") is taken as one."""

    impl = Date
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return date.fromisoformat(value) if isinstance(value, str) else value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_public_id() -> str:
    return secrets.token_urlsafe(12)


class Status(StrEnum):
    """Where a subscriber stands on the list."""

    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"


class JobStatus(StrEnum):
    """What the reader told us of their job; the drip follows it (see campaigns/schedule.py)."""

    UNKNOWN = "unknown"  # never said
    LOOKING = "looking"  # "Not yet, still looking"
    NOT_CHANGING = "not_changing"  # "I'm not changing jobs"
    STARTED = "started"  # gave a start date (past, or up to six months ahead): started_job_on

    ALL = nonmember((UNKNOWN, LOOKING, NOT_CHANGING, STARTED))
    ASKED = nonmember((UNKNOWN, LOOKING))  # readers the check-ins still ask


class DeliveryStatus(StrEnum):
    """Where one email stands: from planned to sent (or not)."""

    SCHEDULED = "scheduled"  # waits for due_at
    QUEUED = "queued"  # handed to Redis under job_id; lease_until guards it
    SENDING = "sending"  # a worker holds it until lease_until
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    HELD = "held"  # an after-hire note waiting for a start date; never sent without one
    SKIPPED = "skipped"  # more than 14 days overdue when its date became known: not sent late

    OPEN = nonmember((SCHEDULED, QUEUED, SENDING))


class Subscriber(db.Model):
    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    email: Mapped[str] = mapped_column(String(320))
    # The address folded to lower case: one subscriber per address whatever its case.
    email_key: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default=Status.PENDING)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # The start of the new job, midnight of started_job_on in their zone; None unless started.
    anchor_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The day the new job starts (0010: a Date; ISO text is taken too, as files give it).
    started_job_on: Mapped[date | None] = mapped_column(ISODate)
    # The name they asked to be greeted by ("What should I call you?"); None: from `name`.
    called_name: Mapped[str | None] = mapped_column(String(100))
    job_status: Mapped[str] = mapped_column(
        String(16), default=JobStatus.UNKNOWN, server_default=JobStatus.UNKNOWN
    )
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_drip_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    worksheet_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    soft_bounces: Mapped[int] = mapped_column(Integer, default=0)
    # Emails sent asking this address to confirm (0008): one that never confirmed gets
    # `lifecycle.CONFIRM_REQUESTS_MAX` at most, whoever types it into the form.
    confirm_requests: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    consents: Mapped[list[Consent]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan", order_by="Consent.id"
    )
    deliveries: Mapped[list[Delivery]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan", order_by="Delivery.id"
    )

    __table_args__ = (
        Index("ix_subscribers_status_created", "status", "created_at"),
        # The dashboard: signups per day; status and confirmed counted in one index pass (0003).
        Index("ix_subscribers_created", "created_at"),
        Index("ix_subscribers_status_confirmed", "status", "confirmed_at"),
        # The dashboard's "still looking", "not changing jobs" and "gave a start date" (0004).
        Index("ix_subscribers_job_status", "job_status"),
    )


class Consent(db.Model):
    """What the subscriber agreed to, where and when; confirmation is added on confirm.

    One row per signup that asked for email: the first one, and each return of a reader who
    had left. A row ends when they leave (0008): `left_at`, and `left_reason` the
    `lifecycle.StopReason` (unsubscribe, complaint, bounce). Read in order, the rows are the
    history of leaving and coming back.
    """

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    page_url: Mapped[str | None] = mapped_column(String(2048))
    # The page without its query or fragment: what the dashboard groups signups by (0007).
    page: Mapped[str | None] = mapped_column(String(512))
    form_version: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16), default="form")
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_ip: Mapped[str | None] = mapped_column(String(45))
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    left_reason: Mapped[str | None] = mapped_column(String(16))
    # How a reader the coach added by hand asked to join (source "operator", 0012).
    note: Mapped[str | None] = mapped_column(String(500))

    subscriber: Mapped[Subscriber] = relationship(back_populates="consents")

    __table_args__ = (
        # Signups and confirmations per page, counted from the index alone (0007).
        Index("ix_consents_page", "page", "confirmed_at"),
    )


class Delivery(db.Model):
    """One email to one subscriber: it exists here before it ever reaches Redis."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(64))
    # "worksheet", "reconfirm" (the worksheet email to a reader asking to come back), "drip"
    # or "checkin"
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.SCHEDULED)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    job_id: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When a relay went silent after taking this email's data (0005): sent again once at most.
    maybe_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    subscriber: Mapped[Subscriber] = relationship(back_populates="deliveries")

    __table_args__ = (
        Index("ix_deliveries_subscriber", "subscriber_id", "kind"),
        # The dispatcher reads only these two slices, so their cost follows what is due.
        Index(
            "ix_deliveries_scheduled_due",
            "due_at",
            postgresql_where=text("status = 'scheduled'"),
            sqlite_where=text("status = 'scheduled'"),
        ),
        Index(
            "ix_deliveries_leased",
            "lease_until",
            postgresql_where=text("status IN ('queued', 'sending')"),
            sqlite_where=text("status IN ('queued', 'sending')"),
        ),
        # Sent and failed per step (campaigns/tallies.py) and the latest failures (0003).
        Index(
            "ix_deliveries_sent",
            "sent_at",
            "step",
            postgresql_where=text("status = 'sent'"),
            sqlite_where=text("status = 'sent'"),
        ),
        Index(
            "ix_deliveries_failed",
            "step",
            postgresql_where=text("status = 'failed'"),
            sqlite_where=text("status = 'failed'"),
        ),
        Index(
            "ix_deliveries_errors",
            "updated_at",
            postgresql_where=text("last_error IS NOT NULL"),
            sqlite_where=text("last_error IS NOT NULL"),
        ),
        # A drip step reaches a subscriber once; worksheet emails may be resent.
        Index(
            "uq_deliveries_drip_step",
            "subscriber_id",
            "step",
            unique=True,
            postgresql_where=text("kind = 'drip'"),
            sqlite_where=text("kind = 'drip'"),
        ),
        # ...and so does a check-in (0004).
        Index(
            "uq_deliveries_checkin_step",
            "subscriber_id",
            "step",
            unique=True,
            postgresql_where=text("kind = 'checkin'"),
            sqlite_where=text("kind = 'checkin'"),
        ),
    )


class Setting(db.Model):
    """Small facts the service keeps about itself (e.g. the synced sequence)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ContentVersion(db.Model):
    """One published version of something the coach writes: an email (`email:<key>`), the
    pages' texts (`pages`) or the worksheet (`worksheet`). The newest version of a key is
    what readers get; the shipped default is version 1 (stored once the coach first
    publishes over it). `data` is JSON; nothing here is ever updated or deleted."""

    __tablename__ = "content_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_by: Mapped[str] = mapped_column(String(64), default="")

    __table_args__ = (UniqueConstraint("key", "version", name="uq_content_versions_key_version"),)


class AuditEvent(db.Model):
    """What the coach (or the admin API) did, for the Activity page and the reader's page:
    who (`actor`: the dashboard session or the API), what (`action` and a sentence), when."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL")
    )
    summary: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str] = mapped_column(Text, default="")  # JSON

    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_subscriber", "subscriber_id", "at"),
    )


class Suppression(db.Model):
    """Addresses that asked to be forgotten or bounced hard, kept only as a hash."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("email_hash", name="uq_suppressions_email_hash"),)


class SpentToken(db.Model):
    """Challenge solutions, form tokens and webhook nonces already used, kept here while
    Redis is down.

    Redis holds them otherwise (`web.spent`); a row lives until its key expires. Keys
    are prefixed by purpose (`pow:`, `form:`, `mailgun:`, `sendgrid:`, `ses:`, `postmark:`).
    """

    __tablename__ = "spent_tokens"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class MailEvent(db.Model):
    """A complaint or a hard bounce, kept with its time for the reputation guard (0005)."""

    __tablename__ = "mail_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "complaint" or "hard_bounce"
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_mail_events_at", "at", "kind"),)


class TransferState:
    QUEUED = "queued"  # saved, waiting for a worker
    RUNNING = "running"
    DONE = "done"  # imported, or the export is ready
    REFUSED = "refused"  # checked, and nothing imported: invalid rows (listed) or the file
    FAILED = "failed"  # stopped before the end: nothing imported, no export offered

    OPEN = (QUEUED, RUNNING)


class Transfer(db.Model):
    """An import or export run by a worker (0009): what it is, how far, and what came of it.

    Live progress is kept in the row as the job goes (`done` of `total`); the counts and
    the invalid lines are written when it ends. An import's upload and an export's file
    are under TRANSFER_DIR, named by the id.
    """

    __tablename__ = "transfers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # also the RQ job id
    kind: Mapped[str] = mapped_column(String(16))  # "import" or "export"
    state: Mapped[str] = mapped_column(String(16), default=TransferState.QUEUED)
    skip_invalid: Mapped[bool] = mapped_column(Boolean, default=False)
    filename: Mapped[str] = mapped_column(String(255), default="")  # as uploaded
    path: Mapped[str | None] = mapped_column(String(1024))
    phase: Mapped[str] = mapped_column(String(32), default="")  # "checking", "importing", ...
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[str] = mapped_column(Text, default="")  # JSON: the report
    invalid: Mapped[str] = mapped_column(Text, default="")  # JSON: [[line, reason], ...]
    invalid_count: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_transfers_created", "created_at"),)
