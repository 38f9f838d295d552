"""Sent and failed emails per step, exact at any list size, without counting every row each time.

A sent delivery never changes again (only deleting its subscriber removes it) and
carries its `sent_at`. So the sent count is a stored prefix, "rows sent before
`through`", kept in the settings table and advanced by counting only what was sent since,
plus a live count of the last hour, which covers commits that land a little after the
send time they record. Deleting a subscriber takes their rows out of the prefix
(`forget_rows`). Failed rows are few; they are counted live from their own index.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import func, select

from models import Delivery, DeliveryStatus, Setting, db

KEY = "tally.outcomes"
MARGIN = timedelta(hours=1)

Outcomes = Counter  # (step, status) -> count


def _sent(since: datetime | None, until: datetime | None) -> Outcomes:
    query = select(Delivery.step, func.count()).where(Delivery.status == DeliveryStatus.SENT)
    if since is not None:
        query = query.where(Delivery.sent_at >= since)
    if until is not None:
        query = query.where(Delivery.sent_at < until)
    rows = db.session.execute(query.group_by(Delivery.step)).all()
    return Counter({(step, DeliveryStatus.SENT): n for step, n in rows})


def _failed() -> Outcomes:
    rows = db.session.execute(
        select(Delivery.step, func.count())
        .where(Delivery.status == DeliveryStatus.FAILED)
        .group_by(Delivery.step)
    ).all()
    return Counter({(step, DeliveryStatus.FAILED): n for step, n in rows})


def _load(lock: bool) -> tuple[Setting | None, datetime | None, Outcomes]:
    query = select(Setting).where(Setting.key == KEY)
    state = db.session.scalar(query.with_for_update() if lock else query)
    if state is None:
        return None, None, Counter()
    data = json.loads(state.value)
    counts = Counter({tuple(k.split("\t", 1)): n for k, n in data["counts"].items()})
    return state, datetime.fromisoformat(data["through"]), counts


def _dump(through: datetime, counts: Outcomes) -> str:
    return json.dumps(
        {
            "through": through.isoformat(),
            "counts": {f"{s}\t{st}": n for (s, st), n in counts.items() if n},
        }
    )


def outcomes(now: datetime) -> Outcomes:
    """Sent and failed deliveries per (step, status), as of `now`."""
    watermark = (now - MARGIN).replace(second=0, microsecond=0)
    state, through, base = _load(lock=False)
    if through is None or through < watermark:
        state, through, base = _load(lock=True)
        if through is None or through < watermark:
            base = base + _sent(through, watermark) if through else _sent(None, watermark)
            through = watermark
            if state is None:
                db.session.add(Setting(key=KEY, value=_dump(through, base)))
            else:
                state.value = _dump(through, base)
        db.session.commit()
    return base + _sent(through, None) + _failed()


def forget_rows(sent_at: Iterable[tuple[str, datetime | None]]) -> None:
    """Take a deleted subscriber's sent deliveries (step, sent_at) out of the prefix (caller commits)."""
    state, through, base = _load(lock=True)
    if state is None or through is None:
        return
    gone = Counter((step, DeliveryStatus.SENT) for step, at in sent_at if at and at < through)
    if gone:
        state.value = _dump(through, base - gone)
