"""`flask --app app doctor`: every problem at once, each naming its setting and fix; then
the DNS records to publish. Real database, Redis and an SMTP server on loopback."""

from __future__ import annotations

import re

import pytest
from support import flask_cli, free_port

import settings
from campaigns.dkim import new_key, public_half
from doctor import probes


@pytest.fixture
def own_pdf(tmp_path):
    """A worksheet of the operator's own (WORKSHEET_PATH), so no build is needed here."""
    pdf = tmp_path / "worksheet.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%%EOF\n")
    return str(pdf)


def _doctor(env: dict[str, str]):
    done = flask_cli(env | {"FLASK_SKIP_DOTENV": "1"}, "doctor", timeout=120)
    return done, done.stdout.splitlines()


def test_doctor_lists_four_bad_settings_at_once_and_fails(app_env, own_pdf):
    env = app_env(
        SECRET_KEY="a" * 34,
        METRICS_TOKEN="a",
        EMBED_ALLOWED_ORIGINS="blog.example.com",
        MAIL_BACKEND="outbox",
        WORKSHEET_PATH=own_pdf,
    ) | {"SMTP_PORT": "twenty-five"}
    # The same settings stop every other command at start.
    refused = flask_cli(env | {"FLASK_SKIP_DOTENV": "1"}, "drip", "sync")
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 4

    done, lines = _doctor(env)
    assert done.returncode == 1, done.stderr
    problems = [line.removeprefix("problem: ") for line in lines if line.startswith("problem:")]
    assert [p.split()[0] for p in problems] == [
        "SMTP_PORT",
        "EMBED_ALLOWED_ORIGINS",
        "SECRET_KEY",
        "METRICS_TOKEN",
    ]
    assert problems[0] == "SMTP_PORT must be a whole number, got 'twenty-five'"
    assert "got 'blog.example.com'" in problems[1] and "https://blog.example.com" in problems[1]
    assert "set SECRET_KEY to a random value" in problems[2]
    assert "set METRICS_TOKEN to at least 16" in problems[3]
    assert lines[-1] == "doctor: 4 problem(s); Tend will not start until they are fixed"


def test_doctor_passes_good_settings_and_prints_the_three_dns_records(app_env, own_pdf, tmp_path):
    pem, public = new_key()
    key = tmp_path / "dkim.pem"
    key.write_bytes(pem)
    env = app_env(DKIM_SELECTOR="s1", DKIM_PRIVATE_KEY_PATH=str(key), WORKSHEET_PATH=own_pdf)
    done, lines = _doctor(env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not [line for line in lines if line.startswith("problem:")]
    assert "doctor: no problems" in lines
    # Advice is printed, and does not fail: the test settings turn the bot checks off.
    assert any(line.startswith("warning: SIGNUP_CHALLENGE is off") for line in lines)
    records = [line.split() for line in lines if line.startswith("  ")]
    assert [r[:3] for r in records] == [
        ["SPF", "tend.example", "TXT"],
        ["DKIM", "s1._domainkey.tend.example", "TXT"],
        ["DMARC", "_dmarc.tend.example", "TXT"],
    ]
    dkim_line = next(line for line in lines if line.startswith("  DKIM"))
    # One value, ready to paste: no quotes, no parentheses, the key's own public half.
    assert dkim_line.endswith(f"TXT  v=DKIM1; k=rsa; p={public}")
    assert public == public_half(pem) and '"' not in dkim_line and "(" not in dkim_line


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"SMTP_PORT": "closed"}, "SMTP_HOST: cannot connect to the relay"),
        ({"SMTP_SECURITY": "starttls"}, "SMTP_SECURITY: cannot STARTTLS with the relay"),
        ({"SMTP_USERNAME": "tend", "SMTP_PASSWORD": "pw"}, "SMTP_USERNAME: cannot log in to"),
        ({"REDIS_URL": "redis://127.0.0.1:1/0"}, "REDIS_URL does not answer"),
    ],
)
def test_doctor_asks_the_relay_and_redis_without_sending(app_env, own_pdf, smtp, change, names):
    if change.get("SMTP_PORT") == "closed":
        change = {"SMTP_PORT": str(free_port())}
    done, lines = _doctor(app_env(WORKSHEET_PATH=own_pdf) | change)
    assert done.returncode == 1
    problems = [line for line in lines if line.startswith("problem:")]
    assert len(problems) == 1 and problems[0].startswith(f"problem: {names}"), lines
    assert smtp.received == [] and smtp.arriving == 0  # nothing was sent


def test_doctor_finds_the_worksheet_unbuilt_until_it_is_built(make_app, tmp_path):
    from campaigns.worksheet import build

    app = make_app()
    app.config["WORKSHEET_BUILD_DIR"] = str(tmp_path)
    with app.app_context():
        found = probes.worksheet(app, settings.settings_of(app))
        assert [p.name for p in found] == ["WORKSHEET_PATH"]
        assert "run flask --app app worksheet build" in found[0].message
        build.ensure(build.Options.from_config(app.config), tmp_path)
        assert probes.worksheet(app, settings.settings_of(app)) == []


def test_doctor_names_a_dkim_key_that_is_not_rsa(make_app, tmp_path):
    key = tmp_path / "dkim.pem"
    key.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    app = make_app(DKIM_SELECTOR="s1", DKIM_PRIVATE_KEY_PATH=str(key))
    found, public = probes.dkim(settings.settings_of(app))
    assert public is None and [p.name for p in found] == ["DKIM_PRIVATE_KEY_PATH"]
    assert re.search(r"holds no usable RSA key .*dkim keygen", found[0].message)


def test_doctor_runs_on_settings_that_cannot_start_anything(app_env, own_pdf):
    """An unreadable DATABASE_URL or REDIS_URL is listed once, and nothing is asked in its
    place (the default database is not what the operator meant)."""
    env = app_env(WORKSHEET_PATH=own_pdf) | {
        "DATABASE_URL": "postgres//tend@db/tend",
        "REDIS_URL": "localhost:6379",
        "SEQUENCE_PATH": "/nowhere/sequence.toml",
    }
    done, lines = _doctor(env)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    problems = [line.removeprefix("problem: ") for line in lines if line.startswith("problem:")]
    assert [p.split()[0] for p in problems] == ["DATABASE_URL", "REDIS_URL", "SEQUENCE_PATH"]
    assert "got 'postgres//tend@db/tend'" in problems[0]
    assert "unset SEQUENCE_PATH to send the shipped sequence" in problems[2]
