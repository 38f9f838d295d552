"""`flask subscribers import|export` and the dashboard's upload and download, on real databases."""

from __future__ import annotations

import csv
import io
import secrets
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from support import ADMIN_PASSWORD, admin_client, cli_env_of, csrf_from, flask_cli, login

from campaigns.timing import due_at
from models import Consent, Delivery, DeliveryStatus, Status, Subscriber, Suppression, db, utcnow
from subscribers.lifecycle import find_by_address
from subscribers.suppression import suppression_hash

MAILCHIMP_HEADER = [
    "Email Address",
    "First Name",
    "Last Name",
    "Address",
    "Phone Number",
    "MEMBER_RATING",
    "OPTIN_TIME",
    "OPTIN_IP",
    "CONFIRM_TIME",
    "CONFIRM_IP",
    "LATITUDE",
    "LONGITUDE",
    "GMTOFF",
    "DSTOFF",
    "TIMEZONE",
    "CC",
    "REGION",
    "LAST_CHANGED",
    "LEID",
    "EUID",
    "NOTES",
    "TAGS",
]


def mailchimp_row(
    email, first="", last="", optin="", optin_ip="", confirm="", confirm_ip="", tz=""
):
    values = dict.fromkeys(MAILCHIMP_HEADER, "")
    values.update(
        {
            "Email Address": email,
            "First Name": first,
            "Last Name": last,
            "MEMBER_RATING": "2",
            "OPTIN_TIME": optin,
            "OPTIN_IP": optin_ip,
            "CONFIRM_TIME": confirm,
            "CONFIRM_IP": confirm_ip,
            "TIMEZONE": tz,
            "LEID": "123456",
            "EUID": secrets.token_hex(5),
        }
    )
    return [values[h] for h in MAILCHIMP_HEADER]


def write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def run(app, *args):
    return app.test_cli_runner().invoke(args=["subscribers", *args], catch_exceptions=False)


def subscribers(app) -> dict[str, Subscriber]:
    with app.app_context():
        rows = db.session.scalars(select(Subscriber)).all()
        for s in rows:
            _ = s.consents, s.deliveries  # load before leaving the session
        db.session.expunge_all()
        return {s.email_key: s for s in rows}


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def ago(days: int) -> str:
    return (utcnow() - timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S")


def test_mailchimp_export_confirmed_rows_get_check_ins_others_must_confirm(app, tmp_path):
    confirmed = ago(40)  # once: a second boundary between two calls would move it
    long_ago = ago(70)
    path = write_csv(
        tmp_path / "members_export.csv",
        MAILCHIMP_HEADER,
        [
            mailchimp_row(
                "ann@example.com",
                "Ann",
                "Lee",
                ago(41),
                "198.51.100.7",
                confirmed,
                "198.51.100.8",
                "America/Chicago",
            ),
            mailchimp_row("bob@example.com", "Bob", "", ago(3)),
            mailchimp_row("nameless@example.com", "", "", ago(2), confirm=ago(2)),
            mailchimp_row("cy@example.com", "Cy", "", ago(71), confirm=long_ago),
        ],
    )
    result = run(app, "import", str(path))
    assert result.exit_code == 0, result.output
    assert "imported: 4 (3 active, 1 pending confirmation)" in result.output
    assert "format: mailchimp" in result.output

    subs = subscribers(app)
    ann = subs["ann@example.com"]
    assert (
        ann.status == Status.ACTIVE and ann.name == "Ann Lee" and ann.timezone == "America/Chicago"
    )
    confirm = datetime.strptime(confirmed, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    # A confirmation is not a start date: no anchor, and no after-hire note at all.
    assert ann.confirmed_at == confirm and ann.anchor_at is None and ann.job_status == "unknown"
    (consent,) = ann.consents
    assert consent.source == "import" and consent.ip == "198.51.100.7"
    assert consent.confirmed_at == confirm and consent.confirmed_ip == "198.51.100.8"
    notes = {d.step: d for d in ann.deliveries}
    # Only the check-ins that ask, timed from confirm; no worksheet email: they had it.
    assert set(notes) == {"checkin-1", "checkin-2", "checkin-3"}
    assert {d.kind for d in notes.values()} == {"checkin"}
    assert all(d.status == DeliveryStatus.SCHEDULED for d in notes.values())
    six_weeks = app.extensions["tend.sequence"].checkin("checkin-1").offset
    # Six weeks on Ann's own calendar: the same wall-clock time in Chicago, DST or not.
    chicago = ZoneInfo("America/Chicago")
    assert notes["checkin-1"].due_at == due_at(confirm, six_weeks, chicago)
    assert (
        notes["checkin-1"].due_at.astimezone(chicago).time() == confirm.astimezone(chicago).time()
    )
    # Cy's first check-in came due 28 days before the import: history, not news.
    cy = {d.step: d.status for d in subs["cy@example.com"].deliveries}
    assert cy == {
        "checkin-1": DeliveryStatus.SKIPPED,
        "checkin-2": DeliveryStatus.SCHEDULED,
        "checkin-3": DeliveryStatus.SCHEDULED,
    }

    bob = subs["bob@example.com"]
    assert bob.status == Status.PENDING and bob.confirmed_at is None
    (worksheet,) = bob.deliveries
    assert worksheet.kind == "worksheet" and worksheet.status == DeliveryStatus.SCHEDULED
    assert subs["nameless@example.com"].name == "nameless"


def test_queued_confirmation_email_goes_out_with_a_confirm_link(app, tmp_path, smtp):
    from support import tick, work

    path = write_csv(
        tmp_path / "m.csv",
        MAILCHIMP_HEADER,
        [mailchimp_row("bob@example.com", "Bob", optin=ago(3))],
    )
    assert run(app, "import", str(path)).exit_code == 0
    tick(app, utcnow())
    work(app)
    (received,) = smtp.received
    assert "https://tend.example/confirm/" in received.message.get_body(("plain",)).get_content()


def test_listmonk_export_statuses(app, tmp_path):
    header = [
        "uuid",
        "email",
        "name",
        "attributes",
        "status",
        "subscription_status",
        "created_at",
        "updated_at",
    ]
    created = "2026-10-01 09:00:00.123456+00"
    rows = [
        [
            "u1",
            "conf@example.com",
            "Conf",
            '{"timezone": "Europe/Berlin", "city": "Bonn"}',
            "enabled",
            "confirmed",
            created,
            created,
        ],
        ["u2", "unconf@example.com", "Unconf", "{}", "enabled", "unconfirmed", created, created],
        ["u3", "gone@example.com", "Gone", "{}", "enabled", "unsubscribed", created, created],
        ["u4", "blocked@example.com", "Blocked", "{}", "blocklisted", "", created, created],
    ]
    result = run(app, "import", str(write_csv(tmp_path / "l.csv", header, rows)))
    assert result.exit_code == 0, result.output
    subs = subscribers(app)
    assert set(subs) == {"conf@example.com", "unconf@example.com"}
    assert subs["conf@example.com"].status == Status.ACTIVE
    assert subs["conf@example.com"].timezone == "Europe/Berlin"
    assert subs["conf@example.com"].confirmed_at == datetime(
        2026, 10, 1, 9, 0, 0, 123456, tzinfo=UTC
    )
    assert subs["unconf@example.com"].status == Status.PENDING
    with app.app_context():
        hashes = set(db.session.scalars(select(Suppression.email_hash)))
    assert hashes == {suppression_hash("gone@example.com"), suppression_hash("blocked@example.com")}
    assert "unsubscribed at the source (suppressed, not added): 2" in result.output


def test_listmonk_subscriber_export_without_subscription_status(app, tmp_path):
    header = ["uuid", "email", "name", "attributes", "status", "created_at", "updated_at"]
    rows = [
        ["u1", "on@example.com", "On", "{}", "enabled", "2026-09-01T10:00:00Z", ""],
        ["u2", "off@example.com", "Off", "{}", "disabled", "2026-09-01T10:00:00Z", ""],
    ]
    result = run(app, "import", str(write_csv(tmp_path / "l.csv", header, rows)))
    assert result.exit_code == 0, result.output
    assert {k: s.status for k, s in subscribers(app).items()} == {"on@example.com": Status.ACTIVE}
    assert "disabled at the source (not added): 1" in result.output


def test_invalid_rows_are_reported_by_line_and_nothing_is_imported(app, tmp_path):
    path = write_csv(
        tmp_path / "bad.csv",
        MAILCHIMP_HEADER,
        [
            mailchimp_row("ok@example.com", "Ok", optin=ago(1)),
            mailchimp_row("not-an-address", "Bad"),
            mailchimp_row("ok2@example.com", "Ok"),
            mailchimp_row("spam@example.com", "see http://spam.example"),
            mailchimp_row("late@example.com", "Late", confirm="yesterday-ish"),
        ],
    )
    result = run(app, "import", str(path))
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("line ")]
    assert lines == [
        "line 3: not a valid email address: 'not-an-address'",
        "line 5: not a usable name: 'see http://spam.example'",
        "line 6: CONFIRM_TIME is not a date: 'yesterday-ish'",
    ]
    assert "3 invalid row(s): nothing imported." in result.output
    assert count(app, Subscriber) == 0 and count(app, Delivery) == 0 and count(app, Consent) == 0


def test_suppressed_and_existing_addresses_are_never_re_added(app, client, tmp_path):
    from subscribers.suppression import Reason, suppress

    assert (
        client.post(
            "/api/subscribe", json={"name": "Here", "email": "here@example.com"}
        ).status_code
        == 202
    )
    with app.app_context():
        suppress("forgot@example.com", Reason.FORGOTTEN, now=utcnow())
        db.session.commit()
    path = write_csv(
        tmp_path / "m.csv",
        MAILCHIMP_HEADER,
        [
            mailchimp_row("HERE@example.com", "Again", confirm=ago(5)),
            mailchimp_row("Forgot@Example.com", "Forgot", confirm=ago(5)),
            mailchimp_row("new@example.com", "New", confirm=ago(5)),
            mailchimp_row("new@example.com", "New twice", confirm=ago(5)),
        ],
    )
    result = run(app, "import", str(path))
    assert result.exit_code == 0
    assert "imported: 1 (1 active, 0 pending confirmation)" in result.output
    assert "skipped, already subscribed: 1" in result.output
    assert "skipped, suppressed: 1" in result.output
    assert "duplicates within the file: 1" in result.output
    subs = subscribers(app)
    assert set(subs) == {"here@example.com", "new@example.com"}
    assert subs["here@example.com"].name == "Here" and len(subs["here@example.com"].consents) == 1
    # Importing the same file again changes nothing.
    again = run(app, "import", str(path))
    assert "imported: 0" in again.output and "skipped, already subscribed: 2" in again.output


def test_unknown_columns_and_non_utf8_are_refused(app, tmp_path):
    path = write_csv(tmp_path / "x.csv", ["mail", "who"], [["a@example.com", "A"]])
    result = run(app, "import", str(path))
    assert result.exit_code == 1 and "no email column" in result.output
    latin = tmp_path / "latin.csv"
    latin.write_bytes("email,name\nj@example.com,Jos\xe9\n".encode("latin-1"))
    assert "not UTF-8" in run(app, "import", str(latin)).output


def test_export_round_trip_keeps_people_status_and_consent(make_app, tmp_path):
    app = make_app()
    path = write_csv(
        tmp_path / "m.csv",
        MAILCHIMP_HEADER,
        [
            mailchimp_row(
                "ann@example.com",
                "Ann",
                "Lee",
                ago(41),
                "198.51.100.7",
                ago(40),
                "198.51.100.8",
                "Asia/Tokyo",
            ),
            mailchimp_row("bob@example.com", "Bob", optin=ago(3), optin_ip="2001:db8::1"),
            mailchimp_row("formula@example.com", "=HYPERLINK(1)", optin=ago(3)),
        ],
    )
    run(app, "import", str(path))
    with app.app_context():
        ann = db.session.scalar(select(Subscriber).where(Subscriber.email_key == "ann@example.com"))
        ann.status, ann.unsubscribed_at = Status.UNSUBSCRIBED, utcnow()
        db.session.commit()
    out = tmp_path / "export.csv"
    result = run(app, "export", str(out))
    assert result.exit_code == 0
    exported = list(csv.DictReader(out.open(encoding="utf-8")))
    by_email = {r["email"]: r for r in exported}
    assert set(by_email) == {"ann@example.com", "bob@example.com", "formula@example.com"}
    assert by_email["ann@example.com"]["consent_ip"] == "198.51.100.7"
    assert by_email["ann@example.com"]["confirmed_ip"] == "198.51.100.8"
    assert by_email["bob@example.com"]["status"] == "pending"
    assert by_email["formula@example.com"]["name"] == "'=HYPERLINK(1)"  # inert in a spreadsheet
    before = {
        k: (s.name, s.status, s.timezone, s.confirmed_at) for k, s in subscribers(app).items()
    }

    with app.app_context():
        for model in (Delivery, Consent, Subscriber, Suppression):
            db.session.query(model).delete()
        db.session.commit()
    result = run(app, "import", str(out))
    assert result.exit_code == 0, result.output
    assert "format: tend" in result.output
    after = {k: (s.name, s.status, s.timezone, s.confirmed_at) for k, s in subscribers(app).items()}
    # Everyone comes back as they were, except the one who unsubscribed: suppressed instead.
    assert after == {k: v for k, v in before.items() if k != "ann@example.com"}
    with app.app_context():
        assert db.session.scalar(select(Suppression.email_hash)) == suppression_hash(
            "ann@example.com"
        )
        bob = db.session.scalar(
            select(Consent).join(Subscriber).where(Subscriber.email_key == "bob@example.com")
        )
        assert bob.ip == "2001:db8::1" and bob.source == "import"


def test_export_to_standard_output(app, client):
    client.post("/api/subscribe", json={"name": "Ann", "email": "ann@example.com"})
    result = run(app, "export")
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows[0][:3] == ["email", "name", "status"] and rows[1][:3] == [
        "ann@example.com",
        "Ann",
        "pending",
    ]


# ---- the dashboard's upload and download -------------------------------------------------


def admin(make_app):
    app = make_app(ADMIN_PASSWORD=ADMIN_PASSWORD)
    client = admin_client(app)
    login(client)
    return app, client


def test_upload_on_the_dashboard_and_download_the_export(make_app, tmp_path):
    app, client = admin(make_app)
    path = write_csv(
        tmp_path / "m.csv",
        MAILCHIMP_HEADER,
        [mailchimp_row("ann@example.com", "Ann", confirm=ago(2))],
    )
    page = client.get("/admin/import").get_data(as_text=True)
    response = client.post(
        "/admin/import",
        data={"csrf_token": csrf_from(page), "file": (path.open("rb"), "m.csv")},
        content_type="multipart/form-data",
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "imported: 1 (1 active, 0 pending confirmation)" in html
    download = client.get("/admin/export.csv")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert "attachment" in download.headers["Content-Disposition"]
    assert "ann@example.com,Ann,active" in download.get_data(as_text=True)


def test_upload_with_invalid_rows_lists_them_and_imports_nothing(make_app, tmp_path):
    app, client = admin(make_app)
    path = write_csv(
        tmp_path / "m.csv",
        MAILCHIMP_HEADER,
        [mailchimp_row("ann@example.com", "Ann"), mailchimp_row("nope", "Bad")],
    )
    page = client.get("/admin/import").get_data(as_text=True)
    response = client.post(
        "/admin/import",
        data={"csrf_token": csrf_from(page), "file": (path.open("rb"), "m.csv")},
        content_type="multipart/form-data",
    )
    html = response.get_data(as_text=True)
    assert (
        response.status_code == 400 and "line 3: not a valid email address: &#39;nope&#39;" in html
    )
    assert count(app, Subscriber) == 0


# ---- scale -------------------------------------------------------------------------------


@pytest.mark.slow
def test_import_of_100000_rows_in_batches(app, tmp_path):
    confirm, optin = ago(10), ago(11)
    path = tmp_path / "big.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(MAILCHIMP_HEADER)
        for i in range(100_000):
            # Two in three confirmed (check-ins scheduled), one in three pending (worksheet).
            writer.writerow(
                mailchimp_row(
                    f"reader{i}@example.com",
                    f"Reader{i}",
                    "Smith",
                    optin,
                    "203.0.113.9",
                    confirm if i % 3 else "",
                )
            )
    started = time.perf_counter()
    result = run(app, "import", str(path))
    elapsed = time.perf_counter() - started
    print(f"imported 100,000 rows in {elapsed:.1f}s")  # the target (under a minute) lives in bench/
    assert result.exit_code == 0, result.output
    assert "imported: 100000 (66666 active, 33334 pending confirmation)" in result.output
    assert count(app, Subscriber) == 100_000 and count(app, Consent) == 100_000
    with app.app_context():
        kinds = dict(
            db.session.execute(select(Delivery.kind, func.count()).group_by(Delivery.kind)).all()
        )
    assert kinds == {"worksheet": 33_334, "checkin": 3 * 66_666}


def test_imported_notes_are_what_follow_writes(app, tmp_path):
    """The importer writes rows in bulk; they must be the rows the scheduler would write,
    for a reader who never gave a start date and for one who did (a Tend export)."""
    from campaigns import schedule

    confirm = datetime(2026, 1, 31, 15, 30, tzinfo=UTC)  # month ends: calendar arithmetic
    mailchimp = write_csv(
        tmp_path / "m.csv",
        MAILCHIMP_HEADER,
        [mailchimp_row("ann@example.com", "Ann", confirm=confirm.strftime("%Y-%m-%d %H:%M:%S"))],
    )
    tend = write_csv(
        tmp_path / "t.csv",
        ["email", "name", "status", "timezone", "signed_up_at", "confirmed_at", "started_job_on"],
        [["bo@example.com", "Bo", "active", "Asia/Tokyo", "", confirm.isoformat(), "2026-01-31"]],
    )
    now = datetime(2026, 2, 1, tzinfo=UTC)
    with app.app_context():
        from admin import importer

        for path in (mailchimp, tend):
            with open(path, newline="") as f:
                importer.load(importer.read(f, default_timezone="UTC"), now=now)
        imported = {
            email: {
                d.step: (d.kind, d.status, d.due_at)
                for d in db.session.scalars(
                    select(Delivery)
                    .join(Subscriber)
                    .where(Subscriber.email_key == email)
                    .order_by(Delivery.id)
                )
            }
            for email in ("ann@example.com", "bo@example.com")
        }
        bo = find_by_address("bo@example.com")
        assert (bo.job_status, bo.started_job_on) == ("started", "2026-01-31")
        probes = {
            "ann@example.com": Subscriber(
                email="p@example.com",
                email_key="p@example.com",
                name="P",
                status=Status.ACTIVE,
                confirmed_at=confirm,
                job_status="unknown",
            ),
            "bo@example.com": Subscriber(
                email="q@example.com",
                email_key="q@example.com",
                name="Q",
                status=Status.ACTIVE,
                confirmed_at=confirm,
                timezone="Asia/Tokyo",
                job_status="started",
                anchor_at=bo.anchor_at,
            ),
        }
        scheduled = {}
        for email, probe in probes.items():
            probe.deliveries = []
            schedule.follow(probe, app.extensions["tend.sequence"], now=now, domain="tend.example")
            scheduled[email] = {d.step: (d.kind, d.status, d.due_at) for d in probe.deliveries}
        db.session.rollback()
    assert imported == scheduled
    assert imported["ann@example.com"]["checkin-1"][2] == datetime(2026, 3, 14, 15, 30, tzinfo=UTC)
    # Midnight of January 31 in Tokyo, plus a month: the last day of February there.
    assert imported["bo@example.com"]["month-1"][2] == datetime(2026, 2, 27, 15, 0, tzinfo=UTC)
    assert "checkin-1" not in imported["bo@example.com"]  # a start date: nothing to ask


def test_the_commands_say_what_they_wrote_and_imported(make_app, tmp_path):
    app = make_app()
    env = cli_env_of(app)
    path = write_csv(
        tmp_path / "m.csv",
        MAILCHIMP_HEADER,
        [
            mailchimp_row("ann@example.com", "Ann", optin=ago(3)),
            mailchimp_row("bo@example.com", optin=ago(2)),
        ],
    )
    # As an operator runs them from a script or a log: no terminal, so no progress bar.
    imported = flask_cli(env, "subscribers", "import", str(path))
    assert imported.returncode == 0, imported.stderr
    assert imported.stderr == ""  # no bare "Checking " label
    assert imported.stdout.splitlines()[-1] == f"done: 2 subscriber(s) imported from {path}"
    out = tmp_path / "export.csv"
    exported = flask_cli(env, "subscribers", "export", str(out))
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == f"wrote 2 subscriber(s) to {out}\n"
    assert len(list(csv.DictReader(out.open(encoding="utf-8")))) == 2
    # To standard output, the CSV alone.
    piped = flask_cli(env, "subscribers", "export")
    assert piped.stdout.startswith("email,") and "wrote" not in piped.stdout
