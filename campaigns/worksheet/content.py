"""The words of the worksheet "What Do You Need in Your Next Company?", as data.

The blog post "Why You Should Network When You Already Have a Job" ends by offering it.
The shipped words are `worksheet.toml` (version 1 of the content key `worksheet`); what the
coach publishes is stored as versions (`campaigns.content.store`) and the newest wins.
`current()` gives what readers get now, as frozen (hashable) objects `build.py` lays out.

Each question gets a field to type in (or room to write on paper). A field's `key` is its
name in the PDF's form: stable, so a filled-in copy keeps its answers across rebuilds.
The data's shape (a JSON object, or the TOML file) is in `worksheet.toml`'s header;
`studio.worksheet` checks what the coach publishes against it.
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from campaigns.content import store

KEY = "worksheet"
PATH = Path(__file__).resolve().with_name("worksheet.toml")
KINDS = ("question", "checkboxes", "blanks", "network")
DEFAULT_LINES = 5
# Fields every build has, above the first section: not the coach's to rename.
FIXED_FIELDS = ("your-name", "date")
NETWORK_PREFIX = "person-"  # the keep-in-touch table's fields: person-<row>-<column key>
BLANK_TITLE = (
    "amount, currency, and per year, month or hour"  # a blank's spoken name, after its label
)


@dataclass(frozen=True)
class Question:
    """A prompt and the box its answer goes in, `lines` lines tall."""

    key: str
    text: str
    lines: int = DEFAULT_LINES


@dataclass(frozen=True)
class Box:
    """A labelled field: a box to tick, a one-line answer, or a column of the table."""

    key: str
    label: str


@dataclass(frozen=True)
class Checkboxes:
    prompt: str
    boxes: tuple[Box, ...]


@dataclass(frozen=True)
class Blanks:
    """Labelled one-line answers, such as amounts of money."""

    hint: str
    blanks: tuple[Box, ...]


@dataclass(frozen=True)
class Network:
    """The keep-in-touch table: a text field per column, a checkbox per tick, each row."""

    columns: tuple[Box, ...]
    ticks: tuple[Box, ...]
    rows: int


Item = Question | Checkboxes | Blanks | Network


@dataclass(frozen=True)
class Section:
    """A numbered heading and what goes under it, in reading order."""

    heading: str
    note: str
    items: tuple[Item, ...]

    def questions(self) -> tuple[Question, ...]:
        return tuple(i for i in self.items if isinstance(i, Question))


@dataclass(frozen=True)
class Worksheet:
    title: str
    subject: str  # the PDF's description
    intro: str
    garden: str
    closing: str
    sections: tuple[Section, ...]

    def questions(self) -> tuple[Question, ...]:
        return tuple(q for s in self.sections for q in s.questions())

    def fields(self) -> list[tuple[str, str, str]]:
        """Every form field in reading order: (name, "text" or "checkbox", spoken name)."""
        found = [("your-name", "text", "Your name"), ("date", "text", "Today's date")]
        for section in self.sections:
            for item in section.items:
                found += _fields_of(item)
        return found


def _fields_of(item: Item) -> list[tuple[str, str, str]]:
    if isinstance(item, Question):
        return [(item.key, "text", item.text)]
    if isinstance(item, Checkboxes):
        return [(b.key, "checkbox", b.label) for b in item.boxes]
    if isinstance(item, Blanks):
        return [(b.key, "text", f"{b.label}: {BLANK_TITLE}") for b in item.blanks]
    return [
        (f"{NETWORK_PREFIX}{row}-{b.key}", kind, f"Person {row}: {b.label.lower()}")
        for row in range(1, item.rows + 1)
        for boxes, kind in ((item.columns, "text"), (item.ticks, "checkbox"))
        for b in boxes
    ]


def _boxes(rows: list[dict]) -> tuple[Box, ...]:
    return tuple(Box(r["key"], r["label"]) for r in rows)


def _item(data: dict[str, Any]) -> Item:
    kind = data["kind"]
    if kind == "question":
        return Question(data["key"], data["text"], int(data.get("lines", DEFAULT_LINES)))
    if kind == "checkboxes":
        return Checkboxes(data.get("prompt", ""), _boxes(data["boxes"]))
    if kind == "blanks":
        return Blanks(data.get("hint", ""), _boxes(data["blanks"]))
    return Network(_boxes(data["columns"]), _boxes(data.get("ticks", [])), int(data["rows"]))


def from_data(data: dict[str, Any]) -> Worksheet:
    """The worksheet a (checked) data object describes."""
    return Worksheet(
        title=data["title"],
        subject=data.get("subject", ""),
        intro=data.get("intro", ""),
        garden=data.get("garden", ""),
        closing=data.get("closing", ""),
        sections=tuple(
            Section(s["heading"], s.get("note", ""), tuple(_item(i) for i in s["items"]))
            for s in data["sections"]
        ),
    )


@lru_cache(maxsize=1)
def _shipped() -> dict[str, Any]:
    with PATH.open("rb") as f:
        return tomllib.load(f)


def shipped_data() -> dict[str, Any]:
    """The shipped words as data, a copy the caller may change."""
    return copy.deepcopy(_shipped())


SHIPPED = from_data(_shipped())


@dataclass(frozen=True)
class Current:
    version: int  # the content version of `worksheet` (1: the shipped file)
    data: dict[str, Any]
    words: Worksheet


def current() -> Current:
    """What readers get now, read again only when the content store's stamp moves. A
    database without the table yet (before `db upgrade`) or not answering gets the words
    last read in this process, else the shipped ones."""
    return store.kept(KEY, _read, lambda: Current(1, shipped_data(), SHIPPED))


def _read() -> Current:
    stored = store.current(KEY, None)
    if stored is None:
        return Current(1, shipped_data(), SHIPPED)
    return Current(stored.version, stored.data, from_data(stored.data))


def forget() -> None:
    """Drop this process's copy (a publish here does; other processes see the stamp move)."""
    store.forget(KEY)
