"""What a worksheet the coach publishes must be, checked and put in one shape.

`normal(data)` answers the worksheet as stored and built (every optional text present,
every field with its key: a new question without one gets the next free `question-<n>`),
or raises Refused with every problem, each under the path of its field
(`sections.2.items.0.text`, counted from 0 as the data is) and in words that name the
section and the question (counted from 1, as the coach sees them).
"""

from __future__ import annotations

import re
from typing import Any

from campaigns.worksheet import content
from studio.errors import Refused

KEY_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
MAX_SECTIONS, MAX_ITEMS, MAX_ALL_ITEMS = 20, 20, 60
MAX_LINES = 12
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")  # what is left once whitespace is one space

# (name, what the coach calls it, limit, required), for the worksheet and each section.
TOP = (
    ("title", "The title", 120, True),
    ("subject", "The description", 200, False),
    ("intro", "The intro", 1000, False),
    ("garden", "The closing line", 300, False),
    ("closing", "The closing words", 600, False),
)
SECTION = (("heading", "the heading", 100, True), ("note", "the note", 600, False))
# Each kind's lists of labelled fields: (name, what one is called, at least, at most, limit).
LISTS = {
    "checkboxes": (("boxes", "box", 1, 12, 150),),
    "blanks": (("blanks", "blank", 1, 6, 30),),
    "network": (("columns", "column", 1, 4, 40), ("ticks", "tick column", 0, 3, 30)),
}
TEXTS = {  # each kind's own texts: (name, what it is called, limit, required)
    "question": (("text", "the question", 400, True),),
    "checkboxes": (("prompt", "the prompt", 300, False),),
    "blanks": (("hint", "the hint", 300, False),),
    "network": (),
}
NAMES = {
    "question": "question",
    "checkboxes": "checkboxes",
    "blanks": "blanks",
    "network": "keep-in-touch table",
}
NEW_KEY = {"question": "question", "boxes": "check", "blanks": "blank"}


class _Checker:
    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}
        self.keys: dict[str, str] = {}  # field name -> the path that holds it
        self.unkeyed: list[tuple[dict, str]] = []  # (the object, its list's name)

    def fail(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)

    def text(self, obj: dict, name: str, path: str, said: str, limit: int, required: bool):
        raw = obj.get(name, "")
        if raw is None:
            raw = ""
        if not isinstance(raw, str):
            self.fail(path, f"{_up(said)} must be text.")
            return ""
        value = " ".join(raw.split())  # the PDF lays out every text as one paragraph
        if _CONTROL.search(value):
            self.fail(path, f"{_up(said)} has a control character; please use plain text.")
        elif required and not value:
            self.fail(path, f"{_up(said)} is empty; please write it.")
        elif len(value) > limit:
            self.fail(path, f"{_up(said)} is {len(value)} characters long; keep it to {limit}.")
        return value

    def unknown(self, obj: dict, allowed, path: str, said: str) -> None:
        for name in obj:
            if name not in allowed:
                where = f"{path}.{name}" if path else str(name)
                self.fail(where, f"{_up(said)} has no field {name!r}.")

    def key(self, obj: dict, path: str, said: str, out: dict, kind: str) -> None:
        raw = obj.get("key")
        if raw in (None, ""):
            self.unkeyed.append((out, kind))
            return
        if not isinstance(raw, str) or not KEY_PATTERN.fullmatch(raw):
            self.fail(
                f"{path}.key",
                f"{_up(said)}: its key must be 1 to 40 lower-case letters, digits and hyphens.",
            )
        elif raw in content.FIXED_FIELDS or raw.startswith(content.NETWORK_PREFIX):
            self.fail(
                f"{path}.key", f"{_up(said)}: the key {raw!r} is Tend's own; please choose another."
            )
        elif raw in self.keys:
            self.fail(
                f"{path}.key", f"{_up(said)}: the key {raw!r} is already the key of another field."
            )
        else:
            self.keys[raw] = path
        out["key"] = raw

    def new_keys(self) -> None:
        """Give each field without a key the next free one: question-1, check-1, ..."""
        for out, kind in self.unkeyed:
            stem, n = NEW_KEY.get(kind, kind), 1
            while f"{stem}-{n}" in self.keys:
                n += 1
            out["key"] = f"{stem}-{n}"
            self.keys[out["key"]] = ""


def _up(said: str) -> str:
    return said[0].upper() + said[1:]


def _whole_number(c: _Checker, obj: dict, name: str, path: str, said: str, low, high, default):
    raw = obj.get(name, default)
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw.strip())
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        c.fail(
            f"{path}.{name}", f"{_up(said)}: {name} must be a whole number from {low} to {high}."
        )
        return default
    return raw


def _list(c: _Checker, obj: dict, name: str, path: str, said: str, low: int, high: int) -> list:
    raw = obj.get(name, [])
    if not isinstance(raw, list):
        c.fail(f"{path}.{name}", f"{_up(said)}: {name} must be a list.")
        return []
    if not low <= len(raw) <= high:
        c.fail(f"{path}.{name}", f"{_up(said)} must have {low} to {high} {name}, not {len(raw)}.")
    return raw[:high]


def _labelled(c: _Checker, item: dict, path: str, said: str, kind: str, spec) -> list[dict]:
    name, one, low, high, limit = spec
    made = []
    for n, raw in enumerate(_list(c, item, name, path, said, low, high)):
        where, who = f"{path}.{name}.{n}", f"{said}, {one} {n + 1}"
        if not isinstance(raw, dict):
            c.fail(where, f"{_up(who)} must be an object with a label.")
            continue
        c.unknown(raw, ("key", "label"), where, who)
        out = {
            "key": "",
            "label": c.text(raw, "label", f"{where}.label", f"{who}: the label", limit, True),
        }
        if kind == "network":  # a column's key is only its own table's: person-<row>-<key>
            key = raw.get("key") or f"column-{n + 1}"
            if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
                c.fail(
                    f"{where}.key",
                    f"{_up(who)}: its key must be lower-case letters, digits and hyphens.",
                )
            out["key"] = key
        else:
            c.key(raw, where, who, out, name)
        made.append(out)
    keys = [o["key"] for o in made if isinstance(o["key"], str)]
    if kind == "network" and len(set(keys)) < len(keys):
        c.fail(f"{path}.{name}", f"{_up(said)}: two {name} have the same key.")
    return made


def _item(c: _Checker, raw: object, path: str, said: str) -> dict | None:
    if not isinstance(raw, dict) or raw.get("kind") not in content.KINDS:
        c.fail(f"{path}.kind", f"{_up(said)}: its kind must be one of {', '.join(content.KINDS)}.")
        return None
    kind = raw["kind"]
    said = f"{said} ({NAMES[kind]})" if kind != "question" else said
    lists = LISTS.get(kind, ())
    allowed = ["kind", *(t[0] for t in TEXTS[kind]), *(spec[0] for spec in lists)]
    allowed += ["key", "lines"] if kind == "question" else ["rows"] if kind == "network" else []
    c.unknown(raw, allowed, path, said)
    out: dict[str, Any] = {"kind": kind}
    if kind == "question":
        out["key"] = ""
        c.key(raw, path, said, out, "question")
    for name, what, limit, required in TEXTS[kind]:
        out[name] = c.text(raw, name, f"{path}.{name}", f"{said}: {what}", limit, required)
    if kind == "question":
        out["lines"] = _whole_number(
            c, raw, "lines", path, said, 1, MAX_LINES, content.DEFAULT_LINES
        )
    if kind == "network":
        out["rows"] = _whole_number(c, raw, "rows", path, said, 1, 20, 8)
    for spec in lists:
        out[spec[0]] = _labelled(c, raw, path, said, kind, spec)
    return out


def _section(c: _Checker, raw: object, n: int) -> dict:
    path = f"sections.{n}"
    heading = raw.get("heading") if isinstance(raw, dict) else None
    said = f"section {n + 1}" + (
        f" ({heading.strip()[:40]})" if isinstance(heading, str) and heading.strip() else ""
    )
    if not isinstance(raw, dict):
        c.fail(path, f"{_up(said)} must be an object with a heading and items.")
        return {"heading": "", "note": "", "items": []}
    c.unknown(raw, ("heading", "note", "items"), path, said)
    out: dict[str, Any] = {
        name: c.text(raw, name, f"{path}.{name}", f"{said}: {what}", limit, required)
        for name, what, limit, required in SECTION
    }
    items, questions = [], 0
    for m, item in enumerate(_list(c, raw, "items", path, said, 1, MAX_ITEMS)):
        is_question = isinstance(item, dict) and item.get("kind") == "question"
        questions += is_question
        who = f"{said}, question {questions}" if is_question else f"{said}, item {m + 1}"
        made = _item(c, item, f"{path}.items.{m}", who)
        if made is not None:
            items.append(made)
    out["items"] = items
    return out


def normal(data: object) -> dict[str, Any]:
    """The worksheet as stored, or Refused naming every problem. A `version` given back
    (as `view()` shows it) is read only, and left out."""
    c = _Checker()
    if not isinstance(data, dict):
        raise Refused({"worksheet": ["The worksheet must be an object: a title and sections."]})
    c.unknown(data, [t[0] for t in TOP] + ["sections", "version"], "", "the worksheet")
    out: dict[str, Any] = {
        name: c.text(data, name, name, said, limit, required) for name, said, limit, required in TOP
    }
    sections = _list(c, data, "sections", "", "the worksheet", 1, MAX_SECTIONS)
    out["sections"] = [_section(c, raw, n) for n, raw in enumerate(sections)]
    items = [i for s in out["sections"] for i in s["items"]]
    if len(items) > MAX_ALL_ITEMS:
        c.fail("sections", f"The worksheet has {len(items)} items; keep it to {MAX_ALL_ITEMS}.")
    if sum(i["kind"] == "network" for i in items) > 1:
        c.fail("sections", "The worksheet may have one keep-in-touch table, not more.")
    if c.errors:
        raise Refused(c.errors)
    c.new_keys()
    return out
