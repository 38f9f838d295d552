"""The emails as readers get them: the sequence file's, with what the coach published.

Keys are the sequence's (`month-1`, `checkin-2`...), `worksheet` (the email with the
worksheet) and `confirm` (the request to confirm). An email the coach never published is
the file's, and an edit of the file still reaches it; once published, the newest version
in the database wins for that email. A check-in the coach added lives only in the
database (`checkin-4`...); one the coach removed is a version that says so.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from campaigns.content import markdown, store
from campaigns.sequence import Sequence, Step, Worksheet
from campaigns.timing import parse_offset

PREFIX = "email:"
WORKSHEET, CONFIRM = "worksheet", "confirm"


def store_key(key: str) -> str:
    return PREFIX + key


def file_emails(base: Sequence) -> dict[str, dict[str, Any]]:
    """Every email of the file as data: key -> {kind, subject, preheader, body, offset?}."""
    sheet = base.worksheet
    emails: dict[str, dict[str, Any]] = {
        CONFIRM: {
            "kind": markdown.CONFIRM,
            "subject": sheet.confirm_subject,
            "preheader": sheet.confirm_preheader,
            "body": sheet.confirm_body,
        },
        WORKSHEET: {
            "kind": markdown.WORKSHEET,
            "subject": sheet.subject,
            "preheader": sheet.preheader,
            "body": sheet.body,
        },
    }
    for kind, steps in ((markdown.STEP, base.steps), (markdown.CHECKIN, base.checkins)):
        for step in steps:
            emails[step.key] = {
                "kind": kind,
                "subject": step.subject,
                "preheader": step.preheader,
                "body": step.body,
                "offset": step.offset_text,
            }
    return emails


def merged(base: Sequence, published: dict[str, store.Version]) -> dict[str, dict[str, Any]]:
    """Every email as readers get it, with its version: the file's unless published. A
    removed check-in is left out."""
    emails = {}
    for key, data in file_emails(base).items():
        emails[key] = {**data, "version": 1}
    for skey, version in published.items():
        key = skey.removeprefix(PREFIX)
        data = dict(version.data)
        if key in emails:
            data["kind"] = emails[key]["kind"]  # the kind of a key never changes
        if data.get("removed"):
            emails.pop(key, None)
            continue
        if data.get("kind") not in markdown.KINDS:
            continue
        emails[key] = {**data, "version": version.version}
    return emails


def overlay(base: Sequence, published: dict[str, store.Version]) -> Sequence:
    """The sequence `base` with the coach's published emails over it."""
    emails = merged(base, published)
    sheet, ask = emails[WORKSHEET], emails[CONFIRM]
    worksheet = Worksheet(
        subject=sheet["subject"],
        preheader=sheet["preheader"],
        body=sheet["body"],
        confirm_subject=ask["subject"],
        confirm_preheader=ask["preheader"],
        confirm_body=ask["body"],
    )
    return Sequence(
        steps=_steps(base.steps, emails, markdown.STEP),
        worksheet=worksheet,
        checkins=_steps(base.checkins, emails, markdown.CHECKIN),
    )


def _steps(file_steps, emails: dict, kind: str) -> tuple[Step, ...]:
    templates = {s.key: s.template for s in file_steps}
    order = [s.key for s in file_steps]
    order += sorted(
        (k for k, e in emails.items() if e["kind"] == kind and k not in templates),
        key=_key_number,
    )
    steps = []
    for key in order:
        if key not in emails:
            continue  # removed
        data = emails[key]
        steps.append(
            Step(
                key=key,
                offset_text=data["offset"],
                subject=data["subject"],
                preheader=data.get("preheader", ""),
                template=templates.get(key, ""),
                body=data["body"],
            )
        )
    return tuple(steps)


def _key_number(key: str) -> tuple[int, str]:
    tail = key.rpartition("-")[2]
    return (int(tail) if tail.isdigit() else 0, key)


def sequence(app: Any = None) -> Sequence:
    """The app's sequence as readers get it now: its file, with what the coach published.
    Kept with the app until the next publish (one cheap query tells)."""
    if app is None:
        from flask import current_app

        app = current_app
    base = app.extensions["tend.sequence"]
    # A database that does not answer: the sequence last read, else the file's (a page that
    # names the notes' times still shows; nothing is sent without the database anyway).
    return store.kept(
        "sequence", lambda: overlay(base, store.latest_of(PREFIX)), lambda: base, app=app
    )


def overridden(base: Sequence) -> list[tuple[str, int]]:
    """The emails whose file says something else than the coach's published version,
    which wins: (key, version)."""
    files = file_emails(base)
    out = []
    for skey, version in sorted(store.latest_of(PREFIX).items()):
        key = skey.removeprefix(PREFIX)
        mine = files.get(key)
        if mine is None or version.data.get("removed"):
            continue
        if any(
            mine.get(k) != version.data.get(k) for k in ("subject", "preheader", "body", "offset")
        ):
            out.append((key, version.version))
    return out


def offset_days(offset: str) -> float:
    """An offset's rough length in days, to order check-ins."""
    delta = parse_offset(offset)
    return delta.years * 365 + delta.months * 30.4 + delta.days + delta.hours / 24


__all__ = ["merged", "overlay", "replace", "sequence", "store_key"]
