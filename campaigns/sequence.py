"""The emails as data: a TOML file of the worksheet email, the drip steps and the check-ins.

Drip steps (`[[step]]`) are counted from the start of the reader's new job; check-ins
(`[[checkin]]`) from their confirmation, and go only to readers who have not told us of a
new job. Read with tomllib. Each email's words are a Markdown file with front matter
(`templates/emails/<template>.md`: subject, preheader, offset; see
`campaigns.content.markdown`); a value in the TOML file wins over its front matter.
These files are the defaults: what the coach publishes in the dashboard wins over them,
email by email (`campaigns.content.emails`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from dateutil.relativedelta import relativedelta

from campaigns.content.markdown import read_file
from campaigns.timing import parse_offset

# The kinds of delivery: the worksheet email, an after-hire drip step, a check-in.
WORKSHEET = "worksheet"
# ...and the worksheet email to a reader who left and asked to come back: it asks them to
# confirm, and goes to them while they are still unsubscribed (see subscribers.lifecycle).
RECONFIRM = "reconfirm"
DRIP = "drip"
CHECKIN = "checkin"
WORKSHEET_KINDS = (WORKSHEET, RECONFIRM)  # the worksheet email, whoever it goes to
NOTE_KINDS = (DRIP, CHECKIN)  # the notes: timed by the window, the send days and the gap

DEFAULT_PATH = Path(__file__).with_name("sequence.toml")
TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "emails"


@dataclass(frozen=True)
class Step:
    key: str
    offset_text: str
    subject: str
    preheader: str
    template: str  # the default's file: templates/emails/<template>.md
    body: str = ""  # Markdown, with the variables of campaigns.content.markdown

    @property
    def offset(self) -> relativedelta:
        return parse_offset(self.offset_text)


@dataclass(frozen=True)
class Worksheet:
    """The email a signup gets at once: the worksheet, or the link that confirms it first."""

    subject: str
    preheader: str
    body: str = ""
    # To an address that has not confirmed: the request to confirm (templates/emails/confirm.md).
    confirm_subject: str = "Please confirm your email to get the worksheet"
    confirm_preheader: str = "One click confirms it's you. If you didn't ask, ignore this."
    confirm_body: str = ""
    template: str = "worksheet"


@dataclass(frozen=True)
class Sequence:
    steps: tuple[Step, ...]  # after-hire notes, counted from the start of the new job
    worksheet: Worksheet
    checkins: tuple[Step, ...] = ()  # "have you started?", counted from confirmation

    def step(self, key: str) -> Step | None:
        return next((s for s in self.steps if s.key == key), None)

    def checkin(self, key: str) -> Step | None:
        return next((s for s in self.checkins if s.key == key), None)

    def offsets(self) -> dict[str, str]:
        return {s.key: s.offset_text for s in self.steps}

    def checkin_offsets(self) -> dict[str, str]:
        return {s.key: s.offset_text for s in self.checkins}


def parse(text: str, folder: Path | None = None) -> Sequence:
    """Parse and validate a sequence file; a bad file fails with a message naming the step.

    Keys are unique across steps and check-ins. A file of one's own without `[[checkin]]`
    tables sends no check-ins. A step's `template` names its Markdown file, looked for
    beside the sequence file (`folder`) first, then in `templates/emails/`.
    """
    data = tomllib.loads(text)
    seen: set[str] = set()
    steps = _steps(data.get("step", []), "step", seen, folder)
    checkins = _steps(data.get("checkin", []), "checkin", seen, folder)
    worksheet = _worksheet(data.get("worksheet", {}), folder)
    return Sequence(tuple(steps), worksheet, tuple(checkins))


def markdown_file(template: str, folder: Path | None = None) -> Path | None:
    """Where a template's Markdown file is: beside the sequence file, else the shipped one."""
    for base in (folder, TEMPLATES):
        if base is not None and (base / f"{template}.md").is_file():
            return base / f"{template}.md"
    return None


def _email_file(template: str, where: str, folder: Path | None) -> dict[str, str]:
    path = markdown_file(template, folder)
    if path is None:
        raise ValueError(f"{where}: templates/emails/{template}.md is missing")
    return read_file(path)


def _steps(tables, name: str, seen: set[str], folder: Path | None) -> list[Step]:
    steps = []
    for i, raw in enumerate(tables, start=1):
        missing = {"key", "template"} - raw.keys()
        if missing:
            raise ValueError(f"{name} {i} lacks {', '.join(sorted(missing))}")
        key = str(raw["key"])
        if key in seen or key in ("worksheet", "confirm"):
            raise ValueError(f"{name} {i}: key {key!r} is used twice or reserved")
        seen.add(key)
        words = _email_file(str(raw["template"]), f"{name} {key!r}", folder) | {
            k: str(raw[k]) for k in ("offset", "subject", "preheader") if k in raw
        }
        for needed in ("offset", "subject"):
            if not words.get(needed):
                raise ValueError(
                    f"{name} {key!r} has no {needed} (in the file or its front matter)"
                )
        step = Step(
            key=key,
            offset_text=words["offset"],
            subject=words["subject"],
            preheader=words.get("preheader", ""),
            template=str(raw["template"]),
            body=words["body"],
        )
        step.offset  # noqa: B018 - validates the offset now, not at send time
        steps.append(step)
    return steps


def _worksheet(raw, folder: Path | None) -> Worksheet:
    if not isinstance(raw, dict):
        raise ValueError("[worksheet] must be a table")
    sheet = _email_file(str(raw.get("template", "worksheet")), "[worksheet]", folder)
    ask = _email_file(str(raw.get("confirm_template", "confirm")), "[worksheet]", folder)
    return Worksheet(
        subject=str(raw.get("subject", sheet["subject"])),
        preheader=str(raw.get("preheader", sheet.get("preheader", ""))),
        body=sheet["body"],
        confirm_subject=str(raw.get("confirm_subject", ask["subject"])),
        confirm_preheader=str(raw.get("confirm_preheader", ask.get("preheader", ""))),
        confirm_body=ask["body"],
    )


def load(path: str | Path | None = None) -> Sequence:
    """Read the sequence file (the shipped one unless a path is given)."""
    path = Path(path or DEFAULT_PATH)
    return parse(path.read_text(encoding="utf-8"), path.parent)
