"""Commands: `worker` (an RQ worker in the app context) and `drip tick|sync|clock`."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import with_appcontext
from rq import SimpleWorker

from campaigns import schedule
from campaigns.render import Sender
from models import db, utcnow
from workers import dispatcher


def parse_now(value: str | None) -> datetime:
    """`--now` as ISO-8601; a time without zone is taken as UTC."""
    if not value:
        return utcnow()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO-8601 time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def run_worker(burst: bool = False) -> bool:
    """Run an RQ worker on the app's queue in this process (no fork: one app, one pool)."""
    conveyor = current_app.extensions["tend.conveyor"]
    worker = SimpleWorker([conveyor.queue], connection=conveyor.redis)
    return worker.work(
        burst=burst, logging_level="WARNING" if burst else "INFO", with_scheduler=False
    )


@click.command("worker")
@click.option("--burst", is_flag=True, help="Drain the queue, then exit.")
@with_appcontext
def worker_command(burst: bool) -> None:
    """Run an RQ worker that sends emails."""
    run_worker(burst=burst)


@click.group("drip")
def drip() -> None:
    """The drip schedule: dispatch what is due, reconcile the sequence file."""


@drip.command("tick")
@click.option(
    "--now", "now_text", metavar="ISO-8601", help="Pretend it is this time (tests, demos)."
)
@with_appcontext
def tick_command(now_text: str | None) -> None:
    """One dispatcher pass: queue what is due at NOW."""
    now = parse_now(now_text)
    result = dispatcher.tick(now, pretend=bool(now_text))
    click.echo(f"tick {now.isoformat()}: {result.describe()}")


@drip.command("sync")
@click.option("--now", "now_text", metavar="ISO-8601")
@with_appcontext
def sync_command(now_text: str | None) -> None:
    """Reconcile the schedule with the sequence file (also done by every tick)."""
    counts = schedule.sync(
        current_app.extensions["tend.sequence"],
        now=parse_now(now_text),
        domain=Sender.current().domain,
        default_zone=current_app.config["DEFAULT_TIMEZONE"],
    )
    click.echo(
        f"sync: added {counts['added']}, moved {counts['moved']}, cancelled {counts['cancelled']}"
    )


@drip.command("clock")
@click.option("--interval", default=60, show_default=True, help="Seconds between ticks.")
@with_appcontext
def clock_command(interval: int) -> None:
    """Tick forever, every INTERVAL seconds; a failed tick is logged and the next one runs."""
    log = current_app.logger
    log.info("clock: one tick every %ss", interval)
    while True:
        started = time.monotonic()
        try:
            result = dispatcher.tick(utcnow())
            # Every tick, even an empty one: the line is how an operator sees the clock alive.
            log.info(
                "tick: %s",
                result.describe(),
                extra={
                    "queued": result.queued,
                    "deferred": result.deferred,
                    "reclaimed": result.reclaimed,
                    "lag_seconds": round(result.lag_seconds, 1),
                },
            )
        except Exception:
            db.session.rollback()
            log.exception("tick failed; trying again in %ss", interval)
        finally:
            db.session.remove()
        time.sleep(max(1.0, interval - (time.monotonic() - started)))
