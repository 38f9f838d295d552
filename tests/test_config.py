"""Configuration from the environment: defaults, and a clear one-line refusal of bad values."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT, free_port

import settings


def test_defaults_follow_the_contract():
    cfg = settings.load({"SECRET_KEY": "k" * 40})
    assert cfg["SQLALCHEMY_DATABASE_URI"] == "sqlite:///instance/tend.db"
    assert cfg["REDIS_URL"] == "redis://localhost:6379/0"
    assert cfg["PUBLIC_BASE_URL"] == "http://localhost:5000"
    # No display name: From shows the coach's name (see test_coach_identity_*).
    assert cfg["MAIL_BACKEND"] == "outbox" and cfg["MAIL_FROM"] == "hello@localhost"
    assert (cfg["SMTP_HOST"], cfg["SMTP_PORT"], cfg["SMTP_SECURITY"]) == ("localhost", 25, "none")
    assert cfg["EMBED_ALLOWED_ORIGINS"] == [] and cfg["DOUBLE_OPT_IN"] is True
    assert (cfg["DEFAULT_TIMEZONE"], cfg["DRIP_WINDOW"], cfg["DRIP_MIN_GAP_DAYS"]) == (
        "UTC",
        "09:00-17:00",
        7,
    )
    assert (cfg["SIGNUP_RATE_LIMIT"], cfg["SIGNUP_MIN_SECONDS"]) == ("5/minute;50/day", 2)
    assert cfg["DRIP_DAYS"] == "Mon-Fri"
    assert (cfg["COACH_NAME"], cfg["LIST_NAME"], cfg["REPLY_TO"]) == (
        "Your career coach",
        "Staying connected",
        "",  # empty: replies go to MAIL_FROM's address
    )


def test_coach_identity_settings_are_read_and_blank_means_default():
    cfg = settings.load(
        {
            "SECRET_KEY": "k" * 40,
            "COACH_NAME": "  Dana Whitfield ",
            "LIST_NAME": "After the offer",
            "REPLY_TO": "Dana <dana@coach.example>",
            "DRIP_DAYS": "Tue,Thu",
        }
    )
    assert (cfg["COACH_NAME"], cfg["LIST_NAME"]) == ("Dana Whitfield", "After the offer")
    assert (cfg["REPLY_TO"], cfg["DRIP_DAYS"]) == ("Dana <dana@coach.example>", "Tue,Thu")
    blank = settings.load({"SECRET_KEY": "k" * 40, "COACH_NAME": " ", "LIST_NAME": ""})
    assert (blank["COACH_NAME"], blank["LIST_NAME"]) == ("Your career coach", "Staying connected")


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
        ({"DRIP_DAYS": "weekdays"}, "DRIP_DAYS"),
        ({"DRIP_DAYS": "Mon-"}, "DRIP_DAYS"),
        ({"REPLY_TO": "not an address"}, "REPLY_TO"),
    ],
)
def test_bad_settings_are_refused_naming_the_variable(env, named):
    with pytest.raises(settings.ConfigError, match=named):
        settings.load({"SECRET_KEY": "k" * 40} | env if named != "SECRET_KEY" else env)


NO_KEY = "tend: SECRET_KEY is missing or a placeholder: set SECRET_KEY to a long random value"


def _without_secret_key(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "FLASK_DEBUG")}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'x.db'}"
    env["FLASK_SKIP_DOTENV"] = "1"  # a developer's .env must not hide the check
    return env | {"PYTHONPATH": str(ROOT)}


def test_start_up_without_secret_key_stops_with_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
        cwd=tmp_path,
        env=_without_secret_key(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [NO_KEY]
    assert not (tmp_path / "x.db").exists()


def test_the_procfile_web_process_without_secret_key_stops_with_one_line(tmp_path):
    line = next(
        line.removeprefix("web:")
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.startswith("web:")
    )
    for placeholder, value in {
        "0.0.0.0:${PORT:-5000}": f"127.0.0.1:{free_port()}",
        "${WEB_CONCURRENCY:-3}": "2",
    }.items():
        line = line.replace(placeholder, value)
    command = shlex.split(line)
    assert command[0] == "gunicorn"
    command[0] = str(Path(sys.executable).parent / "gunicorn")
    done = subprocess.run(
        command,
        cwd=tmp_path,
        env=_without_secret_key(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    # Once, from gunicorn's master: no worker was started to fail (and be started again).
    assert done.stderr.strip().splitlines() == [NO_KEY]
    assert done.stdout == ""


def test_importing_the_app_module_builds_nothing(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", "import app; print(app.create_app.__name__)"],
        cwd=tmp_path,
        env=_without_secret_key(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "create_app\n", "")
    assert not (tmp_path / "x.db").exists()
