"""The thank-you page and the start-date page in a real browser (Chromium via Playwright):
the date picker, the errors, "not yet", a check-in's one-click answer and the planned dates.

Tend runs for real on a loopback port; the reader's answers are read back from the
database. Screenshots of every state go to `artifacts/screenshots/`.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import browser_support
import pytest
from browser_support import AXE, DESKTOP, PHONE, SCREENSHOTS, need
from dateutil.relativedelta import relativedelta
from playwright.sync_api import Page, expect
from support import signup, started_path, work

from campaigns.compose import long_date
from campaigns.links import make_token
from models import db, utcnow
from subscribers.lifecycle import find_by_address

pytestmark = pytest.mark.browser
# The browser, Tend on a loopback port, and a fresh context per page: shared fixtures.
browser = browser_support.browser
tend_server = browser_support.tend_server
open_page = browser_support.open_page

VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}
QUESTION = "Have you started a new job, or do you have a start date?"
FIELD = "My new job starts, or started, on"


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def reader(app, email: str = "ann@example.com"):
    with app.app_context():
        found = find_by_address(email)
        db.session.expunge(found)
        db.session.remove()
        return found


def assert_fits(page: Page) -> None:
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def axe_violations(page: Page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async () => await axe.run(document, {iframes: false, resultTypes: ['violations']})"
    )
    return [
        {"rule": v["id"], "where": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def a_start_date() -> date:
    """A day a week or more ahead whose 1, 3 and 6 months later are all weekdays: then the
    planned notes come exactly on those days (UTC reader, midnight anchor, 09:00 window)."""
    day = utcnow().date() + timedelta(days=7)
    while any((day + relativedelta(months=m)).weekday() > 4 for m in (1, 3, 6)):
        day += timedelta(days=1)
    return day


def type_date(page: Page, field, day: date) -> None:
    """Type a day into the date picker with the keyboard, as a reader does (en-US order)."""
    field.click()
    field.press_sequentially(day.strftime("%m%d%Y"))


@pytest.fixture
def tend(make_app, tend_server):
    app = make_app(PUBLIC_BASE_URL=tend_server.origin)
    tend_server.app = app
    yield app
    tend_server.app = None


@pytest.mark.parametrize("device", VIEWPORTS)
def test_confirming_shows_the_thank_you_page_with_the_download_and_the_question(
    tend, tend_server, smtp, open_page, device
):
    signup(tend.test_client(), timezone="UTC")
    work(tend)
    token = make_token(tend.config["SECRET_KEY"], "confirm", reader(tend).public_id)
    page = open_page(VIEWPORTS[device], locale="en-US")
    page.goto(tend_server.url(f"/confirm/{token}"))
    page.get_by_role("button", name="Get my worksheet").click()

    expect(page).to_have_url(re.compile(r"/started/[\w.\-]+\?welcome=1$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Thank you, Ann. Your worksheet is ready."
    )
    download = page.get_by_role("link", name="Download the worksheet (PDF)")
    expect(download).to_be_visible()
    pdf = page.request.get(tend_server.url(download.get_attribute("href")))
    assert pdf.ok and pdf.body().startswith(b"%PDF")
    expect(page.get_by_role("heading", name=QUESTION)).to_be_visible()
    field = page.get_by_label(FIELD)
    expect(field).to_have_attribute("type", "date")
    today = utcnow().date()
    expect(field).to_have_attribute("min", (today - relativedelta(years=2)).isoformat())
    expect(field).to_have_attribute("max", (today + relativedelta(months=6)).isoformat())
    for name in ("Save my start date", "Not yet, still looking", "I'm not changing jobs"):
        expect(page.get_by_role("button", name=name)).to_be_visible()
    assert reader(tend).status == "active" and reader(tend).anchor_at is None
    assert_fits(page)
    shoot(page, f"thanks-{device}")


@pytest.mark.parametrize("device", VIEWPORTS)
def test_the_start_date_page_errors_date_picker_planned_dates_and_not_yet(
    make_app, tend_server, smtp, open_page, device
):
    app = make_app(DOUBLE_OPT_IN="0", PUBLIC_BASE_URL=tend_server.origin)
    tend_server.app = app
    signup(app.test_client(), timezone="UTC")
    work(app)
    page = open_page(VIEWPORTS[device], locale="en-US")
    page.goto(tend_server.url(started_path(app, "ann@example.com")))
    expect(page.get_by_role("heading", level=1)).to_have_text(QUESTION)
    field = page.get_by_label(FIELD)
    save = page.get_by_role("button", name="Save my start date")

    # No date at all: the message under the field, which is marked and focused.
    save.click()
    error = page.get_by_role("alert")
    expect(error).to_have_text("Please enter the day you start, or started, your new job.")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_be_focused()
    assert "started_on-error" in field.get_attribute("aria-describedby")
    assert reader(app).job_status == "unknown"
    shoot(page, f"started-{device}-error-empty")

    # A day the picker allows typing but the rule refuses: the range is named.
    type_date(page, field, date(2019, 5, 1))
    save.click()
    earliest = utcnow().date() - relativedelta(years=2)
    latest = utcnow().date() + relativedelta(months=6)
    expect(page.get_by_role("alert")).to_have_text(
        f"Please enter a start date between {long_date(earliest)} and {long_date(latest)}."
    )
    expect(field).to_have_value("2019-05-01")  # what they typed stays, to correct
    assert reader(app).job_status == "unknown"
    assert_fits(page)
    shoot(page, f"started-{device}-error-range")

    # A real day, typed into the date picker: the page lists each note and its day.
    starts = a_start_date()
    field.fill("")
    type_date(page, field, starts)
    expect(field).to_have_value(starts.isoformat())
    save.click()
    status = page.get_by_role("status")
    expect(status).to_contain_text("Congratulations on the new job")
    expect(status).to_contain_text(f"I have your start date: {long_date(starts)}.")
    planned = page.locator("ul.notes:not(.gone) li")
    expect(planned).to_have_count(3)
    expected = [
        f"{long_date(starts + relativedelta(months=m))} {subject}"
        for m, subject in (
            (1, "A month in: who helped you get here?"),
            (3, "Give before you need"),
            (6, "Six months in: tell them how it's going"),
        )
    ]
    assert [" ".join(t.split()) for t in planned.all_inner_texts()] == expected
    expect(
        page.get_by_text("between 9 a.m. and 5 p.m. on weekdays, your time (UTC)")
    ).to_be_visible()
    found = reader(app)
    assert (found.job_status, found.started_job_on) == ("started", starts)
    assert_fits(page)
    shoot(page, f"started-{device}-planned")

    # "Not yet, still looking": the notes are held, and the page says when it asks again.
    page.get_by_role("button", name="Not yet, still looking").click()
    expect(page.get_by_role("status")).to_contain_text("Good luck with the search.")
    again = page.get_by_text(re.compile(r"I'll ask you on"))  # never asked before
    expect(again).to_be_visible()
    asked_on = datetime.strptime(
        re.search(r"on (\w+, \w+ \d+, \d{4})", again.inner_text()).group(1), "%A, %B %d, %Y"
    ).date()
    six_weeks = utcnow().date() + timedelta(weeks=6)
    assert six_weeks <= asked_on <= six_weeks + timedelta(days=3) and asked_on.weekday() < 5
    assert reader(app).job_status == "looking" and reader(app).anchor_at is None
    assert page.locator("ul.notes").count() == 0  # no after-hire note is planned
    shoot(page, f"started-{device}-looking")


def test_a_check_in_answer_opens_a_page_with_one_button(make_app, tend_server, smtp, open_page):
    app = make_app(DOUBLE_OPT_IN="0", PUBLIC_BASE_URL=tend_server.origin)
    tend_server.app = app
    signup(app.test_client(), timezone="UTC")
    work(app)
    page = open_page(PHONE, locale="en-US")
    page.goto(tend_server.url(started_path(app, "ann@example.com") + "?answer=not_changing"))
    button = page.get_by_role("button", name="Yes, I'm not changing jobs")
    expect(button).to_be_focused()
    assert reader(app).job_status == "unknown"  # opening the link changed nothing
    shoot(page, "started-phone-one-click")
    button.click()
    expect(page.get_by_role("status")).to_contain_text("I won't ask again")
    assert reader(app).job_status == "not_changing"
    # The answer can be changed later, on the same page.
    expect(page.get_by_role("heading", name="Plans changed? Change your answer")).to_be_visible()
    page.get_by_role("button", name="Not yet, still looking").click()
    expect(page.get_by_role("status")).to_contain_text("Good luck with the search.")
    assert reader(app).job_status == "looking"


@pytest.mark.parametrize("state", ["welcome", "question", "planned", "error"])
def test_axe_finds_nothing_serious_on_the_start_date_page(
    make_app, tend_server, smtp, open_page, state
):
    need(AXE.exists(), f"axe-core is not installed at {AXE} (npm install --prefix tests/.axe)")
    app = make_app(DOUBLE_OPT_IN="0", PUBLIC_BASE_URL=tend_server.origin)
    tend_server.app = app
    signup(app.test_client(), timezone="UTC")
    work(app)
    page = open_page(PHONE, bypass_csp=True, locale="en-US")
    suffix = "?welcome=1" if state == "welcome" else ""
    page.goto(tend_server.url(started_path(app, "ann@example.com") + suffix))
    if state == "planned":
        type_date(page, page.get_by_label(FIELD), a_start_date())
        page.get_by_role("button", name="Save my start date").click()
        expect(page.get_by_role("status")).to_be_visible()
    elif state == "error":
        page.get_by_role("button", name="Save my start date").click()
        expect(page.get_by_role("alert")).to_be_visible()
    assert axe_violations(page) == []


def test_a_check_in_on_a_phone_offers_the_three_answers(make_app, tend_server, smtp, open_page):
    from support import tick

    app = make_app(DOUBLE_OPT_IN="0", DRIP_WINDOW="00:00-23:59", DRIP_DAYS="Mon-Sun")
    signup(app.test_client(), timezone="UTC")
    work(app)
    tick(app, utcnow() + timedelta(weeks=6, minutes=1), pretend=True)
    work(app)
    (message,) = [m for m in smtp.messages_to("ann@example.com") if "started" in m["Subject"]]
    assert message["Subject"] == "Have you started somewhere new?"
    page = open_page(PHONE)
    page.set_content(message.get_body(("html",)).get_content())
    for name, answer in (
        ("Yes, here's the day", "started"),
        ("Not yet, still looking", "looking"),
        ("I'm not changing jobs", "not_changing"),
    ):
        link = page.get_by_role("link", name=name)
        expect(link).to_be_visible()
        assert re.fullmatch(
            rf"https://tend\.example/started/[\w.\-]+\?answer={answer}", link.get_attribute("href")
        )
    expect(page.get_by_role("link", name="Tell me when")).to_be_visible()  # the footer
    expect(page.get_by_role("link", name="Unsubscribe")).to_be_visible()
    assert_fits(page)
    shoot(page, "email-checkin-phone")
