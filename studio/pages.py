"""The pages' texts, as the coach edits them: the signup form, the thank-you page and the
start-date page. Plain text (every page escapes it), each field with its limit.

What is not here is not the coach's: the validation messages and the rate limit's sentence
(`signup.messages`) are the contract readers and tests rely on. The form's fine print is
the coach's, but it must keep saying that the notes count from the start date: a sentence
without "start" is published with a warning, never refused.

`view()`, `publish(key, fields, ...)`, `versions()`, `revert(version, ...)`; and for
`content export|import`, `export_data()` and `import_data(data, ...)`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from campaigns.content import pages as texts
from campaigns.content import store
from models import db
from studio import audit
from studio.errors import NotFound, Refused


@dataclass(frozen=True)
class Field:
    name: str
    label: str  # as the dashboard names it, and every message
    limit: int  # characters
    required: bool = True
    long: bool = False  # a paragraph (a text area), not a line
    help: str = ""


# Every editable text, page by page, in the order the pages show them.
PAGES: dict[str, tuple[str, tuple[Field, ...]]] = {
    "form": (
        "The signup form",
        (
            Field("heading", "Heading", 120),
            Field("intro", "Intro", 400, required=False, long=True),
            Field("button", "Button", 40),
            Field(
                "fine_print",
                "Fine print",
                400,
                long=True,
                help="Beside the button, and named in every consent. It must say that the "
                "notes count from the start date the reader gives. {checkins} becomes how "
                "often the check-ins ask (three times), {notes_at} the after-hire notes' "
                "times (1, 3 and 6 months), as the sequence has them.",
            ),
        ),
    ),
    "thanks": (
        "The thank-you page",
        (
            Field("heading", "Heading", 120),
            Field("text", "Text", 400, required=False, long=True),
        ),
    ),
    "started": (
        "The start-date page",
        (
            Field("heading", "Question", 120),
            Field(
                "intro",
                "Intro",
                400,
                required=False,
                long=True,
                help="For a reader who hasn't answered yet. {offsets} becomes the notes' "
                "times, as the sequence has them (1 month, 3 months and 6 months).",
            ),
            Field("date_label", "Date field's label", 80),
            Field("started", "Answer: the start date (button)", 40),
            Field("looking", "Answer: still looking (button)", 40),
            Field("not_changing", "Answer: not changing jobs (button)", 40),
        ),
    ),
}

NO_START = (
    "The fine print no longer says that the notes count from the start date (it has no "
    '"start"). Readers are promised that rule: please keep it in your own words.'
)
_PLACEHOLDER = re.compile(r"\{[^{}\s]*\}")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _fields(key: str) -> tuple[Field, ...]:
    if key not in PAGES:
        raise NotFound(f"no page {key!r}; the pages are {', '.join(PAGES)}")
    return PAGES[key][1]


def view() -> dict[str, dict[str, str]]:
    """Every page's texts as readers get them now: `{page: {field: text}}`."""
    return {key: dict(page) for key, page in texts.current().pages.items()}


def version() -> int:
    """The content version readers get (1: the shipped texts)."""
    return texts.current().version


def versions() -> list[dict[str, Any]]:
    """The history, newest first: `version`, `published_at` (None: shipped, never
    published over), `published_by`, `texts`."""
    return [
        {
            "version": v.version,
            "published_at": v.published_at,
            "published_by": v.published_by,
            "texts": texts.merged(v.data),
        }
        for v in store.history(texts.KEY, texts.shipped())
    ]


def _clean(field: Field, raw: object) -> tuple[str | None, str | None]:
    """(the text, None) or (None, what is wrong with it, naming the field)."""
    if not isinstance(raw, str):
        return None, f"{field.label} must be text."
    value = raw.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not field.long:
        value = " ".join(value.split())
    if _CONTROL.search(value):
        return None, f"{field.label} has a control character; please use plain text."
    if field.required and not value:
        return None, f"{field.label} is empty; please write it."
    if len(value) > field.limit:
        return None, (
            f"{field.label} is {len(value)} characters long; "
            f"please keep it to {field.limit} or fewer."
        )
    return value, None


def _placeholders(key: str, field: Field, value: str) -> str | None:
    allowed = texts.allowed(key, field.name)
    unknown = [p for p in _PLACEHOLDER.findall(value) if p not in allowed]
    if not unknown:
        return None
    if len(allowed) > 1:
        known = f"it may hold {', '.join(allowed[:-1])} and {allowed[-1]}"
    else:
        known = f"the only one it may hold is {allowed[0]}" if allowed else "it holds none"
    return f"{field.label}: {unknown[0]} is not a placeholder Tend fills in ({known})."


def checked(key: str, fields: object) -> dict[str, str]:
    """One page's texts as they would be published: the given fields over the current ones.
    Raises Refused naming every field that cannot be taken, NotFound for no such page."""
    spec = {f.name: f for f in _fields(key)}
    if not isinstance(fields, dict):
        raise Refused({key: ["The texts must be an object of field names and texts."]})
    errors: dict[str, list[str]] = {}
    for name in fields:
        if name not in spec:
            errors[str(name)] = [
                f"{name!s} is not a text of {PAGES[key][0].lower()}; "
                f"its texts are {', '.join(spec)}."
            ]
    page = dict(view()[key])
    for name, raw in fields.items():
        if name not in spec:
            continue
        value, error = _clean(spec[name], raw)
        error = error or _placeholders(key, spec[name], value)
        if error:
            errors[name] = [error]
        else:
            page[name] = value
    if errors:
        raise Refused(errors)
    return page


def warnings_for(key: str, page: dict[str, str]) -> list[str]:
    """What is published but should not be: the fine print without its rule."""
    if key == "form" and "start" not in page["fine_print"].lower():
        return [NO_START]
    return []


def _store(data: dict, *, actor: audit.Actor | str, now: datetime, action: str, summary: str):
    published = store.publish(texts.KEY, data, default=texts.shipped(), by=str(actor), now=now)
    summary = f"{summary} (version {published.version})"
    audit.record(actor, action, summary, detail={"version": published.version}, now=now)
    db.session.commit()
    texts.forget()
    return published


def publish(
    key: str, fields: dict[str, str], *, actor: audit.Actor | str, now: datetime
) -> list[str]:
    """Publish one page's texts (fields not given keep their current words) as a new
    version of `pages`; the next page shown has them. Returns the warnings (published all
    the same). Raises Refused (nothing changed) or NotFound."""
    page = checked(key, fields)
    data = view() | {key: page}
    _store(
        data,
        actor=actor,
        now=now,
        action="pages.publish",
        summary=f"Published the texts of {PAGES[key][0].lower()}",
    )
    return warnings_for(key, page)


def revert(to: int, *, actor: audit.Actor | str, now: datetime) -> list[str]:
    """Publish version `to`'s texts again, as a new version. Raises NotFound."""
    old = store.get(texts.KEY, to, texts.shipped())
    if old is None:
        raise NotFound(f"the pages have no version {to}")
    data = texts.merged(old.data)
    _store(
        data,
        actor=actor,
        now=now,
        action="pages.revert",
        summary=f"Put back the pages' texts of version {to}",
    )
    return warnings_for("form", data["form"])


def export_data() -> dict[str, dict[str, str]]:
    """The current texts, for `content export` (one table per page)."""
    return view()


def import_data(
    data: object, *, actor: audit.Actor | str, now: datetime, dry_run: bool = False
) -> dict[str, Any]:
    """Publish texts read by `content import`: every page given, checked as `publish` checks
    them (Refused names `page.field`). Nothing is stored when they equal the current texts,
    so an export imported again changes nothing; nor with `dry_run` (only checked, so a
    command can check every file before it publishes any). Returns `{version, changed,
    warnings}` (with `dry_run`, `changed` says whether it would)."""
    if not isinstance(data, dict):
        raise Refused({"pages": ["The pages must be a table of pages and their texts."]})
    errors: dict[str, list[str]] = {}
    new = view()
    for key, fields in data.items():
        if key not in PAGES:
            errors[str(key)] = [f"{key!s} is not a page; the pages are {', '.join(PAGES)}."]
            continue
        try:
            new = new | {key: checked(key, fields)}
        except Refused as refused:
            errors |= {f"{key}.{name}": messages for name, messages in refused.errors.items()}
    if errors:
        raise Refused(errors)
    if new == view():
        return {"version": version(), "changed": False, "warnings": []}
    if dry_run:
        return {
            "version": version(),
            "changed": True,
            "warnings": warnings_for("form", new["form"]),
        }
    published = _store(
        new, actor=actor, now=now, action="pages.import", summary="Imported the pages' texts"
    )
    return {
        "version": published.version,
        "changed": True,
        "warnings": warnings_for("form", new["form"]),
    }
