"""The MIME writer: what a reader's mail program reads back is what was rendered, in
lines and encoded words short enough for every relay on the way."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes, message_from_string, policy
from email.header import decode_header, make_header

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from campaigns import mime
from campaigns.render import RenderedEmail, Sender

# Pieces an email body is made of, and the ones quoted-printable must get right: "="
# (escaped, and never split from its two digits), spaces and tabs before a line break
# (escaped), every kind of line break, non-ASCII (one escape per UTF-8 byte), long runs.
_PIECES = st.one_of(
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40),
    st.sampled_from(["=", " ", "\t", "\r", "\n", "\r\n", " \n", "\t\r\n", "é", "😀", "\x0b"]),
    st.builds(lambda c, n: c * n, st.sampled_from(["a", "=", " ", "é", "a="]), st.integers(1, 200)),
)
BODIES = st.lists(_PIECES, max_size=30).map("".join)


SENDER = Sender(
    mail_from="Coach <coach@tend.example>",
    public_base_url="https://tend.example",
    secret_key="k" * 32,
    postal_address="12 Garden Lane",
)
ASCII = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=120)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _as_read(text: str) -> str:
    """A text part as a mail program reads it back: CRLF line breaks, ending in one."""
    text = _LINE_BREAK.sub("\r\n", text)
    return text if text.endswith("\r\n") else text + "\r\n"


@settings(max_examples=300, deadline=None)
@given(subject=ASCII, name=ASCII, text=BODIES, html=BODIES, drip=st.booleans())
@example(subject="", name="", text="x" * 75 + " \n", html="x" * 74 + "=" + "y" * 10, drip=True)
@example(subject="a", name="b", text="ends in a tab\t", html="=\r\n=", drip=False)
def test_what_a_mail_program_reads_back_is_what_was_rendered(subject, name, text, html, drip):
    unsubscribe = "https://tend.example/unsubscribe/abc.def" if drip else None
    built = mime.build_message(
        RenderedEmail(subject=subject, text=text, html=html),
        to_name=name,
        to_address="ann@example.com",
        message_id="<a1b2.tend@tend.example>",
        sender=SENDER,
        unsubscribe=unsubscribe,
        date=datetime(2027, 1, 15, 10, 0, tzinfo=UTC),
    )
    assert built.data.isascii() and not built.smtputf8
    # Every line within RFC 2045's 76 (quoted-printable) and under RFC 5322's 78.
    assert all(len(line) <= 76 for line in built.data.split(b"\r\n")), built.data
    parsed = message_from_bytes(built.data, policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    for subtype, body in (("plain", text), ("html", html)):
        part = parsed.get_body((subtype,))
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
        assert part.get_content() == _as_read(body)
    assert parsed["Subject"] == mime.header_safe(subject)


# ---- folding: no encoded word over 75 characters ------------------------------------

_ENCODED_WORD = re.compile(rb"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")


def _head(data: bytes) -> bytes:
    return data.split(b"\r\n\r\n", 1)[0]


def _decoded(raw: str) -> str:
    # RFC 2047's reading (section 6.2): the space between two encoded words is dropped.
    # The email package's newer parser keeps it inside a display name, so names are read
    # with email.header, the package's RFC 2047 decoder.
    # Unfolded first (RFC 5322 2.2.3): a line break before a space is no part of the value.
    return str(make_header(decode_header(re.sub(r"\r?\n(?=[ \t])", "", raw))))


def _mailbox_of(message, header: str) -> tuple[str, str]:
    display, _, address = message[header].rpartition("<")
    if not display.strip():
        return "", message[header]
    display = _decoded(display).strip()
    if display.startswith('"') and display.endswith('"'):
        display = re.sub(r"\\(.)", r"\1", display[1:-1])
    return display, address.rstrip(">")


def _check_folding(data: bytes) -> None:
    head = _head(data)
    words = _ENCODED_WORD.findall(head)
    assert all(len(word) <= 75 for word in words), [w for w in words if len(w) > 75]
    for line in head.split(b"\r\n"):
        assert len(line) <= (76 if _ENCODED_WORD.search(line) else 998), line
    assert head.isascii()


LONG_NAMES = [
    "Dr. Émile Zola-Ångström de la Montagne-Sainte-Geneviève",
    "Ζωή Παπαδοπούλου-Αλεξανδροπούλου Καραμανλή Θεοδωράκη",
    "王小明王小明王小明王小明王小明王小明王小明王小明王小明王小明王小明王小明",
    "محمد بن عبد الرحمن بن عبد العزيز آل سعود الكبير",
    "Nguyễn Thị Minh Khai Phạm Văn Đồng Võ Nguyên Giáp Trần Hưng Đạo",
    "😀" * 40,
    "é" * 100,
    'Ann "the Planner" O\'Brien-Ñúñez, PhD \\ Ltd.',
    "a" * 90 + "ü",
]
LONG_SUBJECTS = [
    "Votre fiche : ce dont vous avez besoin dans votre prochaine entreprise — été 2027",
    "Ваш рабочий лист: что вам нужно от следующей компании, в которой вы будете работать",
    "下一家公司需要什么：一份帮助你弄清楚下一份工作真正需要什么的工作表，慢慢填写",
    "Six months in ✓ — tell them how it’s going (and thank the people who helped) 🌱🌱🌱",
    "x" * 90 + "é",
]


@pytest.mark.parametrize("name", LONG_NAMES)
@pytest.mark.parametrize("subject", LONG_SUBJECTS)
def test_long_and_non_ascii_headers_fold_into_short_encoded_words(subject, name):
    sender = replace(SENDER, mail_from='"Zoë Ångström, Career Coach" <coach@tend.example>')
    built = mime.build_message(
        RenderedEmail(subject=subject, text="Hi\n", html="<p>Hi</p>"),
        to_name=name,
        to_address="reader@example.com",
        message_id="<m1@tend.example>",
        sender=sender,
        unsubscribe="https://tend.example/unsubscribe/abc.def",
        date=datetime(2027, 1, 15, 10, 0, tzinfo=UTC),
    )
    assert not built.smtputf8
    _check_folding(built.data)
    # What a reader's mail program shows is what was written.
    parsed = message_from_bytes(built.data, policy=policy.default)
    assert parsed["Subject"] == mime.header_safe(subject)
    assert parsed["To"].addresses[0].addr_spec == "reader@example.com"
    assert parsed["From"].addresses[0].addr_spec == "coach@tend.example"
    raw = message_from_bytes(built.data)  # the headers as written, for RFC 2047 decoding
    assert _mailbox_of(raw, "To") == (mime.header_safe(name), "reader@example.com")
    assert _mailbox_of(raw, "From") == ("Zoë Ångström, Career Coach", "coach@tend.example")
    assert parsed["List-Unsubscribe"] == "<https://tend.example/unsubscribe/abc.def>"
    assert parsed.get_body(("plain",)).get_content() == "Hi\r\n"


def test_a_short_non_ascii_name_reads_back_with_either_parser():
    built = mime.build_message(
        RenderedEmail(subject="Grüße", text="Hi\n", html="<p>Hi</p>"),
        to_name="José Müller",
        to_address="jose@example.com",
        message_id="<m1@tend.example>",
        sender=SENDER,
        unsubscribe=None,
        date=datetime(2027, 1, 15, 10, 0, tzinfo=UTC),
    )
    _check_folding(built.data)
    parsed = message_from_bytes(built.data, policy=policy.default)
    assert parsed["To"].addresses[0].display_name == "José Müller"
    assert parsed["Subject"] == "Grüße"


@pytest.mark.parametrize(
    ("address", "written"),
    [
        ("idn@münchen.example", "idn@xn--mnchen-3ya.example"),
        ("ann@example.com", "ann@example.com"),
        ("jösé@exämple.com", "jösé@exämple.com"),  # a UTF-8 local part needs SMTPUTF8 anyway
        ("ann@☃.example", "ann@☃.example"),  # IDNA refuses the domain: left as it is
    ],
)
def test_an_idn_domain_after_an_ascii_local_part_is_written_as_idna(address, written):
    assert mime.ascii_domain(address) == written


@pytest.mark.parametrize("name", LONG_NAMES[:4])
def test_an_idn_domain_needs_no_smtputf8_and_keeps_its_name_in_short_encoded_words(name):
    built = mime.build_message(
        RenderedEmail(subject=LONG_SUBJECTS[0], text="Hi\n", html="<p>Hi</p>"),
        to_name=name,
        to_address="idn@münchen.example",
        message_id="<m1@tend.example>",
        sender=SENDER,
        unsubscribe=None,
        date=datetime(2027, 1, 15, 10, 0, tzinfo=UTC),
    )
    assert not built.smtputf8 and built.data.isascii()
    _check_folding(built.data)
    raw = message_from_bytes(built.data)
    assert _mailbox_of(raw, "To") == (mime.header_safe(name), "idn@xn--mnchen-3ya.example")


@pytest.mark.parametrize("name", LONG_NAMES[:4])
def test_an_internationalized_address_keeps_its_name_in_short_encoded_words(name):
    built = mime.build_message(
        RenderedEmail(subject=LONG_SUBJECTS[0], text="Hi\n", html="<p>Hi</p>"),
        to_name=name,
        to_address="jösé@exämple.com",
        message_id="<m1@tend.example>",
        sender=SENDER,
        unsubscribe=None,
        date=datetime(2027, 1, 15, 10, 0, tzinfo=UTC),
    )
    assert built.smtputf8
    head = _head(built.data)
    assert all(len(word) <= 75 for word in _ENCODED_WORD.findall(head))
    # Under SMTPUTF8 the message is UTF-8 text; read it as such.
    raw = message_from_string(built.data.decode("utf-8"))
    assert _mailbox_of(raw, "To") == (mime.header_safe(name), "jösé@exämple.com")
    assert _decoded(raw["Subject"]) == LONG_SUBJECTS[0]


@settings(max_examples=300, deadline=None)
@given(
    subject=st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=150),
    name=st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=150),
)
@example(subject="00000000\x80\x80" + "\u0800" * 9 + " \x80 \x80", name="Phạm Văn Đồng Võ " * 6)
def test_any_subject_and_name_fold_into_short_encoded_words(subject, name):
    built = mime.build_message(
        RenderedEmail(subject=subject, text="Hi\n", html="<p>Hi</p>"),
        to_name=name,
        to_address="reader@example.com",
        message_id="<m1@tend.example>",
        sender=SENDER,
        unsubscribe="https://tend.example/unsubscribe/abc.def",
        date=datetime(2027, 1, 15, 10, 0, tzinfo=UTC),
    )
    _check_folding(built.data)
    parsed = message_from_bytes(built.data, policy=policy.default)
    assert parsed["To"].addresses[0].addr_spec == "reader@example.com"
    assert " ".join(parsed["Subject"].split()) == " ".join(mime.header_safe(subject).split())
    display, _ = _mailbox_of(message_from_bytes(built.data), "To")
    assert " ".join(display.split()) == " ".join(mime.header_safe(name).split())


@pytest.mark.parametrize(
    ("link", "one_click"),
    [
        ("https://tend.example/unsubscribe/abc", True),
        ("http://localhost:5000/unsubscribe/abc", False),
    ],
)
def test_list_unsubscribe_is_the_link_alone_and_one_click_needs_https(link, one_click):
    built = mime.build_message(
        RenderedEmail(subject="A month in", text="Hi\n", html="<p>Hi</p>"),
        to_name="Ann Lee",
        to_address="ann@example.com",
        message_id="<m1@tend.example>",
        sender=SENDER,
        unsubscribe=link,
        date=datetime(2027, 1, 15, 10, 0, tzinfo=UTC),
    )
    parsed = message_from_bytes(built.data, policy=policy.default)
    assert parsed.get_all("List-Unsubscribe") == [f"<{link}>"]
    assert "mailto:" not in built.data.decode("ascii")
    post = parsed.get_all("List-Unsubscribe-Post")
    assert post == (["List-Unsubscribe=One-Click"] if one_click else None)


def _headers_of(sender: Sender):
    email = RenderedEmail(subject="Hello", text="Hi", html="<p>Hi</p>")
    built = mime.build_message(
        email,
        to_name="Ann Lee",
        to_address="ann@example.com",
        message_id="<m@tend.example>",
        sender=sender,
        unsubscribe=None,
        date=datetime(2027, 1, 15, 10, 0, tzinfo=UTC),
    )
    return message_from_bytes(built.data, policy=policy.default)


def _sender(**fields) -> Sender:
    base = {
        "mail_from": "coach@tend.example",
        "public_base_url": "https://tend.example",
        "secret_key": "k" * 32,
        "postal_address": "12 Garden Lane",
    }
    return Sender(**(base | fields))


def test_the_coach_names_the_from_reply_to_and_list_id():
    # MAIL_FROM without a display name: the coach's name, and replies to the same address.
    msg = _headers_of(_sender(coach_name="Dana Whitfield"))
    assert msg["From"] == "Dana Whitfield <coach@tend.example>"
    assert msg["Reply-To"] == "Dana Whitfield <coach@tend.example>"
    assert msg["List-Id"] == "Staying connected <staying-connected.tend.example>"
    # MAIL_FROM's own name wins for From; REPLY_TO elsewhere, keeping its own name or From's.
    msg = _headers_of(
        _sender(mail_from="Career Notes <coach@tend.example>", reply_to="dana@home.example")
    )
    assert msg["From"] == "Career Notes <coach@tend.example>"
    assert msg["Reply-To"] == "Career Notes <dana@home.example>"
    msg = _headers_of(_sender(reply_to="Dana <dana@home.example>", list_name="After the offer"))
    assert msg["Reply-To"] == "Dana <dana@home.example>"
    assert msg["List-Id"] == "After the offer <after-the-offer.tend.example>"
    # A defaulted coach: what `make run` sends with.
    assert _headers_of(_sender())["From"] == "Your career coach <coach@tend.example>"


def test_a_coach_name_beyond_ascii_is_an_encoded_word_and_never_a_new_line():
    msg = _headers_of(_sender(coach_name="Zoë Ångström", list_name="Rester connecté"))
    assert msg["From"] == "Zoë Ångström <coach@tend.example>"  # decoded by the reader's client
    assert msg["List-Id"] == "Rester connecté <rester-connecte.tend.example>"
    raw = _headers_of(_sender(coach_name="Zoë")).as_bytes()
    assert raw.isascii() and b"=?utf-8?" in raw
    forged = _headers_of(_sender(coach_name="Dana\r\nBcc: evil@example.com"))
    assert forged["Bcc"] is None
    assert forged["From"] == '"Dana Bcc: evil@example.com" <coach@tend.example>'  # one name
