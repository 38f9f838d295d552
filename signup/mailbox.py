"""One mailbox's share of signup emails: sub-addresses (`ann+1@`, `ann+2@`, `ann@`) are one
mailbox, so together they get at most `EMAILS_PER_MAILBOX` (3) emails from signups in
`WINDOW` (30 days), whatever each address's own caps would allow.

Each address has its own caps too (one email per RESEND_MINUTES; three requests to confirm
in all), but a list-bomber who types `victim+0@` … `victim+4@` makes five addresses. The
count is kept in Redis on the edge, under a hash of the mailbox (no address in a key):
taken before the signup is stored, given back when the signup sent nothing after all.
While Redis does not answer, only each address's own caps hold.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from web import redis_edge
from web.redis_edge import RedisDown

EMAILS_PER_MAILBOX = 3
WINDOW = 30 * 86400


def mailbox_of(email_key: str) -> str:
    """The mailbox an address reaches: its local part up to the first `+`, and its domain."""
    local, _, domain = email_key.rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def _key(email_key: str) -> str:
    digest = hashlib.sha256(mailbox_of(email_key).encode("utf-8", "surrogatepass")).hexdigest()
    return redis_edge.current().key("mailbox", digest)


def take(email_key: str) -> bool | None:
    """Take one email from the mailbox's share: True, False when it is spent, None when
    Redis did not answer (nothing was taken)."""
    key = _key(email_key)

    def incr(redis) -> int:
        pipe = redis.pipeline(transaction=False)
        pipe.set(key, 0, ex=WINDOW, nx=True)
        pipe.incr(key)
        return pipe.execute()[1]

    try:
        return redis_edge.current().call(incr) <= EMAILS_PER_MAILBOX
    except RedisDown:
        return None


def give_back(email_key: str) -> None:
    """The signup that took an email sent none after all (best effort)."""
    with suppress(RedisDown):
        redis_edge.current().call(lambda redis: redis.decr(_key(email_key)))


@dataclass
class Asking:
    may: bool  # whether this signup may send an email that asks to confirm
    asked: bool = False  # whether it did (the signup sets it)


@contextmanager
def share(email_key: str) -> Iterator[Asking]:
    """Around one signup: take one of the mailbox's share, say whether the signup may ask
    to confirm, and give the share back if it asked nothing after all (or failed)."""
    taken = take(email_key)
    asking = Asking(may=taken is not False)
    try:
        yield asking
    finally:
        if taken and not asking.asked:
            give_back(email_key)
