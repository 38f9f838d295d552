"""The words of the signup pages: the shipped ones (`pages.toml`) and the coach's.

The coach's are stored under the content key `pages` as one object, `{page: {field:
text}}`; the newest version wins, field by field over the shipped file (a field a later
release adds shows its shipped words until the coach writes their own). Every page reads
them through `current()`: the signup form is the busiest page there is, so the texts are
kept per process and read again only when the content store's stamp moves, which every
publish does, in whatever process it happens.
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from campaigns.content import emails, store
from campaigns.sequence import Sequence
from campaigns.words import and_list, offsets_words, times_words

KEY = "pages"
PATH = Path(__file__).resolve().with_name("pages.toml")
# The placeholders a page text may hold, each filled from the sequence as readers get it
# now, so a promise stays true when the coach changes the notes' timing or the check-ins:
# what each becomes (for the shipped sequence), and the texts that may hold it.
OFFSETS = "{offsets}"
PLACEHOLDERS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    OFFSETS: ("1 month, 3 months and 6 months", (("started", "intro"),)),
    "{notes_at}": ("1, 3 and 6 months", (("form", "fine_print"),)),
    "{checkins}": ("three times", (("form", "fine_print"),)),
}


def allowed(page: str, field: str) -> list[str]:
    """The placeholders the text `page.field` may hold."""
    return [name for name, (_, where) in PLACEHOLDERS.items() if (page, field) in where]


def fill(text: str, sequence: Sequence) -> str:
    """`text` with its placeholders filled from `sequence`."""
    values = {
        OFFSETS: and_list([s.offset_text for s in sequence.steps]),
        "{notes_at}": offsets_words([s.offset_text for s in sequence.steps], digits=True),
        "{checkins}": times_words(len(sequence.checkins)),
    }
    for name, value in values.items():
        text = text.replace(name, value)
    return text


@lru_cache(maxsize=1)
def _shipped() -> dict[str, dict[str, str]]:
    with PATH.open("rb") as f:
        return tomllib.load(f)


def shipped() -> dict[str, dict[str, str]]:
    """The shipped texts, a copy the caller may change."""
    return copy.deepcopy(_shipped())


def merged(stored: dict | None) -> dict[str, dict[str, str]]:
    """The shipped texts with the stored ones over them, for the shipped fields only."""
    texts = shipped()
    for page, fields in (stored or {}).items():
        if page in texts and isinstance(fields, dict):
            for name, value in fields.items():
                if name in texts[page] and isinstance(value, str):
                    texts[page][name] = value
    return texts


@dataclass(frozen=True)
class Texts:
    """The pages' texts as readers get them now. In a template: `texts.form.heading`."""

    version: int  # the content version of `pages` (1: the shipped file)
    pages: dict[str, dict[str, str]]
    sequence: Sequence  # the sequence as readers got it when these were read: same stamp

    @property
    def form(self) -> dict[str, str]:
        return self.pages["form"]

    @property
    def thanks(self) -> dict[str, str]:
        return self.pages["thanks"]

    @property
    def started(self) -> dict[str, str]:
        return self.pages["started"]

    def said(self, page: str, field: str) -> str:
        """A text as readers read it: its placeholders filled from the sequence now."""
        return fill(self.pages[page][field], self.sequence)

    @property
    def fine_print(self) -> str:
        """The sentence beside the form's button, as readers read it (and consent to)."""
        return self.said("form", "fine_print")


def current() -> Texts:
    """The texts readers get: one cheap query (the store's stamp) while nothing changed.

    A database that does not answer still gets the page shown (with its banner): the texts
    last read in this process, else the shipped ones."""
    return store.kept(KEY, _read, lambda: Texts(1, shipped(), emails.sequence()))


def _read() -> Texts:
    """Read again when the stamp moves, as the sequence is: both are kept until then, so
    a page fills its placeholders with no query of its own."""
    version = store.current(KEY, None)
    data = merged(version.data if version else None)
    return Texts(version.version if version else 1, data, emails.sequence())


def forget() -> None:
    """Drop this process's copy (a publish here does; other processes see the stamp move)."""
    store.forget(KEY)
