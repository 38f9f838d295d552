"""Configuration from the environment: defaults, and a clear one-line refusal of bad values."""

from __future__ import annotations

import io
import os
import re
import secrets
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from dotenv import dotenv_values
from support import ROOT, free_port

import settings


def test_defaults_follow_the_contract():
    cfg = settings.load({"SECRET_KEY": "k" * 40}, debug=True)
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
    # Signed webhook calls are accepted for 15 minutes, and each nonce is kept that long.
    assert cfg["WEBHOOK_MAX_AGE_SECONDS"] == 900
    assert (cfg["RESEND_MINUTES"], cfg["UNCONFIRMED_DAYS"]) == (10, 30)
    assert cfg["TRANSFER_DIR"] == ""  # empty: the instance folder's transfers/
    assert (cfg["COACH_NAME"], cfg["LIST_NAME"], cfg["REPLY_TO"]) == (
        "Your career coach",
        "Staying connected",
        "",  # empty: replies go to MAIL_FROM's address
    )


def test_coach_identity_settings_are_read_and_blank_means_default():
    cfg = settings.load(
        {
            "SECRET_KEY": "k" * 40,
            "FLASK_DEBUG": "1",
            "COACH_NAME": "  Dana Whitfield ",
            "LIST_NAME": "After the offer",
            "REPLY_TO": "Dana <dana@coach.example>",
            "DRIP_DAYS": "Tue,Thu",
        }
    )
    assert (cfg["COACH_NAME"], cfg["LIST_NAME"]) == ("Dana Whitfield", "After the offer")
    assert (cfg["REPLY_TO"], cfg["DRIP_DAYS"]) == ("Dana <dana@coach.example>", "Tue,Thu")
    blank = settings.load(
        {"SECRET_KEY": "k" * 40, "FLASK_DEBUG": "1", "COACH_NAME": " ", "LIST_NAME": ""}
    )
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
        ({"UNCONFIRMED_DAYS": "0"}, "UNCONFIRMED_DAYS"),
        ({"UNCONFIRMED_DAYS": "a month"}, "UNCONFIRMED_DAYS"),
    ],
)
def test_bad_settings_are_refused_naming_the_variable(env, named):
    with pytest.raises(settings.ConfigError, match=named):
        settings.load(PRODUCTION | env if named != "SECRET_KEY" else env)


# What a real sender runs with: every production check passes.
PRODUCTION = {
    "SECRET_KEY": "k" * 40,
    "PUBLIC_BASE_URL": "https://tend.example.com",
    "MAIL_FROM": "Career Notes <coach@example.com>",
    "POSTAL_ADDRESS": "12 Garden Lane, Springfield, IL 62701",
    "ADMIN_PASSWORD": "twelve chars",
}


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (
            {"SECRET_KEY": "k" * 31},
            "SECRET_KEY is too short (31 characters): set SECRET_KEY to at least 32 random "
            "characters, for example the output of "
            "python3 -c 'import secrets; print(secrets.token_hex(32))'",
        ),
        (
            {"PUBLIC_BASE_URL": "http://tend.example.com"},
            "PUBLIC_BASE_URL is http:// on tend.example.com: set PUBLIC_BASE_URL to the https:// "
            "address readers open (plain http is allowed only on loopback)",
        ),
        (
            {"PUBLIC_BASE_URL": "http://192.0.2.10:8000/tend"},
            "PUBLIC_BASE_URL is http:// on 192.0.2.10: set PUBLIC_BASE_URL to the https:// "
            "address readers open (plain http is allowed only on loopback)",
        ),
        (
            {"MAIL_FROM": "Tend <hello@localhost>"},
            "MAIL_FROM is on localhost ('Tend <hello@localhost>'): set MAIL_FROM to an address on "
            "your own domain, for example MAIL_FROM='Career Notes <coach@example.com>'",
        ),
        (
            {"MAIL_FROM": "coach@LocalHost"},
            "MAIL_FROM is on localhost ('coach@LocalHost'): set MAIL_FROM to an address on "
            "your own domain, for example MAIL_FROM='Career Notes <coach@example.com>'",
        ),
        (
            {"POSTAL_ADDRESS": "   "},
            "POSTAL_ADDRESS is empty: set POSTAL_ADDRESS to your postal address, which every "
            "email must carry (CAN-SPAM), for example POSTAL_ADDRESS='12 Garden Lane, "
            "Springfield, IL 62701'",
        ),
        (
            {"ADMIN_PASSWORD": "a"},
            "ADMIN_PASSWORD is too short (1 characters): set ADMIN_PASSWORD to at least 12 "
            "characters, or unset it to turn the dashboard off",
        ),
        (
            {"ADMIN_PASSWORD": "eleven char"},
            "ADMIN_PASSWORD is too short (11 characters): set ADMIN_PASSWORD to at least 12 "
            "characters, or unset it to turn the dashboard off",
        ),
    ],
)
def test_production_refuses_unsafe_settings_naming_the_fix(change, line):
    with pytest.raises(settings.ConfigError) as refused:
        settings.load(PRODUCTION | change)
    assert str(refused.value) == line
    # In debug the same settings start: they are for trying things out.
    assert settings.load(PRODUCTION | change, debug=True)
    assert settings.load(PRODUCTION | change | {"FLASK_DEBUG": "1"})


@pytest.mark.parametrize(
    "base",
    [
        "http://localhost:5000",
        "http://127.0.0.1:8000",
        "http://127.1.2.3",
        "http://[::1]:5000/tend",
        "http://tend.localhost:5000",
        "https://tend.example.com",
    ],
)
def test_production_allows_https_and_plain_http_on_loopback(base):
    assert settings.load(PRODUCTION | {"PUBLIC_BASE_URL": base})["PUBLIC_BASE_URL"] == base


def test_production_starts_without_an_admin_password_and_with_a_long_one():
    assert settings.load({k: v for k, v in PRODUCTION.items() if k != "ADMIN_PASSWORD"})
    assert settings.load(PRODUCTION | {"ADMIN_PASSWORD": "x" * 12})["ADMIN_PASSWORD"] == "x" * 12
    assert settings.load(PRODUCTION | {"SECRET_KEY": "k" * 32})


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PUBLIC_BASE_URL": "tend.example.com"}, "PUBLIC_BASE_URL must be an absolute"),
        ({"PUBLIC_BASE_URL": "ftp://tend.example.com"}, "PUBLIC_BASE_URL must be an absolute"),
        ({"PUBLIC_BASE_URL": "https://"}, "PUBLIC_BASE_URL must be an absolute"),
        ({"PUBLIC_BASE_URL": "https://tend.example:99999"}, "PUBLIC_BASE_URL must be an absolute"),
        ({"MAIL_FROM": "Tend"}, "MAIL_FROM must be one email address"),
        ({"MAIL_FROM": "coach@"}, "MAIL_FROM must be one email address"),
        ({"MAIL_FROM": "Notes, Ltd <coach@tend.example>"}, "MAIL_FROM must be one email address"),
    ],
)
def test_unusable_addresses_are_refused_in_debug_too(env, named):
    for debug in (False, True):
        with pytest.raises(settings.ConfigError, match=named):
            settings.load(PRODUCTION | env, debug=debug)


def test_the_readme_production_example_starts():
    readme = (ROOT / "docs" / "deploy.md").read_text()
    notes = readme.split("## Production notes", 1)[1]
    block = re.search(r"```sh\n(.*?)```", notes, re.S).group(1)
    values = dotenv_values(stream=io.StringIO(textwrap.dedent(block)))
    assert values["PUBLIC_BASE_URL"] == "https://tend.example.com"
    assert values["MAIL_FROM"] == "Career Notes <coach@example.com>"
    cfg = settings.load(values | {"SECRET_KEY": secrets.token_hex(32)})
    assert cfg["POSTAL_ADDRESS"] == "12 Garden Lane, Springfield, IL 62701" and not cfg["DEBUG"]


def test_the_test_and_bench_environments_pass_the_production_checks():
    from support import env_for

    sys.path.insert(0, str(ROOT / "bench"))
    import benchlib

    for env in (
        env_for("sqlite://", "redis://127.0.0.1:6379/15"),
        benchlib.tend_env("sqlite://", "redis://127.0.0.1:6379/15", "q"),
    ):
        cfg = settings.load(env)
        assert not cfg["DEBUG"] and cfg["PUBLIC_BASE_URL"].startswith("https://")


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


def test_an_unsafe_production_setting_stops_the_process_with_one_line(tmp_path):
    env = _without_secret_key(tmp_path) | {
        "SECRET_KEY": "k" * 40,
        "PUBLIC_BASE_URL": "http://tend.example.com",
        "MAIL_FROM": "Career Notes <coach@tend.example.com>",
        "POSTAL_ADDRESS": "12 Garden Lane, Springfield, IL 62701",
    }
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "tend: PUBLIC_BASE_URL is http:// on tend.example.com: set PUBLIC_BASE_URL to the "
        "https:// address readers open (plain http is allowed only on loopback)"
    ]
    assert not (tmp_path / "x.db").exists()
