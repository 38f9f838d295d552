"""How an email leaves: SMTP (one connection per batch) or a Maildir outbox for development.

Both are a `Transport`: opened for a batch with `open_transport`, used as a context
manager, and handed one message at a time with `deliver`.
"""

from __future__ import annotations

import mailbox
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import idna

from campaigns.mime import Outgoing


def _text(reason: bytes | str) -> str:
    return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)


class TemporaryFailure(Exception):
    """Try again later: 4xx, a refused or dropped connection, a timeout."""


class ConnectionLost(TemporaryFailure):
    """The server could not be reached or went away: the rest of the batch waits too."""


class PermanentFailure(Exception):
    """The recipient was rejected for good (5xx): the address bounces."""


class Undeliverable(Exception):
    """This message cannot go through this server at all (e.g. it lacks SMTPUTF8)."""


class Transport(Protocol):
    """One way out for a batch of messages; leaving the `with` block closes it."""

    def __enter__(self) -> Transport: ...

    def __exit__(self, *exc) -> None: ...

    def deliver(self, message: Outgoing, sender: str, recipient: str) -> None:
        """Hand one message for one envelope recipient on, or raise `TemporaryFailure`
        (`ConnectionLost` when the rest of the batch must wait too), `PermanentFailure`
        (the recipient is refused for good) or `Undeliverable` (this message cannot go)."""
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
                ca_file=config.get("SMTP_CA_FILE", ""),
            )
        )
    return OutboxTransport(config.get("OUTBOX_PATH") or f"{instance_path}/outbox")


def envelope_address(address: str) -> str:
    """An ASCII local part keeps the envelope ASCII: the domain goes out as IDNA."""
    local, _, domain = address.rpartition("@")
    if local.isascii() and not domain.isascii():
        try:
            return f"{local}@{idna.encode(domain).decode('ascii')}"
        except idna.IDNAError:
            return address
    return address


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


class SMTPTransport:
    """Sends over one SMTP connection, reconnecting once when the server drops it."""

    def __init__(self, settings: SMTPSettings):
        self.settings = settings
        self._conn: smtplib.SMTP | None = None

    def __enter__(self) -> SMTPTransport:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        try:
            if s.security == "ssl":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout, context=s.tls_context()
                )
            else:
                conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            conn.ehlo()
            if s.security == "starttls":
                conn.starttls(context=s.tls_context())
                conn.ehlo()
            if s.username:
                conn.login(s.username, s.password)
        except smtplib.SMTPAuthenticationError as err:
            # Wrong credentials fail every email alike: the batch waits instead of each retrying.
            raise ConnectionLost(
                f"SMTP login refused: {err.smtp_code} {_text(err.smtp_error)}"
            ) from err
        except (OSError, smtplib.SMTPException) as err:
            raise ConnectionLost(f"cannot reach SMTP server {s.host}:{s.port}: {err}") from err
        return conn

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (OSError, smtplib.SMTPException):
                self._conn.close()
            self._conn = None

    def deliver(self, message: Outgoing, sender: str, recipient: str) -> None:
        """Send one message to one recipient, or raise one of the three failures."""
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = self._connect()
            try:
                self._send_once(message, sender, recipient)
                return
            except smtplib.SMTPServerDisconnected as err:
                self._conn = None
                if attempt == 2:
                    raise ConnectionLost(f"SMTP server disconnected: {err}") from err
            except OSError as err:
                self._drop()
                raise ConnectionLost(f"SMTP connection failed: {err}") from err

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _send_once(self, message: Outgoing, sender: str, recipient: str) -> None:
        conn = self._conn
        assert conn is not None
        options: list[str] = []
        if message.smtputf8 or not recipient.isascii():
            if not conn.has_extn("smtputf8"):
                raise Undeliverable(
                    "the SMTP server does not offer SMTPUTF8, needed for this address"
                )
            options = ["SMTPUTF8", "BODY=8BITMIME"]
        try:
            refused = conn.sendmail(sender, [recipient], message.data, mail_options=options)
        except smtplib.SMTPNotSupportedError as err:
            raise Undeliverable(str(err)) from err
        except smtplib.SMTPRecipientsRefused as err:
            # Only a refusal of the recipient says anything about the address.
            code, reason = err.recipients.get(recipient, (550, b"refused"))
            self._raise_for(code, reason)
        except smtplib.SMTPSenderRefused as err:
            # Our sender or account is refused: every email of the batch would be, so it waits.
            self._reset()
            raise ConnectionLost(
                f"sender refused: {err.smtp_code} {_text(err.smtp_error)}"
            ) from err
        except smtplib.SMTPResponseException as err:
            # The message itself was refused (DATA): this email fails, the address is fine.
            self._reset()
            if 500 <= err.smtp_code < 600:
                raise Undeliverable(
                    f"message refused: {err.smtp_code} {_text(err.smtp_error)}"
                ) from err
            raise TemporaryFailure(f"{err.smtp_code} {_text(err.smtp_error)}") from err
        else:
            if refused:
                code, reason = refused.get(recipient, (550, b"refused"))
                self._raise_for(code, reason)

    def _reset(self) -> None:
        try:
            if self._conn is not None:
                self._conn.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()

    @staticmethod
    def _raise_for(code: int, reason: bytes | str) -> None:
        if 500 <= code < 600:
            raise PermanentFailure(f"{code} {_text(reason)}")
        raise TemporaryFailure(f"{code} {_text(reason)}")


class OutboxTransport:
    """Writes each message into a Maildir (`instance/outbox`) so a newcomer can read it."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __enter__(self) -> OutboxTransport:
        self._box = mailbox.Maildir(str(self.path), create=True)
        return self

    def __exit__(self, *exc) -> None:
        self._box.close()

    def deliver(self, message: Outgoing, sender: str, recipient: str) -> None:
        """Write the message as one file of the Maildir; the envelope is not kept."""
        try:
            self._box.add(message.data)
        except OSError as err:
            raise TemporaryFailure(f"cannot write to outbox {self.path}: {err}") from err

    def close(self) -> None:
        pass
