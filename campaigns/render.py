"""The one place an email is rendered: Jinja templates in pairs (.txt, .html), CSS inlined."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from email.charset import QP, Charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import SMTPUTF8, compat32
from email.utils import format_datetime, formataddr, parseaddr, quote
from functools import lru_cache
from pathlib import Path

import css_inline
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from campaigns.links import Links

EMAIL_TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "emails"
LIST_NAME = "Staying connected"
_CONTROL = dict.fromkeys(range(32), " ") | {127: " "}


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Sender:
    """Who emails come from and what every footer needs; read once from the app config."""

    mail_from: str
    public_base_url: str
    secret_key: str
    postal_address: str
    unsubscribe_mailto: str = ""
    debug: bool = False

    @classmethod
    def from_config(cls, cfg: Mapping) -> Sender:
        return cls(
            mail_from=cfg["MAIL_FROM"],
            public_base_url=cfg["PUBLIC_BASE_URL"],
            secret_key=cfg["SECRET_KEY"],
            postal_address=cfg["POSTAL_ADDRESS"],
            unsubscribe_mailto=cfg["LIST_UNSUBSCRIBE_MAILTO"],
            debug=cfg["DEBUG"],
        )

    @property
    def envelope_from(self) -> str:
        return parseaddr(self.mail_from)[1]

    @property
    def domain(self) -> str:
        addr = parseaddr(self.mail_from)[1]
        return addr.rpartition("@")[2] or "localhost"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(EMAIL_TEMPLATES)),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


_inliner = css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)


def first_name(name: str) -> str:
    """What the greeting calls someone: the first word of the name they gave."""
    return (name.split() or [""])[0]


def render(
    template: str,
    *,
    subject: str,
    preheader: str,
    name: str,
    public_id: str,
    sender: Sender,
    transactional: bool,
    extra: dict | None = None,
) -> RenderedEmail:
    """Render the pair `templates/emails/<template>.{txt,html}` for one subscriber."""
    env = _environment()
    links = Links(sender.public_base_url, sender.secret_key, public_id)
    context = {
        "subject": subject,
        "preheader": preheader,
        "name": name,
        "first_name": first_name(name),
        "links": links,
        "postal_address": sender.postal_address,
        "debug": sender.debug,
        "transactional": transactional,
        "list_name": LIST_NAME,
        **(extra or {}),
    }
    text = env.get_template(f"{template}.txt").render(context)
    html = _inliner.inline(env.get_template(f"{template}.html").render(context))
    return RenderedEmail(subject=subject, text=text.strip() + "\n", html=html)


def header_safe(value: str) -> str:
    """A display name that can never add a header line: control characters become spaces."""
    return " ".join(value.translate(_CONTROL).split())[:100]


@dataclass(frozen=True)
class Outgoing:
    """A message ready for the wire: its bytes and whether it needs SMTPUTF8."""

    data: bytes
    smtputf8: bool


_QP = Charset("utf-8")
_QP.body_encoding = QP  # every line 7-bit, whatever the server's 8BITMIME support
_WIRE = compat32.clone(linesep="\r\n", max_line_length=998)
_WIRE_UTF8 = SMTPUTF8.clone(linesep="\r\n", max_line_length=998)


def _mailbox(name: str, address: str) -> str:
    name = header_safe(name)
    if address.isascii():
        return formataddr((name, address))
    # Internationalized address: goes out under SMTPUTF8, so the header may carry UTF-8.
    display = Header(name, "utf-8").encode() if not name.isascii() else f'"{quote(name)}"'
    return f"{display} <{address}>" if name else address


def build_message(
    email: RenderedEmail,
    *,
    to_name: str,
    to_address: str,
    public_id: str,
    message_id: str,
    sender: Sender,
    transactional: bool,
    date,
) -> Outgoing:
    """A multipart/alternative message (text, then HTML) with the headers inboxes expect.

    Built with the stdlib's compat32 MIME classes, which are several times faster than
    EmailMessage's header parsing; every value that came from a person is sanitized here.
    """
    international = not to_address.isascii()
    msg = MIMEMultipart("alternative")
    subject = header_safe(email.subject)
    msg["Subject"] = subject if subject.isascii() or international else Header(subject, "utf-8")
    msg["From"] = sender.mail_from
    msg["To"] = _mailbox(to_name, to_address)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    msg["List-Id"] = f"{LIST_NAME} <staying-connected.{sender.domain}>"
    if not transactional:
        links = Links(sender.public_base_url, sender.secret_key, public_id)
        targets = [f"<{links.unsubscribe}>"]
        if sender.unsubscribe_mailto:
            targets.append(f"<mailto:{sender.unsubscribe_mailto}?subject=unsubscribe>")
        msg["List-Unsubscribe"] = ", ".join(targets)
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.attach(MIMEText(email.text, "plain", _QP))
    msg.attach(MIMEText(email.html, "html", _QP))
    return Outgoing(msg.as_bytes(policy=_WIRE_UTF8 if international else _WIRE), international)
