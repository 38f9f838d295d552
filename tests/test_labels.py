"""Labels and lines: Feedback-ID calls list mail list mail, for the list LIST_NAME names,
and every header line folds under 78 characters wherever the header allows it."""

from __future__ import annotations

import itertools
import re
from email import message_from_bytes, policy

from every_email import NOW, every_email, production_sender
from support import signup, work

from campaigns.compose import compose


def test_the_worksheet_is_list_mail_in_single_opt_in_and_a_request_in_double(make_app, smtp):
    for double, kind in (("0", "list"), ("1", "transactional")):
        app = make_app(DOUBLE_OPT_IN=double, LIST_NAME="After the offer")
        signup(app.test_client(), email=f"ann{double}@example.com")
        work(app)
        message = smtp.received[-1].message
        print(f"DOUBLE_OPT_IN={double}: Feedback-ID: {message['Feedback-ID']}")
        assert message["Feedback-ID"] == f"worksheet:{kind}:after-the-offer:tend.example"
        assert ("List-Unsubscribe" in message) == (kind == "list")


def test_feedback_id_names_list_mail_as_list_mail_for_every_email():
    for slug, list_name in (
        ("after-the-offer", "After the offer"),
        ("rester-connecte", "Rester connecté"),
    ):
        sender = production_sender(list_name=list_name)
        for label, recipient, email in every_email():
            message = message_from_bytes(
                compose(recipient, email, sender, NOW).data, policy=policy.default
            )
            campaign, kind, list_id, domain = message["Feedback-ID"].split(":")
            # Only the request to confirm is transactional: it alone has no List-Unsubscribe.
            assert kind == ("list" if "List-Unsubscribe" in message else "transactional"), label
            assert (list_id, domain) == (slug, "tend.example"), label
            assert campaign == ("worksheet" if label.startswith("worksheet") else email.key)


def _head_lines(data: bytes) -> list[str]:
    return data.split(b"\r\n\r\n", 1)[0].decode("utf-8").split("\r\n")


def test_every_header_line_folds_under_78_where_the_header_allows_it():
    """Every line is at most 76 characters (the quoted-printable and encoded-word limit),
    but for a line of one token that no header may break or encode: List-Unsubscribe's
    signed link (RFC 2369 allows no space in it), a long List-Id id, a long Feedback-ID."""
    senders = [
        production_sender(
            list_name=list_name,
            coach_name="Dr. Zoë Ångström-Montagne de la Sainte-Geneviève",
            mail_from="coach@a-rather-long-domain-for-a-career-coach.example",
        )
        for list_name in (
            "Staying connected after the offer, the first year in a new job",
            "Rester connecté après l'offre : la première année dans un nouvel emploi",
        )
    ]
    longest, one_token = {}, set()
    for (label, recipient, email), sender in itertools.product(every_email(), senders):
        data = compose(recipient, email, sender, NOW, subject_prefix="[TEST] ").data
        name = ""
        for line in _head_lines(data):
            if line[:1] not in " \t":
                name = line.split(":", 1)[0]
            longest[name] = max(longest.get(name, 0), len(line))
            if len(line) > 76:
                assert re.fullmatch(rf"(?:{name}: | )[^\s\"]+", line), (label, line)
                assert "=?" not in line, (label, line)  # never an encoded word
                one_token.add(name)
    print("longest line of each header:", longest)
    assert longest["Content-Type"] <= 76  # the boundary line: one line now
    # The exception above is exercised, for these headers only.
    assert one_token == {"List-Unsubscribe", "List-Id", "Feedback-ID"}
