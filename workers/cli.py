"""Commands: `worker` (an RQ worker in the app context), `drip tick|sync|clock`,
`sending status|pause|resume` and `dkim keygen`."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import with_appcontext
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker

from campaigns import gate, relay_health, schedule
from campaigns.content import emails as content_emails
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


class _Worker(SimpleWorker):
    """RQ's worker, noting a warm shutdown (SIGINT, SIGTERM) through RQ's public hook, so a
    `work()` that returns can tell "asked to stop" from "Redis went away"."""

    stop_asked = False

    def handle_warm_shutdown_request(self) -> None:
        self.stop_asked = True
        super().handle_warm_shutdown_request()


class _BurstWorker(_Worker):
    """A worker that drains the queue and leaves (`--burst`, the tests): it takes no RQ
    commands, so it opens no command channel. RQ's listener thread can wait up to a minute
    before it notices the channel closed, and the worker waits a second on it at exit."""

    def subscribe(self) -> None:
        pass


class _Once(logging.Filter):
    """RQ logs a lost Redis on every retry; this lets the first line through, then nothing
    until a job runs again."""

    def __init__(self):
        super().__init__()
        self.quiet = False

    def filter(self, record: logging.LogRecord) -> bool:
        lost = "could not connect to Redis" in record.getMessage()
        if not lost:
            self.quiet = False
            return True
        if self.quiet:
            return False
        self.quiet = True
        return True


class _Chatter(logging.Filter):
    """RQ writes several INFO lines for every job it runs (the job taken, "Job OK", how long
    its result is kept, registries cleaned); the send job writes one line per batch of its
    own. RQ's are moved to DEBUG: shown only when LOG_LEVEL is DEBUG. Its lines about the
    worker itself (started, listening, stopping) stay."""

    KEPT = ("started", "Listening on", "shut", "Stopping", "stopping")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or any(k in record.getMessage() for k in self.KEPT):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def run_worker(burst: bool = False) -> bool:
    """Run an RQ worker on the app's queue in this process (no fork: one app, one pool).

    A Redis that stops answering is ridden out: the worker waits for it, says so once,
    and goes on with the same process when it answers again.
    """
    conveyor = current_app.extensions["tend.conveyor"]
    # Its own client, the one outside the Redis edge: RQ gives it a long timeout for the
    # blocking pop, which the edge's fast-fail client (the web's and the job's) must not have.
    redis = Redis.from_url(conveyor.redis_url, socket_connect_timeout=1, health_check_interval=30)
    once, chatter = _Once(), _Chatter()
    logging.getLogger("rq.worker").addFilter(once)
    logging.getLogger("rq.worker").addFilter(chatter)
    worked = False
    try:
        while True:
            kind = _BurstWorker if burst else _Worker
            # Send jobs first: an import or export waits for them, never the other way.
            queues = [
                Queue(name, connection=redis)
                for name in (conveyor.queue_name, conveyor.transfer_queue_name)
            ]
            worker = kind(queues, connection=redis)
            worked = (
                worker.work(
                    burst=burst,
                    logging_level="WARNING" if burst else "INFO",
                    with_scheduler=False,
                )
                or worked
            )
            if burst or worker.stop_asked or _redis_answers(redis):
                return worked
            current_app.logger.warning("worker: Redis does not answer; waiting for it")
            while not _redis_answers(redis):
                time.sleep(2)
            current_app.logger.warning("worker: Redis answers again; back to work")
    finally:
        logging.getLogger("rq.worker").removeFilter(once)
        logging.getLogger("rq.worker").removeFilter(chatter)


def _redis_answers(redis: Redis) -> bool:
    try:
        return bool(redis.ping())
    except RedisError:
        return False


@click.command("worker")
@click.option("--burst", is_flag=True, help="Drain the queue, then exit.")
@with_appcontext
def worker_command(burst: bool) -> None:
    """Run an RQ worker that sends emails, then runs imports and exports."""
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
        content_emails.sequence(),
        now=parse_now(now_text),
        domain=Sender.current().domain,
        default_zone=current_app.config["DEFAULT_TIMEZONE"],
    )
    click.echo(
        f"sync: added {counts['added']}, moved {counts['moved']}, cancelled {counts['cancelled']}"
    )
    for key, version in content_emails.overridden(current_app.extensions["tend.sequence"]):
        click.echo(
            f"sync: {key} is sent as the coach published it (version {version}); "
            "the sequence file's words and offset for it are not used"
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


@click.group("sending")
def sending_group() -> None:
    """See, stop or restart all sending."""


def _describe(current: gate.SendingState) -> str:
    if not current.paused:
        return "sending: ok"
    since = current.since.isoformat(timespec="seconds") if current.since else "?"
    line = f"sending: paused since {since} ({current.kind}): {current.reason}"
    if current.probe_at and gate.probe_due(current, current.probe_at):
        line += f"\nnext probe at or after {current.probe_at.isoformat(timespec='seconds')}"
    return line


def _describe_relay(relay: relay_health.RelayHealth) -> str:
    if not relay.failing:
        return "relay: ok"
    since = relay.since.isoformat(timespec="seconds") if relay.since else "?"
    return f"relay: failing since {since} ({relay.kind}): {relay.reason}"


@sending_group.command("status")
@with_appcontext
def sending_status() -> None:
    """Print whether sending is paused, why and since when, and whether the SMTP relay is
    failing (exit status 3 when paused)."""
    current = gate.state(fresh=True)
    click.echo(_describe(current))
    click.echo(_describe_relay(relay_health.current()))
    if current.paused:
        raise SystemExit(3)


@sending_group.command("pause")
@click.option("--reason", default="paused by the operator", show_default=True)
@with_appcontext
def sending_pause(reason: str) -> None:
    """Stop all sending: workers send nothing and the clock queues nothing."""
    current = gate.pause(reason, kind=gate.PauseKind.OPERATOR)
    click.echo(_describe(current))


@sending_group.command("resume")
@with_appcontext
def sending_resume() -> None:
    """Restart sending: the next tick queues everything that waited, once."""
    was = gate.state(fresh=True)
    gate.resume(by="the operator (CLI)")
    click.echo(f"sending: resumed (was paused: {was.reason})" if was.paused else "sending: ok")


@click.group("dkim")
def dkim_group() -> None:
    """DKIM signing keys."""


@dkim_group.command("keygen")
@click.option(
    "--out",
    "path",
    default="instance/dkim.pem",
    show_default=True,
    type=click.Path(dir_okay=False, writable=True),
    help="Where to write the private key (PEM).",
)
@click.option("--selector", default=None, help="Default: DKIM_SELECTOR, else 'tend'.")
@click.option("--force", is_flag=True, help="Replace an existing key file.")
@with_appcontext
def dkim_keygen(path: str, selector: str | None, force: bool) -> None:
    """Write a new 2048-bit RSA key and print the DNS TXT record that publishes it."""
    from pathlib import Path

    from campaigns.dkim import new_key, txt_record, txt_value

    target = Path(path)
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists; pass --force to replace it")
    selector = selector or current_app.config["DKIM_SELECTOR"] or "tend"
    domain = current_app.config["DKIM_DOMAIN"]
    pem, public = new_key()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.touch(mode=0o600, exist_ok=True)
    target.chmod(0o600)
    target.write_bytes(pem)
    click.echo(f"wrote {target} (keep it secret; mode 600)")
    click.echo("Publish this DNS record, then set:")
    click.echo(f"  DKIM_SELECTOR={selector}")
    click.echo(f"  DKIM_DOMAIN={domain}")
    click.echo(f"  DKIM_PRIVATE_KEY_PATH={target.resolve()}")
    click.echo("")
    click.echo(txt_record(selector, domain, public))
    click.echo("")
    click.echo("or, in a DNS provider's form (one TXT value, pasted whole):")
    click.echo(f"  name:  {selector}._domainkey.{domain}")
    click.echo("  type:  TXT")
    click.echo(f"  value: {txt_value(public)}")
