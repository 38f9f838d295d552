"""What the tests share besides fixtures: the real servers they start, the helpers they
call, and the values they sign with. Fixtures live in conftest.py and build on these.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from pathlib import Path

import redis
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPProtocol

from models import db

PG_SERVER = os.environ.get("TEND_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
REDIS_BASE = os.environ.get("TEND_TEST_REDIS", "redis://127.0.0.1:6379")
BACKEND = os.environ.get("TEND_TEST_DB", "sqlite")
ROOT = Path(__file__).resolve().parent.parent
# The key every test app signs with (see `env_for`), so tests can make their own links.
SECRET = "test-secret-key-that-is-long-enough-0123456789"
ADMIN_PASSWORD = "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_index() -> int:
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(name[2:]) if name.startswith("gw") and name[2:].isdigit() else 0


def env_for(database_url: str, redis_url: str, **extra) -> dict[str, str]:
    env = {
        "SECRET_KEY": SECRET,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PUBLIC_BASE_URL": "https://tend.example",
        "MAIL_BACKEND": "smtp",
        "MAIL_FROM": "Career Notes <coach@tend.example>",
        "POSTAL_ADDRESS": "12 Garden Lane, Springfield, IL 62701",
        "SIGNUP_RATE_LIMIT": "10000/minute",
        "SIGNUP_MIN_SECONDS": "0",
        # The bot challenge is the door's own tests' business (they turn it on); the rest of
        # the suite posts signups as a server would without a key.
        "SIGNUP_CHALLENGE": "off",
        "RQ_QUEUE": f"tend-test-{uuid.uuid4().hex[:8]}",
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    smtputf8: bool

    @property
    def message(self):
        return message_from_bytes(self.data, policy=policy.default)


@dataclass
class SMTPSink:
    """A real SMTP server on loopback; it can refuse recipients or be stopped and restarted."""

    port: int
    received: list[Received] = field(default_factory=list)
    reject: dict[str, str] = field(default_factory=dict)  # address -> SMTP reply
    lock: threading.Lock = field(default_factory=threading.Lock)
    controller: Controller | None = None
    enable_smtputf8: bool = True
    delay: float = 0.0  # seconds before accepting each message (a slow server)
    reject_sender: str = ""  # an SMTP reply to every MAIL FROM, e.g. "550 5.7.1 not allowed"
    reject_data: str = ""  # an SMTP reply to every message body, e.g. "554 5.7.1 spam"
    arriving: int = 0  # message bodies received so far, accepted or not yet
    answer_late: float = 0.0  # seconds to wait after storing a message before the 250
    reject_rcpt: str = ""  # an SMTP reply to every RCPT TO, e.g. "554 5.7.1 Relay access denied"
    in_data: int = 0  # message bodies being answered right now
    most_in_data: int = 0  # the most answered at once (connections kept busy)
    pipelined: list[bool] = field(default_factory=list)  # per MAIL: RCPT and DATA already sent
    pipelining: bool = True  # offer PIPELINING in the EHLO answer

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.reject:
            return self.reject[address]
        if self.reject_rcpt:
            return self.reject_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        # aiosmtpd reads pipelined commands fine but does not say so; relays do (RFC 2920).
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]] if self.pipelining else responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        # What the client sent after MAIL before waiting for its answer (RFC 2920).
        waiting = bytes(getattr(server._reader, "_buffer", b""))
        self.pipelined.append(b"RCPT TO:" in waiting and b"DATA" in waiting)
        if self.reject_sender:
            return self.reject_sender
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.arriving += 1
        self.in_data += 1
        self.most_in_data = max(self.most_in_data, self.in_data)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.reject_data:
                return self.reject_data
            with self.lock:
                self.received.append(
                    Received(
                        envelope.mail_from,
                        list(envelope.rcpt_tos),
                        envelope.original_content or envelope.content,
                        envelope.smtp_utf8,
                    )
                )
            if self.answer_late:
                await asyncio.sleep(self.answer_late)  # stored, but the client gave up
        finally:
            self.in_data -= 1
        return "250 Message accepted"

    def start(self) -> None:
        sink = self

        class Factory(Controller):
            def factory(self):
                return SMTPProtocol(
                    self.handler, enable_SMTPUTF8=sink.enable_smtputf8, decode_data=False
                )

        self.controller = Factory(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller:
            self.controller.stop()
            self.controller = None

    def messages_to(self, address: str):
        return [r.message for r in self.received if address in r.rcpt_tos]

    def per_recipient(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.received:
            for rcpt in r.rcpt_tos:
                counts[rcpt] = counts.get(rcpt, 0) + 1
        return counts


def work(app) -> None:
    """Drain the queue with a real RQ worker in burst mode."""
    from workers.cli import run_worker

    with app.app_context():
        run_worker(burst=True)


def tick(app, now: datetime, *, pretend: bool = False):
    from workers.dispatcher import tick as dispatch

    with app.app_context():
        try:
            return dispatch(now, pretend=pretend)
        finally:
            db.session.remove()


def csrf_from(html: str) -> str:
    """The CSRF token a page's form carries."""
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def add_due_drip_rows(app, count: int, due: datetime) -> None:
    """Bulk-insert `count` active subscribers, each with a month-1 drip email due at `due`."""
    from datetime import timedelta

    from campaigns.schedule import new_message_id
    from models import Delivery, Subscriber

    with app.app_context():
        start = db.session.scalar(sa.select(sa.func.count()).select_from(Subscriber))
        db.session.execute(
            Subscriber.__table__.insert(),
            [
                {
                    "public_id": f"pub{start + i}",
                    "email": f"r{start + i}@example.com",
                    "email_key": f"r{start + i}@example.com",
                    "name": f"Reader {start + i}",
                    "status": "active",
                    "timezone": "UTC",
                    "soft_bounces": 0,
                    "created_at": due,
                    "updated_at": due,
                    "anchor_at": due - timedelta(days=31),
                    "job_status": "started",
                    "started_job_on": (due - timedelta(days=31)).date().isoformat(),
                }
                for i in range(count)
            ],
        )
        ids = db.session.scalars(
            sa.select(Subscriber.id).order_by(Subscriber.id).offset(start)
        ).all()
        db.session.execute(
            Delivery.__table__.insert(),
            [
                {
                    "subscriber_id": sid,
                    "step": "month-1",
                    "kind": "drip",
                    "status": "scheduled",
                    "due_at": due,
                    "attempts": 0,
                    "message_id": new_message_id("tend.example"),
                    "created_at": due,
                    "updated_at": due,
                }
                for sid in ids
            ],
        )
        db.session.commit()
        db.session.remove()


def answer(app, email: str, job_status: str, *, now: datetime, started_on=None) -> None:
    """The reader answers the start-date page at `now`: "started" (with the day), "looking"
    or "not_changing". The service the page calls, so a test can choose the time."""
    from signup import service
    from subscribers.lifecycle import find_by_address

    with app.test_request_context():
        found = find_by_address(email)
        service.answer(found, job_status, now=now, started_on=started_on)
        db.session.remove()


def started_path(app, email: str) -> str:
    """The path of a reader's start-date page, as the links in their emails give it."""
    from campaigns.links import make_token
    from subscribers.lifecycle import find_by_address

    with app.app_context():
        public_id = find_by_address(email).public_id
        db.session.remove()
    return f"/started/{make_token(app.config['SECRET_KEY'], 'started', public_id)}"


def flask_cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `flask --app app ARGS...` as a newcomer would, with `env` on top of ours."""
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_worker(env: dict[str, str]) -> subprocess.Popen:
    """`flask --app app worker` as its own process, as the Procfile runs it."""
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "worker"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for(predicate, timeout: float = 30.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class RedisServer:
    """A private redis-server process on its own port, to stop and start at will."""

    def __init__(self, port: int):
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        assert wait_for(lambda: self._ping(), timeout=10)

    def _ping(self) -> bool:
        try:
            return redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping()
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGCONT)  # a hung one must still die
            self.process.kill()
            self.process.wait()
            self.process = None

    def hang(self) -> None:
        """SIGSTOP: the port still accepts connections, but nothing is ever answered."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def unhang(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


class PostgresServer:
    """A private PostgreSQL cluster in a temporary folder, to restart at will."""

    def __init__(self, root: Path, port: int):
        bindir = Path("/usr/lib/postgresql") / sorted(os.listdir("/usr/lib/postgresql"))[-1] / "bin"
        self.pg_ctl, self.initdb = str(bindir / "pg_ctl"), str(bindir / "initdb")
        self.root, self.port = root, port
        self.data = root / "data"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"

    def _as_postgres(self, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self._as_postgres(self.initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off"
        self._as_postgres(
            self.pg_ctl,
            "-D",
            str(self.data),
            "-o",
            options,
            "-w",
            "-l",
            str(self.root / "log"),
            "start",
        )

    def stop(self) -> None:
        self._as_postgres(self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")


def signup(client, email: str = "ann@example.com", name: str = "Ann Lee", **extra) -> None:
    """Sign up through the API, as the embed does, and insist it was accepted."""
    response = client.post("/api/subscribe", json={"name": name, "email": email, **extra})
    assert response.status_code == 202, response.get_data(as_text=True)


def admin_client(app):
    """A browser of its own: login attempts are limited per address, and the limiter's
    counters outlive a test (one process-wide key prefix), so each test gets a fresh address."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = (
        f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"
    )
    return client


def login(client, password: str = ADMIN_PASSWORD):
    page = client.get("/admin/login").get_data(as_text=True)
    return client.post("/admin/login", data={"csrf_token": csrf_from(page), "password": password})


def tampered(token: str) -> str:
    """The token with one character of its signature changed: never valid.

    A changed last character is not enough: base64's last character of a signature may
    carry unused bits, so some replacements decode to the same bytes.
    """
    spot = len(token) - 5
    other = "A" if token[spot] != "A" else "B"
    return token[:spot] + other + token[spot + 1 :]


def solve(challenge: dict) -> str:
    """The payload a browser sends for an ALTCHA challenge, found by the altcha package's
    own solver (not Tend's code: it shows the format is ALTCHA's)."""
    from altcha import PayloadV1, solve_challenge_v1

    solution = solve_challenge_v1(
        challenge["challenge"], challenge["salt"], challenge["algorithm"], challenge["maxnumber"]
    )
    assert solution is not None, "the challenge has no solution"
    return PayloadV1(
        challenge["algorithm"],
        challenge["challenge"],
        solution.number,
        challenge["salt"],
        challenge["signature"],
    ).to_base64()


def solution_from(client) -> str:
    """A fresh solution, the way the embed gets one: GET /api/challenge, then solve it."""
    response = client.get("/api/challenge")
    assert response.status_code == 200, response.status_code
    return solve(response.get_json())


def hosted_fields(html: str) -> dict[str, str]:
    """The hidden fields the hosted form carries (csrf_token, altcha, ...), by name."""
    return dict(
        re.findall(
            r'name="(csrf_token|altcha|email_checked)" (?:type="hidden" )?value="([^"]*)"', html
        )
    )


def deliveries_of(app) -> list:
    """Every delivery row, oldest first, detached from the session."""
    from models import Delivery

    with app.app_context():
        rows = db.session.scalars(sa.select(Delivery).order_by(Delivery.id)).all()
        db.session.expunge_all()
        db.session.remove()
        return rows


def subscriber_statuses(app) -> dict[str, int]:
    """How many subscribers are in each status."""
    from models import Subscriber

    with app.app_context():
        rows = db.session.execute(
            sa.select(Subscriber.status, sa.func.count()).group_by(Subscriber.status)
        ).all()
        db.session.remove()
        return dict(rows)


def sending_state(app):
    """The pause state as every process reads it."""
    from campaigns import sending

    with app.app_context():
        try:
            return sending.state(fresh=True)
        finally:
            db.session.remove()


def cli_env_of(app, **extra) -> dict[str, str]:
    """The environment a `flask --app app ...` command needs to act on this test app's
    database and queue, with the settings production insists on."""
    env = {
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "RQ_QUEUE": app.config["RQ_QUEUE"],
        "SECRET_KEY": app.config["SECRET_KEY"],
        "MAIL_FROM": app.config["MAIL_FROM"],
        "POSTAL_ADDRESS": app.config["POSTAL_ADDRESS"],
        "PUBLIC_BASE_URL": app.config["PUBLIC_BASE_URL"],
        "FLASK_SKIP_DOTENV": "1",
    }
    return env | {k: str(v) for k, v in extra.items()}


# ---- webhooks: what each provider signs, made here with throwaway keys ---------------------

SNS_TOPIC = "arn:aws:sns:us-west-2:123456789012:ses-bounces"
SNS_CERT_URL = "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"
MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
POSTMARK_USER, POSTMARK_PASSWORD = "postmark", "s3cret-hook-for-tests"


def sns_certificate(key, common_name: str = "sns.amazonaws.com", dns_names=(), days: int = 30):
    """A self-signed certificate (PEM) for `key`, named as SNS's own are (or not), valid
    from two days ago for `days` days (a negative number: expired)."""
    from datetime import UTC, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=2))
        .not_valid_after(now + timedelta(days=days))
    )
    if dns_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False
        )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def sign_sns(
    message: dict,
    key,
    version: str = "1",
    timestamp: str | None = None,
    cert_url: str = SNS_CERT_URL,
) -> dict:
    """The message as SNS would post it, signed with `key` (SignatureVersion 1 or 2)."""
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from bounces import ses
    from models import utcnow

    message = dict(message)
    message["SignatureVersion"] = version
    message["SigningCertURL"] = cert_url
    message["Timestamp"] = timestamp or utcnow().isoformat().replace("+00:00", "Z")
    # SignatureVersion 1 is SHA1withRSA: SNS's format, not our choice.
    digest = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303
    signed = key.sign(ses.string_to_sign(message), padding.PKCS1v15(), digest)
    message["Signature"] = base64.b64encode(signed).decode()
    return message


def sign_mailgun(payload: dict, key: str = MAILGUN_KEY, timestamp: int | None = None) -> dict:
    """The payload with its `signature` block signed as Mailgun does (timestamp + token)."""
    import hashlib
    import hmac

    from models import utcnow

    stamp = str(timestamp or int(utcnow().timestamp()))
    token = payload["signature"]["token"]
    digest = hmac.new(key.encode(), f"{stamp}{token}".encode(), hashlib.sha256).hexdigest()
    return payload | {"signature": {"timestamp": stamp, "token": token, "signature": digest}}


def sign_sendgrid(body: bytes, key, timestamp: str | None = None) -> dict:
    """The headers SendGrid sends with `body`: ECDSA over timestamp + body."""
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from models import utcnow

    stamp = timestamp or str(int(utcnow().timestamp()))
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        "Content-Type": "application/json",
    }


def basic(user: str = POSTMARK_USER, password: str = POSTMARK_PASSWORD) -> dict:
    """The Authorization header Postmark sends for the credentials in its webhook URL."""
    import base64

    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@dataclass
class WebhookKeys:
    """Throwaway keys for every provider, and the app settings that trust them."""

    sns_key: object
    sns_pem: bytes
    sendgrid_key: object
    sendgrid_public: str

    @classmethod
    def make(cls) -> WebhookKeys:
        import base64

        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        sns_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        sendgrid_key = ec.generate_private_key(ec.SECP256R1())
        der = sendgrid_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(sns_key, sns_certificate(sns_key), sendgrid_key, base64.b64encode(der).decode())

    def settings(self) -> dict[str, str]:
        return {
            "SES_TOPIC_ARNS": SNS_TOPIC,
            "POSTMARK_WEBHOOK_USERNAME": POSTMARK_USER,
            "POSTMARK_WEBHOOK_PASSWORD": POSTMARK_PASSWORD,
            "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY,
            "SENDGRID_WEBHOOK_PUBLIC_KEY": self.sendgrid_public,
        }

    def serve_certificate(self, app, pem: bytes | None = None) -> list[str]:
        """Hand the app's SNS certificate fetcher this PEM (no network); returns the URLs asked."""
        fetched: list[str] = []

        def fetch(url: str) -> bytes:
            fetched.append(url)
            return self.sns_pem if pem is None else pem

        app.extensions["tend.sns_certificate"] = fetch
        return fetched


@contextlib.contextmanager
def empty_database(tmp_path: Path):
    """A new, empty database on the backend under test (for a migration to start from),
    dropped afterwards; yields its URL."""
    if BACKEND != "postgresql":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    name = f"tend_mig_{uuid.uuid4().hex[:10]}"
    server = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        with server.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()
