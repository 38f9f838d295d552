"""Bounce and complaint webhooks: each provider's documented payload shapes, signed and forged.

Signatures are made here with throwaway keys (an RSA key and self-signed certificate for
SNS, an ECDSA key for SendGrid); the SNS certificate fetcher is the one network call and
is handed the certificate instead of reaching AWS.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from sqlalchemy import func, select
from support import (
    MAILGUN_KEY,
    SNS_CERT_URL,
    WebhookKeys,
    basic,
    free_port,
    sign_mailgun,
    sign_sendgrid,
    sign_sns,
    sns_certificate,
)

from bounces import ses
from models import (
    Delivery,
    DeliveryStatus,
    SpentToken,
    Status,
    Subscriber,
    Suppression,
    db,
    utcnow,
)
from subscribers.suppression import suppression_hash

SAMPLES = Path(__file__).resolve().parent / "webhook_samples"
CERT_URL = SNS_CERT_URL


def sample(name: str):
    return json.loads((SAMPLES / name).read_text())


@pytest.fixture(scope="module")
def keys():
    return WebhookKeys.make()


@pytest.fixture(scope="module")
def sns_key(keys):
    return keys.sns_key, keys.sns_pem


@pytest.fixture(scope="module")
def sendgrid_key(keys):
    return keys.sendgrid_key, keys.sendgrid_public


@pytest.fixture
def hooks(make_app, keys):
    app = make_app(**keys.settings())
    app.fetched = keys.serve_certificate(app)
    return app


def add_subscriber(app, email: str, status: str = Status.ACTIVE) -> None:
    now = utcnow()
    with app.app_context():
        sub = Subscriber(email=email, email_key=email.lower(), name="Reader", status=status)
        sub.deliveries.append(
            Delivery(
                step="month-1",
                kind="drip",
                status=DeliveryStatus.SCHEDULED,
                due_at=now + timedelta(days=20),
                message_id=f"<{email}@tend.example>",
            )
        )
        db.session.add(sub)
        db.session.commit()


def state(app, email: str):
    with app.app_context():
        sub = db.session.scalar(select(Subscriber).where(Subscriber.email_key == email.lower()))
        suppressed = db.session.scalar(
            select(Suppression.reason).where(Suppression.email_hash == suppression_hash(email))
        )
        open_rows = (
            [d.status for d in sub.deliveries if d.status in DeliveryStatus.OPEN] if sub else []
        )
        return (
            (sub.status if sub else None),
            (sub.soft_bounces if sub else None),
            suppressed,
            open_rows,
        )


# ---- Amazon SES via SNS -----------------------------------------------------------------


def post_sns(client, message: dict):
    # SNS posts JSON with a text/plain content type.
    return client.post(
        "/webhooks/ses",
        data=json.dumps(message),
        content_type="text/plain; charset=UTF-8",
        headers={"x-amz-sns-message-type": message["Type"]},
    )


@pytest.mark.parametrize("version", ["1", "2"])
def test_ses_permanent_bounce_marks_bounced_suppresses_and_cancels(hooks, sns_key, version):
    add_subscriber(hooks, "jane@example.com")
    message = sign_sns(sample("ses_bounce_permanent.json"), sns_key[0], version)
    response = post_sns(hooks.test_client(), message)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json["events"] == {"hard_bounce": 1}
    assert state(hooks, "jane@example.com") == (Status.BOUNCED, 0, "bounce", [])
    assert hooks.fetched == [CERT_URL]


def test_ses_complaint_with_subject_unsubscribes_and_suppresses(hooks, sns_key):
    add_subscriber(hooks, "richard@example.com")
    message = sign_sns(sample("ses_complaint.json"), sns_key[0], "2")
    assert post_sns(hooks.test_client(), message).status_code == 200
    assert state(hooks, "richard@example.com") == (Status.UNSUBSCRIBED, 0, "complaint", [])


def test_ses_transient_bounce_is_counted_not_suppressed(hooks, sns_key):
    add_subscriber(hooks, "jane@example.com")
    message = sign_sns(sample("ses_bounce_transient.json"), sns_key[0], "2")
    assert post_sns(hooks.test_client(), message).status_code == 200
    assert state(hooks, "jane@example.com") == (Status.ACTIVE, 1, None, ["scheduled"])


def test_ses_forgeries_change_nothing(hooks, sns_key):
    add_subscriber(hooks, "jane@example.com")
    client = hooks.test_client()
    good = sign_sns(sample("ses_bounce_permanent.json"), sns_key[0])

    tampered = dict(good, Message=good["Message"].replace("jane@", "john@"))
    unsigned = {k: v for k, v in good.items() if k != "Signature"}
    foreign_host = dict(good, SigningCertURL="https://sns.evil.example.com/cert.pem")
    lookalike = dict(good, SigningCertURL="https://sns.us-west-2.amazonaws.com.evil.example/c.pem")
    plain_http = dict(good, SigningCertURL=CERT_URL.replace("https://", "http://"))
    other_topic = sign_sns(dict(good, TopicArn="arn:aws:sns:us-west-2:999:other"), sns_key[0])
    # Signed correctly, but old: only the freshness check can refuse it.
    stale = sign_sns(good, sns_key[0], timestamp="2016-01-27T14:59:38.277Z")
    assert post_sns(client, stale).get_json()["reason"] == "SNS message is too old"
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    wrong_key = sign_sns(sample("ses_bounce_permanent.json"), other_key)
    for forged in (
        tampered,
        unsigned,
        foreign_host,
        lookalike,
        plain_http,
        other_topic,
        stale,
        wrong_key,
    ):
        response = post_sns(client, forged)
        assert response.status_code == 403, forged
    assert post_sns(client, {"Type": "Notification"}).status_code == 403
    assert client.post("/webhooks/ses", data="not json").status_code == 400
    assert state(hooks, "jane@example.com") == (Status.ACTIVE, 0, None, ["scheduled"])
    # The certificate is fetched only from an https SNS host.
    assert set(hooks.fetched) == {CERT_URL}


def test_ses_subscription_confirmation_is_logged_never_fetched(hooks, sns_key, caplog):
    message = sign_sns(sample("ses_subscription_confirmation.json"), sns_key[0])
    with caplog.at_level("WARNING"):
        response = post_sns(hooks.test_client(), message)
    assert response.status_code == 200 and response.json["events"] == {}
    logged = [r for r in caplog.records if getattr(r, "subscribe_url", None)]
    assert logged and logged[0].subscribe_url == message["SubscribeURL"]
    assert hooks.fetched == [CERT_URL]  # the SubscribeURL was not opened


def test_certificate_url_rules():
    assert ses.certificate_url_allowed(CERT_URL)
    assert ses.certificate_url_allowed("https://sns.cn-north-1.amazonaws.com.cn/x.pem")
    for url in [
        CERT_URL.replace("https", "http"),
        "https://sns.us-west-2.amazonaws.com.evil.example/x.pem",
        "https://evil.example/sns.us-west-2.amazonaws.com/x.pem",
        "https://s3.amazonaws.com/x.pem",
        "https://user@sns.us-west-2.amazonaws.com/x.pem",
        "https://sns.us-west-2.amazonaws.com:8443/x.pem",
        "https://sns.us-west-2.amazonaws.com/x.txt",
    ]:
        assert not ses.certificate_url_allowed(url), url


# ---- Postmark ---------------------------------------------------------------------------


def test_postmark_hard_bounce_with_basic_auth(hooks):
    add_subscriber(hooks, "john@example.com")
    response = hooks.test_client().post(
        "/webhooks/postmark",
        json=sample("postmark_bounce.json"),
        headers=basic("postmark", "s3cret-hook-for-tests"),
    )
    assert response.status_code == 200
    assert state(hooks, "john@example.com") == (Status.BOUNCED, 0, "bounce", [])


def test_postmark_spam_complaint(hooks):
    add_subscriber(hooks, "john@example.com")
    response = hooks.test_client().post(
        "/webhooks/postmark",
        json=sample("postmark_spam_complaint.json"),
        headers=basic("postmark", "s3cret-hook-for-tests"),
    )
    assert response.status_code == 200
    assert state(hooks, "john@example.com") == (Status.UNSUBSCRIBED, 0, "complaint", [])


def test_postmark_without_or_with_wrong_credentials_changes_nothing(hooks):
    add_subscriber(hooks, "john@example.com")
    client = hooks.test_client()
    body = sample("postmark_bounce.json")
    missing = client.post("/webhooks/postmark", json=body)
    assert missing.status_code == 401 and "Basic" in missing.headers["WWW-Authenticate"]
    assert (
        client.post("/webhooks/postmark", json=body, headers=basic("postmark", "guess")).status_code
        == 403
    )
    assert (
        client.post(
            "/webhooks/postmark", json=body, headers={"Authorization": "Basic !!"}
        ).status_code
        == 401
    )
    assert state(hooks, "john@example.com") == (Status.ACTIVE, 0, None, ["scheduled"])


def postmark_soft_bounce(n: int) -> dict:
    """The soft-bounce sample as Postmark's `n`-th such record: its own ID and MessageID."""
    record = sample("postmark_soft_bounce.json")
    return record | {"ID": record["ID"] + n, "MessageID": f"{record['MessageID'][:-4]}{n:04d}"}


def test_soft_bounces_suppress_after_three_in_a_row_and_a_delivery_resets(hooks):
    add_subscriber(hooks, "john@example.com")
    client = hooks.test_client()
    auth = basic("postmark", "s3cret-hook-for-tests")
    delivered = sample("postmark_delivery.json")
    soft = [postmark_soft_bounce(n) for n in range(5)]  # each bounce is a record of its own
    for body in (soft[0], soft[1], delivered, soft[2], soft[3]):
        assert client.post("/webhooks/postmark", json=body, headers=auth).status_code == 200
    assert state(hooks, "john@example.com") == (Status.ACTIVE, 2, None, ["scheduled"])
    client.post("/webhooks/postmark", json=soft[4], headers=auth)
    assert state(hooks, "john@example.com") == (Status.BOUNCED, 3, "soft-bounces", [])


# ---- Mailgun ----------------------------------------------------------------------------


def test_mailgun_permanent_failure_bounces(hooks):
    add_subscriber(hooks, "alice@example.com")
    body = sign_mailgun(sample("mailgun_permanent_failure.json"))
    response = hooks.test_client().post("/webhooks/mailgun", json=body)
    assert response.status_code == 200 and response.json["events"] == {"hard_bounce": 1}
    assert state(hooks, "alice@example.com") == (Status.BOUNCED, 0, "bounce", [])


def test_mailgun_temporary_failure_counts_and_complaint_unsubscribes(hooks):
    add_subscriber(hooks, "alice@example.com")
    client = hooks.test_client()
    client.post("/webhooks/mailgun", json=sign_mailgun(sample("mailgun_temporary_failure.json")))
    assert state(hooks, "alice@example.com") == (Status.ACTIVE, 1, None, ["scheduled"])
    client.post("/webhooks/mailgun", json=sign_mailgun(sample("mailgun_complained.json")))
    assert state(hooks, "alice@example.com") == (Status.UNSUBSCRIBED, 1, "complaint", [])


def test_mailgun_forged_or_stale_signatures_change_nothing(hooks):
    add_subscriber(hooks, "alice@example.com")
    client = hooks.test_client()
    documented = sample(
        "mailgun_permanent_failure.json"
    )  # signed with someone else's key, long ago
    wrong_key = sign_mailgun(sample("mailgun_permanent_failure.json"), key="key-not-ours")
    stale = sign_mailgun(sample("mailgun_permanent_failure.json"), timestamp=1529006854)
    unsigned = {"event-data": documented["event-data"]}
    assert client.post("/webhooks/mailgun", json=documented).status_code == 403
    assert client.post("/webhooks/mailgun", json=wrong_key).status_code == 403
    assert client.post("/webhooks/mailgun", json=stale).status_code == 403
    assert client.post("/webhooks/mailgun", json=unsigned).status_code == 401
    assert client.post("/webhooks/mailgun", data="x").status_code == 401
    assert state(hooks, "alice@example.com") == (Status.ACTIVE, 0, None, ["scheduled"])


# ---- SendGrid ---------------------------------------------------------------------------


def test_sendgrid_signed_batch(hooks, sendgrid_key):
    for address in ("example@test.com", "spam@test.com", "blocked@test.com", "fine@test.com"):
        add_subscriber(hooks, address)
    body = json.dumps(sample("sendgrid_events.json")).encode()
    response = hooks.test_client().post(
        "/webhooks/sendgrid", data=body, headers=sign_sendgrid(body, sendgrid_key[0])
    )
    assert response.status_code == 200
    assert response.json["events"] == {
        "hard_bounce": 1,
        "complaint": 1,
        "soft_bounce": 1,
        "delivered": 1,
    }
    assert state(hooks, "example@test.com") == (Status.BOUNCED, 0, "bounce", [])
    assert state(hooks, "spam@test.com") == (Status.UNSUBSCRIBED, 0, "complaint", [])
    assert state(hooks, "blocked@test.com") == (Status.ACTIVE, 1, None, ["scheduled"])
    assert state(hooks, "fine@test.com") == (Status.ACTIVE, 0, None, ["scheduled"])


def test_sendgrid_forged_signatures_change_nothing(hooks, sendgrid_key):
    add_subscriber(hooks, "example@test.com")
    client = hooks.test_client()
    body = json.dumps(sample("sendgrid_events.json")).encode()
    good = sign_sendgrid(body, sendgrid_key[0])
    other = sign_sendgrid(body, ec.generate_private_key(ec.SECP256R1()))
    altered = body.replace(b"example@test.com", b"other@test.com")
    stale_stamp = "1513299569"
    stale = sign_sendgrid(body, sendgrid_key[0], timestamp=stale_stamp)
    shifted = good | {
        "X-Twilio-Email-Event-Webhook-Timestamp": str(
            int(good["X-Twilio-Email-Event-Webhook-Timestamp"]) + 1
        )
    }
    assert client.post("/webhooks/sendgrid", data=body, headers=other).status_code == 403
    assert client.post("/webhooks/sendgrid", data=altered, headers=good).status_code == 403
    assert client.post("/webhooks/sendgrid", data=body, headers=stale).status_code == 403
    assert client.post("/webhooks/sendgrid", data=body, headers=shifted).status_code == 403
    assert (
        client.post(
            "/webhooks/sendgrid", data=body, headers={"Content-Type": "application/json"}
        ).status_code
        == 401
    )
    assert state(hooks, "example@test.com") == (Status.ACTIVE, 0, None, ["scheduled"])


# ---- common -----------------------------------------------------------------------------


def test_unconfigured_or_unknown_providers_are_not_found(app):
    client = app.test_client()
    for provider in ("ses", "postmark", "mailgun", "sendgrid", "sparkpost"):
        assert client.post(f"/webhooks/{provider}", json={}).status_code == 404


def test_bounce_for_an_unknown_address_still_suppresses_it(hooks):
    body = sign_mailgun(sample("mailgun_permanent_failure.json"))
    assert hooks.test_client().post("/webhooks/mailgun", json=body).status_code == 200
    assert state(hooks, "alice@example.com") == (None, None, "bounce", [])


def test_a_complained_address_is_not_signed_up_again(make_app, sns_key):
    app = make_app(DOUBLE_OPT_IN="0", MAILGUN_WEBHOOK_SIGNING_KEY=MAILGUN_KEY)
    client = app.test_client()
    body = sign_mailgun(sample("mailgun_complained.json"))
    assert client.post("/webhooks/mailgun", json=body).status_code == 200
    assert (
        client.post(
            "/api/subscribe", json={"name": "Alice", "email": "alice@example.com"}
        ).status_code
        == 202
    )
    # The usual answer, and nothing stored or sent (see test_consent.py for the rest).
    assert state(app, "alice@example.com") == (None, None, "complaint", [])


# ---- replays: each signature, SNS message and Postmark record counts once -----------------

UNTOUCHED = (Status.ACTIVE, 0, None, ["scheduled"])
SENDGRID_SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
# The order of P-256: (r, n - s) is a second valid ECDSA signature of the same bytes.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def test_one_mailgun_signature_bounces_one_address_not_three(hooks):
    for address in ("alice@example.com", "bob@example.com", "carol@example.com"):
        add_subscriber(hooks, address)
    client = hooks.test_client()
    signed = sign_mailgun(sample("mailgun_permanent_failure.json"))
    assert client.post("/webhooks/mailgun", json=signed).status_code == 200
    for other in ("bob@example.com", "carol@example.com"):
        replay = signed | {"event-data": signed["event-data"] | {"recipient": other}}
        response = client.post("/webhooks/mailgun", json=replay)
        assert response.status_code == 409, response.get_data(as_text=True)
        assert response.json == {"status": "refused", "reason": "signature already used"}
    assert state(hooks, "alice@example.com") == (Status.BOUNCED, 0, "bounce", [])
    assert state(hooks, "bob@example.com") == UNTOUCHED
    assert state(hooks, "carol@example.com") == UNTOUCHED


def test_mailgun_tokens_are_remembered_in_the_database_while_redis_is_down(make_app, keys):
    app = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", **keys.settings())
    for address in ("alice@example.com", "bob@example.com"):
        add_subscriber(app, address)
    client = app.test_client()
    signed = sign_mailgun(sample("mailgun_permanent_failure.json"))
    assert client.post("/webhooks/mailgun", json=signed).status_code == 200
    replay = signed | {"event-data": signed["event-data"] | {"recipient": "bob@example.com"}}
    assert client.post("/webhooks/mailgun", json=replay).status_code == 409
    assert state(app, "alice@example.com") == (Status.BOUNCED, 0, "bounce", [])
    assert state(app, "bob@example.com") == UNTOUCHED
    with app.app_context():
        keys_kept = db.session.scalars(select(SpentToken.key)).all()
    assert [k.split(":")[0] for k in keys_kept] == ["mailgun"]


def test_a_sendgrid_post_counts_once_whatever_its_signature_looks_like(hooks, sendgrid_key):
    add_subscriber(hooks, "blocked@test.com")
    client = hooks.test_client()
    body = json.dumps(sample("sendgrid_events.json")).encode()
    headers = sign_sendgrid(body, sendgrid_key[0])
    r, s = decode_dss_signature(base64.b64decode(headers[SENDGRID_SIGNATURE]))
    twin = headers | {
        SENDGRID_SIGNATURE: base64.b64encode(encode_dss_signature(r, P256_ORDER - s)).decode()
    }
    assert client.post("/webhooks/sendgrid", data=body, headers=headers).status_code == 200
    for again in (headers, twin):
        response = client.post("/webhooks/sendgrid", data=body, headers=again)
        assert response.status_code == 409, response.get_data(as_text=True)
        assert response.json["reason"] == "signature already used"
    assert state(hooks, "blocked@test.com") == (Status.ACTIVE, 1, None, ["scheduled"])


def test_an_sns_message_counts_once(hooks, sns_key):
    add_subscriber(hooks, "jane@example.com")
    client = hooks.test_client()
    message = sign_sns(sample("ses_bounce_transient.json"), sns_key[0], "2")
    assert post_sns(client, message).status_code == 200
    again = post_sns(client, message)
    assert again.status_code == 409
    assert again.json["reason"] == "SNS message already received"
    assert state(hooks, "jane@example.com") == (Status.ACTIVE, 1, None, ["scheduled"])


def test_a_postmark_retry_of_the_same_record_changes_nothing_more(hooks):
    """Postmark signs nothing (basic auth, no nonce, no time): a repeated record is known by
    its RecordType, ID, MessageID and time, answered 200, and changes nothing again."""
    add_subscriber(hooks, "john@example.com")
    client = hooks.test_client()
    auth = basic()
    soft = sample("postmark_soft_bounce.json")
    assert client.post("/webhooks/postmark", json=soft, headers=auth).json["events"] == {
        "soft_bounce": 1
    }
    again = client.post("/webhooks/postmark", json=soft, headers=auth)
    assert again.status_code == 200 and again.json["events"] == {"repeated": 1}
    assert state(hooks, "john@example.com") == (Status.ACTIVE, 1, None, ["scheduled"])
    hard = sample("postmark_bounce.json")
    for _ in range(2):
        assert client.post("/webhooks/postmark", json=hard, headers=auth).status_code == 200
    assert state(hooks, "john@example.com") == (Status.BOUNCED, 1, "bounce", [])
    with hooks.app_context():
        assert db.session.scalar(select(func.count()).select_from(Suppression)) == 1


def test_a_call_the_database_could_not_record_is_taken_again_on_retry(hooks):
    """The nonce is given back when recording fails, so the provider's retry is no replay."""
    add_subscriber(hooks, "alice@example.com")
    client = hooks.test_client()
    signed = sign_mailgun(sample("mailgun_permanent_failure.json"))
    postgres = hooks.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    with hooks.app_context():
        if postgres:
            db.session.execute(
                sa.text(
                    "CREATE FUNCTION tend_fail() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql"
                )
            )
            db.session.execute(
                sa.text(
                    "CREATE TRIGGER tend_fail BEFORE INSERT ON mail_events FOR EACH ROW EXECUTE FUNCTION tend_fail()"
                )
            )
        else:
            db.session.execute(
                sa.text(
                    "CREATE TRIGGER tend_fail BEFORE INSERT ON mail_events BEGIN SELECT RAISE(ABORT, 'disk full'); END"
                )
            )
        db.session.commit()
    try:
        failed = client.post("/webhooks/mailgun", json=signed)
        assert failed.status_code == 503 and failed.json["status"] == "unavailable"
        assert state(hooks, "alice@example.com") == UNTOUCHED
    finally:
        with hooks.app_context():
            db.session.execute(
                sa.text("DROP TRIGGER tend_fail" + (" ON mail_events" if postgres else ""))
            )
            if postgres:
                db.session.execute(sa.text("DROP FUNCTION tend_fail()"))
            db.session.commit()
    assert client.post("/webhooks/mailgun", json=signed).status_code == 200  # the retry
    assert state(hooks, "alice@example.com") == (Status.BOUNCED, 0, "bounce", [])
    assert client.post("/webhooks/mailgun", json=signed).status_code == 409


def test_signed_calls_older_than_fifteen_minutes_are_refused(hooks, sns_key):
    add_subscriber(hooks, "alice@example.com")
    client = hooks.test_client()
    now = int(utcnow().timestamp())
    late = sign_mailgun(sample("mailgun_permanent_failure.json"), timestamp=now - 16 * 60)
    response = client.post("/webhooks/mailgun", json=late)
    assert response.status_code == 403 and response.json["reason"] == "signature is too old"
    old_sns = sign_sns(
        sample("ses_bounce_permanent.json"),
        sns_key[0],
        timestamp=(utcnow() - timedelta(minutes=16)).isoformat().replace("+00:00", "Z"),
    )
    assert post_sns(client, old_sns).status_code == 403
    assert state(hooks, "alice@example.com") == UNTOUCHED
    in_time = sign_mailgun(sample("mailgun_permanent_failure.json"), timestamp=now - 14 * 60)
    assert client.post("/webhooks/mailgun", json=in_time).status_code == 200
    assert state(hooks, "alice@example.com") == (Status.BOUNCED, 0, "bounce", [])


# ---- malformed bodies: always a 4xx that names what is wrong -------------------------------


def mailgun_with(signature: object) -> dict:
    return sample("mailgun_permanent_failure.json") | {"signature": signature}


def test_mailgun_signature_blocks_of_any_shape_are_refused(hooks):
    add_subscriber(hooks, "alice@example.com")
    client = hooks.test_client()
    good = sign_mailgun(sample("mailgun_permanent_failure.json"))["signature"]
    for block in (
        good | {"signature": "é"},
        good | {"signature": "é" * 64},
        good | {"signature": ["a"]},
        good | {"signature": 12},
        good | {"token": ["a", "b"]},
        good | {"token": {"x": 1}},
        good | {"timestamp": [1]},
        good | {"timestamp": None},
        good | {"timestamp": True},
        "é",
        ["x"],
    ):
        response = client.post("/webhooks/mailgun", json=mailgun_with(block))
        assert response.status_code in (401, 403), (block, response.status_code)
        assert response.json["status"] == "refused"
    # Signed, but with a time no clock can hold.
    huge = sign_mailgun(sample("mailgun_permanent_failure.json"), timestamp=10**400)
    assert client.post("/webhooks/mailgun", json=huge).status_code in (401, 403)
    assert state(hooks, "alice@example.com") == UNTOUCHED


def test_bodies_that_are_not_utf8_are_refused_by_every_provider(hooks, sendgrid_key):
    client = hooks.test_client()
    for raw in (b"\xff\xfe\x00{", b'{"signature": "\xe9"}', b"\xc3\x28", b"[\x80]"):
        for provider, headers in (
            ("ses", {}),
            ("postmark", basic()),
            ("mailgun", {}),
            ("sendgrid", sign_sendgrid(raw, sendgrid_key[0])),
        ):
            response = client.post(
                f"/webhooks/{provider}", data=raw, headers=headers, content_type="application/json"
            )
            assert 400 <= response.status_code < 500, (provider, raw, response.status_code)


def test_sns_messages_with_fields_of_the_wrong_type_are_refused(hooks, sns_key):
    add_subscriber(hooks, "jane@example.com")
    client = hooks.test_client()
    good = sign_sns(sample("ses_bounce_permanent.json"), sns_key[0])
    for forged in (
        good | {"SigningCertURL": "https://sns.us-west-2.amazonaws.com:99999/x.pem"},
        good | {"SigningCertURL": "https://[sns.us-west-2.amazonaws.com/x.pem"},
        good | {"SigningCertURL": ["https://sns.us-west-2.amazonaws.com/x.pem"]},
        good | {"SignatureVersion": ["1"]},
        good | {"SignatureVersion": 1},
        good | {"Signature": 12},
        good | {"Signature": "é"},
        good | {"Timestamp": 1453906778},
        good | {"Timestamp": "2016-01-27T14:59:38.277+25:00"},
        good | {"TopicArn": [good["TopicArn"]]},
        good | {"Message": {"notificationType": "Bounce"}},
        good | {"MessageId": None},
        good | {"Message": "\ud800"},  # a lone surrogate, escaped in JSON: no text SNS signs
    ):
        response = post_sns(client, forged)
        assert 400 <= response.status_code < 500, (forged, response.status_code)
    assert state(hooks, "jane@example.com") == UNTOUCHED


def test_signed_ses_notifications_of_any_shape_change_nothing_they_do_not_name(hooks, sns_key):
    add_subscriber(hooks, "jane@example.com")
    client = hooks.test_client()
    for n, notification in enumerate(
        (
            {"notificationType": "Bounce", "bounce": "Permanent"},
            {"notificationType": "Bounce", "bounce": ["jane@example.com"]},
            {"notificationType": "Bounce", "bounce": {"bouncedRecipients": "jane@example.com"}},
            {"notificationType": "Bounce", "bounce": {"bouncedRecipients": [{"emailAddress": 5}]}},
            {"notificationType": "Complaint", "complaint": 5},
            {"notificationType": "Delivery", "delivery": []},
            {"notificationType": ["Bounce"]},
            {"eventType": {"x": 1}},
            ["Bounce"],
            "Bounce",
        )
    ):
        message = sample("ses_bounce_permanent.json") | {
            "MessageId": f"shape-{n}",
            "Message": json.dumps(notification),
        }
        response = post_sns(client, sign_sns(message, sns_key[0]))
        assert response.status_code == 200, (notification, response.status_code)
        assert response.json["events"] == {}
    assert state(hooks, "jane@example.com") == UNTOUCHED


# ---- SNS certificates: from a real SNS host, naming SNS ------------------------------------


def test_certificate_hosts_are_sns_in_an_aws_region():
    for host in (
        "sns.us-east-1.amazonaws.com",
        "sns.eu-west-2.amazonaws.com",
        "sns.us-gov-west-1.amazonaws.com",
        "sns.ap-southeast-3.amazonaws.com",
        "sns.me-central-1.amazonaws.com",
        "sns.ca-west-1.amazonaws.com",
        "sns.cn-north-1.amazonaws.com.cn",
        "sns.cn-northwest-1.amazonaws.com.cn",
    ):
        assert ses.certificate_url_allowed(f"https://{host}/SimpleNotificationService-1.pem"), host
    for host in (
        "sns.s3.amazonaws.com",
        "sns.amazonaws.com",
        "sns.s3-website.amazonaws.com",
        "sns.evil-bucket.amazonaws.com",
        "sns.us-east.amazonaws.com",
        "sns.us-east-1a.amazonaws.com",
        "sns.us-east-1.s3.amazonaws.com",
        "sns.cn-north-1.amazonaws.com",
        "sns.us-east-1.amazonaws.com.cn",
        "sns.US-EAST-1.amazonaws.com.evil",
    ):
        assert not ses.certificate_url_allowed(f"https://{host}/x.pem"), host
    assert not ses.certificate_url_allowed("https://sns.us-east-1.amazonaws.com:99999/x.pem")


@pytest.mark.parametrize(
    ("common_name", "dns_names", "accepted"),
    [
        ("sns.amazonaws.com", (), True),
        ("sns.us-west-2.amazonaws.com", (), True),
        ("Amazon", ("sns.us-west-2.amazonaws.com",), True),
        ("Amazon", ("sns.amazonaws.com",), True),
        ("evil.example", (), False),
        ("sns.s3.amazonaws.com", (), False),
        ("sns.eu-west-1.amazonaws.com", (), False),  # another region's name
        ("sns.amazonaws.com.evil.example", (), False),
        ("Amazon", ("evil.example",), False),
        ("sns.amazonaws.com", ("evil.example",), False),  # names in the SAN are the ones
    ],
)
def test_the_certificate_must_name_sns(make_app, keys, common_name, dns_names, accepted):
    app = make_app(**keys.settings())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keys.serve_certificate(app, sns_certificate(key, common_name, dns_names))
    add_subscriber(app, "jane@example.com")
    response = post_sns(app.test_client(), sign_sns(sample("ses_bounce_permanent.json"), key))
    if accepted:
        assert response.status_code == 200, response.get_data(as_text=True)
        assert state(app, "jane@example.com") == (Status.BOUNCED, 0, "bounce", [])
    else:
        assert response.status_code == 403
        assert response.json["reason"] == "SNS certificate is not SNS's"
        assert state(app, "jane@example.com") == UNTOUCHED


def test_an_expired_certificate_is_refused(make_app, keys):
    app = make_app(**keys.settings())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keys.serve_certificate(app, sns_certificate(key, days=-1))
    add_subscriber(app, "jane@example.com")
    response = post_sns(app.test_client(), sign_sns(sample("ses_bounce_permanent.json"), key))
    assert response.status_code == 403
    assert response.json["reason"] == "SNS certificate is not valid now"
    assert state(app, "jane@example.com") == UNTOUCHED
