"""The form on a foreign blog in a browser that blocks third-party cookies, over http and https.

Chromium runs with third-party cookies blocked (as Safari and Firefox do by default). The
blog is served from `127.0.0.1`, Tend from `localhost`: two origins. Over https both use a
certificate made for this run, which this browser alone trusts (by its public key). Tend
runs as shipped: the proof of work on, solved by the page in the browser. Each signup is
read back as the email the SMTP server on loopback received.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    NO_THIRD_PARTY_COOKIES,
    PHONE,
    SCREENSHOTS,
    Blog,
    TendServer,
    loopback_certificate,
    need,
)
from playwright.sync_api import Frame, Locator, Page, expect, sync_playwright
from sqlalchemy import select
from support import BANNER, NAME_MSG, wait_for, work

from models import Consent, Subscriber, db

pytestmark = pytest.mark.browser

THANKS = "Check your inbox for the worksheet"
SEND = "Send me the worksheet"
VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}


@pytest.fixture(scope="module")
def certificate():
    return loopback_certificate()


@pytest.fixture(scope="module")
def browser(certificate):
    need(CHROMIUM.exists(), f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    args = CHROMIUM_ARGS + NO_THIRD_PARTY_COOKIES + certificate.chromium_args
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=args
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module", params=["http", "https"])
def sites(request, certificate):
    """Tend and a blog on two loopback origins, both over the scheme under test."""
    tls = certificate if request.param == "https" else None
    tend = TendServer(tls)
    blog = Blog(tend.origin, tls)
    yield SimpleNamespace(scheme=request.param, tend=tend, blog=blog)
    blog.close()
    tend.close()


@pytest.fixture
def tend(make_app, sites):
    """Tend as shipped (the challenge on, the 2 s time trap), the blog allowed to embed."""
    app = make_app(
        EMBED_ALLOWED_ORIGINS=sites.blog.origin,
        SIGNUP_CHALLENGE="pow",
        SIGNUP_MIN_SECONDS="2",
        PUBLIC_BASE_URL=sites.tend.origin,
    )
    sites.tend.app = app
    yield app
    sites.tend.app = None


@pytest.fixture
def open_page(browser):
    contexts = []
    expect.set_options(timeout=10_000)

    def open_(viewport=DESKTOP) -> Page:
        context = browser.new_context(viewport=viewport)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_
    for context in contexts:
        context.close()


PAINTED = "new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"


def shoot(page: Page, name: str, frame: Frame | None = None, around: Locator | None = None) -> None:
    """A screenshot of the viewport, or of the whole of `around` with a margin of page."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # A frame from another origin paints in its own process: let it, and then the page.
    for scope in (frame, page):
        if scope is not None:
            scope.evaluate(PAINTED)
    path = str(SCREENSHOTS / f"{name}.png")
    if around is None:
        page.screenshot(path=path)
        return
    box = around.evaluate(
        "el => { const r = el.getBoundingClientRect();"
        " return {y: r.top + scrollY, height: r.height}; }"
    )
    width = page.viewport_size["width"]
    top = max(0, box["y"] - 60)
    page.screenshot(
        path=path,
        full_page=True,
        clip={"x": 0, "y": top, "width": width, "height": box["y"] - top + box["height"] + 60},
    )


def signed_up(app, smtp, address: str) -> None:
    """The reader is stored once and the worksheet email reached them."""
    with app.app_context():
        assert db.session.scalars(select(Subscriber.email)).all() == [address]
    work(app)
    messages = smtp.messages_to(address)
    assert len(messages) == 1
    assert "Hi Ann," in messages[0].get_body(("html",)).get_content()


def recorded_page(app) -> str | None:
    """The page the reader's consent says they signed up on (the dashboard's "Where signups
    come from")."""
    with app.app_context():
        return db.session.scalars(select(Consent.page_url)).one()


def posts_to(page: Page, path: str) -> list[str]:
    """The bodies of the POSTs the page sends to `path` (filled in as they go)."""
    bodies: list[str] = []
    page.on(
        "request",
        lambda r: (
            bodies.append(r.post_data or "")
            if r.method == "POST" and r.url.endswith(path)
            else None
        ),
    )
    return bodies


# ---- the browser really blocks third-party cookies ---------------------------------------


def test_this_browser_keeps_no_cookie_in_a_frame_of_another_site(tend, sites, open_page):
    page = open_page()
    # Over https the probe asks for what a framed form used to need (SameSite=None; Secure);
    # over http a browser only lets a page set a first-party cookie anyway.
    attributes = "; SameSite=None; Secure" if sites.scheme == "https" else ""
    probe = f"() => {{ document.cookie = 'probe=1{attributes}'; return document.cookie; }}"
    page.goto(sites.tend.url("/signup"))
    assert page.evaluate(probe) == "probe=1"  # first party: cookies work
    framed = open_page()
    framed.goto(sites.blog.url("framed.html"))
    frame = framed.locator("iframe").element_handle().content_frame()
    expect(frame.get_by_role("button", name=SEND)).to_be_visible()
    assert frame.evaluate(probe) == ""  # third party: blocked


# ---- the iframe: signs up, and fits its form in every state --------------------------------


def frame_of(page: Page) -> tuple[Locator, Frame]:
    element = page.locator("iframe[title='Get the worksheet']")
    frame = element.element_handle().content_frame()
    return element, frame


def assert_frame_fits(element: Locator, frame: Frame, last: Locator) -> None:
    """The frame is as tall as its page (embed.js sized it): nothing clipped, no gap."""

    def heights():
        inner = frame.evaluate("Math.ceil(document.body.getBoundingClientRect().height)")
        return element.evaluate("el => el.getBoundingClientRect().height"), inner

    assert wait_for(lambda: abs(heights()[0] - heights()[1]) <= 2, timeout=5), heights()
    assert frame.evaluate("document.documentElement.scrollHeight <= innerHeight + 1")
    box, inner = element.bounding_box(), last.bounding_box()
    assert box["y"] <= inner["y"] and inner["y"] + inner["height"] <= box["y"] + box["height"]
    assert frame.evaluate("document.documentElement.scrollWidth <= innerWidth")


@pytest.mark.parametrize("device", VIEWPORTS)
def test_iframe_signs_up_without_cookies_and_fits_every_state(tend, sites, smtp, open_page, device):
    page = open_page(VIEWPORTS[device])
    posted = posts_to(page, "/signup")
    console = []
    page.on("console", lambda m: console.append(m.text))
    page.goto(sites.blog.url("framed.html"))
    element, frame = frame_of(page)
    send = frame.get_by_role("button", name=SEND)
    expect(send).to_be_visible()
    assert_frame_fits(element, frame, frame.locator(".fine"))
    element.scroll_into_view_if_needed()
    shoot(page, f"iframe-{sites.scheme}-{device}-empty", frame, element)

    with frame.expect_navigation():
        send.click()
    expect(frame.get_by_role("alert")).to_have_text(BANNER)
    expect(frame.get_by_text(NAME_MSG)).to_be_visible()
    assert_frame_fits(element, frame, frame.locator(".fine"))
    shoot(page, f"iframe-{sites.scheme}-{device}-errors", frame, element)

    # The page solved its proof of work by itself; the reader only types and presses.
    expect(frame.locator("input[name=altcha]")).to_have_value(re.compile(r"^eyJ"))
    frame.get_by_label("Your name").fill("Ann Lee")
    frame.get_by_label("Your email").fill("ann@example.com")
    with frame.expect_navigation():
        send.click()
    expect(frame.get_by_role("heading", name=THANKS)).to_be_visible()
    assert frame.url == sites.tend.url("/signup/thanks")
    assert_frame_fits(element, frame, frame.get_by_role("status"))
    shoot(page, f"iframe-{sites.scheme}-{device}-thanks", frame, element)

    assert re.search(r"(^|&)altcha=eyJ", posted[-1]), "the signup carried a solution"
    assert page.context.cookies() == [], "no cookie was needed, and none was set"
    signed_up(tend, smtp, "ann@example.com")
    # Credited to the post the frame sits on, not to the blog's front page.
    assert recorded_page(tend) == sites.blog.url("framed.html")
    # Nothing in the blog's console: no message posted to a window of another origin (the
    # frame still blank while it loads, or the blog from Tend's own origin).
    assert [line for line in console if "postMessage" in line] == []


# ---- the script embed -----------------------------------------------------------------------


@pytest.mark.parametrize("device", VIEWPORTS)
def test_script_embed_signs_up_without_cookies(tend, sites, smtp, open_page, device):
    page = open_page(VIEWPORTS[device])
    posted = posts_to(page, "/api/subscribe")
    page.goto(sites.blog.url("post.html"))
    embed = page.locator("[data-tend-signup]")
    embed.get_by_label("Your name").fill("Ann Lee")
    embed.get_by_label("Your email").fill("ann@example.com")
    embed.get_by_role("button", name=SEND).click()
    expect(embed.get_by_role("status")).to_contain_text(THANKS)
    assert '"altcha":"eyJ' in posted[-1], "the signup carried a solution"
    assert page.context.cookies() == []
    signed_up(tend, smtp, "ann@example.com")
    assert recorded_page(tend) == sites.blog.url("post.html")
    shoot(page, f"embed-{sites.scheme}-{device}-thanks")


def test_script_embed_offers_did_you_mean_and_takes_it(tend, sites, smtp, open_page):
    page = open_page(PHONE)
    page.goto(sites.blog.url("post.html"))
    embed = page.locator("[data-tend-signup]")
    embed.get_by_label("Your name").fill("Ann Lee")
    embed.get_by_label("Your email").fill("ann@gmial.con")
    embed.get_by_role("button", name=SEND).click()
    hint = embed.get_by_role("status").filter(has_text="Did you mean")
    expect(hint).to_have_text("Did you mean ann@gmail.com?")
    expect(embed.get_by_role("alert")).to_be_hidden()
    shoot(page, f"embed-{sites.scheme}-phone-suggestion")
    hint.get_by_role("button", name="ann@gmail.com").click()
    expect(embed.get_by_role("status").filter(has_text=THANKS)).to_be_visible()
    with tend.app_context():
        assert db.session.scalars(select(Subscriber.email)).all() == ["ann@gmail.com"]


@pytest.mark.parametrize("challenge", ["pow", "off"])
def test_a_refused_origin_shows_the_banner_and_tells_the_console_why(
    make_app, sites, open_page, challenge
):
    """The blog is opened on an origin Tend does not list: the reader gets the banner, and
    the blog's owner the origin to add, in the browser's console."""
    app = make_app(
        EMBED_ALLOWED_ORIGINS="https://somewhere-else.example",
        SIGNUP_CHALLENGE=challenge,
        PUBLIC_BASE_URL=sites.tend.origin,
    )
    sites.tend.app = app
    try:
        page = open_page(DESKTOP)
        console = []
        page.on("console", lambda m: console.append((m.type, m.text)))
        page.goto(sites.blog.url("post.html"))
        embed = page.locator("[data-tend-signup]")
        embed.get_by_label("Your name").fill("Ann Lee")
        embed.get_by_label("Your email").fill("ann@example.com")
        embed.get_by_role("button", name=SEND).click()
        expect(embed.get_by_role("alert")).to_have_text(BANNER)
        fix = f"add `{sites.blog.origin}` to EMBED_ALLOWED_ORIGINS"
        told = [text for kind, text in console if kind == "error" and text.startswith("Tend: ")]
        assert told and all(fix in text for text in told), console
        with app.app_context():
            assert db.session.scalars(select(Subscriber)).all() == []
    finally:
        sites.tend.app = None
