"""The form in a real browser: embedded in a blog of another origin, framed, hosted, no-JS.

Chromium (Debian's, at /usr/bin/chromium) is driven by Playwright. The blog in `tests/blog/`
is served from `http://127.0.0.1:<port>` with a careless theme; Tend runs for real on
`http://localhost:<port>`; the worksheet email is read from the SMTP server on loopback after
a real RQ worker has sent it. Screenshots of every state go to `artifacts/screenshots/`.
"""

from __future__ import annotations

import re

import pytest
from browser_support import (
    AXE,
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    NO_THIRD_PARTY_COOKIES,
    PHONE,
    SCREENSHOTS,
    Blog,
    TendServer,
    need,
)
from playwright.sync_api import Frame, Locator, Page, expect, sync_playwright
from sqlalchemy import func, select
from support import BANNER, EMAIL_MSG, NAME_MSG, work

from campaigns.links import make_token
from models import Subscriber, db

pytestmark = pytest.mark.browser

THANKS = "Check your inbox for the worksheet"
WORKSHEET_GREETING = "Hi Ann,"  # the first email (a request to confirm, by default) greets her
VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}


# ---- the parts: one browser, one Tend server and two blogs per module ------------------


@pytest.fixture(scope="module")
def browser():
    need(CHROMIUM.exists(), f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS + NO_THIRD_PARTY_COOKIES,
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def tend_server():
    server = TendServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def blog(tend_server):
    """The blog Tend is configured to trust."""
    site = Blog(tend_server.origin)
    yield site
    site.close()


@pytest.fixture(scope="module")
def stranger(tend_server):
    """A blog Tend was never told about, pasting the same snippet."""
    site = Blog(tend_server.origin)
    yield site
    site.close()


SERVER_KEY = "a-server-key-for-the-tests"


@pytest.fixture
def tend(make_app, tend_server, blog):
    """Tend as configured for the blog: embeds allowed from its origin, double opt-in, the
    proof of work on (each page solves its own), and a key for the tests' own API calls."""
    app = make_app(
        EMBED_ALLOWED_ORIGINS=blog.origin, SIGNUP_CHALLENGE="pow", SIGNUP_API_KEYS=SERVER_KEY
    )
    tend_server.app = app
    yield app
    tend_server.app = None


@pytest.fixture
def open_page(browser):
    """A page in a fresh browser context (its own cookies); options go to the context."""
    contexts = []
    # expect() keeps its own 5 s default, not the context's: the same 10 s for both.
    expect.set_options(timeout=10_000)

    def open_(viewport=DESKTOP, **options) -> Page:
        context = browser.new_context(viewport=viewport, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_
    for context in contexts:
        context.close()


# ---- what a reader sees -----------------------------------------------------------------


def shoot(target: Page | Locator, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def show_around(page: Page, element: Locator) -> None:
    """Scroll so the element sits near the top, with a little of the page above it."""
    element.evaluate("el => window.scrollTo(0, el.getBoundingClientRect().top + scrollY - 150)")


def assert_fits(page: Page | Frame) -> None:
    """Nothing sticks out sideways: no horizontal scrolling in the viewport (or the frame)."""
    width = page.viewport_size["width"] if isinstance(page, Page) else page.evaluate("innerWidth")
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"the page is {scroll_width}px wide in a {width}px viewport"


def assert_error_under(scope: Page | Frame | Locator, field: Locator, message: str) -> None:
    """The field is marked invalid and points at its message, shown right below it."""
    expect(field).to_have_attribute("aria-invalid", "true")
    described = field.get_attribute("aria-describedby")
    assert described, "an invalid field names its message in aria-describedby"
    error = scope.locator(f"#{described}")
    expect(error).to_have_text(message)
    expect(error).to_be_visible()
    field_box, error_box = field.bounding_box(), error.bounding_box()
    assert error_box["y"] >= field_box["y"] + field_box["height"] - 1


def assert_valid(field: Locator) -> None:
    expect(field).not_to_have_attribute("aria-invalid", "true")
    expect(field).not_to_have_attribute("aria-describedby", re.compile(".+"))


def assert_banner(scope: Page | Frame | Locator) -> None:
    banner = scope.get_by_role("alert")
    expect(banner).to_have_text(BANNER)
    expect(banner).to_be_visible()
    expect(banner).to_be_focused()


def worksheet_email(app, smtp, address="ann@example.com"):
    """Run the worker; the one email the SMTP server received for the address."""
    work(app)
    messages = smtp.messages_to(address)
    assert len(messages) == 1, f"{len(messages)} emails reached {address}"
    html = messages[0].get_body(("html",)).get_content()
    assert WORKSHEET_GREETING in html
    return messages[0]


def subscriber_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Subscriber))


# ---- the embed on the blog --------------------------------------------------------------


def open_blog_embed(open_page, blog, viewport=DESKTOP) -> tuple[Page, Locator]:
    page = open_page(viewport)
    page.goto(blog.url("post.html"))
    embed = page.locator("[data-tend-signup]")
    expect(embed.get_by_role("button", name="Send me the worksheet")).to_be_visible()
    return page, embed


@pytest.mark.parametrize("device", VIEWPORTS)
def test_embed_on_a_blog_of_another_origin_signs_up_in_place(tend, blog, smtp, open_page, device):
    page, embed = open_blog_embed(open_page, blog, VIEWPORTS[device])
    url = page.url
    name, email = embed.get_by_label("Your name"), embed.get_by_label("Your email")
    send = embed.get_by_role("button", name="Send me the worksheet")
    assert_fits(page)
    show_around(page, embed)
    shoot(page, f"embed-{device}-empty")

    send.click()
    assert_banner(embed)
    assert_error_under(embed, name, NAME_MSG)
    assert_error_under(embed, email, EMAIL_MSG)
    assert_fits(page)
    show_around(page, embed)
    shoot(page, f"embed-{device}-errors")

    name.fill("Ann Lee")
    email.fill("ann@example")
    send.click()
    assert_banner(embed)
    assert_valid(name)
    assert_error_under(embed, email, EMAIL_MSG)
    expect(embed.get_by_text(NAME_MSG)).to_be_hidden()

    email.fill("ann@example.com")
    send.click()
    thanks = embed.get_by_role("status")
    expect(thanks).to_contain_text(THANKS)
    expect(thanks).to_be_focused()
    expect(name).to_be_hidden()
    assert page.url == url, "the blog page never navigates"
    assert_fits(page)
    show_around(page, embed)
    shoot(page, f"embed-{device}-thanks")

    message = worksheet_email(tend, smtp)
    assert message["To"] == "Ann Lee <ann@example.com>"
    if device == "phone":
        shot = open_page(PHONE)
        shot.set_content(message.get_body(("html",)).get_content())
        expect(shot.get_by_role("link", name="Confirm and get the worksheet")).to_be_visible()
        assert_fits(shot)
        shot.screenshot(path=str(SCREENSHOTS / "email-worksheet-phone.png"), full_page=True)


def test_embed_from_an_origin_not_allowed_shows_the_banner(tend, stranger, smtp, open_page):
    page, embed = open_blog_embed(open_page, stranger)
    embed.get_by_label("Your name").fill("Ann Lee")
    embed.get_by_label("Your email").fill("ann@example.com")
    embed.get_by_role("button", name="Send me the worksheet").click()
    assert_banner(embed)
    expect(embed.get_by_role("status")).to_be_hidden()
    work(tend)
    assert smtp.received == []
    assert subscriber_count(tend) == 0


def test_embed_by_keyboard_alone(tend, blog, smtp, open_page):
    page, embed = open_blog_embed(open_page, blog, PHONE)
    name, email = embed.get_by_label("Your name"), embed.get_by_label("Your email")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Career Notes")).to_be_focused()
    page.keyboard.press("Tab")
    expect(name).to_be_focused()
    page.keyboard.type("Ann Lee")
    page.keyboard.press("Tab")
    expect(email).to_be_focused()
    page.keyboard.type("ann.example.com")
    page.keyboard.press("Enter")
    assert_banner(embed)
    assert_error_under(embed, email, EMAIL_MSG)

    # From the banner, the next Tab goes back into the form.
    page.keyboard.press("Tab")
    expect(name).to_be_focused()
    page.keyboard.press("Tab")
    expect(email).to_be_focused()
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.type("ann@example.com")
    page.keyboard.press("Tab")
    expect(embed.get_by_role("button", name="Send me the worksheet")).to_be_focused()
    page.keyboard.press("Enter")
    expect(embed.get_by_role("status")).to_contain_text(THANKS)
    expect(embed.get_by_role("status")).to_be_focused()
    worksheet_email(tend, smtp)


def test_the_blog_theme_does_not_break_the_embedded_form(tend, blog, open_page):
    page, embed = open_blog_embed(open_page, blog, PHONE)
    host = embed.bounding_box()
    for label, value in (("Your name", "Ann Lee"), ("Your email", "ann@example.com")):
        expect(embed.get_by_text(label, exact=True)).to_be_visible()
        field = embed.get_by_label(label)
        expect(field).to_be_visible()
        expect(field).to_be_editable()
        styles = field.evaluate(
            "el => { const s = getComputedStyle(el); return [s.fontSize, s.boxSizing, s.display]; }"
        )
        assert styles == ["16px", "border-box", "block"]
        box = field.bounding_box()
        assert box["height"] >= 44, "a comfortable tap target"
        assert host["x"] <= box["x"] and box["x"] + box["width"] <= host["x"] + host["width"]
        field.press_sequentially(value)
        expect(field).to_have_value(value)
    button = embed.get_by_role("button", name="Send me the worksheet")
    expect(button).to_be_visible()
    assert button.evaluate("el => getComputedStyle(el).fontSize") == "16px"
    assert_fits(page)


BLOG_STYLES = """() => {
  const props = ["display", "font-family", "font-size", "font-weight", "line-height", "color",
    "background-color", "letter-spacing", "text-transform", "text-align", "text-indent",
    "margin-top", "margin-bottom", "padding-left", "border-top-width", "box-sizing", "width"];
  const rows = [];
  for (const el of document.querySelectorAll("html, body, body *")) {
    if (el.closest("[data-tend-signup]") || el.tagName === "SCRIPT") continue;
    const style = getComputedStyle(el);
    rows.push([el.tagName, ...props.map((p) => style.getPropertyValue(p))]);
  }
  return {rows, sheets: document.styleSheets.length, adopted: document.adoptedStyleSheets.length};
}"""


@pytest.mark.parametrize("device", VIEWPORTS)
def test_the_embedded_form_changes_nothing_on_the_blog(tend, tend_server, blog, open_page, device):
    _, embed = open_blog_embed(open_page, blog, VIEWPORTS[device])
    with_embed = embed.page.evaluate(BLOG_STYLES)

    bare = open_page(VIEWPORTS[device])
    bare.route(tend_server.url("/embed.js"), lambda route: route.abort())
    bare.goto(blog.url("post.html"))
    expect(bare.get_by_role("link", name="Get the worksheet")).to_be_visible()
    without_embed = bare.evaluate(BLOG_STYLES)

    assert len(without_embed["rows"]) > 10
    assert with_embed["rows"] == without_embed["rows"]
    assert (with_embed["sheets"], with_embed["adopted"]) == (1, 0), "only the blog's theme"


# ---- the iframe embed and the hosted page ---------------------------------------------------


@pytest.mark.parametrize("device", VIEWPORTS)
def test_iframe_embed_signs_up_inside_the_frame(tend, tend_server, blog, smtp, open_page, device):
    page = open_page(VIEWPORTS[device])
    page.goto(blog.url("framed.html"))
    url = page.url
    frame = page.locator("iframe[title='Get the worksheet']").element_handle().content_frame()
    name, email = frame.get_by_label("Your name"), frame.get_by_label("Your email")
    send = frame.get_by_role("button", name="Send me the worksheet")
    expect(send).to_be_visible()
    assert_fits(page)
    assert_fits(frame)
    show_around(page, page.locator("iframe"))
    shoot(page, f"iframe-{device}-empty")

    with frame.expect_navigation():
        send.click()
    assert_banner(frame)
    assert_error_under(frame, name, NAME_MSG)
    assert_error_under(frame, email, EMAIL_MSG)

    name.fill("Ann Lee")
    email.fill("ann@@example.com")
    with frame.expect_navigation():
        send.click()
    assert_banner(frame)
    assert_valid(name)
    assert_error_under(frame, email, EMAIL_MSG)
    assert_fits(frame)
    show_around(page, page.locator("iframe"))
    shoot(page, f"iframe-{device}-errors")

    email.fill("ann@example.com")
    with frame.expect_navigation():
        send.click()
    assert frame.url == tend_server.url("/signup/thanks"), "the frame shows the thank-you page"
    expect(frame.get_by_role("heading", name=THANKS)).to_be_visible()
    assert page.url == url, "the blog page never navigates"
    show_around(page, page.locator("iframe"))
    shoot(page, f"iframe-{device}-thanks")
    worksheet_email(tend, smtp)


@pytest.mark.parametrize("device", VIEWPORTS)
def test_hosted_page_posts_then_redirects_to_thanks(tend, tend_server, smtp, open_page, device):
    page = open_page(VIEWPORTS[device])
    page.goto(tend_server.url("/signup"))
    name, email = page.get_by_label("Your name"), page.get_by_label("Your email")
    send = page.get_by_role("button", name="Send me the worksheet")
    assert_fits(page)
    shoot(page, f"hosted-{device}-empty")

    send.click()
    assert_banner(page)
    assert_error_under(page, name, NAME_MSG)
    assert_error_under(page, email, EMAIL_MSG)
    assert_fits(page)
    shoot(page, f"hosted-{device}-errors")

    name.fill("Ann Lee")
    email.fill("ann@example.com")
    send.click()
    expect(page).to_have_url(tend_server.url("/signup/thanks"))
    expect(page.get_by_role("heading", name=THANKS)).to_be_visible()
    assert_fits(page)
    shoot(page, f"hosted-{device}-thanks")
    worksheet_email(tend, smtp)


def test_hosted_page_by_keyboard_alone(tend, tend_server, smtp, open_page):
    page = open_page(PHONE)
    page.goto(tend_server.url("/signup"))
    name, email = page.get_by_label("Your name"), page.get_by_label("Your email")
    page.keyboard.press("Tab")
    expect(name).to_be_focused()
    page.keyboard.press("Enter")
    assert_banner(page)
    assert_error_under(page, name, NAME_MSG)

    page.keyboard.press("Tab")
    expect(name).to_be_focused()
    page.keyboard.type("Ann Lee")
    page.keyboard.press("Tab")
    expect(email).to_be_focused()
    page.keyboard.type("ann@example.com")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Send me the worksheet")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(tend_server.url("/signup/thanks"))
    expect(page.get_by_role("heading", name=THANKS)).to_be_visible()
    worksheet_email(tend, smtp)


def test_without_javascript_the_link_reaches_a_working_hosted_form(
    tend, tend_server, blog, smtp, open_page
):
    page = open_page(PHONE, java_script_enabled=False)
    page.goto(blog.url("post.html"))
    page.get_by_role("link", name="Get the worksheet").click()
    expect(page).to_have_url(tend_server.url("/signup"))
    assert page.locator("input[name=csrf_token]").get_attribute("value")

    name, email = page.get_by_label("Your name"), page.get_by_label("Your email")
    name.fill("Ann Lee")
    page.get_by_role("button", name="Send me the worksheet").click()
    assert_banner(page)  # focused by `autofocus`, no script needed
    assert_error_under(page, email, EMAIL_MSG)
    expect(name).to_have_value("Ann Lee")

    email.fill("ann@example.com")
    page.get_by_role("button", name="Send me the worksheet").click()
    expect(page).to_have_url(tend_server.url("/signup/thanks"))
    expect(page.get_by_role("heading", name=THANKS)).to_be_visible()
    worksheet_email(tend, smtp)


# ---- accessibility: axe-core on every page a reader meets ------------------------------


def axe_violations(page: Page) -> list[dict]:
    """axe-core's serious and critical findings on the page as it stands (shadow DOM included)."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async () => await axe.run(document, {iframes: false, resultTypes: ['violations']})"
    )
    return [
        {"rule": v["id"], "help": v["help"], "where": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def a_subscriber(app) -> str:
    response = app.test_client().post(
        "/api/subscribe",
        json={"name": "Ann Lee", "email": "ann@example.com"},
        headers={"Authorization": f"Bearer {SERVER_KEY}"},
    )
    assert response.status_code == 202
    with app.app_context():
        return db.session.scalars(select(Subscriber.public_id)).one()


def _hosted_errors(page: Page) -> None:
    page.get_by_role("button", name="Send me the worksheet").click()
    expect(page.get_by_role("alert")).to_be_visible()


def _hosted_suggestion(page: Page) -> None:
    page.get_by_label("Your name").fill("Ann Lee")
    page.get_by_label("Your email").fill("ann@gmial.con")
    page.get_by_role("button", name="Send me the worksheet").click()
    expect(page.get_by_role("status")).to_have_text("Did you mean ann@gmail.com?")


def _embed_suggestion(page: Page) -> None:
    embed = page.locator("[data-tend-signup]")
    embed.get_by_label("Your name").fill("Ann Lee")
    embed.get_by_label("Your email").fill("ann@gmial.con")
    embed.get_by_role("button", name="Send me the worksheet").click()
    expect(embed.get_by_role("status")).to_have_text("Did you mean ann@gmail.com?")


def _embed_errors(page: Page) -> None:
    page.locator("[data-tend-signup]").get_by_role("button").click()
    expect(page.locator("[data-tend-signup]").get_by_role("alert")).to_be_visible()


def _embed_thanks(page: Page) -> None:
    embed = page.locator("[data-tend-signup]")
    embed.get_by_label("Your name").fill("Ann Lee")
    embed.get_by_label("Your email").fill("ann@example.com")
    embed.get_by_role("button").click()
    expect(embed.get_by_role("status")).to_be_visible()


def _unsubscribed(page: Page) -> None:
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", name="You're unsubscribed")).to_be_visible()


AXE_PAGES = {
    "hosted": ("tend", "/signup", None),
    "hosted-errors": ("tend", "/signup", _hosted_errors),
    "thanks": ("tend", "/signup/thanks", None),
    "embed": ("blog", "post.html", None),
    "embed-errors": ("blog", "post.html", _embed_errors),
    "embed-thanks": ("blog", "post.html", _embed_thanks),
    "hosted-suggestion": ("tend", "/signup", _hosted_suggestion),
    "embed-suggestion": ("blog", "post.html", _embed_suggestion),
    "confirm": ("tend", "/confirm/{confirm}", None),
    "unsubscribe": ("tend", "/unsubscribe/{unsubscribe}", None),
    "unsubscribed": ("tend", "/unsubscribe/{unsubscribe}", _unsubscribed),
    "not-found": ("tend", "/confirm/not-a-token", None),
}


@pytest.mark.parametrize("name", AXE_PAGES)
def test_axe_finds_nothing_serious(tend, tend_server, blog, open_page, name):
    need(AXE.exists(), f"axe-core is not installed at {AXE} (npm install --prefix tests/.axe)")
    site, path, action = AXE_PAGES[name]
    if "{" in path:
        public_id = a_subscriber(tend)
        secret = tend.config["SECRET_KEY"]
        path = path.format(
            confirm=make_token(secret, "confirm", public_id),
            unsubscribe=make_token(secret, "unsubscribe", public_id),
        )
    page = open_page(PHONE, bypass_csp=True)  # so the injected axe script may run
    page.goto(tend_server.url(path) if site == "tend" else blog.url(path))
    if site == "blog":
        expect(page.locator("[data-tend-signup]").get_by_role("button")).to_be_visible()
    if action:
        action(page)
    assert axe_violations(page) == []


# ---- the operator's dashboard -------------------------------------------------------------


def test_dashboard_after_logging_in_by_keyboard(make_app, tend_server, blog, open_page):
    app = make_app(ADMIN_PASSWORD="correct horse battery staple", EMBED_ALLOWED_ORIGINS=blog.origin)
    tend_server.app = app
    client = app.test_client()
    for name in ("Ann", "Bob", "Cy"):
        response = client.post(
            "/api/subscribe", json={"name": name, "email": f"{name.lower()}@example.com"}
        )
        assert response.status_code == 202
    public_id = a_subscriber_named(app, "ann@example.com")
    token = make_token(app.config["SECRET_KEY"], "confirm", public_id)
    assert client.post(f"/confirm/{token}").status_code == 303  # to the thank-you page

    page = open_page(DESKTOP)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=tend_server.origin)
    page.goto(tend_server.url("/admin"))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    expect(page.get_by_label("Admin password")).to_be_focused()
    page.keyboard.type("correct horse battery staple")
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    expect(page.locator('[data-status="pending"]')).to_have_text("2")
    expect(page.locator('[data-status="active"]')).to_have_text("1")
    chart = page.get_by_role("img", name=re.compile("Signups per day"))
    expect(chart).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("3 in the last 90 days"))).to_be_visible()
    funnel = page.locator("table.funnel")
    expect(funnel.get_by_role("row").first).to_contain_text("3")

    snippet = page.get_by_label("Script embed")
    expect(snippet).to_have_value(re.compile(r'<script src="[^"]+/embed\.js"'))
    expect(page.get_by_label("Iframe")).to_have_value(re.compile(r"<iframe [^>]*/signup"))
    copy = page.locator('button[data-copy-target="embed-script"]')  # its name changes
    expect(copy).to_have_text("Copy")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == snippet.input_value()
    shoot(page, "admin-dashboard-desktop")
    tend_server.app = None


def a_subscriber_named(app, email: str) -> str:
    with app.app_context():
        return db.session.scalars(
            select(Subscriber.public_id).where(Subscriber.email_key == email)
        ).one()
