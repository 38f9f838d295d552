"""The suppression list: hashed addresses that must never be mailed again without a new consent.

Shared by signup, the privacy page (forget me), bounce webhooks, the dashboard and the
importer. Only the SHA-256 of the folded address (`lifecycle.email_key`) is kept. An
address suppressed for a complaint or a bounce takes no new consent from a signup at all
(`refuses_signup`): whoever types it into the form, it is not mailed again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from models import Suppression, db
from subscribers.fields import REASON_MAX, fit


class Reason:
    FORGOTTEN = "forgotten"  # the subscriber asked to be deleted
    BOUNCE = "bounce"  # a hard bounce
    SOFT_BOUNCES = "soft-bounces"  # too many soft bounces in a row
    COMPLAINT = "complaint"  # marked as spam
    IMPORTED = "import-unsubscribed"  # unsubscribed or cleaned in the list it came from
    OPERATOR = "operator"  # deleted from the dashboard


# The reasons after which a signup sends nothing, in either opt-in mode: the reader marked
# us as spam, or the mailbox refuses. The others (forgotten, unsubscribed in another list,
# deleted by the operator) need the reader's own confirmation to come back.
REFUSE_SIGNUP = (Reason.COMPLAINT, Reason.BOUNCE, Reason.SOFT_BOUNCES)


def suppression_hash(email_key: str) -> str:
    """What the list keeps of a folded address: its SHA-256, in hex."""
    return hashlib.sha256(email_key.encode("utf-8")).hexdigest()


def is_suppressed(email_key: str) -> bool:
    """Whether this folded address is on the list."""
    return (
        db.session.scalar(
            select(Suppression.id).where(Suppression.email_hash == suppression_hash(email_key))
        )
        is not None
    )


def refusing(email_hash):
    """SQL: the address with this hash (a column or a parameter) is suppressed for a reason
    in REFUSE_SIGNUP."""
    return (
        select(Suppression.id)
        .where(Suppression.email_hash == email_hash, Suppression.reason.in_(REFUSE_SIGNUP))
        .exists()
    )


def refuses_signup(email_key: str) -> bool:
    """Whether a signup of this folded address must send and store nothing (see REFUSE_SIGNUP)."""
    return bool(db.session.scalar(select(refusing(suppression_hash(email_key)))))


def suppress(email_key: str, reason: str, *, now: datetime) -> bool:
    """Add the address to the list in the caller's transaction; False if it was there already."""
    if is_suppressed(email_key):
        return False
    digest = suppression_hash(email_key)
    try:
        with db.session.begin_nested():
            db.session.add(
                Suppression(email_hash=digest, reason=fit(reason, REASON_MAX), created_at=now)
            )
    except IntegrityError:
        # A parallel request suppressed it a moment ago: the outcome is the same.
        return False
    return True


def suppress_many(email_keys: Iterable[str], reason: str, *, now: datetime) -> int:
    """Add every address not yet on the list, in one insert in the caller's transaction.

    Returns how many were added. Meant for one writer at a time (the importer): a
    parallel suppression of the same address makes the insert fail as a whole.
    """
    keys = set(email_keys)
    fresh = keys - suppressed_among(keys)
    if fresh:
        db.session.execute(
            insert(Suppression),
            [
                {
                    "email_hash": suppression_hash(k),
                    "reason": fit(reason, REASON_MAX),
                    "created_at": now,
                }
                for k in sorted(fresh)
            ],
        )
    return len(fresh)


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
