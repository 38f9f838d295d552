"""The subscriber's own data: download it (JSON) or delete it, from the link in every email.

GET never changes anything; deleting takes a POST. The rules (what is stored, how it is
forgotten) are `subscribers.privacy`'s.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template

from models import utcnow
from signup.views import subscriber_for
from subscribers.privacy import data_response, forget

bp = Blueprint("privacy", __name__)


@bp.get("/privacy/<token>")
def page(token: str):
    subscriber = subscriber_for("privacy", token)
    response = Response(render_template("privacy.html", token=token, subscriber=subscriber))
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/privacy/<token>/data.json")
def download(token: str):
    return data_response(subscriber_for("privacy", token), now=utcnow())


@bp.post("/privacy/<token>/delete")
def delete_me(token: str):
    # The token is the capability, as for unsubscribe: the link works from any browser.
    forget(subscriber_for("privacy", token), now=utcnow())
    return render_template("privacy_deleted.html")
