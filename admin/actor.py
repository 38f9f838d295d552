"""Who acts from the dashboard, as the audit log names them."""

from __future__ import annotations

import hashlib

from flask import session

from studio.audit import Actor


def dashboard_actor() -> Actor:
    """`dashboard:<8 hex>`: the first 8 hex digits of the hash of the admin session's id
    (the hash its row is kept under), never the id the cookie holds."""
    marker = session.get("admin")
    session_id = marker.get("id") if isinstance(marker, dict) else None
    if not isinstance(session_id, str):
        return Actor("dashboard")
    return Actor("dashboard", hashlib.sha256(session_id.encode()).hexdigest()[:8])
