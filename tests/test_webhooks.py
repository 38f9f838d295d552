"""Bounce and complaint webhooks: each provider's documented payload shapes, signed and forged.

Signatures are made here with throwaway keys (an RSA key and self-signed certificate for
SNS, an ECDSA key for SendGrid); the SNS certificate fetcher is the one network call and
is handed the certificate instead of reaching AWS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from bounces import ses
from models import Delivery, DeliveryStatus, Status, Subscriber, Suppression, db, utcnow
from subscribers.suppression import suppression_hash

SAMPLES = Path(__file__).resolve().parent / "webhook_samples"
TOPIC = "arn:aws:sns:us-west-2:123456789012:ses-bounces"
CERT_URL = "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"
MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"


def sample(name: str):
    return json.loads((SAMPLES / name).read_text())


@pytest.fixture(scope="module")
def sns_key():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def sendgrid_key():
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, base64.b64encode(der).decode()


@pytest.fixture
def hooks(make_app, sns_key, sendgrid_key):
    app = make_app(
        SES_TOPIC_ARNS=TOPIC,
        POSTMARK_WEBHOOK_USERNAME="postmark",
        POSTMARK_WEBHOOK_PASSWORD="s3cret-hook",
        MAILGUN_WEBHOOK_SIGNING_KEY=MAILGUN_KEY,
        SENDGRID_WEBHOOK_PUBLIC_KEY=sendgrid_key[1],
    )
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return sns_key[1]

    app.extensions["tend.sns_certificate"] = fetch
    app.fetched = fetched
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


def sign_sns(message: dict, key, version: str = "1", timestamp: str | None = None) -> dict:
    message = dict(message)
    message["SignatureVersion"] = version
    message["SigningCertURL"] = CERT_URL
    message["Timestamp"] = timestamp or utcnow().isoformat().replace("+00:00", "Z")
    # SignatureVersion 1 is SHA1withRSA: SNS's format, not our choice.
    digest = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303
    signed = key.sign(ses.string_to_sign(message), padding.PKCS1v15(), digest)
    message["Signature"] = base64.b64encode(signed).decode()
    return message


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


def basic(user: str, password: str) -> dict:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_postmark_hard_bounce_with_basic_auth(hooks):
    add_subscriber(hooks, "john@example.com")
    response = hooks.test_client().post(
        "/webhooks/postmark",
        json=sample("postmark_bounce.json"),
        headers=basic("postmark", "s3cret-hook"),
    )
    assert response.status_code == 200
    assert state(hooks, "john@example.com") == (Status.BOUNCED, 0, "bounce", [])


def test_postmark_spam_complaint(hooks):
    add_subscriber(hooks, "john@example.com")
    response = hooks.test_client().post(
        "/webhooks/postmark",
        json=sample("postmark_spam_complaint.json"),
        headers=basic("postmark", "s3cret-hook"),
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


def test_soft_bounces_suppress_after_three_in_a_row_and_a_delivery_resets(hooks):
    add_subscriber(hooks, "john@example.com")
    client = hooks.test_client()
    auth = basic("postmark", "s3cret-hook")
    soft, delivered = sample("postmark_soft_bounce.json"), sample("postmark_delivery.json")
    for body in (soft, soft, delivered, soft, soft):
        assert client.post("/webhooks/postmark", json=body, headers=auth).status_code == 200
    assert state(hooks, "john@example.com") == (Status.ACTIVE, 2, None, ["scheduled"])
    client.post("/webhooks/postmark", json=soft, headers=auth)
    assert state(hooks, "john@example.com") == (Status.BOUNCED, 3, "soft-bounces", [])


# ---- Mailgun ----------------------------------------------------------------------------


def sign_mailgun(payload: dict, key: str = MAILGUN_KEY, timestamp: int | None = None) -> dict:
    stamp = str(timestamp or int(utcnow().timestamp()))
    token = payload["signature"]["token"]
    digest = hmac.new(key.encode(), f"{stamp}{token}".encode(), hashlib.sha256).hexdigest()
    return payload | {"signature": {"timestamp": stamp, "token": token, "signature": digest}}


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


def sign_sendgrid(body: bytes, key, timestamp: str | None = None) -> dict:
    stamp = timestamp or str(int(utcnow().timestamp()))
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        "Content-Type": "application/json",
    }


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
