"""The SMTP transport against real aiosmtpd servers: STARTTLS, implicit TLS, login, reconnects."""

from __future__ import annotations

import socket
import ssl
import subprocess
from dataclasses import replace

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPProtocol
from aiosmtpd.smtp import AuthResult, LoginPassword
from support import free_port

from campaigns.mime import Outgoing
from workers.send.replies import Action, Failure
from workers.transport import ConnectionLost, SendError, SMTPSettings, SMTPTransport

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
MESSAGE = Outgoing(
    b"Subject: hi\r\nFrom: a@tend.example\r\nTo: b@example.com\r\n\r\nhello\r\n", False
)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A throwaway certificate for 127.0.0.1, and the file a client trusts it by."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    return str(cert), context


class Server:
    def __init__(self, *, tls_context=None, implicit_tls=None, port=None):
        self.port = port or free_port()
        self.sessions: list[tuple[bool, bytes | None]] = []
        self.tls_context, self.implicit_tls = tls_context, implicit_tls
        self.controller = None

    async def handle_DATA(self, server, session, envelope):
        tls = server.transport.get_extra_info("ssl_object") is not None
        login = session.auth_data.login if session.authenticated else None
        self.sessions.append((tls, login))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, data):
        ok = (
            isinstance(data, LoginPassword)
            and data.login == b"coach"
            and data.password == b"s3cret"
        )
        return AuthResult(success=ok, handled=False, auth_data=data)

    def start(self):
        outer = self

        class Factory(Controller):
            def factory(self):
                return SMTPProtocol(
                    self.handler,
                    tls_context=outer.tls_context,
                    require_starttls=outer.tls_context is not None,
                    authenticator=outer.authenticate,
                    auth_required=True,
                    # aiosmtpd counts only STARTTLS as TLS; with implicit TLS the socket already is.
                    auth_require_tls=outer.tls_context is not None,
                )

        kwargs = {"ssl_context": self.implicit_tls} if self.implicit_tls else {}
        self.controller = Factory(self, hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()


def settings(server, security, ca_file, password="s3cret"):
    return SMTPSettings(
        host="127.0.0.1",
        port=server.port,
        username="coach",
        password=password,
        security=security,
        timeout=5,
        ca_file=ca_file,
    )


def test_starttls_with_login(certificate):
    ca, context = certificate
    server = Server(tls_context=context).start()
    try:
        with SMTPTransport(settings(server, "starttls", ca)) as transport:
            transport.deliver(MESSAGE, "a@tend.example", "b@example.com")
            transport.deliver(MESSAGE, "a@tend.example", "c@example.com")  # same connection
    finally:
        server.stop()
    assert server.sessions == [(True, b"coach"), (True, b"coach")]


def test_implicit_tls_with_login(certificate):
    ca, context = certificate
    server = Server(implicit_tls=context).start()
    try:
        with SMTPTransport(settings(server, "ssl", ca)) as transport:
            transport.deliver(MESSAGE, "a@tend.example", "b@example.com")
    finally:
        server.stop()
    assert server.sessions == [(True, b"coach")]


def test_an_untrusted_certificate_is_refused(certificate):
    _, context = certificate
    server = Server(tls_context=context).start()
    try:
        with (
            pytest.raises(ConnectionLost, match="certificate"),
            SMTPTransport(settings(server, "starttls", "")) as t,
        ):
            t.deliver(MESSAGE, "a@tend.example", "b@example.com")
    finally:
        server.stop()
    assert server.sessions == []


def test_a_wrong_password_holds_the_batch(certificate):
    ca, context = certificate
    server = Server(tls_context=context).start()
    try:
        with (
            pytest.raises(ConnectionLost, match="login refused"),
            SMTPTransport(settings(server, "starttls", ca, password="wrong")) as t,
        ):
            t.deliver(MESSAGE, "a@tend.example", "b@example.com")
    finally:
        server.stop()
    assert server.sessions == []


def test_reconnects_when_the_server_drops_the_connection(certificate):
    ca, context = certificate
    server = Server(tls_context=context).start()
    try:
        with SMTPTransport(settings(server, "starttls", ca)) as transport:
            transport.deliver(MESSAGE, "a@tend.example", "b@example.com")
            server.stop()  # the server goes away with our connection...
            server.start()  # ...and comes back on the same port
            transport.deliver(MESSAGE, "a@tend.example", "c@example.com")
    finally:
        server.stop()
    assert len(server.sessions) == 2


def failure_of(smtp_settings) -> Failure:
    with pytest.raises(SendError) as raised, SMTPTransport(smtp_settings) as transport:
        transport.deliver(MESSAGE, "a@tend.example", "b@example.com")
    assert raised.value.meaning.connection or raised.value.meaning.action == Action.PAUSE
    return raised.value.meaning.failure


def test_a_failed_connection_says_how_it_failed(certificate):
    ca, context = certificate
    closed = free_port()  # nothing listens there
    assert failure_of(replace(settings(Server(port=closed), "none", ""))) == Failure.CONNECT
    with socket.socket() as silent:  # takes the connection and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        mute = SMTPSettings("127.0.0.1", silent.getsockname()[1], timeout=0.5)
        assert failure_of(mute) == Failure.TIMEOUT
    server = Server(tls_context=context).start()
    try:
        assert failure_of(settings(server, "starttls", "")) == Failure.TLS  # untrusted
        assert failure_of(settings(server, "starttls", ca, password="wrong")) == Failure.AUTH
    finally:
        server.stop()
    plain = Server().start()  # offers no STARTTLS at all
    try:
        assert failure_of(settings(plain, "starttls", ca)) == Failure.TLS
    finally:
        plain.stop()
