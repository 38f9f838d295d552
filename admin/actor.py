"""Who acts from the dashboard, as the audit log names them."""

from __future__ import annotations

from flask import session

from studio.audit import Actor


def dashboard() -> Actor:
    """The dashboard, with the first 8 characters of the open admin session's id: enough to
    tell two sessions apart in the log, never enough to open one."""
    marker = session.get("admin")
    session_id = marker.get("id") if isinstance(marker, dict) else None
    return Actor("dashboard", session_id[:8] if isinstance(session_id, str) else "")
