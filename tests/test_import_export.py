"""`flask subscribers import|export` and the dashboard's upload and download, on real databases."""

from __future__ import annotations

import csv
import io
import secrets
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import func, select
from support import (
    ADMIN_PASSWORD,
    add_due_drip_rows,
    admin_client,
    cli_env_of,
    csrf_from,
    flask_cli,
    login,
    start_worker,
    wait_for,
    work,
)

from campaigns.timing import due_at
from models import (
    Consent,
    Delivery,
    DeliveryStatus,
    Status,
    Subscriber,
    Suppression,
    Transfer,
    db,
    utcnow,
)
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
    from support import tick

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


def admin(make_app, tmp_path):
    app = make_app(ADMIN_PASSWORD=ADMIN_PASSWORD, TRANSFER_DIR=tmp_path / "transfers")
    client = admin_client(app)
    login(client)
    return app, client


def upload(client, path, *, skip_invalid=False):
    page = client.get("/admin/import").get_data(as_text=True)
    data = {"csrf_token": csrf_from(page), "file": (path.open("rb"), path.name)}
    if skip_invalid:
        data["skip_invalid"] = "y"
    return client.post("/admin/import", data=data, content_type="multipart/form-data")


def kept(tmp_path) -> list[str]:
    """The files under the test app's TRANSFER_DIR."""
    folder = tmp_path / "transfers"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def transfer_row(app, transfer_id):
    with app.app_context():
        row = db.session.get(Transfer, transfer_id)
        db.session.expunge_all()
        return row


def test_upload_returns_at_once_and_a_worker_imports_it(make_app, tmp_path):
    app, client = admin(make_app, tmp_path)
    path = write_csv(
        tmp_path / "m.csv",
        MAILCHIMP_HEADER,
        [mailchimp_row(f"r{i}@example.com", f"R{i}", confirm=ago(2)) for i in range(50)],
    )
    response = upload(client, path)
    # Saved and queued: the answer does not wait for the import (a long list hit the
    # server's timeout, a 500, while the rows already written were being mailed).
    assert response.status_code == 303
    status_url = response.headers["Location"]
    assert status_url.startswith("/admin/transfers/")
    assert count(app, Subscriber) == 0
    waiting = client.get(status_url)
    html = waiting.get_data(as_text=True)
    assert waiting.status_code == 200 and "Waiting for a worker" in html
    assert '<meta http-equiv="refresh" content="2">' in html
    listed = client.get("/admin/import").get_data(as_text=True)
    assert "Import m.csv" in listed and "queued" in listed

    work(app)
    done = client.get(status_url).get_data(as_text=True)
    assert "imported: 50 (50 active, 0 pending confirmation)" in done
    assert 'http-equiv="refresh"' not in done  # over: the page stops refreshing
    assert count(app, Subscriber) == 50
    assert kept(tmp_path) == []  # the upload is not kept
    # The status page is only read: looking again changes nothing.
    before = transfer_row(app, status_url.rsplit("/", 1)[1])
    client.get(status_url)
    client.head(status_url)
    after = transfer_row(app, status_url.rsplit("/", 1)[1])
    assert (after.state, after.done, after.counts) == (before.state, before.done, before.counts)


def test_upload_with_invalid_rows_lists_them_and_imports_nothing(make_app, tmp_path):
    app, client = admin(make_app, tmp_path)
    path = write_csv(
        tmp_path / "m.csv",
        MAILCHIMP_HEADER,
        [mailchimp_row("ann@example.com", "Ann"), mailchimp_row("nope", "Bad")],
    )
    response = upload(client, path)
    assert response.status_code == 303
    work(app)
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "1 invalid row(s): nothing was imported." in html
    assert "line 3: not a valid email address: &#39;nope&#39;" in html
    assert count(app, Subscriber) == 0


def test_upload_can_skip_the_invalid_rows_and_list_them(make_app, tmp_path):
    app, client = admin(make_app, tmp_path)
    path = write_csv(
        tmp_path / "m.csv",
        MAILCHIMP_HEADER,
        [
            mailchimp_row("ann@example.com", "Ann", confirm=ago(2)),
            mailchimp_row("nope", "Bad"),
            mailchimp_row("bo@example.com", "Bo"),
        ],
    )
    page = client.get("/admin/import").get_data(as_text=True)
    assert 'name="skip_invalid"' in page
    response = upload(client, path, skip_invalid=True)
    assert response.status_code == 303
    work(app)
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "imported: 2 (1 active, 1 pending confirmation)" in html
    assert "invalid, skipped (listed by line): 1" in html
    assert "Invalid rows skipped (1)" in html
    assert "line 3: not a valid email address: &#39;nope&#39;" in html
    assert set(subscribers(app)) == {"ann@example.com", "bo@example.com"}


def test_cli_can_skip_the_invalid_rows_and_list_them(app, tmp_path):
    path = write_csv(
        tmp_path / "m.csv",
        MAILCHIMP_HEADER,
        [mailchimp_row("nope", "Bad"), mailchimp_row("ann@example.com", "Ann", confirm=ago(2))],
    )
    result = run(app, "import", "--skip-invalid", str(path))
    assert result.exit_code == 0, result.output
    assert "line 2: not a valid email address: 'nope'" in result.output
    assert "imported: 1 (1 active, 0 pending confirmation)" in result.output
    assert set(subscribers(app)) == {"ann@example.com"}


def big_cell_file(tmp_path):
    """A Mailchimp export whose second row has a NOTES cell over 128 KB."""
    rows = [mailchimp_row(f"r{i}@example.com", f"R{i}", confirm=ago(2)) for i in range(3)]
    rows[1][MAILCHIMP_HEADER.index("NOTES")] = "x" * (200 * 1024)
    return write_csv(tmp_path / "notes.csv", MAILCHIMP_HEADER, rows)


def test_a_cell_over_128_kb_is_refused_by_line_in_the_web_form(make_app, tmp_path):
    app, client = admin(make_app, tmp_path)
    response = upload(client, big_cell_file(tmp_path))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'class="flash error" role="alert"' in html
    assert "line 3: a cell (NOTES) is longer than 128 KB" in html
    assert "nothing imported" in html
    work(app)
    assert count(app, Subscriber) == 0 and count(app, Transfer) == 0
    assert kept(tmp_path) == []  # the upload is not kept


def test_a_cell_over_128_kb_is_skipped_when_asked_in_the_web_form(make_app, tmp_path):
    app, client = admin(make_app, tmp_path)
    response = upload(client, big_cell_file(tmp_path), skip_invalid=True)
    assert response.status_code == 303
    work(app)
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "imported: 2 (2 active, 0 pending confirmation)" in html
    assert "line 3: a cell (NOTES) is longer than 128 KB" in html
    assert set(subscribers(app)) == {"r0@example.com", "r2@example.com"}


def test_the_web_form_names_the_first_long_cell_of_each_row_even_past_the_header(
    make_app, tmp_path
):
    app, client = admin(make_app, tmp_path)
    rows = [mailchimp_row(f"r{i}@example.com", f"R{i}", confirm=ago(2)) for i in range(4)]
    rows[0][MAILCHIMP_HEADER.index("Last Name")] = "x" * (128 * 1024 + 1)
    rows[0][MAILCHIMP_HEADER.index("NOTES")] = "x" * (200 * 1024)
    rows[2] = [*rows[2], "y" * (130 * 1024)]  # a cell in no column of the header
    rows[3][MAILCHIMP_HEADER.index("NOTES")] = "x" * (128 * 1024)  # exactly 128 KB: taken
    path = write_csv(tmp_path / "long.csv", MAILCHIMP_HEADER, rows)
    response = upload(client, path)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "2 row(s) with a cell too long: nothing imported" in html
    assert "line 2: a cell (Last Name) is longer than 128 KB" in html
    assert "line 4: a cell (an extra column) is longer than 128 KB" in html
    assert "line 5:" not in html
    work(app)
    assert count(app, Subscriber) == 0 and count(app, Transfer) == 0


def test_a_cell_over_128_kb_is_refused_by_line_in_the_cli(app, tmp_path):
    path = big_cell_file(tmp_path)
    result = app.test_cli_runner().invoke(args=["subscribers", "import", str(path)])
    assert result.exit_code == 1
    assert "line 3: a cell (NOTES) is longer than 128 KB" in result.output
    assert "1 invalid row(s): nothing imported." in result.output
    assert count(app, Subscriber) == 0
    skipped = run(app, "import", "--skip-invalid", str(path))
    assert skipped.exit_code == 0, skipped.output
    assert "line 3: a cell (NOTES) is longer than 128 KB" in skipped.output
    assert "imported: 2 (2 active, 0 pending confirmation)" in skipped.output


def test_an_upload_while_the_queue_is_down_is_refused_and_keeps_nothing(
    make_app, tmp_path, redis_server
):
    app = make_app(
        ADMIN_PASSWORD=ADMIN_PASSWORD,
        TRANSFER_DIR=tmp_path / "transfers",
        REDIS_URL=redis_server.url,
    )
    client = admin_client(app)
    login(client)
    path = write_csv(tmp_path / "m.csv", MAILCHIMP_HEADER, [mailchimp_row("a@example.com", "A")])
    page = client.get("/admin/import").get_data(as_text=True)
    redis_server.stop()
    response = client.post(
        "/admin/import",
        data={"csrf_token": csrf_from(page), "file": (path.open("rb"), "m.csv")},
        content_type="multipart/form-data",
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 503 and 'role="alert"' in html
    assert "The queue (Redis) is not answering" in html and "Nothing was imported." in html
    assert count(app, Transfer) == 0
    assert kept(tmp_path) == []


def test_export_is_offered_only_when_the_file_is_complete(make_app, tmp_path):
    app, client = admin(make_app, tmp_path)
    add_due_drip_rows(app, 2500, utcnow())
    page = client.get("/admin/import").get_data(as_text=True)
    assert client.get("/admin/export.csv").status_code == 303  # the old link: to this page
    response = client.post("/admin/export", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 303
    status_url = response.headers["Location"]
    transfer_id = status_url.rsplit("/", 1)[1]
    # Not yet written: no file to download, nothing under its name.
    waiting = client.get(status_url).get_data(as_text=True)
    assert "Download" not in waiting and "Waiting for a worker" in waiting
    assert client.get(f"{status_url}/download").status_code == 404
    assert kept(tmp_path) == []
    # Its time limit grows with the list: never cut at a fixed worker timeout.
    queue = redis.Redis.from_url(app.config["REDIS_URL"])
    assert Job.fetch(transfer_id, connection=queue).timeout >= 600 + 2500 * 0.02

    work(app)
    done = client.get(status_url).get_data(as_text=True)
    assert "exported: 2500 subscriber(s)" in done and "Download" in done
    download = client.get(f"{status_url}/download")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert "attachment" in download.headers["Content-Disposition"]
    body = download.get_data(as_text=True)
    exported = list(csv.DictReader(io.StringIO(body)))
    assert len(exported) == 2500 and body.endswith("\r\n")
    assert {r["email"] for r in exported} == {f"r{i}@example.com" for i in range(2500)}
    assert kept(tmp_path) == [f"{transfer_id}.csv"]


def test_cli_export_to_a_file_leaves_no_part_file(app, client, tmp_path):
    client.post("/api/subscribe", json={"name": "Ann", "email": "ann@example.com"})
    out = tmp_path / "out.csv"
    result = run(app, "export", str(out))
    assert result.exit_code == 0, result.output
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]
    assert [r["email"] for r in csv.DictReader(out.open(encoding="utf-8"))] == ["ann@example.com"]


@pytest.mark.slow
def test_an_import_stopped_half_way_imports_nothing(make_app, tmp_path):
    """The worker is killed while it writes: no row of the file is left to be mailed."""
    app, client = admin(make_app, tmp_path)
    path = tmp_path / "big.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(MAILCHIMP_HEADER)
        confirm = ago(2)
        for i in range(40_000):
            writer.writerow(mailchimp_row(f"reader{i}@example.com", f"Reader{i}", confirm=confirm))
    response = upload(client, path)
    assert response.status_code == 303
    transfer_id = response.headers["Location"].rsplit("/", 1)[1]
    worker = start_worker(cli_env_of(app, TRANSFER_DIR=tmp_path / "transfers"))
    queue = redis.Redis.from_url(app.config["REDIS_URL"])

    def importing():
        try:
            meta = Job.fetch(transfer_id, connection=queue).get_meta()
        except NoSuchJobError:
            return False
        progress = meta.get("progress") or {}
        return progress.get("phase") == "importing" and progress.get("done", 0) >= 2000

    try:
        assert wait_for(importing, timeout=240, step=0.1)
    finally:
        worker.kill()  # SIGKILL: no handler runs, the transaction is never committed
        worker.wait()
    assert count(app, Subscriber) == 0 and count(app, Delivery) == 0
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "imported:" not in html


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
        assert (bo.job_status, bo.started_job_on) == ("started", date(2026, 1, 31))
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


def test_the_transfer_pages_need_a_login(make_app, tmp_path):
    app = make_app(ADMIN_PASSWORD=ADMIN_PASSWORD, TRANSFER_DIR=tmp_path / "transfers")
    client = admin_client(app)
    for path in ("/admin/transfers/0123abcd", "/admin/transfers/0123abcd/download"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith(
            "/admin/login"
        )
    assert client.post("/admin/export").status_code == 302
    assert count(app, Transfer) == 0
    login(client)
    assert client.get("/admin/transfers/0123abcd").status_code == 404
    assert client.get("/admin/transfers/0123abcd/download").status_code == 404
    # Not an id at all (PostgreSQL refuses a NUL in a query): a 404, not a 500.
    assert client.get("/admin/transfers/%00" + "a" * 31).status_code == 404
