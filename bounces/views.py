"""`POST /webhooks/<provider>`: the one door every provider's bounce and complaint calls use."""

from __future__ import annotations

from importlib import import_module

from flask import Blueprint, Flask, abort, current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from bounces.events import Refused, apply
from models import db, utcnow
from web import spent

bp = Blueprint("webhooks", __name__)

# Imported on first use: their crypto libraries stay out of workers and the clock.
PROVIDERS = ("ses", "postmark", "mailgun", "sendgrid")
MAX_BODY = 5 * 1024 * 1024  # SendGrid batches many events into one POST


def init_app(app: Flask) -> None:
    """Register the webhooks (the SNS certificate fetcher is replaceable through
    `app.extensions["tend.sns_certificate"]`, e.g. in tests)."""
    app.register_blueprint(bp)


def _refused(provider: str, status: int, reason: str):
    current_app.logger.warning("webhook refused", extra={"provider": provider, "reason": reason})
    response = jsonify(status="refused", reason=reason)
    if status == 401 and provider == "postmark":
        response.headers["WWW-Authenticate"] = 'Basic realm="tend-webhooks"'
    return response, status


def _unavailable(provider: str):
    """The database did not answer: nothing was recorded, so the provider should retry."""
    db.session.rollback()
    current_app.logger.exception("webhook not recorded: database unavailable")
    return jsonify(status="unavailable", reason="try again later"), 503


@bp.post("/webhooks/<provider>")
def receive(provider: str):
    if provider not in PROVIDERS:
        abort(404)
    handler = import_module(f"bounces.{provider}")
    if not handler.enabled(current_app.config):
        abort(404)
    request.max_content_length = MAX_BODY
    body = request.get_data(cache=True)
    now = utcnow()
    try:
        call = handler.read(body, request.headers, current_app.config, now)
    except Refused as refused:
        return _refused(provider, refused.status, refused.reason)
    once = call.once
    try:
        first = once is None or spent.take(once.key, once.until, now=now)
    except SQLAlchemyError:
        return _unavailable(provider)
    if not first:
        if once.refusal is not None:
            return _refused(provider, 409, once.refusal)
        current_app.logger.info("webhook repeated", extra={"provider": provider})
        return jsonify(status="ok", events={"repeated": len(call.events)})
    try:
        counts = apply(call.events, now=now, provider=provider)
    except SQLAlchemyError:
        response = _unavailable(provider)
        if once is not None:
            spent.give_back(once.key)  # the provider's retry must not look like a replay
        return response
    return jsonify(status="ok", events=counts)
