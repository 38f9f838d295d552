"""The one place an email is rendered: Jinja templates in pairs (.txt, .html), CSS inlined.

An email's own words are the coach's Markdown, turned into such a pair by
`campaigns.content.markdown` (templates named `coach/...`); the layout, the footer and
what Tend adds by kind are the files in `templates/emails/`.

The bytes that go on the wire are written by `campaigns.mime`; which template a reader
gets, and with what, is decided by `campaigns.compose`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from email.utils import parseaddr
from functools import cached_property, lru_cache
from pathlib import Path

import css_inline
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    FunctionLoader,
    StrictUndefined,
    select_autoescape,
)

import settings
from campaigns.content.markdown import generated_source
from campaigns.dkim import DKIMKey
from campaigns.links import PURPOSES, Links
from campaigns.names import first_name
from campaigns.plan import Rules

EMAIL_TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "emails"
LIST_NAME = settings.DEFAULTS["LIST_NAME"]
COACH_NAME = settings.DEFAULTS["COACH_NAME"]


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
    debug: bool = False
    coach_name: str = COACH_NAME  # signs every email; From's name when MAIL_FROM has none
    list_name: str = LIST_NAME  # the email's header and the List-Id label
    reply_to: str = ""  # where replies go; empty: MAIL_FROM's address
    return_path: str = ""  # MAIL_RETURN_PATH: the envelope sender, when apart from From
    dkim: DKIMKey | None = None  # signs every message when DKIM is configured
    locale: str = "en-US"  # LOCALE: how dates and a few words are written
    rules: Rules | None = None  # the sending rules: the days a reader's notes leave on

    @property
    def signature(self) -> str:
        """The name each email is signed with: COACH_NAME when it is set, else the name
        From shows (MAIL_FROM's own), so an unset COACH_NAME never signs as a stranger."""
        return self.coach_name if self.coach_name != COACH_NAME else self.from_name

    @classmethod
    def from_config(cls, cfg: Mapping) -> Sender:
        key = cfg.get("DKIM_PRIVATE_KEY", b"")
        return cls(
            mail_from=cfg["MAIL_FROM"],
            public_base_url=cfg["PUBLIC_BASE_URL"],
            secret_key=cfg["SECRET_KEY"],
            postal_address=cfg["POSTAL_ADDRESS"],
            debug=cfg["DEBUG"],
            coach_name=cfg["COACH_NAME"],
            list_name=cfg["LIST_NAME"],
            reply_to=cfg["REPLY_TO"],
            return_path=cfg.get("MAIL_RETURN_PATH", ""),
            dkim=DKIMKey(cfg["DKIM_SELECTOR"], cfg["DKIM_DOMAIN"], key) if key else None,
            locale=cfg["LOCALE"],
            rules=Rules.from_config(cfg),
        )

    @classmethod
    def current(cls) -> Sender:
        """The running app's sender: kept with the app, with the coach's settings read
        afresh on every render (they may change while it runs)."""
        from flask import current_app

        made = current_app.extensions.get("tend.sender")
        if made is None:
            made = current_app.extensions["tend.sender"] = cls.from_config(current_app.config)
        who = settings.coach(current_app)
        if (made.coach_name, made.list_name, made.reply_to) != (
            who.coach_name,
            who.list_name,
            who.reply_to,
        ):
            made = current_app.extensions["tend.sender"] = replace(
                made, coach_name=who.coach_name, list_name=who.list_name, reply_to=who.reply_to
            )
        return made

    @cached_property
    def from_address(self) -> str:
        """The address of From (and of Reply-To unless REPLY_TO names another): MAIL_FROM's."""
        return parseaddr(self.mail_from)[1]

    @cached_property
    def envelope_from(self) -> str:
        """MAIL FROM: MAIL_RETURN_PATH when set (bounces go there), else From's address."""
        return self.return_path or self.from_address

    @cached_property
    def domain(self) -> str:
        addr = parseaddr(self.mail_from)[1]
        return addr.rpartition("@")[2] or "localhost"

    @cached_property
    def from_name(self) -> str:
        """MAIL_FROM's own display name, or the coach's when it has none."""
        return parseaddr(self.mail_from)[0].strip() or self.coach_name


def _generated(name: str):
    # A generated template's name is made from its content: it never goes stale.
    source = generated_source(name)
    return None if source is None else (source, None, lambda: True)


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=ChoiceLoader([FunctionLoader(_generated), FileSystemLoader(str(EMAIL_TEMPLATES))]),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


_inliner = css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)


@lru_cache(maxsize=512)
def _link(base_url: str, secret_key: str, public_id: str, path: str, purpose: str) -> str:
    return Links(base_url, secret_key, public_id)._url(path, purpose)


class _Links(Links):
    """Links whose signed URLs are made once per subscriber and reused: the text part,
    the HTML part and the List-Unsubscribe header of one email all carry the same ones."""

    def _url(self, path: str, purpose: str) -> str:
        return _link(self._base, self._secret, self._id, path, purpose)


def links_for(sender: Sender, public_id: str) -> Links:
    """One subscriber's links, each signed once and shared by every part of their email."""
    return _Links(sender.public_base_url, sender.secret_key, public_id)


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
    greeting: str | None = None,
    slots: Mapping[str, str] | None = None,
) -> RenderedEmail:
    """Render the pair `templates/emails/<template>.{txt,html}` for one subscriber.

    Jinja and CSS inlining run once per email kind (template, step, settings, `extra`):
    the result is kept with slots where the name, the greeting (`greeting`: the name the
    reader asked to be called, else `first_name(name)`), the reader's own strings
    (`slots`: their start date and the days of their notes, as they read them) and the
    links go, and each subscriber's email is that skeleton with their values put in, the
    same text as a full render gives. What changes the form of an email for a reader's
    state comes in `extra`, so each state has a skeleton of its own. Values that a full
    render would escape or normalize, and templates whose output depends on them in any
    other way (checked when the skeleton is made), always take a full render.
    """
    env = _environment()
    txt, html = env.get_template(f"{template}.txt"), env.get_template(f"{template}.html")
    slots = dict(slots or {})
    greeting = greeting or first_name(name)
    shared = (subject, preheader, transactional, tuple(sorted((extra or {}).items())), sender)
    shared += (tuple(sorted(slots)),)
    values = (name, greeting, *slots.values())
    if _plain_value(name) and _plain_value(greeting) and all(map(_plain_or_empty, values)):
        try:
            skeleton = _skeleton(txt, html, shared)
        except TypeError:  # an unhashable extra value: no skeleton for it
            skeleton = None
        if skeleton is not None:
            try:
                return _fill(
                    skeleton, _slot_values(name, greeting, public_id, sender, slots), subject
                )
            except _NotPlain:
                pass
    links = links_for(sender, public_id)
    return _render_full(txt, html, shared, name, greeting, links, slots)


def _context(shared: tuple, name: str, first: str, links, slots: Mapping[str, str]) -> dict:
    subject, preheader, transactional, extra, sender, _ = shared
    return {
        "subject": subject,
        "preheader": preheader,
        "name": name,
        "first_name": first,
        **slots,
        "links": links,
        "postal_address": sender.postal_address,
        "debug": sender.debug,
        "transactional": transactional,
        "list_name": sender.list_name,
        "coach_name": sender.signature,
        **dict(extra),
    }


def _render_full(txt, html, shared: tuple, name: str, first: str, links, slots) -> RenderedEmail:
    context = _context(shared, name, first, links, slots)
    text = txt.render(context)
    body = _inliner.inline(html.render(context))
    return RenderedEmail(subject=shared[0], text=text.strip() + "\n", html=body)


# ---- skeletons: one render per email kind, slots for what differs per subscriber -------

_LINK_PURPOSES = PURPOSES
_SLOT = re.compile("\ue000([a-z_.]+)\ue001")
# Characters that Jinja escapes or the CSS inliner's HTML serializer writes differently.
_UNSAFE = set("&<>\"'\u00a0")


def _slot(key: str) -> str:
    return f"\ue000{key}\ue001"


class _SlotLinks:
    """Stands in for Links while a skeleton is rendered: every link is a slot."""

    def __init__(self) -> None:
        for purpose in _LINK_PURPOSES:
            setattr(self, purpose, _slot(f"links.{purpose}"))


def _plain_value(value: str) -> bool:
    return bool(value.strip()) and value.isprintable() and not (_UNSAFE & set(value))


def _plain_or_empty(value: str) -> bool:
    return not value or _plain_value(value)


@dataclass(frozen=True)
class _Skeleton:
    text: tuple[str, ...]  # literal, slot, literal, slot, ..., literal
    html: tuple[str, ...]
    links: tuple[str, ...]  # the link purposes the email uses


def _split(rendered: str) -> tuple[str, ...]:
    return tuple(_SLOT.split(rendered))


def _join(parts: tuple[str, ...], values: dict[str, str]) -> str:
    out = list(parts)
    for i in range(1, len(out), 2):
        out[i] = values[out[i]]
    return "".join(out)


def _slot_values(name: str, first: str, public_id: str, sender: Sender, slots) -> dict:
    links = links_for(sender, public_id)
    values = {"name": name, "first_name": first, **slots}
    for purpose in _LINK_PURPOSES:
        values[f"links.{purpose}"] = _LazyLink(links, purpose)
    return values


class _LazyLink:
    """A link signed only if the email uses it; plain text or it is refused."""

    def __init__(self, links: Links, purpose: str):
        self.links, self.purpose = links, purpose

    def value(self) -> str | None:
        url = getattr(self.links, self.purpose)
        return url if _plain_value(url) else None


def _fill(skeleton: _Skeleton, values: dict, subject: str) -> RenderedEmail:
    for purpose in skeleton.links:
        url = values[f"links.{purpose}"].value()
        if url is None:
            raise _NotPlain
        values[f"links.{purpose}"] = url
    text = _join(skeleton.text, values)
    return RenderedEmail(
        subject=subject, text=text.strip() + "\n", html=_join(skeleton.html, values)
    )


class _NotPlain(Exception):
    pass


_SAMPLES = (
    ("ann lee", "ann", "0123456789abcdef", "Monday, March 1, 2027"),
    ("Bob", "Bobby Jo", "Zz-_09aBcDeF1234", "Tuesday 29 February 2028"),
    ("x", "x", "q", ""),
)


@lru_cache(maxsize=64)
def _skeleton(txt, html, shared: tuple) -> _Skeleton | None:
    """The email kind rendered once with slots, or None when slots cannot stand in.

    It is checked against full renders for sample subscribers: a template whose output
    depends on the name or a link other than by printing it gets no skeleton.
    """
    sender, slot_keys = shared[-2], shared[-1]
    try:
        context = _context(
            shared,
            _slot("name"),
            _slot("first_name"),
            _SlotLinks(),
            {k: _slot(k) for k in slot_keys},
        )
        text = _split(txt.render(context))
        body = _split(_inliner.inline(html.render(context)))
    except Exception:
        return None
    used = {key for parts in (text, body) for key in parts[1::2]}
    known = {"name", "first_name", *slot_keys} | {f"links.{p}" for p in _LINK_PURPOSES}
    if not used <= known:
        return None
    skeleton = _Skeleton(text, body, tuple(p for p in _LINK_PURPOSES if f"links.{p}" in used))
    for name, first, public_id, sample in _SAMPLES:
        links = links_for(sender, public_id)
        slots = dict.fromkeys(slot_keys, sample)
        try:
            values = _slot_values(name, first, public_id, sender, slots)
            fast = _fill(skeleton, values, shared[0])
        except _NotPlain:
            return None
        if fast != _render_full(txt, html, shared, name, first, links, slots):
            return None
    return skeleton
