"""The classification of SMTP answers, as a table: phase, code, text -> what Tend does."""

from __future__ import annotations

import pytest

from workers.send.replies import Action, Phase, classify, enhanced_code

B, F, R, RB, T, P, M = (
    Action.BOUNCED,
    Action.FAILED,
    Action.RETRY,
    Action.RETRY_BATCH,
    Action.THROTTLED,
    Action.PAUSE,
    Action.MAYBE_SENT,
)

TABLE = [
    # The reader's mailbox: that reader bounced.
    (Phase.RCPT, 550, "5.1.1 <ann@example.com>: Recipient address rejected: User unknown", B),
    (Phase.RCPT, 550, "5.1.10 RESOLVER.ADR.RecipientNotFound", B),
    (Phase.RCPT, 553, "5.1.3 Bad recipient address syntax", B),
    (Phase.RCPT, 550, "5.2.1 The email account that you tried to reach is disabled", B),
    (Phase.RCPT, 550, "No such user here", B),  # no enhanced code: the mailbox, still
    # Not the reader's fault for good.
    (Phase.RCPT, 552, "5.2.2 Mailbox full", R),
    (Phase.RCPT, 552, "5.2.3 Message too long", F),
    (Phase.RCPT, 550, "5.4.1 Recipient address rejected: Access denied", F),
    # About the sender: pause, change no reader.
    (Phase.RCPT, 554, "5.7.1 <ann@example.com>: Relay access denied", P),
    (Phase.RCPT, 554, "Relay access denied", P),  # no enhanced code, the words say it
    (Phase.RCPT, 550, "5.7.26 Unauthenticated email from tend.example is not accepted", P),
    (Phase.RCPT, 501, "5.5.4 Syntax error in parameters", P),
    (Phase.MAIL, 550, "5.7.1 Sender address rejected: not owned by user", P),
    (Phase.MAIL, 553, "5.1.8 Sender address rejected: Domain not found", P),
    (Phase.MAIL, 550, "Sender refused", P),
    (Phase.AUTH, 535, "5.7.8 Authentication credentials invalid", P),
    (Phase.CONNECT, 554, "5.7.1 Your IP is on a block list", P),
    (Phase.CONNECT, 554, "No SMTP service here", P),
    (Phase.DATA, 554, "5.7.1 Message rejected: policy", P),
    (Phase.AFTER_DATA, 550, "5.7.1 Message rejected as spam", P),
    (Phase.AFTER_DATA, 554, "5.7.0 Message rejected: Email address is not verified", P),
    (Phase.AFTER_DATA, 500, "5.5.2 Syntax error, command unrecognized", P),
    # This message cannot go; the reader is fine.
    (Phase.AFTER_DATA, 554, "5.6.0 Message content rejected", F),
    (Phase.AFTER_DATA, 552, "5.3.4 Message size exceeds fixed limit", F),
    (Phase.DATA, 554, "Transaction failed", F),
    # Later: throttling waits without an attempt, the rest retries with backoff.
    (Phase.CONNECT, 421, "4.7.0 Try again later, closing connection", T),
    (Phase.MAIL, 421, "4.7.28 unusual rate of unsolicited mail", T),
    (Phase.MAIL, 454, "Throttling failure: Maximum sending rate exceeded.", T),
    # One busy mailbox is not the relay slowing us down: that email retries.
    (Phase.RCPT, 450, "4.2.1 The user you are trying to contact is receiving mail at a rate", R),
    (Phase.RCPT, 452, "4.5.3 Too many recipients", T),
    (Phase.AFTER_DATA, 451, "4.7.500 Server busy. Please try again later", T),
    (Phase.RCPT, 451, "4.7.1 Greylisted, please come back in 5 minutes", R),
    (Phase.RCPT, 450, "4.2.0 Greylisted", R),
    (Phase.RCPT, 452, "4.2.2 Mailbox full", R),
    (Phase.AFTER_DATA, 451, "4.3.0 Error: queue file write error", R),
    (Phase.DATA, 451, "4.3.0 local error", R),
    (Phase.MAIL, 451, "4.3.0 Temporary lookup failure", RB),  # every email would wait
    (Phase.AUTH, 454, "4.7.0 Temporary authentication failure", RB),
    (Phase.CONNECT, 450, "4.3.2 Service shutting down", RB),
    # Silence.
    (Phase.CONNECT, None, "timed out", RB),
    (Phase.MAIL, None, "Connection unexpectedly closed", RB),
    (Phase.DATA, None, "timed out", RB),
    (Phase.AFTER_DATA, None, "timed out", M),
    (Phase.AFTER_DATA, None, "Connection unexpectedly closed", M),
]


@pytest.mark.parametrize(("phase", "code", "text", "outcome"), TABLE)
def test_every_answer_has_one_meaning(phase, code, text, outcome):
    meaning = classify(phase, code, text)
    assert meaning.action == outcome, meaning
    if code is not None:
        assert str(code) in meaning.reason and text.split()[0] in meaning.reason


def test_the_reason_names_what_was_refused():
    assert classify(Phase.MAIL, 550, "5.7.1 no").reason == "sender refused: 550 5.7.1 no"
    assert classify(Phase.AUTH, 535, "5.7.8 bad").reason == "login refused: 535 5.7.8 bad"
    assert classify(Phase.AFTER_DATA, None, "timed out").reason == "maybe sent: timed out"
    assert classify(Phase.RCPT, 421, "4.7.0 slow").reason == "throttled: 421 4.7.0 slow"


def test_connection_answers_are_marked_for_the_run_of_failed_connections():
    assert classify(Phase.CONNECT, None, "refused").connection
    assert classify(Phase.CONNECT, 554, "5.7.1 blocked").connection
    assert not classify(Phase.MAIL, None, "closed").connection


def test_a_success_is_not_an_answer_to_classify():
    with pytest.raises(ValueError):
        classify(Phase.RCPT, 250, "2.1.5 OK")
    with pytest.raises(ValueError):
        classify(Phase.DATA, 354, "End data with <CR><LF>.<CR><LF>")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("5.7.1 Relay access denied", (5, 7, 1)),
        ("4.7.28 unusual rate", (4, 7, 28)),
        ("  5.1.10 RESOLVER", (5, 1, 10)),
        ("Relay access denied", None),
        ("5.7 not a code", None),
        ("", None),
    ],
)
def test_enhanced_status_code(text, code):
    assert enhanced_code(text) == code
