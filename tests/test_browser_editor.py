"""The email editor in a real browser (Chromium via Playwright): log in, open the month-1
note from the list, type in its body and watch the preview beside it change (and name a
bad variable next to the field), publish after the confirmation, see the new version, and
revert to the shipped words. Tend runs for real on a loopback port; nothing is mocked.

Screenshots go to `artifacts/screenshots/` (`emails.png`, `editor.png`; the ones in
`docs/screenshots/` are copies of them)."""

from __future__ import annotations

import re

import browser_support
import pytest
from browser_support import AXE, DESKTOP, SCREENSHOTS, need
from playwright.sync_api import Page, expect
from support import ADMIN_PASSWORD

pytestmark = pytest.mark.browser
browser = browser_support.browser
tend_server = browser_support.tend_server
open_page = browser_support.open_page

SHIPPED_SUBJECT = "A month in: who helped you get here?"
TYPED = "A NEW LINE for {{ first_name }}."


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def axe_violations(page: Page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async () => await axe.run(document, {iframes: false, resultTypes: ['violations']})"
    )
    return [
        {"rule": v["id"], "help": v["help"], "where": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.fixture
def tend(make_app, tend_server):
    app = make_app(ADMIN_PASSWORD=ADMIN_PASSWORD, PUBLIC_BASE_URL=tend_server.origin)
    tend_server.app = app
    yield app
    tend_server.app = None


def log_in(page: Page, tend_server, path: str) -> None:
    page.goto(tend_server.url(path))
    page.get_by_label("Admin password").fill(ADMIN_PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(tend_server.url(path))


def test_type_preview_publish_and_revert(tend, tend_server, open_page):
    page = open_page(DESKTOP)
    log_in(page, tend_server, "/admin/emails")
    expect(page.get_by_role("heading", name="Emails", level=1)).to_be_visible()
    row = page.locator('tr[data-key="month-1"]')
    expect(row).to_contain_text("1 month after the start date")
    expect(row).to_contain_text("Shipped default")
    shoot(page, "emails")
    row.get_by_role("link", name=SHIPPED_SUBJECT).click()

    expect(page.get_by_role("heading", name=SHIPPED_SUBJECT, level=1)).to_be_visible()
    frame = page.frame_locator("#preview-frame")
    text_part = page.locator("pre.email-text")
    expect(frame.get_by_text("Hi Sam,")).to_be_visible()
    body = page.get_by_label("Body")
    body.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("\n\n" + TYPED)
    # The preview follows the unsaved words, for the sample reader: both parts.
    expect(frame.get_by_text("A NEW LINE for Sam.")).to_be_visible()
    expect(text_part).to_contain_text("A NEW LINE for Sam.")
    expect(page.locator("#preview-what")).to_have_text("Your unsaved words")

    # A variable not on the list is named beside the body, and the message goes once fixed.
    page.keyboard.type(" {{ salary }}")
    error = page.locator("#body-error")
    expect(error).to_contain_text("unknown variable {{ salary }}")
    expect(body).to_have_attribute("aria-invalid", "true")
    for _ in " {{ salary }}":
        page.keyboard.press("Backspace")
    expect(error).to_be_hidden()
    expect(body).not_to_have_attribute("aria-invalid", "true")
    shoot(page, "editor")

    page.get_by_role("button", name="Publish…").click()
    expect(page.get_by_role("heading", name=f"Publish “{SHIPPED_SUBJECT}”")).to_be_visible()
    expect(page.locator('[data-impact="reach"]')).to_contain_text("This reaches 0 planned emails")
    shoot(page, "editor-confirm")
    page.get_by_role("button", name="Confirm and publish").click()

    expect(page).to_have_url(re.compile(r"/admin/emails/month-1\?reader=started$"))
    expect(page.get_by_role("status").first).to_have_text(
        f"Published version 2: “{SHIPPED_SUBJECT}”."
    )
    versions = page.locator("table.versions")
    expect(versions.get_by_role("row")).to_have_count(3)  # the header, 2 and 1
    expect(versions.get_by_role("row").nth(1)).to_contain_text("Current")
    expect(body).to_have_value(re.compile(re.escape(TYPED)))
    expect(frame.get_by_text("A NEW LINE for Sam.")).to_be_visible()

    page.get_by_role("button", name="Revert to version 1").click()
    # It asks first, as Publish… does, with what the old words reach.
    expect(page.get_by_role("heading", level=1)).to_contain_text("Revert to version 1,")
    expect(page.locator('[data-impact="reach"]')).to_contain_text("This reaches")
    page.get_by_role("button", name="Confirm and revert").click()
    expect(page.get_by_role("status").first).to_have_text(
        "Version 1 is back, published as version 3."
    )
    expect(body).not_to_have_value(re.compile("A NEW LINE"))
    expect(frame.get_by_text("A NEW LINE for Sam.")).to_have_count(0)
    expect(versions.get_by_role("row")).to_have_count(4)


def test_without_javascript_the_preview_button_renders_the_unsaved_words(
    tend, tend_server, open_page
):
    page = open_page(DESKTOP, java_script_enabled=False)
    log_in(page, tend_server, "/admin/emails/checkin-1")
    page.get_by_label("Subject", exact=True).fill("Still with me, {{ first_name }}?")
    page.get_by_label("Preview as a reader who").select_option("looking")
    page.get_by_role("button", name="Preview", exact=True).click()
    expect(page.locator("dd.subject")).to_have_text("Still with me, Sam?")
    expect(page.locator("#preview-what")).to_have_text("Your unsaved words")
    expect(page.get_by_label("Preview as a reader who")).to_have_value("looking")
    expect(page.get_by_label("Subject", exact=True)).to_have_value(
        "Still with me, {{ first_name }}?"
    )


@pytest.mark.parametrize("path", ["/admin/emails", "/admin/emails/month-1"])
def test_axe_finds_nothing_serious_on_the_email_pages(tend, tend_server, open_page, path):
    need(AXE.exists(), f"axe-core is not installed at {AXE} (npm install --prefix tests/.axe)")
    page = open_page(DESKTOP, bypass_csp=True)  # so the injected axe script may run
    log_in(page, tend_server, path)
    assert axe_violations(page) == []
