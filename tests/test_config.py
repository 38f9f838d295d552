"""Configuration from the environment: defaults, and a clear one-line refusal of bad values."""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import subprocess
import sys
import textwrap
from datetime import time

import pytest
from dotenv import dotenv_values
from support import ROOT, free_port, procfile_web_command

import settings
from settings.table import PAPER_OF_LOCALE


def test_every_setting_starts_at_its_declared_default():
    """Each default is written once, in the table: an empty environment gives each one."""
    cfg = settings.load({}, debug=True)
    for name, declared in settings.BY_NAME.items():
        expected = declared.parse(declared.default) if declared.default else declared.unset
        expected = declared.config(expected) if declared.config else expected
        if name not in (
            "DKIM_DOMAIN",
            "COACH_TIMEZONE",
            "FLASK_DEBUG",
            "SECRET_KEY",
            "WORKSHEET_PAPER",
        ):
            assert cfg[name] == expected, name
    # The defaults that come from another setting.
    assert cfg["DKIM_DOMAIN"] == "localhost" and cfg["COACH_TIMEZONE"] == cfg["DEFAULT_TIMEZONE"]
    assert cfg["WORKSHEET_PAPER"] == PAPER_OF_LOCALE[cfg["LOCALE"]]
    blank = settings.load({k: " " for k in settings.BY_NAME if k != "FLASK_DEBUG"}, debug=True)
    assert {k: blank[k] for k in settings.BY_NAME if k != "SECRET_KEY"} == {
        k: cfg[k] for k in settings.BY_NAME if k != "SECRET_KEY"
    }


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
    assert (blank["COACH_NAME"], blank["LIST_NAME"]) == (
        settings.DEFAULTS["COACH_NAME"],
        settings.DEFAULTS["LIST_NAME"],
    )


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
    "SECRET_KEY": "4f0c9a1e7b3d52c86e0fa9b1d7c3e5f2a8b6d4c0e9f1a3b5",
    "PUBLIC_BASE_URL": "https://tend.example.com",
    "MAIL_FROM": "Career Notes <coach@example.com>",
    "POSTAL_ADDRESS": "12 Garden Lane, Springfield, IL 62701",
    "ADMIN_PASSWORD": "twelve chars",
}


LOCAL = "for a local trial instead, set FLASK_DEBUG=1 (make run writes it to .env)"


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (
            {"SECRET_KEY": "0123456789abcdef0123456789abcde"},
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
            "your own domain, for example MAIL_FROM='Career Notes <coach@example.com>'; " + LOCAL,
        ),
        (
            {"MAIL_FROM": "coach@LocalHost"},
            "MAIL_FROM is on localhost ('coach@LocalHost'): set MAIL_FROM to an address on "
            "your own domain, for example MAIL_FROM='Career Notes <coach@example.com>'; " + LOCAL,
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
    password = "twelve chars"
    assert settings.load(PRODUCTION | {"ADMIN_PASSWORD": password})["ADMIN_PASSWORD"] == password
    assert settings.load(PRODUCTION | {"SECRET_KEY": "0123456789abcdef" * 2})


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


NO_KEY = (
    "tend: SECRET_KEY is missing or a placeholder: set SECRET_KEY to a long random value, "
    "for example the output of python3 -c 'import secrets; print(secrets.token_hex(32))'; " + LOCAL
)
# A production start with nothing set: every problem at once, one line each, in one start.
NOTHING_SET = [
    NO_KEY,
    "tend: MAIL_FROM is on localhost ('hello@localhost'): set MAIL_FROM to an address on your "
    "own domain, for example MAIL_FROM='Career Notes <coach@example.com>'; " + LOCAL,
    "tend: POSTAL_ADDRESS is empty: set POSTAL_ADDRESS to your postal address, which every "
    "email must carry (CAN-SPAM), for example POSTAL_ADDRESS='12 Garden Lane, Springfield, "
    "IL 62701'",
    "tend: FLASK_DEBUG is off while PUBLIC_BASE_URL is on loopback (http://localhost:5000), so "
    "the lines above apply: " + LOCAL,
]


def _without_secret_key(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "FLASK_DEBUG")}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'x.db'}"
    env["FLASK_SKIP_DOTENV"] = "1"  # a developer's .env must not hide the check
    return env | {"PYTHONPATH": str(ROOT)}


def test_start_up_with_nothing_set_lists_every_problem_at_once(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
        cwd=tmp_path,
        env=_without_secret_key(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == NOTHING_SET
    assert not (tmp_path / "x.db").exists()


def test_the_procfile_web_process_with_nothing_set_lists_every_problem_once(tmp_path):
    command = procfile_web_command()
    done = subprocess.run(
        command,
        cwd=tmp_path,
        env=_without_secret_key(tmp_path) | {"PORT": str(free_port()), "WEB_CONCURRENCY": "2"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    # Once, from gunicorn's master: no worker was started to fail (and be started again).
    assert done.stderr.strip().splitlines() == NOTHING_SET
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
        "SECRET_KEY": PRODUCTION["SECRET_KEY"],
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


def test_a_bad_start_lists_every_problem_at_once_naming_each_variable():
    with pytest.raises(settings.ConfigError) as refused:
        settings.load(
            PRODUCTION
            | {
                "SMTP_PORT": "twenty-five",
                "DRIP_DAYS": "weekdays",
                "SIGNUP_RATE_LIMIT": "5 per fortnight",
                "METRICS_TOKEN": "a",
            }
        )
    lines = str(refused.value).splitlines()
    assert [p.name for p in refused.value.problems] == [
        "SMTP_PORT",
        "DRIP_DAYS",
        "SIGNUP_RATE_LIMIT",
        "METRICS_TOKEN",
    ]
    assert lines == [
        "SMTP_PORT must be a whole number, got 'twenty-five'",
        "DRIP_DAYS must name days like Mon-Fri or Mon,Wed,Fri, got 'weekdays'",
        "SIGNUP_RATE_LIMIT must look like 5/minute;50/day, got '5 per fortnight'",
        "METRICS_TOKEN is too short (1 characters): set METRICS_TOKEN to at least 16 random "
        "characters, for example the output of "
        "python3 -c 'import secrets; print(secrets.token_hex(32))'",
    ]


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("SECRET_KEY", "changemechangemechangemechangeme", "too little variety"),
        ("SECRET_KEY", "a" * 34, "too little variety"),
        ("SIGNUP_API_KEYS", "6bQm1kT0xX8ZrV4pYc2sHq9uNwJ3eLdA", "the example value"),
        ("SIGNUP_API_KEYS", "abababababababababab", "too little variety"),
        ("METRICS_TOKEN", "a", "too short (1 characters)"),
        ("METRICS_TOKEN", "scrape-me-please", "too little variety"),
        ("POSTMARK_WEBHOOK_PASSWORD", "a", "too short (1 characters)"),
        ("MAILGUN_WEBHOOK_SIGNING_KEY", "a", "too short (1 characters)"),
        ("ADMIN_PASSWORD", "a long local password", "the example value"),
        ("ADMIN_PASSWORD", "aaaabbbbcccc", "too little variety"),
    ],
)
def test_production_refuses_secrets_that_are_not_secret(name, value, says):
    with pytest.raises(settings.ConfigError) as refused:
        settings.load(PRODUCTION | {name: value})
    assert [p.name for p in refused.value.problems] == [name]
    assert str(refused.value).startswith(f"{name} ") and says in str(refused.value)
    # In debug they are for trying things out.
    assert settings.load(PRODUCTION | {name: value}, debug=True)


def _documented_secrets() -> set[tuple[str, str]]:
    """Every value the README and docs show for a secret setting, and every Bearer token."""
    secret_names = [name for name, s in settings.BY_NAME.items() if s.secret]
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    found = set()
    for page in pages:
        text = page.read_text()
        for name in secret_names:
            # echo 'NAME=several words' >> .env
            for _, value in re.findall(rf"(['\"]){name}=(.+?)\1", text):
                found.add((name, value.strip("'\"")))
            for value in re.findall(rf"\b{name}=(?:'([^']+)'|\"([^\"]+)\"|([^\s`'\"|]+))", text):
                found.add((name, next(v for v in value if v)))
        for token in re.findall(r"Bearer ([A-Za-z0-9_\-.]{8,})", text):
            found.add(("SIGNUP_API_KEYS", token))
            found.add(("METRICS_TOKEN", token))
    return {(n, v) for n, v in found if not v.startswith(("<", "$", "..."))}


def test_every_documented_example_secret_is_refused_outside_debug():
    documented = _documented_secrets()
    assert ("SIGNUP_API_KEYS", "6bQm1kT0xX8ZrV4pYc2sHq9uNwJ3eLdA") in documented
    assert ("ADMIN_PASSWORD", "a long local password") in documented
    for name, value in documented:
        with pytest.raises(settings.ConfigError, match=name):
            settings.load(PRODUCTION | {name: value})


def test_the_configuration_reference_is_the_one_the_table_writes():
    page = (ROOT / "docs" / "configuration.md").read_text()
    from settings.reference import render

    assert page == render(), "run: python -m settings reference > docs/configuration.md"
    for name in settings.BY_NAME:
        assert f"| `{name}` |" in page
    done = subprocess.run(
        [sys.executable, "-m", "settings", "reference"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (0, page)


def test_the_settings_import_no_feature():
    features = ["admin", "bounces", "campaigns", "signup", "subscribers", "web", "workers"]
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, settings, settings.reference; "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {features!r}))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr


def test_rates_are_read_with_flask_limiters_grammar_at_start():
    cfg = settings.load(PRODUCTION | {"SIGNUP_RATE_LIMIT": "10 per minute", "MAIL_RATE": "1/day"})
    assert cfg["SIGNUP_RATE_LIMIT"] == "10 per minute"
    assert [(limit.count, limit.seconds) for limit in cfg["MAIL_RATE"]] == [(1, 86400)]
    for name, value in (
        ("SIGNUP_RATE_LIMIT", "0/minute"),
        ("ADMIN_LOGIN_RATE_LIMIT", "often"),
        ("MAIL_RATE", "1/month"),
    ):
        with pytest.raises(settings.ConfigError, match=f"^{name} must look like"):
            settings.load(PRODUCTION | {name: value})


def test_the_coach_settings_are_read_parsed_through_one_function(make_app):
    from campaigns.plan import Rules

    app = make_app(DRIP_WINDOW="08:30-18:00", DRIP_DAYS="Tue,Thu", COACH_NAME="Dana Whitfield")
    with app.app_context():
        coach = settings.coach()
        assert (coach.drip_window.start, coach.drip_window.end) == (time(8, 30), time(18))
        assert coach.drip_days.numbers == {1, 3} and coach.coach_name == "Dana Whitfield"
        assert coach.timezone == settings.settings_of().drip.default_timezone
        rules = Rules.current()
        assert (rules.window, rules.days) == ((time(8, 30), time(18)), frozenset({1, 3}))
    # What the rest of the code reads in app.config is the same value, as written.
    assert (app.config["DRIP_WINDOW"], app.config["DRIP_DAYS"]) == ("08:30-18:00", "Tue,Thu")


DOTENV = """\
COACH_NAME='Career Notes'
POSTAL_ADDRESS="12 Garden Lane, Springfield, IL 62701"
ADMIN_PASSWORD=a long local password # the rest of this line is a comment
LIST_NAME="Notes #1"
"""


def test_env_is_read_by_python_dotenv_and_flask_skip_dotenv_stops_it(tmp_path):
    (tmp_path / ".env").write_text(DOTENV)
    script = (
        "import json, pathlib, settings; "
        "env = settings.environment(pathlib.Path('.')); "
        "print(json.dumps([env.get(k) for k in "
        "('COACH_NAME', 'POSTAL_ADDRESS', 'ADMIN_PASSWORD', 'LIST_NAME')]))"
    )
    base = {k: v for k, v in os.environ.items() if k not in ("COACH_NAME", "LIST_NAME")}
    base |= {"PYTHONPATH": str(ROOT)}
    for skip, expected in (
        (
            "",
            [
                "Career Notes",
                "12 Garden Lane, Springfield, IL 62701",
                "a long local password",
                "Notes #1",
            ],
        ),
        ("1", [None, None, None, None]),
    ):
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=tmp_path,
            env=base | {"FLASK_SKIP_DOTENV": skip},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert json.loads(done.stdout) == expected, done.stderr


def test_the_settings_locales_are_the_ones_the_copy_has():
    from campaigns.words import LOCALES

    assert {name: locale.paper for name, locale in LOCALES.items()} == PAPER_OF_LOCALE
