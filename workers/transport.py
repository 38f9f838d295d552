"""How an email leaves: SMTP (one connection per lane of a batch) or a Maildir outbox.

Both are a `Transport`: opened for a batch with `open_transport`, used as a context
manager, and handed one message at a time with `deliver`.
"""

from __future__ import annotations

import mailbox
import re
import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from campaigns.mime import Outgoing, ascii_domain
from workers.send.replies import Action, Failure, Meaning, Phase, classify


def _text(reason: bytes | str) -> str:
    return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)


class SendError(Exception):
    """An email did not go; `meaning` says what the reply means (workers/send/replies.py)."""

    def __init__(self, meaning: Meaning | str):
        if isinstance(meaning, str):
            meaning = Meaning(self.default_action, meaning)
        super().__init__(meaning.reason)
        self.meaning = meaning

    default_action = Action.RETRY


class TemporaryFailure(SendError):
    """Try again later: 4xx, a refused or dropped connection, a timeout, throttling."""


class ConnectionLost(TemporaryFailure):
    """The server could not be reached or went away: the rest of the batch waits too."""

    default_action = Action.RETRY_BATCH


class SenderRefused(ConnectionLost):
    """The relay refused us, not the reader (policy, login, MAIL FROM): sending pauses."""

    default_action = Action.PAUSE


class MaybeSent(TemporaryFailure):
    """The relay went silent after the message data went out: it may have the message."""

    default_action = Action.MAYBE_SENT


class PermanentFailure(SendError):
    """The recipient was rejected for good (5.1.x, 5.2.1): the address bounces."""

    default_action = Action.BOUNCED


class Undeliverable(SendError):
    """This message cannot go through this server at all (e.g. it lacks SMTPUTF8)."""

    default_action = Action.FAILED


_RAISES = {
    Action.BOUNCED: PermanentFailure,
    Action.FAILED: Undeliverable,
    Action.RETRY: TemporaryFailure,
    Action.RETRY_BATCH: ConnectionLost,
    Action.THROTTLED: ConnectionLost,
    Action.PAUSE: SenderRefused,
    Action.MAYBE_SENT: MaybeSent,
}


def refusal(meaning: Meaning) -> SendError:
    """The exception a transport raises for `meaning`."""
    return _RAISES[meaning.action](meaning)


class Transport(Protocol):
    """One way out for a batch of messages; leaving the `with` block closes it."""

    def __enter__(self) -> Transport: ...

    def __exit__(self, *exc) -> None: ...

    def deliver(
        self,
        message: Outgoing,
        sender: str,
        recipient: str,
        before_body: Callable[[], None] | None = None,
    ) -> None:
        """Hand one message for one envelope recipient on, or raise a `SendError` whose
        `meaning` says what the reply means: `TemporaryFailure` (`ConnectionLost` when the
        rest of the batch must wait too, `SenderRefused` when sending must pause,
        `MaybeSent` when the relay may have it), `PermanentFailure` (the recipient is
        refused for good) or `Undeliverable` (this message cannot go). `before_body` runs
        right before the message data goes out."""
        ...


def open_transport(config: Mapping, instance_path: str) -> Transport:
    """The configured transport (`MAIL_BACKEND`), holding one connection for a batch."""
    if config["MAIL_BACKEND"] == "smtp":
        return SMTPTransport(
            SMTPSettings(
                host=config["SMTP_HOST"],
                port=config["SMTP_PORT"],
                username=config["SMTP_USERNAME"],
                password=config["SMTP_PASSWORD"],
                security=config["SMTP_SECURITY"],
                timeout=config["SMTP_TIMEOUT"],
                ca_file=config["SMTP_CA_FILE"],
            )
        )
    return OutboxTransport(config.get("OUTBOX_PATH") or f"{instance_path}/outbox")


def envelope_address(address: str) -> str:
    """An ASCII local part keeps the envelope ASCII: the domain goes out as IDNA, by the
    same rule as the To header (`campaigns.mime.ascii_domain`)."""
    return ascii_domain(address)


@dataclass
class SMTPSettings:
    host: str
    port: int
    username: str = ""
    password: str = ""
    security: str = "none"  # none | starttls | ssl
    timeout: float = 20.0
    ca_file: str = ""  # a private CA to trust, besides the system's

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file or None)


_LEADING_DOT = re.compile(rb"(?m)^\.")


class SMTPTransport:
    """Sends over one SMTP connection, with PIPELINING when the server offers it.

    A connection found closed before anything of a message went out is opened again once;
    once the data went out, a silence or a dropped connection is "maybe sent" and is
    never retried here.
    """

    def __init__(self, settings: SMTPSettings):
        self.settings = settings
        self._conn: smtplib.SMTP | None = None
        self.connected = 0  # connections opened (the job resets the refusal count on one)

    def __enter__(self) -> SMTPTransport:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        phase, failure = Phase.CONNECT, Failure.CONNECT
        try:
            if s.security == "ssl":
                failure = Failure.TLS
                conn: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout, context=s.tls_context()
                )
            else:
                conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            failure = Failure.CONNECT
            conn.ehlo()
            if s.security == "starttls":
                failure = Failure.TLS
                conn.starttls(context=s.tls_context())
                conn.ehlo()
            if s.username:
                phase, failure = Phase.AUTH, Failure.AUTH
                conn.login(s.username, s.password)
        except smtplib.SMTPAuthenticationError as err:
            # Wrong credentials fail every email alike: sending pauses instead of each retrying.
            reason = f"SMTP login refused: {err.smtp_code} {_text(err.smtp_error)}"
            raise SenderRefused(Meaning(Action.PAUSE, reason, failure=Failure.AUTH)) from err
        except (smtplib.SMTPConnectError, smtplib.SMTPHeloError) as err:
            meaning = classify(phase, err.smtp_code, _text(err.smtp_error))
            reason = f"SMTP server {s.host}:{s.port} refused us: {meaning.reason}"
            raise refusal(
                Meaning(meaning.action, reason, connection=True, failure=Failure.REFUSED)
            ) from err
        except (OSError, smtplib.SMTPException) as err:
            # smtplib reports a silent greeting as a disconnection: the timeout is its context.
            causes = (err, err.__cause__, err.__context__)
            if any(isinstance(cause, ssl.SSLError) for cause in causes):
                failure = Failure.TLS
            elif any(isinstance(cause, TimeoutError) for cause in causes):
                failure = Failure.TIMEOUT
            elif not isinstance(err, smtplib.SMTPException):  # no TCP connection at all
                failure = Failure.CONNECT
            reason = f"cannot reach SMTP server {s.host}:{s.port}: {err}"
            raise ConnectionLost(
                Meaning(Action.RETRY_BATCH, reason, connection=True, failure=failure)
            ) from err
        self.connected += 1
        return conn

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (OSError, smtplib.SMTPException):
                self._conn.close()
            self._conn = None

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def deliver(
        self,
        message: Outgoing,
        sender: str,
        recipient: str,
        before_body: Callable[[], None] | None = None,
    ) -> None:
        """Send one message to one recipient, or raise a `SendError` with its meaning.

        `before_body` runs once the relay said 354, right before the message goes out (the
        send rate is taken there, so the relay sees the spacing); if it raises, the
        connection is dropped unfinished and the relay keeps nothing.
        """
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = self._connect()
            try:
                self._send_once(message, sender, recipient, before_body)
                return
            except _Stale as err:
                # Closed while idle, before any of this message went out: safe to reopen once.
                self._drop()
                if attempt == 2:
                    raise ConnectionLost(
                        Meaning(Action.RETRY_BATCH, f"SMTP server disconnected: {err}")
                    ) from err
            except SendError as err:
                if err.meaning.action in (
                    Action.MAYBE_SENT,
                    Action.RETRY_BATCH,
                    Action.THROTTLED,
                    Action.PAUSE,
                ):
                    self._drop()
                raise

    def _send_once(
        self,
        message: Outgoing,
        sender: str,
        recipient: str,
        before_body: Callable[[], None] | None = None,
    ) -> None:
        conn = self._conn
        assert conn is not None
        options = ""
        if message.smtputf8 or not recipient.isascii():
            if not conn.has_extn("smtputf8"):
                raise Undeliverable(
                    "the SMTP server does not offer SMTPUTF8, needed for this address"
                )
            options = " SMTPUTF8 BODY=8BITMIME"
        mail = f"MAIL FROM:<{sender}>{options}\r\n".encode()
        rcpt = f"RCPT TO:<{recipient}>\r\n".encode()
        replies = self._envelope(conn, mail, rcpt)
        expected = zip((Phase.MAIL, Phase.RCPT, Phase.DATA), replies, (250, 251, 354), strict=False)
        refused = next(((p, r) for p, r, ok in expected if r[0] not in (ok, 250, 251)), None)
        if refused is not None:
            if len(replies) == 3 and replies[2][0] == 354:
                # DATA was accepted although an earlier command failed: end it empty.
                self._write(conn, b".\r\n")
                self._read(conn)
            self._reset()
            phase, (code, text) = refused
            raise refusal(classify(phase, code, text))
        body = _LEADING_DOT.sub(b"..", message.data)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        if before_body is not None:
            try:
                before_body()
            except BaseException:
                self._drop()  # an unfinished DATA: the relay discards it
                raise
        try:
            conn.send(body + b".\r\n")
            code, text = conn.getreply()
        except (OSError, smtplib.SMTPServerDisconnected) as err:
            self._conn = None
            meaning = classify(Phase.AFTER_DATA, None, f"no answer after the data: {err}")
            raise refusal(meaning) from err
        if code != 250:
            raise refusal(classify(Phase.AFTER_DATA, code, _text(text)))

    def _envelope(self, conn: smtplib.SMTP, mail: bytes, rcpt: bytes) -> list[tuple[int, str]]:
        """MAIL, RCPT and DATA, in one round trip with PIPELINING (RFC 2920); their replies."""
        replies: list[tuple[int, str]] = []
        if conn.does_esmtp and conn.has_extn("pipelining"):
            self._write(conn, mail + rcpt + b"DATA\r\n", stale=True)
            for index in range(3):
                try:
                    replies.append(self._read(conn, stale=index == 0))
                except ConnectionLost:
                    if any(code >= 400 for code, _ in replies):
                        break  # e.g. a 421 at MAIL, and the server hung up: that answer counts
                    raise
            return replies
        for index, command in enumerate((mail, rcpt, b"DATA\r\n")):
            self._write(conn, command, stale=index == 0)
            replies.append(self._read(conn, stale=index == 0))
            if replies[-1][0] >= 400:
                break
        return replies

    def _write(self, conn: smtplib.SMTP, data: bytes, *, stale: bool = False) -> None:
        try:
            conn.send(data)
        except (OSError, smtplib.SMTPServerDisconnected) as err:
            raise (
                _Stale(str(err))
                if stale
                else ConnectionLost(Meaning(Action.RETRY_BATCH, f"SMTP connection failed: {err}"))
            ) from err

    def _read(self, conn: smtplib.SMTP, *, stale: bool = False) -> tuple[int, str]:
        try:
            code, text = conn.getreply()
        except (OSError, smtplib.SMTPServerDisconnected) as err:
            if stale:
                raise _Stale(str(err)) from err
            raise ConnectionLost(
                Meaning(Action.RETRY_BATCH, f"SMTP connection failed: {err}")
            ) from err
        if code == -1:  # smtplib's "no valid reply"
            raise ConnectionLost(Meaning(Action.RETRY_BATCH, f"SMTP server said: {_text(text)}"))
        return code, _text(text)

    def _reset(self) -> None:
        try:
            if self._conn is not None:
                self._conn.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()


class _Stale(Exception):
    """The connection was gone before this message's first command got an answer."""


class OutboxTransport:
    """Writes each message into a Maildir (`instance/outbox`) so a newcomer can read it."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __enter__(self) -> OutboxTransport:
        self._box = mailbox.Maildir(str(self.path), create=True)
        return self

    def __exit__(self, *exc) -> None:
        self._box.close()

    def deliver(
        self,
        message: Outgoing,
        sender: str,
        recipient: str,
        before_body: Callable[[], None] | None = None,
    ) -> None:
        """Write the message as one file of the Maildir; the envelope is not kept."""
        if before_body is not None:
            before_body()
        try:
            self._box.add(message.data)
        except OSError as err:
            raise TemporaryFailure(f"cannot write to outbox {self.path}: {err}") from err

    def close(self) -> None:
        pass
