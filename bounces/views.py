"""`POST /webhooks/<provider>`: the one door every provider's bounce and complaint calls use."""

from __future__ import annotations

from flask import Blueprint, Flask, abort, current_app, jsonify, request

from bounces import mailgun, postmark, sendgrid, ses
from bounces.events import Refused, apply
from models import utcnow

bp = Blueprint("webhooks", __name__)

PROVIDERS = {"ses": ses, "postmark": postmark, "mailgun": mailgun, "sendgrid": sendgrid}
MAX_BODY = 5 * 1024 * 1024  # SendGrid batches many events into one POST


def init_app(app: Flask) -> None:
    """Register the webhooks and the SNS certificate fetcher (replaceable, e.g. in tests)."""
    app.extensions.setdefault("tend.sns_certificate", ses.fetch_certificate)
    app.register_blueprint(bp)


@bp.post("/webhooks/<provider>")
def receive(provider: str):
    handler = PROVIDERS.get(provider)
    if handler is None or not handler.enabled(current_app.config):
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
