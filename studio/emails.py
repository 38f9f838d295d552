"""The coach's emails: read, preview, publish, revert, test, and the check-ins' add and
remove. What is published applies to every email rendered after it (the next tick moves
planned notes to a new offset); what was sent stays as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from campaigns.content import emails as content
from campaigns.content import markdown, store
from campaigns.render import RenderedEmail
from campaigns.schedule import CHECKIN as CHECKIN_ROWS
from campaigns.schedule import DRIP as DRIP_ROWS
from campaigns.schedule import WORKSHEET_KINDS
from campaigns.sequence import Sequence
from models import Delivery, DeliveryStatus, db
from studio import audit, previews
from studio.errors import NotFound, Refused

EDITABLE = ("subject", "preheader", "body", "offset")
OPEN = (DeliveryStatus.SCHEDULED, DeliveryStatus.HELD)


def _emails() -> dict[str, dict[str, Any]]:
    from flask import current_app

    return content.merged(current_app.extensions["tend.sequence"], store.latest_of(content.PREFIX))


def _file_emails() -> dict[str, dict[str, Any]]:
    from flask import current_app

    return content.file_emails(current_app.extensions["tend.sequence"])


def view(key: str, data: dict[str, Any]) -> dict[str, Any]:
    """An email as the API and the dashboard show it."""
    shown = {
        "key": key,
        "kind": data["kind"],
        "subject": data["subject"],
        "preheader": data.get("preheader", ""),
        "body": data["body"],
        "version": data["version"],
    }
    if data["kind"] in (markdown.STEP, markdown.CHECKIN):
        shown["offset"] = data["offset"]
    return shown


def catalogue() -> list[dict[str, Any]]:
    """Every email: the request to confirm, the worksheet email, the steps, the check-ins."""
    order = {markdown.CONFIRM: 0, markdown.WORKSHEET: 1, markdown.STEP: 2, markdown.CHECKIN: 3}
    emails = _emails()
    keys = sorted(emails, key=lambda k: order[emails[k]["kind"]])
    sequence = content.sequence()
    position = {s.key: i for i, s in enumerate((*sequence.steps, *sequence.checkins))}
    keys.sort(key=lambda k: (order[emails[k]["kind"]], position.get(k, 0)))
    return [view(k, emails[k]) for k in keys]


def get(key: str) -> dict[str, Any]:
    emails = _emails()
    if key not in emails:
        raise NotFound(f"No email {key!r}.")
    return view(key, emails[key])


def _checked(kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The fields as they will be stored, or Refused naming every problem."""
    wrong = {
        name: [f"{name} must be text."]
        for name in EDITABLE
        if fields.get(name) is not None and not isinstance(fields[name], str)
    }
    if wrong:
        raise Refused(wrong)
    problems = markdown.check(
        kind=kind,
        subject=fields["subject"],
        preheader=fields.get("preheader", ""),
        body=fields["body"],
        offset=fields.get("offset"),
    )
    if problems:
        errors: dict[str, list[str]] = {}
        for problem in problems:
            errors.setdefault(problem.field, []).append(problem.message)
        raise Refused(errors)
    data = {
        "kind": kind,
        "subject": fields["subject"].strip(),
        "preheader": fields.get("preheader", "").strip(),
        "body": fields["body"].replace("\r\n", "\n").strip("\n") + "\n",
    }
    if kind in (markdown.STEP, markdown.CHECKIN):
        data["offset"] = " ".join(fields["offset"].split())
    return data


def _fields(current: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """What is given, over what is published (PUT may leave out the preheader or offset)."""
    return {
        name: given[name] if given.get(name) is not None else current.get(name) for name in EDITABLE
    }


def publish(
    key: str,
    *,
    subject: str,
    preheader: str | None = None,
    body: str,
    offset: str | None = None,
    actor: audit.Actor | str,
    now: datetime,
) -> dict[str, Any]:
    """Publish a new version of one email; Refused (nothing changed) when it cannot be."""
    current = get(key)
    given = {"subject": subject, "preheader": preheader, "body": body, "offset": offset}
    data = _checked(current["kind"], _fields(current, given))
    default = _file_emails().get(key)
    version = store.publish(
        content.store_key(key), data, default=_stored(default), by=str(actor), now=now
    )
    moved = data.get("offset") not in (None, current.get("offset"))
    summary = f"Published {_named(data)} (version {version.version})"
    if moved:
        summary += (
            f"; moved from {current['offset']} to {_counted(data['offset'], current['kind'])}"
        )
    audit.record(
        actor, "email.publish", summary, detail={"key": key, "version": version.version}, now=now
    )
    db.session.commit()
    return get(key)


def _named(email: dict[str, Any]) -> str:
    """An email in an audit summary, as the Emails page lists it: its subject, in quotes."""
    return f"“{email['subject']}”"


def _counted(offset: str, kind: str) -> str:
    """ "4 months after the start date", "6 weeks after confirming"."""
    return f"{offset} after {'the start date' if kind == markdown.STEP else 'confirming'}"


def _stored(default: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if default is None else dict(default)


def versions(key: str) -> list[dict[str, Any]]:
    """The history, newest first: version, when, by whom, subject."""
    get(key)
    default = _file_emails().get(key)
    return [
        {
            "version": v.version,
            "published_at": v.published_at.isoformat() if v.published_at else None,
            "published_by": v.published_by,
            "subject": v.data.get("subject", ""),
            "removed": bool(v.data.get("removed")),
        }
        for v in store.history(content.store_key(key), _stored(default))
    ]


def words_of(key: str, version: int) -> dict[str, Any]:
    """An earlier version's words as a revert would publish them again (what the dashboard
    shows before reverting); Refused when there is no such version to go back to."""
    current = get(key)
    old = store.get(content.store_key(key), version, _stored(_file_emails().get(key)))
    if old is None or old.data.get("removed"):
        raise Refused({"version": [f"{key} has no version {version}."]})
    return _checked(current["kind"], _fields(current, old.data))


def revert(key: str, version: int, *, actor: audit.Actor | str, now: datetime) -> dict[str, Any]:
    """Publish an earlier version's content again, as a new version."""
    current = get(key)
    default = _file_emails().get(key)
    old = store.get(content.store_key(key), version, _stored(default))
    if old is None or old.data.get("removed"):
        raise Refused({"version": [f"{key} has no version {version}."]})
    data = _checked(current["kind"], _fields(current, old.data))
    made = store.publish(
        content.store_key(key), data, default=_stored(default), by=str(actor), now=now
    )
    audit.record(
        actor,
        "email.revert",
        f"Reverted {_named(data)} to version {version} (now version {made.version})",
        detail={"key": key, "from": version, "version": made.version},
        now=now,
    )
    db.session.commit()
    return get(key)


def add_checkin(
    *,
    offset: str,
    subject: str,
    preheader: str = "",
    body: str,
    actor: audit.Actor | str,
    now: datetime,
    key: str | None = None,
) -> dict[str, Any]:
    """A new check-in (`checkin-<n>`, the next number free, or `key` when an import names
    it), counted from confirmation."""
    data = _checked(
        markdown.CHECKIN,
        {"subject": subject, "preheader": preheader, "body": body, "offset": offset},
    )
    taken = {k for k in _emails()} | {k.removeprefix(content.PREFIX) for k in _all_store_keys()}
    number = 1
    while f"checkin-{number}" in taken:
        number += 1
    key = key or f"checkin-{number}"
    store.publish(content.store_key(key), data, default=None, by=str(actor), now=now)
    audit.record(
        actor,
        "email.add",
        f"Added the check-in {_named(data)}, sent {_counted(data['offset'], markdown.CHECKIN)}",
        detail={"key": key},
        now=now,
    )
    db.session.commit()
    return get(key)


def _all_store_keys() -> list[str]:
    from models import ContentVersion

    return list(
        db.session.scalars(
            select(ContentVersion.key)
            .where(ContentVersion.key.startswith(content.PREFIX, autoescape=True))
            .distinct()
        )
    )


def remove_checkin(key: str, *, actor: audit.Actor | str, now: datetime) -> dict[str, int]:
    """Remove a check-in: its planned deliveries are dropped on the next tick, sent ones
    kept. Steps, the worksheet email and the request to confirm cannot be removed."""
    current = get(key)
    if current["kind"] != markdown.CHECKIN:
        raise Refused({"key": [f"{key} is not a check-in; only check-ins can be removed."]})
    dropped = _open_count(key, markdown.CHECKIN)
    default = _file_emails().get(key)
    store.publish(
        content.store_key(key),
        {
            **{k: current[k] for k in ("subject", "preheader", "body", "offset")},
            "kind": markdown.CHECKIN,
            "removed": True,
        },
        default=_stored(default),
        by=str(actor),
        now=now,
    )
    audit.record(
        actor,
        "email.remove",
        f"Removed the check-in {_named(current)} "
        f"({dropped} planned {'note' if dropped == 1 else 'notes'} dropped)",
        detail={"key": key, "dropped": dropped},
        now=now,
    )
    db.session.commit()
    return {"dropped": dropped}


# ---- what a change reaches ---------------------------------------------------------------


@dataclass(frozen=True)
class Impact:
    reach: int  # planned emails that will carry the new words
    moved: int  # planned notes whose day changes with a new offset
    dropped: int  # planned notes a removal drops

    def as_dict(self) -> dict[str, int]:
        return {"reach": self.reach, "moved": self.moved, "dropped": self.dropped}


def _rows_kind(kind: str) -> tuple[str, ...]:
    if kind in (markdown.WORKSHEET, markdown.CONFIRM):
        return tuple(WORKSHEET_KINDS)
    return (DRIP_ROWS,) if kind == markdown.STEP else (CHECKIN_ROWS,)


def _open_count(key: str, kind: str) -> int:
    query = (
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.kind.in_(_rows_kind(kind)), Delivery.status.in_(OPEN))
    )
    if kind in (markdown.STEP, markdown.CHECKIN):
        query = query.where(Delivery.step == key)
    return db.session.scalar(query) or 0


def impact(key: str, *, offset: str | None = None, remove: bool = False) -> Impact:
    """How many planned emails a publish would reach, move (a new offset) or drop (a
    removal): the figure the dashboard shows before publishing. Sent ones never change."""
    current = get(key)
    if offset is not None and current["kind"] in (markdown.STEP, markdown.CHECKIN):
        problems = markdown.check(
            kind=current["kind"], subject="x", preheader="", body="x", offset=offset
        )
        if problems:
            raise Refused({"offset": [p.message for p in problems]})
    planned = _open_count(key, current["kind"])
    if remove:
        return Impact(reach=0, moved=0, dropped=planned)
    new_offset = offset is not None and " ".join(offset.split()) != current.get("offset")
    # Only scheduled rows move (held ones wait on the sending pause as they are).
    moved = _scheduled_count(key) if new_offset and current["kind"] != markdown.WORKSHEET else 0
    return Impact(reach=planned, moved=moved, dropped=0)


# A span the words name: "three months", "6 weeks", "a month".
_SPAN = re.compile(
    r"\b(an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|\d{1,3})"
    r"\s+(day|week|month|year)s?\b",
    re.IGNORECASE,
)
_COUNTS = {"a": 1, "an": 1} | {
    word: n
    for n, word in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
        ]
    )
}
_DAYS = {"day": 1, "week": 7, "month": 30.44, "year": 365.25}


def timing_words(key: str, words: dict[str, Any]) -> list[str]:
    """The spans of time the words name that this note's timing is not ("three months" in
    a check-in now sent 6 weeks after confirming), each in a sentence for the coach. A
    warning, never a refusal: the words may mean another span on purpose."""
    current = get(key)
    if current["kind"] not in (markdown.STEP, markdown.CHECKIN):
        return []
    offset = " ".join(str(words.get("offset") or current["offset"]).split())
    try:
        days = content.offset_days(offset)
    except ValueError:
        return []
    found: list[str] = []
    for name in ("subject", "preheader", "body"):
        for said in _SPAN.finditer(str(words.get(name, current.get(name)) or "")):
            count = _COUNTS.get(said[1].lower()) or int(said[1])
            span = count * _DAYS[said[2].lower()]
            if abs(span - days) > 0.15 * days and said[0] not in found:
                found.append(said[0])
    return [
        f"The words say “{span}”, but this note's timing is {offset}: is that still true?"
        for span in found
    ]


def _scheduled_count(key: str) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.step == key, Delivery.status == DeliveryStatus.SCHEDULED)
        )
        or 0
    )


# ---- preview and test send ---------------------------------------------------------------


def _unsaved(key: str, given: dict[str, Any]) -> Sequence:
    """The sequence as readers get it, with the given (unsaved, checked) words for `key`."""
    current = get(key)
    data = _checked(current["kind"], _fields(current, given))
    sequence = content.sequence()
    if current["kind"] == markdown.CONFIRM:
        sheet = replace(
            sequence.worksheet,
            confirm_subject=data["subject"],
            confirm_preheader=data["preheader"],
            confirm_body=data["body"],
        )
        return replace(sequence, worksheet=sheet)
    if current["kind"] == markdown.WORKSHEET:
        sheet = replace(
            sequence.worksheet,
            subject=data["subject"],
            preheader=data["preheader"],
            body=data["body"],
        )
        return replace(sequence, worksheet=sheet)
    swap = lambda steps: tuple(  # noqa: E731
        replace(
            s,
            subject=data["subject"],
            preheader=data["preheader"],
            body=data["body"],
            offset_text=data["offset"],
        )
        if s.key == key
        else s
        for s in steps
    )
    return replace(sequence, steps=swap(sequence.steps), checkins=swap(sequence.checkins))


def _preview_and_state(key: str, state: str | None, sequence: Sequence):
    preview = previews.find(sequence, key)
    if preview is None:
        raise NotFound(f"No email {key!r}.")
    reader = preview.state(state)
    if reader is None:
        known = ", ".join(s.key for s in preview.states)
        raise Refused(
            {"state": [f"{key} never reaches a reader in state {state!r}; states: {known}."]}
        )
    return preview, reader


def preview(
    key: str,
    *,
    now: datetime,
    state: str | None = None,
    subject: str | None = None,
    preheader: str | None = None,
    body: str | None = None,
    offset: str | None = None,
) -> RenderedEmail:
    """The email (as published, or with the given unsaved words) as a sample reader in
    `state` gets it; nothing is stored or sent. An unsaved `offset` is only checked (a
    step's or a check-in's; Refused names it when it cannot be read)."""
    if offset is not None and get(key).get("offset") is not None:
        problems = markdown.offset_problems(offset)
        if problems:
            raise Refused({"offset": [p.message for p in problems]})
    given = {"subject": subject, "preheader": preheader, "body": body}
    sequence = (
        _unsaved(key, given) if any(v is not None for v in given.values()) else content.sequence()
    )
    found, reader = _preview_and_state(key, state, sequence)
    return previews.sample(found, now=now, state=reader, sequence=sequence)


def test_send(
    key: str,
    *,
    email: str,
    now: datetime,
    actor: audit.Actor | str,
    state: str | None = None,
    subject: str | None = None,
    preheader: str | None = None,
    body: str | None = None,
) -> None:
    """Send the email, as a sample reader in `state`, to `email`, its subject marked
    [Test]. Raises the transport's failures."""
    given = {"subject": subject, "preheader": preheader, "body": body}
    sequence = (
        _unsaved(key, given) if any(v is not None for v in given.values()) else content.sequence()
    )
    found, reader = _preview_and_state(key, state, sequence)
    previews.send_test(found, email, now=now, state=reader, sequence=sequence)
    shown = {"subject": subject} if subject is not None else get(key)
    audit.record(
        actor,
        "email.test",
        f"Sent a test of {_named(shown)}, as a reader who {reader.label}, to {email}",
        detail={"key": key},
        now=now,
    )
    db.session.commit()


def variables(kind: str) -> list[dict[str, str]]:
    """The variables an email of this kind may use, as the editor lists them."""
    return [{"name": v.name, "doc": v.doc} for v in markdown.allowed(kind)]
