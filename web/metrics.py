"""`/metrics` in Prometheus text format, read from the database and Redis at scrape time,
for the holder of METRICS_TOKEN (outside debug, no token set means no `/metrics`).

Web, worker and clock are separate processes (and the web has several), so in-process
counters would each see a part. Sent and failed emails, signups, queue depth and lag
come from the database and Redis when Prometheus asks; accepted signups and rejections are
counted in Redis hashes shared by every web process, by signup itself (`count_signup`,
`count_rejection`).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis import Redis
from redis.client import Pipeline
from sqlalchemy import func, select

from campaigns import sending, tallies
from models import DeliveryStatus, Subscriber, db, utcnow
from web import redis_edge
from web.health import overdue_seconds
from web.redis_edge import RedisDown

bp = Blueprint("metrics", __name__)


def rejections_key() -> str:
    """The Redis hash of rejection counts, namespaced like the queue (deployments may share Redis)."""
    return redis_edge.current().key("metrics", "rejections")


def signups_key() -> str:
    """The Redis hash of accepted signup submissions, by source."""
    return redis_edge.current().key("metrics", "signups")


def count_signup(pipe: Pipeline, source: str) -> None:
    """Count one accepted submission (`tend_signups_total`) on `pipe`, a pipeline of the
    Redis edge the caller runs: a known address counts as a new one, so the figure tells
    nobody whether an address was already on the list."""
    pipe.hincrby(signups_key(), source, 1)


def count_rejection(*reasons: str) -> None:
    """Count one refused signup under each of its reasons (`tend_signup_rejections_total`).

    A Redis that does not answer (or cools down: `web.redis_edge`) loses the count, never
    the answer to the reader.
    """
    key = rejections_key()

    def count(redis: Redis) -> None:
        pipe = redis.pipeline(transaction=False)
        for reason in reasons:
            pipe.hincrby(key, reason, 1)
        pipe.execute()

    try:
        redis_edge.current().call(count)
    except RedisDown:
        current_app.logger.debug("rejection not counted: Redis unavailable")


class TendCollector(Collector):
    """Reads every figure from the database and Redis when Prometheus scrapes."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self) -> Iterator[Metric]:
        with self.app.app_context():
            yield from self._database()
            yield from self._redis()

    def _database(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("tend_database_up", "1 when the database answered this scrape")
        try:
            subscribers = db.session.execute(
                select(Subscriber.status, func.count()).group_by(Subscriber.status)
            ).all()
            now = utcnow()
            emails = tallies.outcomes(now)
            lag = overdue_seconds(now)
            paused = sending.state().paused
        except Exception:
            db.session.rollback()
            current_app.logger.warning("metrics: database unavailable", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        finally:
            db.session.remove()
        up.add_metric([], 1)
        yield up

        gauge = GaugeMetricFamily("tend_subscribers", "Subscribers by status", labels=["status"])
        for status, count in subscribers:
            gauge.add_metric([status], count)
        yield gauge

        sent = CounterMetricFamily("tend_emails_sent", "Emails sent, by step", labels=["step"])
        failed = CounterMetricFamily(
            "tend_emails_failed", "Emails that failed for good, by step", labels=["step"]
        )
        for (step, status), count in sorted(emails.items()):
            (sent if status == DeliveryStatus.SENT else failed).add_metric([step], count)
        yield sent
        yield failed

        yield GaugeMetricFamily(
            "tend_sending_paused", "1 while all sending is paused", value=int(paused)
        )
        yield GaugeMetricFamily(
            "tend_dispatcher_lag_seconds",
            "How long the oldest overdue delivery has waited",
            value=lag,
        )

    def _redis(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("tend_redis_up", "1 when Redis answered this scrape")
        try:
            depth = self.app.extensions["tend.conveyor"].depth()
            rejections, signups = redis_edge.current().call(
                lambda redis: (
                    redis.pipeline(transaction=False)
                    .hgetall(rejections_key())
                    .hgetall(signups_key())
                    .execute()
                ),
                skip_while_down=False,
            )
        except Exception:
            current_app.logger.warning("metrics: Redis unavailable", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily("tend_queue_depth", "Send jobs waiting in Redis", value=depth)
        accepted = CounterMetricFamily(
            "tend_signups",
            "Signup submissions accepted, by source (an address already on the list counts too)",
            labels=["source"],
        )
        for source, count in sorted(signups.items()):
            accepted.add_metric([source.decode()], int(count))
        yield accepted
        counter = CounterMetricFamily(
            "tend_signup_rejections", "Signups refused, by reason", labels=["reason"]
        )
        for reason, count in sorted(rejections.items()):
            counter.add_metric([reason.decode()], int(count))
        yield counter


def init_app(app: Flask) -> None:
    """Register `/metrics` and the collector it reads."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TendCollector(app))
    app.extensions["tend.metrics_registry"] = registry
    app.register_blueprint(bp)


@bp.get("/metrics")
def metrics():
    """For the holder of METRICS_TOKEN (`Authorization: Bearer …`). Without a token set it
    is a 404 outside debug: the figures move with each signup, so they are nobody else's."""
    token = current_app.config["METRICS_TOKEN"]
    if not token and not current_app.debug:
        abort(404)
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            abort(401)
    body = generate_latest(current_app.extensions["tend.metrics_registry"])
    return Response(body, content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
