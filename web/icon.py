"""`/favicon.ico`: the small icon every browser asks for on every page (else a 404 each time)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, send_file

ICON = Path(__file__).resolve().parent / "static" / "favicon.ico"

bp = Blueprint("icon", __name__)


@bp.get("/favicon.ico")
def favicon():
    return send_file(ICON, mimetype="image/vnd.microsoft.icon", max_age=86400)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
