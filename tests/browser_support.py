"""What the browser tests stand on: Chromium, a blog on its own origin, Tend on a real port.

The blog is a folder of static pages (`tests/blog/`) served by `http.server`; each page names
the Tend it embeds as `__TEND__`, filled in as the page is served. Tend runs for real under
werkzeug's server in a thread; each test hands it the app it built (`TendServer.app`).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import ssl
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
# Third-party cookies blocked, as Safari and Firefox do by default: the form must need none.
NO_THIRD_PARTY_COOKIES = ["--test-third-party-cookie-phaseout"]
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


@dataclass(frozen=True)
class Certificate:
    """A throwaway certificate for localhost and 127.0.0.1, made for one test run."""

    cert_path: str
    key_path: str
    spki: str  # base64 SHA-256 of its public key, for --ignore-certificate-errors-spki-list

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context

    @property
    def chromium_args(self) -> list[str]:
        """What makes Chromium trust it (for this launch only)."""
        return [f"--ignore-certificate-errors-spki-list={self.spki}"]


def loopback_certificate() -> Certificate:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    folder = Path(tempfile.mkdtemp(prefix="tend-tls-"))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    spki = base64.b64encode(hashlib.sha256(public).digest()).decode()
    return Certificate(str(folder / "cert.pem"), str(folder / "key.pem"), spki)


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
    """A blog on `http(s)://127.0.0.1:<port>`, a different origin from Tend on `localhost`."""

    def __init__(self, tend_origin: str, tls: Certificate | None = None):
        handler = type("BlogPage", (_BlogPage,), {"tend_origin": tend_origin})
        self.server = ThreadingHTTPServer(
            ("127.0.0.1", free_port()), partial(handler, directory=str(BLOG))
        )
        if tls is not None:
            self.server.socket = tls.server_context().wrap_socket(
                self.server.socket, server_side=True
            )
        scheme = "https" if tls else "http"
        self.origin = f"{scheme}://127.0.0.1:{self.server.server_port}"
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
    """Tend answering on `http(s)://localhost:<port>` with whichever app the test set."""

    def __init__(self, tls: Certificate | None = None):
        self.app = None
        self.server = make_server(
            "127.0.0.1",
            free_port(),
            self._wsgi,
            threaded=True,
            request_handler=_QuietRequests,
            ssl_context=tls.server_context() if tls else None,
        )
        scheme = "https" if tls else "http"
        self.origin = f"{scheme}://localhost:{self.server.server_port}"
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
