"""The emails as data: a TOML file of the worksheet email, the drip steps and the check-ins.

Drip steps (`[[step]]`) are counted from the start of the reader's new job; check-ins
(`[[checkin]]`) from their confirmation, and go only to readers who have not told us of a
new job. Read with tomllib.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from dateutil.relativedelta import relativedelta

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
    template: str

    @property
    def offset(self) -> relativedelta:
        return parse_offset(self.offset_text)


@dataclass(frozen=True)
class Worksheet:
    """The email a signup gets at once: the worksheet, or the link that confirms it first."""

    subject: str
    preheader: str
    template: str = "worksheet"
    # The same template to an address that has not confirmed: a request to confirm.
    confirm_subject: str = "Please confirm your email to get the worksheet"
    confirm_preheader: str = "One click confirms it's you. If you didn't ask, ignore this."


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


def parse(text: str) -> Sequence:
    """Parse and validate a sequence file; a bad file fails with a message naming the step.

    Keys are unique across steps and check-ins. A file of one's own without `[[checkin]]`
    tables sends no check-ins.
    """
    data = tomllib.loads(text)
    seen: set[str] = set()
    steps = _steps(data.get("step", []), "step", seen)
    checkins = _steps(data.get("checkin", []), "checkin", seen)
    worksheet = _worksheet(data["worksheet"]) if "worksheet" in data else _shipped_worksheet()
    return Sequence(tuple(steps), worksheet, tuple(checkins))


def _steps(tables, name: str, seen: set[str]) -> list[Step]:
    steps = []
    for i, raw in enumerate(tables, start=1):
        missing = {"key", "offset", "subject", "template"} - raw.keys()
        if missing:
            raise ValueError(f"{name} {i} lacks {', '.join(sorted(missing))}")
        key = str(raw["key"])
        if key in seen or key == "worksheet":
            raise ValueError(f"{name} {i}: key {key!r} is used twice or reserved")
        seen.add(key)
        step = Step(
            key=key,
            offset_text=str(raw["offset"]),
            subject=str(raw["subject"]),
            preheader=str(raw.get("preheader", "")),
            template=str(raw["template"]),
        )
        step.offset  # noqa: B018 - validates the offset now, not at send time
        for ext in ("txt", "html"):
            if not (TEMPLATES / f"{step.template}.{ext}").is_file():
                raise ValueError(
                    f"{name} {key!r}: templates/emails/{step.template}.{ext} is missing"
                )
        steps.append(step)
    return steps


def _worksheet(raw) -> Worksheet:
    if not isinstance(raw, dict) or "subject" not in raw:
        raise ValueError("[worksheet] lacks subject")
    asks = {k: str(raw[k]) for k in ("confirm_subject", "confirm_preheader") if k in raw}
    return Worksheet(subject=str(raw["subject"]), preheader=str(raw.get("preheader", "")), **asks)


@lru_cache(maxsize=1)
def _shipped_worksheet() -> Worksheet:
    # A sequence file of the operator's own may leave the worksheet email as shipped.
    return _worksheet(tomllib.loads(DEFAULT_PATH.read_text(encoding="utf-8"))["worksheet"])


def load(path: str | Path | None = None) -> Sequence:
    """Read the sequence file (the shipped one unless a path is given)."""
    return parse(Path(path or DEFAULT_PATH).read_text(encoding="utf-8"))
