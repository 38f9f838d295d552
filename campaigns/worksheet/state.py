"""Where the worksheet's rebuild stands: building, ready or failed, with the content version
and the build (`build.digest`) it is about.

One row of `settings` (`worksheet:build`), so every process reads the same: the web that
queued the job, the worker that runs it (`rebuild.py`), the page that shows it, and the
download, which serves the build before it while a rebuild is on its way (`build.served`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from models import Setting, db

KEY = "worksheet:build"
BUILDING, READY, FAILED = "building", "ready", "failed"
# A build still "building" this long after it was queued is taken as lost (a flushed Redis,
# a worker that died): the next download builds it instead of waiting for it.
STALE = timedelta(minutes=15)


@dataclass(frozen=True)
class State:
    state: str  # building, ready or failed
    version: int  # the worksheet's content version it is about
    digest: str  # the build it is about
    at: datetime  # when it got this state
    error: str = ""

    def waiting_for(self, digest: str, now: datetime) -> bool:
        """Whether the build named `digest` is queued or running, and not lost."""
        return self.state == BUILDING and self.digest == digest and now - self.at < STALE


def read() -> State | None:
    row = db.session.get(Setting, KEY)
    if row is None:
        return None
    try:
        held = json.loads(row.value)
        return State(
            str(held["state"]),
            int(held["version"]),
            str(held["digest"]),
            datetime.fromisoformat(held["at"]),
            str(held.get("error", "")),
        )
    except (ValueError, KeyError, TypeError):
        return None


def mark(state: str, *, version: int, digest: str, now: datetime, error: str = "") -> None:
    """Write the state (the caller commits), unless a newer version's is there already: a
    slow job for old words never hides the rebuild of newer ones."""
    held = read()
    if held is not None and held.version > version:
        return
    value = json.dumps(
        {
            "state": state,
            "version": version,
            "digest": digest,
            "at": now.isoformat(),
            "error": error[:1000],
        }
    )
    row = db.session.get(Setting, KEY)
    if row is None:
        db.session.add(Setting(key=KEY, value=value))
    else:
        row.value = value
