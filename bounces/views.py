"""`POST /webhooks/<provider>`: the one door every provider's bounce and complaint calls use."""

from __future__ import annotations

from importlib import import_module

from flask import Blueprint, Flask, abort, current_app, jsonify, request

from bounces.events import Refused, apply
from models import utcnow

bp = Blueprint("webhooks", __name__)

# Imported on first use: their crypto libraries stay out of workers and the clock.
PROVIDERS = ("ses", "postmark", "mailgun", "sendgrid")
MAX_BODY = 5 * 1024 * 1024  # SendGrid batches many events into one POST


def init_app(app: Flask) -> None:
    """Register the webhooks (the SNS certificate fetcher is replaceable through
    `app.extensions["tend.sns_certificate"]`, e.g. in tests)."""
    app.register_blueprint(bp)


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
        events = handler.read(body, request.headers, current_app.config, now)
    except Refused as refused:
        current_app.logger.warning(
            "webhook refused", extra={"provider": provider, "reason": refused.reason}
        )
        response = jsonify(status="refused", reason=refused.reason)
        if refused.status == 401 and provider == "postmark":
            response.headers["WWW-Authenticate"] = 'Basic realm="tend-webhooks"'
        return response, refused.status
    counts = apply(events, now=now, provider=provider)
    return jsonify(status="ok", events=counts)
