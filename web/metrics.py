"""`/metrics` in Prometheus text format, read from the database and Redis at scrape time.

Web, worker and clock are separate processes (and the web has several), so in-process
counters would each see a part. Sent and failed emails, signups, queue depth and lag
come from the database and Redis when Prometheus asks; signup rejections are counted in a
Redis hash shared by every web process, by signup itself through `count_rejection`.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis import Redis
from sqlalchemy import func, select

from campaigns import gate, relay_health, tallies
from models import Consent, DeliveryStatus, Subscriber, db, utcnow
from web.health import overdue_seconds

bp = Blueprint("metrics", __name__)


def rejections_key() -> str:
    """The Redis hash of rejection counts, namespaced like the queue (deployments may share Redis)."""
    return f"tend:{current_app.config['RQ_QUEUE']}:metrics:rejections"


def _redis() -> Redis:
    client = current_app.extensions.get("tend.metrics_redis")
    if client is None:
        # Short timeouts: a dead Redis must not slow a rejected signup or a scrape.
        client = Redis.from_url(
            current_app.config["REDIS_URL"], socket_connect_timeout=0.3, socket_timeout=0.3
        )
        current_app.extensions["tend.metrics_redis"] = client
    return client


def count_rejection(*reasons: str) -> None:
    """Count one refused signup under each of its reasons (`tend_signup_rejections_total`).

    A Redis that does not answer loses the count, never the answer to the reader.
    """
    try:
        pipe = _redis().pipeline(transaction=False)
        for reason in reasons:
            pipe.hincrby(rejections_key(), reason, 1)
        pipe.execute()
    except Exception:
        current_app.logger.debug("rejection not counted: Redis unavailable", exc_info=True)


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
            signups = db.session.execute(
                select(Consent.source, func.count()).group_by(Consent.source)
            ).all()
            now = utcnow()
            emails = tallies.outcomes(now)
            lag = overdue_seconds(now)
            paused = gate.state().paused
            relay_failing = relay_health.current().failing
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

        counter = CounterMetricFamily(
            "tend_signups", "Signups stored (consent records), by source", labels=["source"]
        )
        for source, count in signups:
            counter.add_metric([source], count)
        yield counter

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
            "tend_relay_up", "0 while the SMTP relay is failing", value=int(not relay_failing)
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
            rejections = _redis().hgetall(rejections_key())
        except Exception:
            current_app.logger.warning("metrics: Redis unavailable", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily("tend_queue_depth", "Send jobs waiting in Redis", value=depth)
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
    token = current_app.config["METRICS_TOKEN"]
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            abort(401)
    body = generate_latest(current_app.extensions["tend.metrics_registry"])
    return Response(body, content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
