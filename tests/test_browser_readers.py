"""One reader's page in a real browser (Chromium via Playwright): the coach logs in, types
the start date a reader told them by phone, saves it, and reads the notes it planned, by
subject; the audit log shows what they did. A screenshot goes to `artifacts/screenshots/`.
"""

from __future__ import annotations

from datetime import date, timedelta

import browser_support
import pytest
from browser_support import DESKTOP, SCREENSHOTS
from playwright.sync_api import Page, expect
from support import ADMIN_PASSWORD, signup, work

from models import db, utcnow
from subscribers.lifecycle import find_by_address

pytestmark = pytest.mark.browser
browser = browser_support.browser
tend_server = browser_support.tend_server
open_page = browser_support.open_page


@pytest.fixture
def tend(make_app, tend_server):
    app = make_app(PUBLIC_BASE_URL=tend_server.origin, ADMIN_PASSWORD=ADMIN_PASSWORD)
    tend_server.app = app
    yield app
    tend_server.app = None


def log_in(page: Page, tend_server) -> None:
    page.goto(tend_server.url("/admin/login"))
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def test_the_coach_sets_a_start_date_on_the_readers_page(tend, tend_server, smtp, open_page):
    signup(tend.test_client())
    work(tend)
    with tend.test_request_context():
        from signup import service

        service.confirm(find_by_address("ann@example.com"), now=utcnow(), ip=None)
        public_id = find_by_address("ann@example.com").public_id
        db.session.remove()
    page = open_page(DESKTOP)
    log_in(page, tend_server)
    page.goto(tend_server.url(f"/admin/subscribers/{public_id}"))

    start: date = utcnow().date() + timedelta(days=9)
    field = page.get_by_label("Start of the new job")
    field.click()
    field.press_sequentially(start.strftime("%m%d%Y"))  # the date picker, as a person types
    page.get_by_role("button", name="Save the start date").click()

    expect(page.get_by_role("status")).to_have_text(
        "Start date saved: the after-hire notes count from it."
    )
    expect(page.locator("main")).to_contain_text(
        f"Started the new job on {start.day} {start:%b %Y}"
    )
    emails = page.locator("table.reader-emails")
    for subject in ("A month in: who helped you get here?", "Give before you need"):
        expect(emails.get_by_role("row", name=subject)).to_contain_text("scheduled")
    expect(page.locator("table.activity")).to_contain_text("the after-hire notes follow it.")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "admin-reader.png"), full_page=True)
    with tend.app_context():
        assert find_by_address("ann@example.com").started_job_on == start
        db.session.remove()
