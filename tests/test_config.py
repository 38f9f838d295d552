"""Configuration from the environment: defaults, and a clear one-line refusal of bad values."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT

import settings


def test_defaults_follow_the_contract():
    cfg = settings.load({"SECRET_KEY": "k" * 40})
    assert cfg["SQLALCHEMY_DATABASE_URI"] == "sqlite:///instance/tend.db"
    assert cfg["REDIS_URL"] == "redis://localhost:6379/0"
    assert cfg["PUBLIC_BASE_URL"] == "http://localhost:5000"
    assert cfg["MAIL_BACKEND"] == "outbox" and cfg["MAIL_FROM"] == "Tend <hello@localhost>"
    assert (cfg["SMTP_HOST"], cfg["SMTP_PORT"], cfg["SMTP_SECURITY"]) == ("localhost", 25, "none")
    assert cfg["EMBED_ALLOWED_ORIGINS"] == [] and cfg["DOUBLE_OPT_IN"] is True
    assert (cfg["DEFAULT_TIMEZONE"], cfg["DRIP_WINDOW"], cfg["DRIP_MIN_GAP_DAYS"]) == (
        "UTC",
        "09:00-17:00",
        7,
    )
    assert (cfg["SIGNUP_RATE_LIMIT"], cfg["SIGNUP_MIN_SECONDS"]) == ("5/minute;50/day", 2)


def test_debug_gets_a_random_secret_per_run():
    first = settings.load({"FLASK_DEBUG": "1"})["SECRET_KEY"]
    assert len(first) >= 32 and first != settings.load({"FLASK_DEBUG": "1"})["SECRET_KEY"]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "SECRET_KEY"),
        ({"SECRET_KEY": "change-me"}, "SECRET_KEY"),
        ({"DEFAULT_TIMEZONE": "Mars/Base"}, "DEFAULT_TIMEZONE"),
        ({"DRIP_WINDOW": "17:00-09:00"}, "DRIP_WINDOW"),
        ({"SMTP_SECURITY": "tls"}, "SMTP_SECURITY"),
        ({"MAIL_BACKEND": "carrier-pigeon"}, "MAIL_BACKEND"),
        ({"SMTP_PORT": "twenty-five"}, "SMTP_PORT"),
    ],
)
def test_bad_settings_are_refused_naming_the_variable(env, named):
    with pytest.raises(settings.ConfigError, match=named):
        settings.load({"SECRET_KEY": "k" * 40} | env if named != "SECRET_KEY" else env)


def test_start_up_without_secret_key_stops_with_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "FLASK_DEBUG")}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'x.db'}"
    env["FLASK_SKIP_DOTENV"] = "1"  # a developer's .env must not hide the check
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
        cwd=tmp_path,
        env=env | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        "tend: SECRET_KEY is missing or a placeholder: set SECRET_KEY to a long random value"
    ]
    assert not (tmp_path / "x.db").exists()
