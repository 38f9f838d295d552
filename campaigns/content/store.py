"""Versions of what the coach writes, kept in `content_versions`, newest wins.

A key's shipped default is its version 1. Nothing is stored for it until the coach first
publishes over it: then the default as it was is stored as version 1 and the new words as
version 2, so every later change of the shipped files can no longer reach that key (the
coach's words win) while the history keeps what was shipped. Versions are never changed
or deleted; reverting publishes an old version's content again as a new one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from models import ContentVersion, db, utcnow

SHIPPED = "shipped"  # published_by of a stored shipped default
KEPT = "tend.content.kept"  # the app's extension that holds what `kept` built

T = TypeVar("T")


@dataclass(frozen=True)
class Version:
    key: str
    version: int
    data: dict[str, Any]
    published_at: datetime | None  # None: the shipped default, never published over
    published_by: str = SHIPPED

    @property
    def shipped(self) -> bool:
        return self.published_at is None or self.published_by == SHIPPED


def _version(row: ContentVersion) -> Version:
    return Version(row.key, row.version, json.loads(row.data), row.published_at, row.published_by)


def latest(key: str) -> Version | None:
    """The newest stored version of `key`, or None when the coach never published it."""
    row = db.session.scalars(
        select(ContentVersion)
        .where(ContentVersion.key == key)
        .order_by(ContentVersion.version.desc())
        .limit(1)
    ).first()
    return _version(row) if row else None


def latest_of(prefix: str) -> dict[str, Version]:
    """The newest stored version of every key that starts with `prefix`, in one query."""
    newest = (
        select(ContentVersion.key, func.max(ContentVersion.version).label("version"))
        .where(ContentVersion.key.startswith(prefix, autoescape=True))
        .group_by(ContentVersion.key)
        .subquery()
    )
    rows = db.session.scalars(
        select(ContentVersion).join(
            newest,
            (ContentVersion.key == newest.c.key) & (ContentVersion.version == newest.c.version),
        )
    )
    return {row.key: _version(row) for row in rows}


def current(key: str, default: dict[str, Any] | None) -> Version | None:
    """What readers get for `key`: the newest published version, else the default as v1."""
    stored = latest(key)
    if stored is not None:
        return stored
    return None if default is None else Version(key, 1, default, None)


def history(key: str, default: dict[str, Any] | None) -> list[Version]:
    """Every version of `key`, newest first; the shipped default alone when none is stored."""
    rows = db.session.scalars(
        select(ContentVersion)
        .where(ContentVersion.key == key)
        .order_by(ContentVersion.version.desc())
    ).all()
    if rows:
        return [_version(r) for r in rows]
    return [] if default is None else [Version(key, 1, default, None)]


def get(key: str, version: int, default: dict[str, Any] | None) -> Version | None:
    """One version of `key` (the shipped default as 1 when none is stored)."""
    return next((v for v in history(key, default) if v.version == version), None)


def publish(
    key: str,
    data: dict[str, Any],
    *,
    default: dict[str, Any] | None,
    by: str,
    now: datetime | None = None,
) -> Version:
    """Store `data` as the newest version of `key` (the default first as version 1, when
    the coach never published this key). The caller commits."""
    now = now or utcnow()
    stored = latest(key)
    number = stored.version if stored else 0
    if stored is None and default is not None:
        db.session.add(
            ContentVersion(
                key=key, version=1, data=_dump(default), published_at=now, published_by=SHIPPED
            )
        )
        number = 1
    row = ContentVersion(
        key=key, version=number + 1, data=_dump(data), published_at=now, published_by=by[:64]
    )
    db.session.add(row)
    db.session.flush()
    return _version(row)


def stamp() -> int:
    """A number that changes whenever anything is published: the newest row's id. Cheap
    enough to ask on every tick and every send, so what is built from the versions can be
    kept until it changes."""
    return db.session.scalar(select(func.max(ContentVersion.id))) or 0


def kept(
    name: str,
    build: Callable[[], T],
    fallback: Callable[[], T] | None = None,
    *,
    app: Any = None,
) -> T:
    """What `build` makes from the versions, kept with the app under `name` until anything
    is published (one cheap query, `stamp()`, tells), so a page or a tick reads the
    versions again only after a change.

    With a `fallback`, a database that does not answer (or has no table yet, before `db
    upgrade`) still gets an answer: the value last built, else `fallback()`. Without one,
    the database's error is raised. `app` defaults to the current one."""
    held: dict[str, tuple[int, Any]] = (app or current_app).extensions.setdefault(KEPT, {})
    last = held.get(name)
    try:
        now = stamp()
        if last is not None and last[0] == now:
            return last[1]
        made = build()
    except SQLAlchemyError:
        if fallback is None:
            raise
        db.session.rollback()
        return last[1] if last is not None else fallback()
    held[name] = (now, made)
    return made


def forget(name: str) -> None:
    """Drop what `kept` holds under `name` in this app (a publish here does; other
    processes see the stamp move)."""
    current_app.extensions.get(KEPT, {}).pop(name, None)


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True)
