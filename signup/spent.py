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
import time
from datetime import datetime

from flask import current_app
from redis import Redis, RedisError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from models import SpentToken, db

# After Redis failed, the database takes over for this long before Redis is tried again,
# so a dead Redis costs one timeout every few seconds rather than one per signup.
_RETRY_SECONDS = 5.0


def _state() -> dict:
    state = current_app.extensions.get("tend.spent")
    if state is None:
        redis = Redis.from_url(
            current_app.config["REDIS_URL"], socket_connect_timeout=0.3, socket_timeout=0.3
        )
        # The clock the retry waits on: `tend.monotonic` when the app was given one (a test
        # that moves time on instead of sleeping), else the process's monotonic clock.
        clock = current_app.extensions.get("tend.monotonic", time.monotonic)
        state = {"redis": redis, "down_until": 0.0, "owed": False, "clock": clock}
        current_app.extensions["tend.spent"] = state
    return state


def key_for(purpose: str, nonce: str | bytes) -> str:
    """The key for a nonce its sender chose (any length): the purpose and a SHA-256 of it,
    short enough for `spent_tokens.key`."""
    data = nonce if isinstance(nonce, bytes) else nonce.encode("utf-8", "surrogatepass")
    return f"{purpose}:{hashlib.sha256(data).hexdigest()}"


def _redis_key(key: str) -> str:
    return f"tend:{current_app.config['RQ_QUEUE']}:spent:{key}"


def take(key: str, expires_at: datetime, *, now: datetime) -> bool:
    """True for the first caller with `key` (until `expires_at`), False for any later one."""
    state = _state()
    if state["clock"]() >= state["down_until"]:
        try:
            if state["owed"]:
                _copy_to_redis(state["redis"], now)
                state["owed"] = False
            return bool(
                state["redis"].set(_redis_key(key), 1, nx=True, exat=int(expires_at.timestamp()))
            )
        except RedisError:
            state["down_until"] = state["clock"]() + _RETRY_SECONDS
            current_app.logger.warning("single-use check in the database: Redis unavailable")
    state["owed"] = True
    return _take_in_database(key, expires_at, now)


def give_back(key: str) -> None:
    """Make `key` takeable again: what it let through was not recorded after all (the
    sender will retry, and the retry must not be taken for a replay). Best effort."""
    state = _state()
    if state["clock"]() >= state["down_until"]:
        try:
            state["redis"].delete(_redis_key(key))
        except RedisError:
            state["down_until"] = state["clock"]() + _RETRY_SECONDS
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
        pipe.set(_redis_key(key), 1, nx=True, exat=int(expires_at.timestamp()))
    pipe.execute()
