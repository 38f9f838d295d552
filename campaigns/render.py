"""The one place an email is rendered: Jinja templates in pairs (.txt, .html), CSS inlined."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
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
) -> EmailMessage:
    """A multipart/alternative message (text, then HTML) with the headers inboxes expect."""
    msg = EmailMessage()
    msg["Subject"] = header_safe(email.subject)
    msg["From"] = sender.mail_from
    local, _, domain = to_address.rpartition("@")
    msg["To"] = Address(display_name=header_safe(to_name), username=local, domain=domain)
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
    # Quoted-printable keeps every line 7-bit, whatever the server's 8BITMIME support.
    msg.set_content(email.text, cte="quoted-printable")
    msg.add_alternative(email.html, subtype="html", cte="quoted-printable")
    return msg
