"""SpamAssassin scores every email 0.0: each kind, to every reader state that can receive
it, composed in production mode (DKIM-signed, https links, a postal address), sent over
SMTP to a server on loopback and scored as it arrived with Debian's SpamAssassin and its
local tests (`spamassassin -t -L`).

Where the binary is missing the test skips, saying so; under CI (`CI` set) a missing
binary fails it, since `.ci/run` installs SpamAssassin.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass

import pytest
from every_email import NOW, every_email, production_sender

from campaigns.compose import compose
from workers.transport import SMTPSettings, SMTPTransport


@dataclass(frozen=True)
class Sent:
    label: str  # what it is, to whom: named in a failure
    data: bytes  # as the SMTP server received it


def _spamassassin() -> str:
    found = shutil.which("spamassassin")
    if found:
        return found
    message = "spamassassin is not installed (apt-get install spamassassin), so no spam score"
    if os.environ.get("CI"):
        pytest.fail(f"{message}: CI must run this test (.ci/run installs it)")
    pytest.skip(message)


def _sent_over_smtp(smtp) -> list[Sent]:
    sender = production_sender()
    composed = [
        (label, recipient.address, compose(recipient, email, sender, NOW))
        for label, recipient, email in every_email()
    ]
    with SMTPTransport(SMTPSettings(host="127.0.0.1", port=smtp.port)) as transport:
        for _, address, outgoing in composed:
            transport.deliver(outgoing, sender.envelope_from, address)
    assert len(smtp.received) == len(composed)
    return [
        Sent(label, got.data) for (label, _, _), got in zip(composed, smtp.received, strict=True)
    ]


def _mbox(messages: list[Sent]) -> bytes:
    """One mbox (mboxrd: a body line that starts "From " gains a ">"), so a single
    SpamAssassin run, which takes seconds to start, scores them all."""
    out = []
    for sent in messages:
        text = sent.data.replace(b"\r\n", b"\n")
        text = re.sub(rb"(?m)^(>*From )", rb">\1", text)
        out.append(b"From tend@tend.example Mon Apr  5 14:00:00 2027\n" + text + b"\n")
    return b"".join(out)


_REPORT = re.compile(
    r"Content analysis details:\s+\((-?\d+\.\d+) points.*?\n\n(.*?)(?:\n\n|\Z)", re.S
)
_RULE = re.compile(r"^\s*(-?\d+\.\d+)\s+([A-Z0-9_]+)\s", re.M)


def test_every_email_to_every_reader_scores_zero(smtp, tmp_path):
    binary = _spamassassin()
    messages = _sent_over_smtp(smtp)
    prefs = tmp_path / "user_prefs"
    prefs.write_text("")
    # Its own home: no Bayes or reputation data carried from one run to the next.
    env = {**os.environ, "HOME": str(tmp_path)}
    run = subprocess.run(
        [binary, "-t", "-L", "--mbox", "-p", str(prefs)],
        input=_mbox(messages),
        capture_output=True,
        env=env,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr.decode(errors="replace")
    reports = _REPORT.findall(run.stdout.decode("utf-8", errors="replace"))
    assert len(reports) == len(messages), run.stdout[-2000:]
    scored = []
    for sent, (score, table) in zip(messages, reports, strict=True):
        rules = {name: float(points) for points, name in _RULE.findall(table)}
        scored.append((sent.label, score, rules))
    print(
        f"{len(scored)} emails scored; the rules hit:", sorted({r for *_, rs in scored for r in rs})
    )
    failing = [
        f"{label}: {score} points, {rules}"
        for label, score, rules in scored
        if float(score) != 0.0 or any(points != 0.0 for points in rules.values())
    ]
    assert not failing, "\n".join(failing)
