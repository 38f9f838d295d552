"""Each probe asks one real service and returns the problems it found (never raises).

Nothing here sends an email or changes a row: the relay is asked for EHLO, STARTTLS and
AUTH and then left with QUIT; the database's write is rolled back.
"""

from __future__ import annotations

import smtplib
import ssl
from pathlib import Path

from flask import Flask

from settings import Problem, Settings, is_loopback


def _problem(name: str, message: str) -> list[Problem]:
    return [Problem(name, message)]


def database(app: Flask) -> list[Problem]:
    """It answers, it takes writes, and its migrations are at head."""
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from flask_migrate import Migrate

    from models import db
    from web.health import database_writes

    url = "DATABASE_URL"
    try:
        with db.engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    except Exception as err:
        return _problem(
            url,
            f"DATABASE_URL does not answer ({type(err).__name__}): start the database, or set "
            "DATABASE_URL to one that runs",
        )
    migrate: Migrate = app.extensions["migrate"]
    heads = set(ScriptDirectory(migrate.directory).get_heads())
    if current != heads:
        at = ", ".join(sorted(current)) or "no tables"
        return _problem(
            url,
            f"DATABASE_URL is not at the latest migration (at {at}, latest "
            f"{', '.join(sorted(heads))}): run flask --app app db upgrade",
        )
    writes = database_writes()
    if writes != "ok":
        return _problem(
            url,
            f"DATABASE_URL does not take writes ({writes}): point DATABASE_URL at the "
            "primary, or make the database writable",
        )
    return []


def redis(built: Settings) -> list[Problem]:
    from redis import Redis

    try:
        Redis.from_url(built.service.redis_url, socket_timeout=2, socket_connect_timeout=2).ping()
    except Exception as err:
        return _problem(
            "REDIS_URL",
            f"REDIS_URL does not answer ({type(err).__name__}): start Redis, or set REDIS_URL "
            "to one that runs",
        )
    return []


def _open(mail, context: ssl.SSLContext) -> smtplib.SMTP:
    if mail.smtp_security == "ssl":
        return smtplib.SMTP_SSL(
            mail.smtp_host, mail.smtp_port, timeout=mail.smtp_timeout, context=context
        )
    return smtplib.SMTP(mail.smtp_host, mail.smtp_port, timeout=mail.smtp_timeout)


def relay(built: Settings) -> list[Problem]:
    """Connect, EHLO, STARTTLS and AUTH when configured; no email is sent."""
    mail = built.mail
    if mail.backend != "smtp":
        return []
    where = f"{mail.smtp_host}:{mail.smtp_port}"
    context = ssl.create_default_context(cafile=mail.smtp_ca_file or None)
    step, name = "connect to", "SMTP_HOST"
    fixes = {
        "SMTP_HOST": "check SMTP_HOST and SMTP_PORT, and that the relay runs",
        "SMTP_SECURITY": "check SMTP_SECURITY (starttls on 587, ssl on 465) and SMTP_CA_FILE",
        "SMTP_USERNAME": "check SMTP_USERNAME and SMTP_PASSWORD",
    }
    try:
        conn = _open(mail, context)
        try:
            step = "EHLO with"
            conn.ehlo()
            if mail.smtp_security == "starttls":
                step, name = "STARTTLS with", "SMTP_SECURITY"
                conn.starttls(context=context)
                conn.ehlo()
            if mail.smtp_username:
                step, name = "log in to", "SMTP_USERNAME"
                conn.login(mail.smtp_username, mail.smtp_password)
        finally:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                conn.close()
    except (OSError, smtplib.SMTPException) as err:
        if isinstance(err, ssl.SSLError):
            name = "SMTP_SECURITY"
        detail = type(err).__name__
        if isinstance(err, smtplib.SMTPResponseException):
            detail = f"{err.smtp_code}"
        return _problem(name, f"{name}: cannot {step} the relay {where} ({detail}): {fixes[name]}")
    return []


def dkim(built: Settings) -> tuple[list[Problem], str | None]:
    """The key reads, and a message it signs verifies against the record printed from it."""
    from campaigns.dkim import DKIMKey, public_half, txt_value

    key = built.sender.dkim_key
    if key is None:
        return [], None
    name = "DKIM_PRIVATE_KEY_PATH"
    try:
        public = public_half(key.pem)
    except (ValueError, TypeError) as err:
        return _problem(
            name,
            f"{name} holds no usable RSA key ({err}): make one with flask --app app dkim keygen",
        ), None
    import dkim as dkimpy

    signer = DKIMKey(built.sender.dkim_selector, built.sender.dkim_domain, key.pem)
    message = signer.sign(
        b"From: doctor@" + signer.domain.encode() + b"\r\nSubject: x\r\n\r\nx\r\n"
    )
    record = f"{signer.selector}._domainkey.{signer.domain}.".encode()
    value = txt_value(public).encode()
    if not dkimpy.verify(message, dnsfunc=lambda q, timeout=5: value if q == record else None):
        return _problem(
            name,
            f"{name}: a message signed with this key does not verify "
            "against its own record: make a new key with flask --app app dkim keygen",
        ), public
    return [], public


def worksheet(app: Flask, built: Settings) -> list[Problem]:
    from sqlalchemy.exc import SQLAlchemyError

    from campaigns.worksheet import build
    from models import db

    if built.worksheet.path:
        return []
    try:
        options = build.Options.from_config(app.config)  # the coach's name is in the database
    except SQLAlchemyError:
        db.session.rollback()
        return []  # the database probe says what is wrong with it
    path = build.built_path(options, build.build_folder(app.config, app.instance_path))
    if not Path(path).exists():
        return _problem(
            "WORKSHEET_PATH",
            f"WORKSHEET_PATH is unset and the worksheet PDF for these settings is not built "
            f"({path.name}): run flask "
            "--app app worksheet build (again after changing COACH_NAME, WORKSHEET_PAPER or "
            "PUBLIC_BASE_URL)",
        )
    return []


def base_url(built: Settings) -> list[Problem]:
    """Readers open PUBLIC_BASE_URL from their inbox: https wherever it is not loopback."""
    from urllib.parse import urlsplit

    parts = urlsplit(built.service.public_base_url)
    if built.debug and parts.scheme != "https" and not is_loopback(parts.hostname or ""):
        return _problem(
            "PUBLIC_BASE_URL",
            f"PUBLIC_BASE_URL is http:// on {parts.hostname}: set it to the https:// address "
            "readers open (plain http is for loopback only)",
        )
    return []
