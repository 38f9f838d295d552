"""The greeting: the given name as the reader typed it, less the honorifics before it.

The rule (campaigns.names.first_name): honorifics before the name are dropped; a name
that opens with a lower-case particle is used whole; a two-word given name on the list of
known ones is kept whole; otherwise the first word (a hyphenated name is one word). A
reader whose name this cuts wrongly says what to call them on the start-date page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from campaigns.compose import Recipient, compose
from campaigns.names import first_name
from campaigns.render import Sender
from campaigns.sequence import load
from models import Status


@pytest.mark.parametrize(
    ("name", "greeted"),
    [
        # The first word, as typed.
        ("Ann Lee", "Ann"),
        ("ann lee", "ann"),
        ("ANN LEE", "ANN"),
        ("  Ann   Lee  ", "Ann"),
        # Honorifics are skipped, with or without the dot, in any case, even several.
        ("Dr. Émile Zola-Ångström", "Émile"),
        ("Dr Émile Zola-Ångström", "Émile"),
        ("dr. émile zola", "émile"),
        ("Dr.Émile Zola", "Émile"),
        ("Mr. John Smith", "John"),
        ("Mrs Jane Doe", "Jane"),
        ("Ms. Aiko Tanaka", "Aiko"),
        ("Mx Sam Rivera", "Sam"),
        ("Prof. Wangari Maathai", "Wangari"),
        ("PROF DR Angela Merkel", "Angela"),
        ("Mr. Smith", "Smith"),
        # A word that only starts like an honorific is a name.
        ("Drew Barrymore", "Drew"),
        ("Msimang Thabo", "Msimang"),
        ("Prof.", "Prof."),
        ("Dr", "Dr"),
        # Single names, and scripts without spaces between words.
        ("Madonna", "Madonna"),
        ("Sukarno", "Sukarno"),
        ("王小明", "王小明"),
        ("山田太郎", "山田太郎"),
        # Family name first: the first word is what was typed first.
        ("Zhang Wei", "Zhang"),
        ("Nagy Imre", "Nagy"),
        # Other scripts and marks, kept exactly.
        ("Ólafur Arnalds", "Ólafur"),
        ("Siobhán Ní Bhriain", "Siobhán"),
        ("Nguyễn Thị Minh Khai", "Nguyễn"),
        ("Dr. Chinedu Okonkwo-Adeyemi", "Chinedu"),
        ("Ивана Петрова", "Ивана"),
        ("Dr. Αλέξανδρος Παπαδόπουλος", "Αλέξανδρος"),
        ("محمد بن سلمان", "محمد"),
        ("דוד כהן", "דוד"),
        ("Priya Venkataraman", "Priya"),
        ("Jean-Luc Picard", "Jean-Luc"),
        # Given names of two words, as people write them (COMPOUND_GIVEN_NAMES).
        ("María José García", "María José"),
        ("María José O'Connor-Núñez", "María José"),
        ("Dr. Jean-Luc Picard", "Jean-Luc"),
        ("Mary Ann Smith", "Mary Ann"),
        ("Mary Ann", "Mary Ann"),
        ("maria jose lopez", "maria jose"),
        ("Juan Carlos Onetti", "Juan Carlos"),
        ("José María Aznar", "José María"),
        ("Miguel Ángel Asturias", "Miguel Ángel"),
        ("Anne Marie Slaughter", "Anne Marie"),
        ("Mrs. Sarah Jane Smith", "Sarah Jane"),
        ("Jean Paul Sartre", "Jean Paul"),
        ("Karl Heinz Rummenigge", "Karl Heinz"),
        ("Pier Paolo Pasolini", "Pier Paolo"),
        ("Billy Bob Thornton", "Billy Bob"),
        # Not listed: the first word only, even where a person may use two.
        ("Ann Lee Smith", "Ann"),
        ("Mary Smith", "Mary"),
        ("Anna Karenina", "Anna"),
        ("O'Brien Seán", "O'Brien"),
        # Particles: inside a name they follow the first word; a name that opens with one
        # in lower case is a family name given alone, used whole.
        ("Ludwig van Beethoven", "Ludwig"),
        ("Leonardo da Vinci", "Leonardo"),
        ("van der Berg", "van der Berg"),
        ("de la Cruz", "de la Cruz"),
        ("Dr. von Braun", "von Braun"),
        ("al-Khwarizmi", "al-Khwarizmi"),
        ("Van Morrison", "Van"),
        ("De Niro Robert", "De"),
    ],
)
def test_the_greeting_uses_the_name_as_given_without_honorifics(name, greeted):
    assert first_name(name) == greeted


SENDER = Sender(
    mail_from="Career Notes <coach@tend.example>",
    public_base_url="https://tend.example",
    secret_key="k" * 40,
    postal_address="12 Garden Lane",
)


@pytest.mark.parametrize(
    ("name", "greeting"),
    [("Dr. Émile Zola-Ångström", "Hi Émile,"), ("Ann Lee", "Hi Ann,")],
)
def test_a_drip_email_greets_the_reader_by_that_name(name, greeting):
    step = load(None).steps[0]
    recipient = Recipient(
        name=name,
        address="reader@example.com",
        public_id="pub-1",
        status=Status.ACTIVE,
        message_id="<m1@tend.example>",
    )
    sent = compose(recipient, step, SENDER, datetime(2027, 1, 15, 10, tzinfo=UTC))
    message = message_from_bytes(sent.data, policy=policy.default)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert greeting in text.splitlines()
    assert f">{greeting}</p>" in html
    assert "Hi Dr" not in text and "Hi Dr" not in html
