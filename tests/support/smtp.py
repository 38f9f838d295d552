"""A real SMTP server on loopback for the tests, with the faults a relay can have."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import MISSING, dataclass, field, fields
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPProtocol


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    smtputf8: bool

    @property
    def message(self):
        return message_from_bytes(self.data, policy=policy.default)


@dataclass
class SMTPSink:
    """A real SMTP server on loopback; it can refuse recipients or be stopped and restarted."""

    port: int
    received: list[Received] = field(default_factory=list)
    reject: dict[str, str] = field(default_factory=dict)  # address -> SMTP reply
    lock: threading.Lock = field(default_factory=threading.Lock)
    controller: Controller | None = None
    enable_smtputf8: bool = True
    delay: float = 0.0  # seconds before accepting each message (a slow server)
    reject_sender: str = ""  # an SMTP reply to every MAIL FROM, e.g. "550 5.7.1 not allowed"
    reject_data: str = ""  # an SMTP reply to every message body, e.g. "554 5.7.1 spam"
    arriving: int = 0  # message bodies received so far, accepted or not yet
    answer_late: float = 0.0  # seconds to wait after storing a message before the 250
    reject_rcpt: str = ""  # an SMTP reply to every RCPT TO, e.g. "554 5.7.1 Relay access denied"
    in_data: int = 0  # message bodies being answered right now
    most_in_data: int = 0  # the most answered at once (connections kept busy)
    pipelined: list[bool] = field(default_factory=list)  # per MAIL: RCPT and DATA already sent
    pipelining: bool = True  # offer PIPELINING in the EHLO answer

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.reject:
            return self.reject[address]
        if self.reject_rcpt:
            return self.reject_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        # aiosmtpd reads pipelined commands fine but does not say so; relays do (RFC 2920).
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]] if self.pipelining else responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        # What the client sent after MAIL before waiting for its answer (RFC 2920).
        waiting = bytes(getattr(server._reader, "_buffer", b""))
        self.pipelined.append(b"RCPT TO:" in waiting and b"DATA" in waiting)
        if self.reject_sender:
            return self.reject_sender
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.arriving += 1
        self.in_data += 1
        self.most_in_data = max(self.most_in_data, self.in_data)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.reject_data:
                return self.reject_data
            with self.lock:
                self.received.append(
                    Received(
                        envelope.mail_from,
                        list(envelope.rcpt_tos),
                        envelope.original_content or envelope.content,
                        envelope.smtp_utf8,
                    )
                )
            if self.answer_late:
                await asyncio.sleep(self.answer_late)  # stored, but the client gave up
        finally:
            self.in_data -= 1
        return "250 Message accepted"

    def reset(self) -> None:
        """As a new server: running, nothing received, no fault set. One sink serves a whole
        test session (starting one costs a name lookup); each test gets it reset."""
        with self.lock:
            for spec in fields(self):
                if spec.name in ("port", "lock", "controller"):
                    continue
                fresh = (
                    spec.default_factory() if spec.default_factory is not MISSING else spec.default
                )
                setattr(self, spec.name, fresh)
        if self.controller is None:
            self.start()

    def start(self) -> None:
        sink = self

        class Factory(Controller):
            def factory(self):
                return SMTPProtocol(
                    self.handler, enable_SMTPUTF8=sink.enable_smtputf8, decode_data=False
                )

        self.controller = Factory(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller:
            self.controller.stop()
            self.controller = None

    def messages_to(self, address: str):
        return [r.message for r in self.received if address in r.rcpt_tos]

    def per_recipient(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.received:
            for rcpt in r.rcpt_tos:
                counts[rcpt] = counts.get(rcpt, 0) + 1
        return counts
