"""What the browser tests stand on: Chromium, a blog on its own origin, Tend on a real port.

The blog is a folder of static pages (`tests/blog/`) served by `http.server`; each page names
the Tend it embeds as `__TEND__`, filled in as the page is served. Tend runs for real under
werkzeug's server in a thread; each test hands it the app it built (`TendServer.app`).
"""

from __future__ import annotations

import os
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support import ROOT, free_port
from werkzeug.serving import WSGIRequestHandler, make_server

CHROMIUM = Path("/usr/bin/chromium")
# Launched by Playwright, which gives every launch a fresh user-data-dir of its own.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = ROOT / "tests" / ".axe" / "node_modules" / "axe-core" / "axe.min.js"
BLOG = Path(__file__).resolve().parent / "blog"
SCREENSHOTS = ROOT / "artifacts" / "screenshots"

PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}


def need(present: bool, reason: str) -> None:
    """Skip without a part the browser tests need; under TEND_REQUIRE_BROWSER=1 fail instead."""
    if present:
        return
    if os.environ.get("TEND_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (TEND_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(reason)


class _BlogPage(SimpleHTTPRequestHandler):
    """Static files from `tests/blog/`; HTML pages get the embedding Tend's origin."""

    tend_origin = ""

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.suffix != ".html" or not path.is_file():
            return super().send_head()
        body = path.read_text(encoding="utf-8").replace("__TEND__", self.tend_origin).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)
        return None

    def log_message(self, *args):
        pass


class Blog:
    """A blog on `http://127.0.0.1:<port>`, a different origin from Tend on `localhost`."""

    def __init__(self, tend_origin: str):
        handler = type("BlogPage", (_BlogPage,), {"tend_origin": tend_origin})
        self.server = ThreadingHTTPServer(
            ("127.0.0.1", free_port()), partial(handler, directory=str(BLOG))
        )
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, page: str) -> str:
        return f"{self.origin}/{page}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _QuietRequests(WSGIRequestHandler):
    def log_request(self, code="-", size="-"):
        pass


class TendServer:
    """Tend answering on `http://localhost:<port>` with whichever app the test set."""

    def __init__(self):
        self.app = None
        self.server = make_server(
            "127.0.0.1", free_port(), self._wsgi, threaded=True, request_handler=_QuietRequests
        )
        self.origin = f"http://localhost:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _wsgi(self, environ, start_response):
        if self.app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"no app"]
        return self.app(environ, start_response)

    def url(self, path: str) -> str:
        return f"{self.origin}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---- fixtures a browser test module may take (import them into the module) -------------


@pytest.fixture(scope="module")
def browser():
    """Chromium, once per module."""
    from playwright.sync_api import sync_playwright

    need(CHROMIUM.exists(), f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def tend_server():
    server = TendServer()
    yield server
    server.close()


@pytest.fixture
def open_page(browser):
    """A page in a fresh browser context (its own cookies); options go to the context."""
    from playwright.sync_api import expect

    contexts = []
    expect.set_options(timeout=10_000)

    def open_(viewport=DESKTOP, **options):
        context = browser.new_context(viewport=viewport, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_
    for context in contexts:
        context.close()
