"""The worksheet, as the coach edits it: its title, intro, sections, questions, checkboxes
and the rest of its words (`studio.worksheet_check` says what they must be).

Publishing stores a version of the content key `worksheet` and queues the rebuild of the
PDF on the existing worker (`campaigns.worksheet.rebuild`); readers get the build before it
until the new one is ready. `status()` says where the rebuild stands.

`view()`, `publish(data, ...)`, `status()`, `versions()`, `revert(version, ...)`; and for
`content export|import`, `export_data()` and `import_data(data, ...)`.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import datetime
from typing import Any

from flask import current_app

from campaigns.content import store
from campaigns.worksheet import build, content, rebuild, state
from models import db, utcnow
from studio import audit
from studio.errors import NotFound
from studio.worksheet_check import normal
from web.redis_edge import RedisDown

QUEUE_DOWN = (
    "The queue (Redis) did not answer, so the rebuild did not start: the new PDF is built "
    "on the next download, or run flask --app app worksheet build."
)
LOST = (
    "The rebuild did not finish in time (is a worker running?): the new PDF is built on "
    "the next download, or run flask --app app worksheet build."
)


def view() -> dict[str, Any]:
    """The words readers get now: `version` (1: the shipped words), `title`, `subject`,
    `intro`, `garden`, `closing` and `sections`, each `{heading, note, items}`; an item is
    `{kind: "question", key, text, lines}`, `{kind: "checkboxes", prompt, boxes: [{key,
    label}]}`, `{kind: "blanks", hint, blanks: [{key, label}]}` or `{kind: "network",
    rows, columns: [{key, label}], ticks: [{key, label}]}`. `publish` takes it back."""
    held = content.current()
    return {"version": held.version} | normal(held.data)


def _options(words: content.Worksheet) -> build.Options:
    """The build of `words` as `status()` and the worker name it (`Options.from_config`):
    signed with the coach's name as the Settings page has it, not the environment's."""
    return replace(build.Options.from_config(current_app.config), words=words)


def _store(data: dict, *, actor, now: datetime, action: str, summary: str) -> dict[str, Any]:
    published = store.publish(
        content.KEY, data, default=content.shipped_data(), by=str(actor), now=now
    )
    digest = build.digest(_options(content.from_data(data)))
    state.mark(state.BUILDING, version=published.version, digest=digest, now=now)
    audit.record(
        actor,
        action,
        f"{summary} (version {published.version})",
        detail={"version": published.version},
        now=now,
    )
    db.session.commit()
    content.forget()
    _queue(published.version, digest, now)
    return view()


def _queue(version: int, digest: str, now: datetime) -> None:
    """Queue the rebuild; a queue that does not answer is said on the page, and the next
    download builds the PDF instead."""
    try:
        current_app.extensions["tend.conveyor"].enqueue_slow(
            rebuild.JOB,
            version,
            job_id=f"worksheet-{version}-{secrets.token_hex(4)}",
            timeout=rebuild.JOB_TIMEOUT,
            description=f"rebuild the worksheet (version {version})",
        )
    except RedisDown:
        state.mark(state.FAILED, version=version, digest=digest, now=now, error=QUEUE_DOWN)
        db.session.commit()


def publish(data: object, *, actor: audit.Actor | str, now: datetime) -> dict[str, Any]:
    """Publish the whole worksheet (as `view()` gives it) as a new version and queue the
    PDF's rebuild. Answers the worksheet as published. Raises Refused (nothing changed),
    naming every field that cannot be taken."""
    clean = normal(data)
    return _store(
        clean, actor=actor, now=now, action="worksheet.publish", summary="Published the worksheet"
    )


def status(now: datetime | None = None) -> dict[str, Any]:
    """Where the PDF of the words readers get stands: `state` (`building`, `ready` or
    `failed`), `version`, `built` (the file is there; a ready one that is not is built on
    the first download), `error` (why it failed, or None), `at` (when it got this state, or
    None) and `own_pdf` (WORKSHEET_PATH is set: readers get that file instead)."""
    now = now or utcnow()
    cfg = current_app.config
    options = build.Options.from_config(cfg)
    digest = build.digest(options)
    built = build.built_path(options, build.build_folder(cfg, current_app.instance_path)).exists()
    held = state.read()
    answer = {
        "state": state.READY,
        "version": content.current().version,
        "built": built,
        "error": None,
        "at": None,
        "own_pdf": bool(cfg["WORKSHEET_PATH"]),
    }
    if held is None or held.digest != digest:
        return answer
    answer |= {"state": held.state, "error": held.error or None, "at": held.at}
    if held.state == state.BUILDING and built:
        answer["state"] = state.READY
    elif held.state == state.BUILDING and not held.waiting_for(digest, now):
        answer |= {"state": state.FAILED, "error": LOST}
    return answer


def versions() -> list[dict[str, Any]]:
    """The history, newest first: `version`, `published_at` (None: shipped, never
    published over), `published_by`, `title`."""
    return [
        {
            "version": v.version,
            "published_at": v.published_at,
            "published_by": v.published_by,
            "title": v.data.get("title", ""),
        }
        for v in store.history(content.KEY, content.shipped_data())
    ]


def revert(to: int, *, actor: audit.Actor | str, now: datetime) -> dict[str, Any]:
    """Publish version `to`'s words again, as a new version, and rebuild. Raises NotFound."""
    old = store.get(content.KEY, to, content.shipped_data())
    if old is None:
        raise NotFound(f"the worksheet has no version {to}")
    return _store(
        normal(old.data),
        actor=actor,
        now=now,
        action="worksheet.revert",
        summary=f"Put back the worksheet of version {to}",
    )


def export_data() -> dict[str, Any]:
    """The current words, for `content export`."""
    data = view()
    del data["version"]
    return data


def import_data(
    data: object, *, actor: audit.Actor | str, now: datetime, dry_run: bool = False
) -> dict[str, Any]:
    """Publish words read by `content import`, checked as `publish` checks them. Nothing is
    stored (or rebuilt) when they equal the current words, so an export imported again
    changes nothing; nor with `dry_run` (only checked). Returns `{version, changed}` (with
    `dry_run`, `changed` says whether it would)."""
    clean = normal(data)
    if clean == export_data() or dry_run:
        return {"version": content.current().version, "changed": clean != export_data()}
    done = _store(
        clean, actor=actor, now=now, action="worksheet.import", summary="Imported the worksheet"
    )
    return {"version": done["version"], "changed": True}
