"""The coach's settings at run time: set in the dashboard, applied by the next tick and the
next email in every process with no restart, refused when bad, reset to the environment's."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import browser_support
import pytest
import sqlalchemy as sa
from browser_support import AXE, DESKTOP, PHONE, SCREENSHOTS, need
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from support import (
    ADMIN_PASSWORD,
    add_due_drip_rows,
    admin_client,
    answer,
    csrf_from,
    deliveries_of,
    flask_cli,
    login,
    signup,
    started_path,
    tick,
    work,
)

import settings
from models import AuditEvent, Setting, db, utcnow
from settings import overlay
from studio import coach
from studio.audit import Actor
from studio.errors import Refused

TUESDAY = datetime(2027, 1, 12, 10, 0, tzinfo=UTC)
WEDNESDAY, THURSDAY, FRIDAY = (TUESDAY + timedelta(days=n) for n in (1, 2, 3))
NEXT_MONDAY, NEXT_TUESDAY = TUESDAY + timedelta(days=6), TUESDAY + timedelta(days=7)
NINE = {"hour": 9, "minute": 0}


def at_nine(day: datetime) -> datetime:
    return day.replace(**NINE)


@pytest.fixture
def env(app_env):
    """One environment for every process of a test: the same queue, the dashboard on."""
    first = app_env(ADMIN_PASSWORD=ADMIN_PASSWORD)
    return app_env(ADMIN_PASSWORD=ADMIN_PASSWORD, RQ_QUEUE=first["RQ_QUEUE"])


def build(make_app, env, **more):
    """An app of `env` (a process of its own would build the same)."""
    names = ("ADMIN_PASSWORD", "RQ_QUEUE", "DOUBLE_OPT_IN", "COACH_NAME")
    return make_app(**{k: v for k, v in env.items() if k in names} | more)


def operator_of(app):
    client = admin_client(app)
    assert login(client).status_code == 303
    return client


def shown(client) -> dict[str, str]:
    """The settings page's fields as the coach sees them: name -> value in the box."""
    page = client.get("/admin/settings")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    return dict(
        re.findall(r'<input type="text" id="[a-z_]+" name="([a-z_]+)" value="([^"]*)"', html)
    )


def save(client, **changes):
    """Type into the page's fields and press Save: the whole form goes, as a browser sends it."""
    page = client.get("/admin/settings").get_data(as_text=True)
    fields = shown(client) | changes
    return client.post("/admin/settings", data={"csrf_token": csrf_from(page), **fields})


def source_of(client, name: str) -> str:
    html = client.get("/admin/settings").get_data(as_text=True)
    block = html.split(f'id="setting-{name}"', 1)[1].split('class="setting', 1)[0]
    found = re.search(r'<p class="source (dashboard|environment)"[^>]*>\s*(.*?)</p>', block, re.S)
    words = unescape(" ".join(re.sub(r"<[^>]+>", " ", found.group(2)).split()))
    return f"{found.group(1)}: {words}"


def due_days(app) -> list[datetime]:
    return [d.due_at for d in deliveries_of(app)]


def test_drip_days_set_in_the_dashboard_apply_to_the_next_tick_in_every_process(
    make_app, env, app_env
):
    app = build(make_app, env)  # DRIP_DAYS is the environment's: Mon-Fri
    operator = operator_of(app)
    assert shown(operator)["drip_days"] == "Mon-Fri"
    assert save(operator, drip_days="Mon,Wed").status_code == 303
    assert shown(operator)["drip_days"] == "Mon,Wed"

    # The same app, with no restart: a note due on Tuesday waits for Wednesday morning.
    add_due_drip_rows(app, 1, TUESDAY)
    result = tick(app, TUESDAY)
    assert (result.queued, result.deferred) == (0, 1)
    assert due_days(app) == [at_nine(WEDNESDAY)]

    # Another process built from the same environment sees it too: Thursday is no send day,
    # so both notes wait for Monday.
    other = build(make_app, env)
    add_due_drip_rows(other, 1, THURSDAY)
    result = tick(other, THURSDAY)
    assert (result.queued, result.deferred) == (0, 2)
    assert due_days(other) == [at_nine(NEXT_MONDAY)] * 2

    # And the clock's own command, a process of its own.
    add_due_drip_rows(app, 1, FRIDAY)
    done = flask_cli(env, "drip", "tick", "--now", FRIDAY.isoformat())
    assert done.returncode == 0, done.stderr
    assert "queued 0 in 0 batch(es), deferred 1" in done.stdout
    assert due_days(app) == [at_nine(NEXT_MONDAY)] * 3

    # Back to the environment's Mon-Fri: the next tick sends on a Tuesday.
    page = operator.get("/admin/settings").get_data(as_text=True)
    reset = operator.post(
        "/admin/settings/reset", data={"csrf_token": csrf_from(page), "reset": "drip_days"}
    )
    assert reset.status_code == 303
    assert (tick(other, NEXT_TUESDAY).queued, shown(operator)["drip_days"]) == (3, "Mon-Fri")


def test_a_bad_value_is_refused_next_to_its_field_and_nothing_changes(make_app, env):
    app = build(make_app, env)
    operator = operator_of(app)
    before = shown(operator)
    answer_ = save(operator, drip_window="25:00-26:00", drip_days="Mon,Wed", coach_name="Dana")
    assert answer_.status_code == 400
    html = answer_.get_data(as_text=True)
    error = re.search(r'<p class="error" id="drip_window-error">([^<]*)</p>', html).group(1)
    assert error == "DRIP_WINDOW must look like 09:00-17:00, got &#39;25:00-26:00&#39;"
    assert 'id="drip_window" name="drip_window" value="25:00-26:00"' in html  # as typed
    assert "Nothing was saved" in html
    assert shown(operator) == before  # the good values were not kept either
    with app.app_context():
        assert db.session.scalars(sa.select(Setting.key)).all() == [
            k for k in db.session.scalars(sa.select(Setting.key)) if k.startswith("admin-session:")
        ]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0
        # The service says the same to the admin API, naming each bad value.
        with pytest.raises(Refused) as refused:
            coach.change(
                {"drip_window": "25:00-26:00", "drip_min_gap_days": "x", "list_name": "Fine"},
                actor=Actor("api"),
                now=TUESDAY,
            )
        assert refused.value.errors == {
            "drip_window": ["DRIP_WINDOW must look like 09:00-17:00, got '25:00-26:00'"],
            "drip_min_gap_days": ["DRIP_MIN_GAP_DAYS must be a whole number, got 'x'"],
        }
        assert settings.coach().list_name == "Staying connected"
        with pytest.raises(Refused) as unknown:
            coach.change({"mail_from": "me@example.com"}, actor=Actor("api"), now=TUESDAY)
        assert (
            "mail_from is not a setting the coach can change"
            in unknown.value.errors["mail_from"][0]
        )


def test_the_coachs_name_set_in_the_dashboard_signs_the_next_email(make_app, env, smtp):
    env = env | {"DOUBLE_OPT_IN": "0", "COACH_NAME": "Career Notes"}
    app = build(make_app, env)
    operator = operator_of(app)
    saved = save(
        operator,
        coach_name="Dana Whitfield",
        list_name="Notes from Dana",
        reply_to="Dana <dana@coach.example>",
    )
    assert saved.status_code == 303
    flashed = operator.get("/admin/settings").get_data(as_text=True)
    assert (
        "Saved Your name, The list&#39;s name and Replies go to: the next tick and the next "
        "email use them." in flashed
    )

    signup(app.test_client())
    work(build(make_app, env))  # a worker: another process, built from the same environment
    message = smtp.received[-1].message
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Dana Whitfield" in text and "Dana Whitfield" in html
    assert "Career Notes" not in text  # the environment's name is nowhere in the words
    assert message["Reply-To"] == "Dana <dana@coach.example>"
    assert message["List-Id"].startswith("Notes from Dana <notes-from-dana.")


def test_the_started_page_says_the_send_days_the_dashboard_set(make_app, env):
    env = env | {"DOUBLE_OPT_IN": "0"}
    app = build(make_app, env)
    signup(app.test_client())
    answer(app, "ann@example.com", "started", now=utcnow(), started_on=utcnow().date())
    reader = app.test_client()
    assert "on weekdays, your time" in reader.get(started_path(app, "ann@example.com")).text
    save(operator_of(app), drip_days="Mon,Wed")
    page = reader.get(started_path(app, "ann@example.com")).text
    assert "on Mondays and Wednesdays, your time" in page


def test_the_page_shows_where_each_value_comes_from_and_reset_goes_back(make_app, env):
    app = build(make_app, env | {"COACH_NAME": "Career Notes"})
    operator = operator_of(app)
    assert source_of(operator, "coach_name") == "environment: From the environment."
    # A value the environment leaves unset is Tend's own default, and says so.
    assert source_of(operator, "reply_to") == "environment: Tend's default: MAIL_FROM's address."
    assert save(operator, coach_name="Dana Whitfield", drip_min_gap_days="3").status_code == 303
    assert source_of(operator, "coach_name") == (
        "dashboard: Set here. The environment's value: Career Notes Reset to the environment's"
    )
    assert source_of(operator, "drip_days") == "environment: Tend's default."
    with app.app_context():
        assert settings.coach().coach_name == "Dana Whitfield"
        assert settings.coach().drip_min_gap_days == 3
        assert {(r["name"], r["value"], r["source"]) for r in coach.view()} >= {
            ("coach_name", "Dana Whitfield", "dashboard"),
            ("drip_min_gap_days", "3", "dashboard"),
            ("drip_days", "Mon-Fri", "environment"),
            ("coach_timezone", "UTC", "environment"),
        }

    page = operator.get("/admin/settings").get_data(as_text=True)
    reset = operator.post(
        "/admin/settings/reset", data={"csrf_token": csrf_from(page), "reset": "coach_name"}
    )
    assert reset.status_code == 303
    assert "COACH_NAME is the environment&#39;s again: Career Notes." in operator.get(
        reset.headers["Location"]
    ).get_data(as_text=True)
    assert shown(operator)["coach_name"] == "Career Notes"
    assert source_of(operator, "coach_name") == "environment: From the environment."
    # Emptying a field and saving is the same reset.
    assert save(operator, drip_min_gap_days="").status_code == 303
    assert source_of(operator, "drip_min_gap_days") == "environment: Tend's default."
    with app.app_context():
        assert settings.coach().coach_name == "Career Notes"
        events = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()
        assert [(e.action, e.summary) for e in events] == [
            ("settings.change", "COACH_NAME set to Dana Whitfield"),
            ("settings.change", "DRIP_MIN_GAP_DAYS set to 3"),
            ("settings.reset", "COACH_NAME back to the environment's value: Career Notes"),
            ("settings.reset", "DRIP_MIN_GAP_DAYS back to the environment's value: 7"),
        ]
        assert {e.actor[:10] for e in events} == {"dashboard:"} and len(events[0].actor) == 18


def test_every_dashboard_post_needs_the_form_token(make_app, env):
    app = build(make_app, env)
    operator = operator_of(app)
    for path, data in (
        ("/admin/settings", {"drip_days": "Sat"}),
        ("/admin/settings/reset", {"reset": "drip_days"}),
    ):
        assert operator.post(path, data=data).status_code == 303
        assert "That form expired" in operator.get("/admin/settings").text
    assert shown(operator)["drip_days"] == "Mon-Fri"
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0


def test_a_stored_value_that_no_longer_parses_leaves_the_environments(make_app, env):
    """A value kept by an older Tend, or a holiday calendar a newer package dropped: the
    tick and the render go on with the environment's value."""
    app = build(make_app, env)
    with app.app_context():
        db.session.add(Setting(key="coach:DRIP_HOLIDAYS", value="ZZ"))
        db.session.add(Setting(key="coach:DRIP_DAYS", value="Tue"))
        db.session.commit()
        assert settings.coach().drip_holidays == ()
        assert settings.coach().drip_days.numbers == {1}
        sources = {r["name"]: r["source"] for r in coach.view()}
        assert (sources["drip_holidays"], sources["drip_days"]) == ("environment", "dashboard")


any_value = st.one_of(
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=300),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "Mon\x00",
            "Dana\r\nBcc: x@y.z",
            "00:00-24:00",
            "23:59-00:00",
            "Fri-Mon",
            "US-CA, gb",
            "Europe",
            "../../etc/passwd",
            "99999999999",
            "x" * 5000,
            "a@b.c d@e.f",
        ]
    ),
)


@pytest.fixture
def fuzz_operator(make_app, env):
    """One app and one logged-in operator for every example (logins are rate-limited)."""
    app = build(make_app, env)
    return app, operator_of(app)


@pytest.mark.slow
@hypothesis_settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(name=st.sampled_from([n.lower() for n in overlay.EDITABLE]), value=any_value)
def test_any_value_is_kept_and_used_or_refused_by_name_never_a_5xx(fuzz_operator, name, value):
    from campaigns.plan import Rules
    from campaigns.render import Sender

    app, operator = fuzz_operator
    answer_ = save(operator, **{name: value})
    assert answer_.status_code in (303, 400), answer_.status_code
    with app.app_context():
        row = next(r for r in coach.view() if r["name"] == name)
        if answer_.status_code == 400:
            assert f"{name.upper()} " in unescape(answer_.text)  # the message names it
            assert row["source"] == "environment"
        elif value.strip() and value.strip() != coach.environment()[name]:
            # What was kept is what applies: the same parser read it back.
            assert (row["source"], row["value"]) == ("dashboard", value.strip())
        Rules.current(), Sender.current()  # the tick's and the render's reads still work
        coach.change({name: ""}, actor=Actor("api"), now=TUESDAY)


# ---- in a browser ------------------------------------------------------------------------

browser = browser_support.browser
tend_server = browser_support.tend_server
open_page = browser_support.open_page


def logged_in(tend_server, open_page, viewport, **options):
    from playwright.sync_api import expect

    page = open_page(viewport, **options)
    page.goto(tend_server.url("/admin/login"))
    page.get_by_label("Admin password").fill(ADMIN_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Settings", level=1)).to_be_visible()
    return page


def refuse_a_window(page) -> None:
    page.get_by_label("Sending hours").fill("25:00-26:00")
    page.get_by_label("Sending days").fill("Mon,Wed")
    page.get_by_label("Sending days").press("Enter")  # Enter saves; it resets nothing


@pytest.mark.browser
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_settings_page_in_a_browser(make_app, env, tend_server, open_page, viewport):
    from playwright.sync_api import expect

    tend_server.app = build(make_app, env)
    page = logged_in(tend_server, open_page, viewport)
    refuse_a_window(page)
    window = page.get_by_label("Sending hours")
    expect(window).to_have_attribute("aria-invalid", "true")
    expect(window).to_have_accessible_description(re.compile("^DRIP_WINDOW must look like"))
    expect(page.get_by_label("Sending days")).to_have_value("Mon,Wed")  # as typed, not saved
    expect(page.locator("#drip_days-source")).to_have_text("Tend's default.")
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    shoot(page, f"admin-settings-refused-{'phone' if viewport is PHONE else 'desktop'}")

    window.fill("08:00-18:00")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_have_text(
        "Saved Sending hours and Sending days: the next tick and the next email use them."
    )
    days = page.locator("#setting-drip_days")
    expect(days.locator(".source")).to_contain_text("Set here. The environment's value: Mon-Fri")
    days.get_by_role("button", name="Reset to the environment's").click()
    expect(page.get_by_role("status")).to_have_text(
        "DRIP_DAYS is the environment's again: Mon-Fri."
    )
    expect(page.get_by_label("Sending days")).to_have_value("Mon-Fri")
    expect(page.get_by_label("Sending hours")).to_have_value("08:00-18:00")
    tend_server.app = None


@pytest.mark.browser
def test_axe_finds_nothing_serious_on_the_settings_page(make_app, env, tend_server, open_page):
    need(AXE.exists(), f"axe-core is not installed at {AXE} (npm install --prefix tests/.axe)")
    tend_server.app = build(make_app, env)
    page = logged_in(tend_server, open_page, PHONE, bypass_csp=True)  # so axe may run
    assert axe_violations(page) == []
    refuse_a_window(page)  # errors beside their fields
    assert axe_violations(page) == []
    page.get_by_label("Sending hours").fill("08:00-18:00")
    page.get_by_role("button", name="Save settings").click()  # values set here, resets
    assert axe_violations(page) == []
    tend_server.app = None


def axe_violations(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async () => await axe.run(document, {iframes: false, resultTypes: ['violations']})"
    )
    return [
        {"rule": v["id"], "where": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_the_page_says_what_stays_in_the_environment_and_one_change_is_it(make_app, env):
    operator = operator_of(build(make_app, env))
    page = " ".join(re.sub(r"<[^>]+>", "", operator.get("/admin/settings").text).split())
    assert "MAIL_FROM" in page and "DKIM" in page
    assert "postal address every email's footer shows (POSTAL_ADDRESS)" in page
    assert "in the .env file" in page
    assert save(operator, drip_days="Mon,Wed").status_code == 303
    assert (
        "Saved Sending days: the next tick and the next email use it."
        in operator.get("/admin/settings").text
    )
