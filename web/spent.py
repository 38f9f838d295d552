"""Single use: each challenge solution, no-script form token and webhook nonce is taken once.

Each purpose names its keys with its own prefix (`pow:`, `form:`, `mailgun:`, `sendgrid:`,
`ses:`, `postmark:`), so one purpose never spends another's. Redis remembers a taken key
until it expires (one `SET NX`, no commit on the signup path). While Redis does not answer,
the database does (`spent_tokens`, unique by key), and the process that wrote there copies
its rows into Redis once Redis is back, so a key taken during the outage stays taken
afterwards. A key taken in Redis shortly before an outage could be used once more during
it: the one gap, bounded by the key's lifetime (two hours for a token, the webhook age for
a webhook nonce).
"""

from __future__ import annotations

import hashlib
from contextlib import suppress
from datetime import datetime

from flask import current_app
from redis import Redis
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from models import SpentToken, db
from web import redis_edge
from web.redis_edge import RedisDown


def _owed() -> dict:
    """Whether this process wrote keys to the database that Redis has not seen yet."""
    return current_app.extensions.setdefault("tend.spent", {"owed": False})


def key_for(purpose: str, nonce: str | bytes) -> str:
    """The key for a nonce its sender chose (any length): the purpose and a SHA-256 of it,
    short enough for `spent_tokens.key`."""
    data = nonce if isinstance(nonce, bytes) else nonce.encode("utf-8", "surrogatepass")
    return f"{purpose}:{hashlib.sha256(data).hexdigest()}"


def redis_key(key: str) -> str:
    """Where Redis keeps `key` as taken (a script that takes keys itself uses this name)."""
    return redis_edge.current().key("spent", key)


def take(key: str, expires_at: datetime, *, now: datetime) -> bool:
    """True for the first caller with `key` (until `expires_at`), False for any later one.

    While Redis cools down (`web.redis_edge`), the database answers."""
    owed = _owed()

    def in_redis(redis: Redis) -> bool:
        if owed["owed"]:
            _copy_to_redis(redis, now)
            owed["owed"] = False
        return bool(redis.set(redis_key(key), 1, nx=True, exat=int(expires_at.timestamp())))

    try:
        return redis_edge.current().call(in_redis)
    except RedisDown:
        current_app.logger.debug("single-use check in the database: Redis unavailable")
    owed["owed"] = True
    return _take_in_database(key, expires_at, now)


def give_back(key: str) -> None:
    """Make `key` takeable again: what it let through was not recorded after all (the
    sender will retry, and the retry must not be taken for a replay). Best effort."""
    # While Redis is down, the database row below is the one that counted.
    with suppress(RedisDown):
        redis_edge.current().call(lambda redis: redis.delete(redis_key(key)))
    try:
        db.session.execute(delete(SpentToken).where(SpentToken.key == key))
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        current_app.logger.warning("a spent key could not be given back: database unavailable")


def _take_in_database(key: str, expires_at: datetime, now: datetime) -> bool:
    try:
        db.session.execute(delete(SpentToken).where(SpentToken.expires_at <= now))
        db.session.add(SpentToken(key=key, expires_at=expires_at))
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    except SQLAlchemyError:
        db.session.rollback()
        raise
    return True


def _copy_to_redis(redis: Redis, now: datetime) -> None:
    rows = db.session.execute(
        select(SpentToken.key, SpentToken.expires_at).where(SpentToken.expires_at > now)
    ).all()
    db.session.rollback()  # a read: end its transaction before the signup's own
    if not rows:
        return
    pipe = redis.pipeline(transaction=False)
    for key, expires_at in rows:
        pipe.set(redis_key(key), 1, nx=True, exat=int(expires_at.timestamp()))
    pipe.execute()
