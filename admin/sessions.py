"""Admin sessions held on the server: logging out, or a new ADMIN_PASSWORD, ends them.

Each login gets a random id. The `settings` table keeps a row per open session, under
`admin-session:` and a hash of the id (the database never holds what the cookie holds),
with when it began and the fingerprint of the password it was opened with. The signed
session cookie carries the id and the fingerprint. A cookie is refused when its row is gone
(logged out, or swept once expired or opened under another password), when either
fingerprint is not the current password's (ADMIN_PASSWORD, or SECRET_KEY, changed and the
service restarted), or when the session is older than ADMIN_SESSION_HOURS; a copy of the
cookie is refused just the same.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import delete, select

from models import Setting, db

PREFIX = "admin-session:"


def fingerprint(cfg: Mapping) -> str:
    """An HMAC under SECRET_KEY of ADMIN_PASSWORD: changing either ends every session."""
    return hmac.new(
        cfg["SECRET_KEY"].encode(), b"tend.admin:" + cfg["ADMIN_PASSWORD"].encode(), hashlib.sha256
    ).hexdigest()


def _row_key(session_id: str) -> str:
    # 14 + 48 characters: within the settings key's 64.
    return PREFIX + hashlib.sha256(session_id.encode()).hexdigest()[:48]


def _held(value: str | None) -> dict | None:
    """A stored session's `at` (a timestamp) and `key` (a fingerprint), or None."""
    try:
        held = json.loads(value) if value else None
    except ValueError:
        return None
    if not isinstance(held, dict) or not isinstance(held.get("at"), int):
        return None
    return held if isinstance(held.get("key"), str) else None


def _current(held: dict | None, cfg: Mapping, now: datetime, key: str) -> bool:
    if held is None or not hmac.compare_digest(held["key"], key):
        return False
    age = now.timestamp() - held["at"]
    return 0 <= age < cfg["ADMIN_SESSION_HOURS"] * 3600


def start(cfg: Mapping, now: datetime) -> dict:
    """Open a session at `now` (committed); what the session cookie holds from then on.

    Sessions expired or opened under another password are swept first."""
    key = fingerprint(cfg)
    _sweep(cfg, now, key)
    session_id = secrets.token_urlsafe(32)
    value = json.dumps({"at": int(now.timestamp()), "key": key})
    db.session.add(Setting(key=_row_key(session_id), value=value))
    db.session.commit()
    return {"id": session_id, "key": key}


def is_open(marker: object, cfg: Mapping, now: datetime) -> bool:
    """Whether a session cookie's marker names a session still open on the server, opened
    under the current password, and not expired. Reads only."""
    if not isinstance(marker, dict) or not isinstance(marker.get("id"), str):
        return False
    key = fingerprint(cfg)
    if not hmac.compare_digest(str(marker.get("key", "")), key):
        return False
    value = db.session.scalar(select(Setting.value).where(Setting.key == _row_key(marker["id"])))
    return _current(_held(value), cfg, now, key)


def end(marker: object, cfg: Mapping, now: datetime) -> None:
    """Close the session the marker names (committed): no copy of its cookie works again."""
    if isinstance(marker, dict) and isinstance(marker.get("id"), str):
        db.session.execute(delete(Setting).where(Setting.key == _row_key(marker["id"])))
    _sweep(cfg, now, fingerprint(cfg))
    db.session.commit()


def _sweep(cfg: Mapping, now: datetime, key: str) -> None:
    """Delete the sessions that can no longer be used (not committed)."""
    rows = db.session.execute(
        select(Setting.key, Setting.value).where(Setting.key.startswith(PREFIX, autoescape=True))
    ).all()
    stale = [row.key for row in rows if not _current(_held(row.value), cfg, now, key)]
    if stale:
        db.session.execute(delete(Setting).where(Setting.key.in_(stale)))
