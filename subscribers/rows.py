"""The columns of a new subscriber and of a consent record.

Every writer of these rows takes its values from here: signup's ORM path and its
one-statement inserts, and the importer's bulk inserts. A new column, or a new rule for
one, is written once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from models import JobStatus, Status, new_public_id
from subscribers.fields import (
    FORM_VERSION_MAX,
    PAGE_MAX,
    PAGE_URL_MAX,
    STARTED_ON_MAX,
    USER_AGENT_MAX,
    fit,
)
from subscribers.lifecycle import email_key


def subscriber_row(
    *,
    email: str,
    name: str,
    timezone: str,
    now: datetime,
    status: str = Status.PENDING,
    created_at: datetime | None = None,
    anchor_at: datetime | None = None,
    started_job_on: str | None = None,
    job_status: str = JobStatus.UNKNOWN,
    confirmed_at: datetime | None = None,
    worksheet_sent_at: datetime | None = None,
    confirm_requests: int | None = None,
) -> dict[str, Any]:
    """The columns of a new subscriber, with a fresh public id and the folded address.

    `created_at` is when they signed up (`now` unless an import knows better);
    `confirm_requests` how many emails asking them to confirm are sent with the row: by
    default one for a pending row whose worksheet email goes now (`worksheet_sent_at`),
    as signup's insert and the importer write them, else none.
    """
    if confirm_requests is None:
        confirm_requests = int(status == Status.PENDING and worksheet_sent_at is not None)
    return {
        "public_id": new_public_id(),
        "email": email,
        "email_key": email_key(email),
        "name": name,
        "status": status,
        "timezone": timezone,
        "anchor_at": anchor_at,
        "started_job_on": fit(started_job_on, STARTED_ON_MAX),
        "job_status": job_status,
        "confirmed_at": confirmed_at,
        "worksheet_sent_at": worksheet_sent_at,
        "soft_bounces": 0,
        "confirm_requests": confirm_requests,
        "created_at": created_at or now,
        "updated_at": now,
    }


def page_of(page_url: str | None) -> str | None:
    """The page a signup came from, as the dashboard counts it: its URL without the query
    or fragment (campaign tags, click ids), kept to its column. Migration 0007 applies the
    same rule to the consents it finds."""
    if not page_url:
        return None
    return fit(page_url.split("#", 1)[0].split("?", 1)[0], PAGE_MAX)


def consent_row(
    *,
    now: datetime,
    ip: str | None,
    user_agent: str | None,
    page_url: str | None,
    form_version: str,
    source: str,
    created_at: datetime | None = None,
    confirmed_at: datetime | None = None,
    confirmed_ip: str | None = None,
) -> dict[str, Any]:
    """The columns of one consent record (without its subscriber's id).

    What the browser or the file said is kept as far as its column holds it.
    """
    return {
        "created_at": created_at or now,
        "ip": ip,
        "user_agent": fit(user_agent, USER_AGENT_MAX),
        "page_url": fit(page_url, PAGE_URL_MAX),
        "page": page_of(page_url),
        "form_version": form_version[:FORM_VERSION_MAX],
        "source": source,
        "confirmed_at": confirmed_at,
        "confirmed_ip": confirmed_ip,
    }
