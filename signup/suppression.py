"""The suppression list: hashed addresses that must never be mailed again without a new consent.

Shared by the privacy page (forget me), bounce webhooks and the importer. Only the hash
of the folded address is kept (see `service.suppression_hash`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from models import Suppression, db
from signup.service import is_suppressed, suppression_hash


class Reason:
    FORGOTTEN = "forgotten"  # the subscriber asked to be deleted
    BOUNCE = "bounce"  # a hard bounce
    SOFT_BOUNCES = "soft-bounces"  # too many soft bounces in a row
    COMPLAINT = "complaint"  # marked as spam
    IMPORTED = "import-unsubscribed"  # unsubscribed or cleaned in the list it came from
    OPERATOR = "operator"  # deleted from the dashboard


def suppress(email_key: str, reason: str, *, now: datetime) -> bool:
    """Add the address to the list in the caller's transaction; False if it was there already."""
    if is_suppressed(email_key):
        return False
    digest = suppression_hash(email_key)
    try:
        with db.session.begin_nested():
            db.session.add(Suppression(email_hash=digest, reason=reason[:32], created_at=now))
    except IntegrityError:
        # A parallel request suppressed it a moment ago: the outcome is the same.
        return False
    return True


def suppressed_among(email_keys: Iterable[str], chunk: int = 500) -> set[str]:
    """Which of these folded addresses are on the list (queried in chunks)."""
    by_hash = {suppression_hash(k): k for k in email_keys}
    hashes = list(by_hash)
    found: set[str] = set()
    for i in range(0, len(hashes), chunk):
        part = hashes[i : i + chunk]
        found.update(
            by_hash[h]
            for h in db.session.scalars(
                select(Suppression.email_hash).where(Suppression.email_hash.in_(part))
            )
        )
    return found
