"""Regenerate docs/screenshots/admin-dashboard.png from a demo list (SQLite, Chromium).

    .venv/bin/python docs/screenshots/dashboard.py

Needs Redis on localhost and Debian's Chromium at /usr/bin/chromium.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import threading
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SECRET_KEY", "demo-secret-key-that-is-long-enough-0123456789")

from flask_migrate import upgrade  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from app import create_app  # noqa: E402
from models import Consent, Delivery, DeliveryStatus, Status, Subscriber, db, utcnow  # noqa: E402
from subscribers import rows  # noqa: E402

PASSWORD = "demo-password"  # noqa: S105 - a throwaway demo database
FIRST = [
    "Ana",
    "Ben",
    "Chloe",
    "Dev",
    "Elif",
    "Femi",
    "Gus",
    "Hana",
    "Ivo",
    "Jo",
    "Kai",
    "Lena",
    "Mo",
    "Nia",
    "Omar",
    "Pia",
    "Raj",
    "Sue",
    "Tom",
    "Uma",
]
POSTS = [  # (page, weight): where the demo's readers signed up
    ("https://blog.example.com/why-you-should-network-when-you-already-have-a-job", 6),
    ("https://blog.example.com/questions-to-ask-before-you-say-yes", 3),
    ("https://blog.example.com/thank-the-people-who-helped", 2),
    ("https://blog.example.com/six-months-in", 1),
]
ERRORS = [
    "550 5.1.1 <{email}>: Recipient address rejected: User unknown",
    "452 4.2.2 Mailbox full, try again later",
    "554 5.7.1 Message rejected as spam by content filter",
]


def _notes(rng, sub, i, status, now, kind, anchor, steps):
    """Sent, failed or scheduled rows for the notes of one kind, counted from `anchor`."""
    for step, offset in steps:
        due = anchor + timedelta(days=offset)
        if due <= now and status in (Status.ACTIVE, Status.UNSUBSCRIBED):
            failed = rng.random() < 0.01
            sub.deliveries.append(
                Delivery(
                    step=step,
                    kind=kind,
                    status=DeliveryStatus.FAILED if failed else DeliveryStatus.SENT,
                    due_at=due,
                    sent_at=None if failed else due,
                    updated_at=due,
                    attempts=1,
                    last_error=rng.choice(ERRORS).format(email=sub.email) if failed else None,
                    message_id=f"<d{i}{step}@demo>",
                )
            )
        elif status == Status.ACTIVE:
            sub.deliveries.append(
                Delivery(
                    step=step,
                    kind=kind,
                    status=DeliveryStatus.SCHEDULED,
                    due_at=due,
                    message_id=f"<d{i}{step}@demo>",
                )
            )


def seed(rng: random.Random) -> None:
    now = utcnow()
    after_hire = [("month-1", 30), ("month-3", 91), ("month-6", 182)]
    checkins = [("checkin-1", 42), ("checkin-2", 91), ("checkin-3", 182)]
    for i in range(1400):
        days = int(rng.triangular(0, 200, 20))
        created = now - timedelta(days=days, minutes=rng.randrange(1440))
        name = f"{rng.choice(FIRST)} {chr(65 + i % 26)}."
        email = f"{name.split()[0].lower()}.{i}@example.com"
        roll = rng.random()
        status = (
            Status.PENDING
            if roll < 0.12
            else Status.UNSUBSCRIBED
            if roll < 0.2
            else Status.BOUNCED
            if roll < 0.23
            else Status.ACTIVE
        )
        confirmed = (
            None if status == Status.PENDING else created + timedelta(minutes=rng.randrange(5, 600))
        )
        said = rng.random()
        job_status = (
            "unknown"
            if confirmed is None or said < 0.22
            else "started"
            if said < 0.67
            else "looking"
            if said < 0.92
            else "not_changing"
        )
        start = None
        if job_status == "started":
            start = (confirmed + timedelta(days=rng.randrange(-30, 60))).replace(
                hour=0, minute=0, second=0, microsecond=0
            )
        sub = Subscriber(
            email=email,
            email_key=email,
            name=name,
            status=status,
            created_at=created,
            confirmed_at=confirmed,
            job_status=job_status,
            anchor_at=start,
            started_job_on=start.date().isoformat() if start else None,
        )
        page = rng.choices([p for p, _ in POSTS], [w for _, w in POSTS])[0]
        page_url = page + ("?utm_source=newsletter" if rng.random() < 0.3 else "")
        sub.consents.append(
            Consent(
                **rows.consent_row(
                    now=created,
                    ip=None,
                    user_agent=None,
                    page_url=None if rng.random() < 0.08 else page_url,
                    form_version="worksheet-2026-12",
                    source="embed",
                    confirmed_at=confirmed,
                )
            )
        )
        sub.deliveries.append(
            Delivery(
                step="worksheet",
                kind="worksheet",
                status=DeliveryStatus.SENT,
                due_at=created,
                sent_at=created,
                updated_at=created,
                message_id=f"<w{i}@demo>",
            )
        )
        if start is not None:
            _notes(rng, sub, i, status, now, "drip", start, after_hire)
        elif confirmed is not None and job_status in ("unknown", "looking"):
            _notes(rng, sub, i, status, now, "checkin", confirmed, checkins)
        db.session.add(sub)
    db.session.commit()


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    app = create_app(
        {
            "SECRET_KEY": os.environ["SECRET_KEY"],
            "DATABASE_URL": f"sqlite:///{folder / 'demo.db'}",
            "REDIS_URL": "redis://127.0.0.1:6379/9",
            "RQ_QUEUE": "tend-demo",
            "ADMIN_PASSWORD": PASSWORD,
            "PUBLIC_BASE_URL": "http://127.0.0.1:5077",
            "EMBED_ALLOWED_ORIGINS": "https://blog.example.com",
            "MAIL_FROM": "Career Notes <coach@tend.example>",
            "POSTAL_ADDRESS": "12 Garden Lane, Springfield, IL 62701",
            "LOG_LEVEL": "WARNING",
        }
    )
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        seed(random.Random(8))
    server = make_server("127.0.0.1", 5077, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
            page.goto("http://127.0.0.1:5077/admin/login")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/admin/")
            out = ROOT / "docs" / "screenshots" / "admin-dashboard.png"
            page.screenshot(path=str(out), full_page=True)
            browser.close()
            print(f"wrote {out}")
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
