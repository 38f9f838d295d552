"""The dashboard's figures: each one SQL aggregate over an index, whatever the list's size.

Every function takes `now`; none reads a clock. Days are UTC days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, nulls_last, select

from campaigns import tallies
from campaigns.sequence import Sequence
from models import Consent, Delivery, DeliveryStatus, JobStatus, Status, Subscriber, db

STATUSES = (Status.PENDING, Status.ACTIVE, Status.UNSUBSCRIBED, Status.BOUNCED)


@dataclass(frozen=True)
class FunnelStage:
    label: str
    count: int


@dataclass(frozen=True)
class Failure:
    when: datetime
    email: str
    step: str
    status: str
    attempts: int
    error: str


def _day(value) -> date:
    # SQLite gives 'YYYY-MM-DD' strings, PostgreSQL gives dates.
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


@dataclass(frozen=True)
class Counts:
    """Subscribers per status, and how many of them ever confirmed."""

    statuses: dict[str, int]
    confirmed: int

    @property
    def total(self) -> int:
        return sum(self.statuses.values())


def counts() -> Counts:
    """Subscribers per status (every status present) and confirmed ones, in one index pass."""
    rows = db.session.execute(
        select(Subscriber.status, func.count(), func.count(Subscriber.confirmed_at)).group_by(
            Subscriber.status
        )
    ).all()
    statuses = dict.fromkeys(STATUSES, 0)
    statuses.update({status: n for status, n, _ in rows})
    return Counts(statuses, sum(c for _, _, c in rows))


def answers() -> dict[str, int]:
    """Subscribers by what they told us of their job (every answer present), from its index."""
    rows = db.session.execute(
        select(Subscriber.job_status, func.count()).group_by(Subscriber.job_status)
    ).all()
    found = dict.fromkeys(JobStatus.ALL, 0)
    found.update(dict(rows))
    return found


def signups_per_day(*, now: datetime, days: int = 90) -> dict[date, int]:
    """Signups per UTC day over the last `days` days, today included; empty days are 0."""
    first = now.date() - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=now.tzinfo)
    day = func.date(Subscriber.created_at)
    rows = db.session.execute(
        select(day, func.count()).where(Subscriber.created_at >= since).group_by(day)
    ).all()
    counts = {first + timedelta(days=i): 0 for i in range(days)}
    for value, count in rows:
        if (d := _day(value)) in counts:
            counts[d] = count
    return counts


def funnel(
    sequence: Sequence, figures: Counts, said: dict[str, int], *, now: datetime
) -> list[FunnelStage]:
    """Signed up -> confirmed -> gave a start date -> each after-hire step sent ->
    unsubscribed, as counts of people (`said`: `answers()`)."""
    finished = tallies.outcomes(now)
    stages = [
        FunnelStage("Signed up", figures.total),
        FunnelStage("Confirmed", figures.confirmed),
        FunnelStage("Gave a start date", said.get(JobStatus.STARTED, 0)),
    ]
    stages += [
        FunnelStage(f"Sent: {s.subject}", finished.get((s.key, DeliveryStatus.SENT), 0))
        for s in sequence.steps
    ]
    stages.append(FunnelStage("Unsubscribed", figures.statuses.get(Status.UNSUBSCRIBED, 0)))
    return stages


@dataclass(frozen=True)
class PageFigures:
    """Signups made on one page (None: no page was recorded) and how many were confirmed."""

    page: str | None
    signups: int
    confirmed: int

    @property
    def rate(self) -> float:
        """Confirmed signups as a share of all signups on the page, 0 to 100."""
        return 100 * self.confirmed / self.signups if self.signups else 0.0


def by_page(limit: int = 15) -> list[PageFigures]:
    """Signups and confirmations per page they were made on, the most signups first.

    A signup is a consent record; its page is the consent's page URL without the query or
    fragment, so one post counts once whatever campaign tags its links carried.
    """
    signups = func.count()
    rows = db.session.execute(
        select(Consent.page, signups, func.count(Consent.confirmed_at))
        .group_by(Consent.page)
        .order_by(signups.desc(), nulls_last(Consent.page.asc()))
        .limit(limit)
    ).all()
    return [PageFigures(page, n, confirmed) for page, n, confirmed in rows]


def due_next(*, now: datetime, days: int = 7) -> list[tuple[date, str, int]]:
    """Scheduled emails per UTC day and step until `now + days` (overdue ones count as today)."""
    until = now + timedelta(days=days)
    day = func.date(Delivery.due_at)
    rows = db.session.execute(
        select(day, Delivery.step, func.count())
        .where(Delivery.status == DeliveryStatus.SCHEDULED, Delivery.due_at < until)
        .group_by(day, Delivery.step)
    ).all()
    today = now.date()
    merged: dict[tuple[date, str], int] = {}
    for value, step, count in rows:
        key = (max(_day(value), today), step)
        merged[key] = merged.get(key, 0) + count
    return sorted((d, step, n) for (d, step), n in merged.items())


def by_day(
    due: list[tuple[date, str, int]],
) -> tuple[list[str], list[tuple[date, dict[str, int], int]]]:
    """The due list as a table: the steps that occur, and per day the count of each and the total."""
    steps = sorted({step for _, step, _ in due}, key=lambda s: (s != "worksheet", s))
    days: dict[date, dict[str, int]] = {}
    for day, step, count in due:
        days.setdefault(day, {})[step] = count
    return steps, [(day, counts, sum(counts.values())) for day, counts in sorted(days.items())]


def recent_failures(limit: int = 20) -> list[Failure]:
    """The latest deliveries that failed for good or wait to retry, with the server's reason."""
    rows = db.session.execute(
        select(
            Delivery.updated_at,
            Subscriber.email,
            Delivery.step,
            Delivery.status,
            Delivery.attempts,
            Delivery.last_error,
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(
            Delivery.last_error.is_not(None),
            Delivery.status.in_((DeliveryStatus.FAILED, DeliveryStatus.SCHEDULED)),
        )
        .order_by(Delivery.updated_at.desc())
        .limit(limit)
    ).all()
    return [Failure(*row) for row in rows]


def recent_signups(limit: int = 10) -> list[Subscriber]:
    """The newest subscribers."""
    return list(
        db.session.scalars(select(Subscriber).order_by(Subscriber.created_at.desc()).limit(limit))
    )
