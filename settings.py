"""Configuration from the environment: the contract in the README, read once per app."""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from email.utils import getaddresses, parseaddr
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from campaigns.closed_days import parse_codes
from campaigns.timing import parse_days, parse_window
from campaigns.words import LOCALES
from workers.rate import parse_rate

# Values that must never sign anything outside debug.
PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "dev", "secret", "default"}
# Outside debug: the least length of the signing key and of the dashboard's password.
SECRET_KEY_MIN = 32
ADMIN_PASSWORD_MIN = 12


class ConfigError(RuntimeError):
    """A setting is missing or unusable; the message names the variable."""


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None


def _unconfirmed_days(env: Mapping[str, str]) -> int:
    """Days a signup that never confirmed is kept (then the clock deletes it): at least 1."""
    days = _int(env, "UNCONFIRMED_DAYS", 30)
    if days < 1:
        raise ConfigError(f"UNCONFIRMED_DAYS must be at least 1, got {days}")
    return days


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine: localhost, *.localhost, 127.0.0.0/8 or ::1."""
    host = host.strip().strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost") or host == "localhost.localdomain":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _public_base_url(raw: str) -> str:
    base = raw.strip().rstrip("/")
    try:
        parts = urlsplit(base)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"PUBLIC_BASE_URL must be an absolute http(s) URL such as https://tend.example.com, "
            f"got {raw!r}"
        )
    return base


def refuse_unsafe_production(config: Mapping) -> None:
    """Outside debug, refuse what a real sender must not run with; each names its fix.

    Plain http is allowed on loopback, so a production-like run on one machine still works.
    """
    secret = config["SECRET_KEY"]
    if len(secret) < SECRET_KEY_MIN:
        raise ConfigError(
            f"SECRET_KEY is too short ({len(secret)} characters): set SECRET_KEY to at least "
            f"{SECRET_KEY_MIN} random characters, for example the output of "
            "python3 -c 'import secrets; print(secrets.token_hex(32))'"
        )
    base = urlsplit(config["PUBLIC_BASE_URL"])
    if base.scheme != "https" and not is_loopback(base.hostname or ""):
        raise ConfigError(
            f"PUBLIC_BASE_URL is http:// on {base.hostname}: set PUBLIC_BASE_URL to the "
            "https:// address readers open (plain http is allowed only on loopback)"
        )
    domain = parseaddr(config["MAIL_FROM"])[1].rpartition("@")[2]
    if is_loopback(domain):
        raise ConfigError(
            f"MAIL_FROM is on localhost ({config['MAIL_FROM']!r}): set MAIL_FROM to an address "
            "on your own domain, for example MAIL_FROM='Career Notes <coach@example.com>'"
        )
    if not config["POSTAL_ADDRESS"]:
        raise ConfigError(
            "POSTAL_ADDRESS is empty: set POSTAL_ADDRESS to your postal address, which every "
            "email must carry (CAN-SPAM), for example POSTAL_ADDRESS='12 Garden Lane, "
            "Springfield, IL 62701'"
        )
    password = config["ADMIN_PASSWORD"]
    if password and len(password) < ADMIN_PASSWORD_MIN:
        raise ConfigError(
            f"ADMIN_PASSWORD is too short ({len(password)} characters): set ADMIN_PASSWORD to "
            f"at least {ADMIN_PASSWORD_MIN} characters, or unset it to turn the dashboard off"
        )


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {raw!r}")
    return value


def _sending(env: Mapping[str, str], mail_from: str) -> dict:
    """MAIL_RATE, SMTP_CONNECTIONS, DKIM, MAIL_RETURN_PATH, the probe and the guard."""
    rate = env.get("MAIL_RATE", "").strip()
    try:
        limits = parse_rate(rate)
    except ValueError as err:
        raise ConfigError(
            f"MAIL_RATE must look like 14/second;2000/day, got {str(err).strip()!r}"
        ) from None
    connections = _int(env, "SMTP_CONNECTIONS", 4)
    if not 1 <= connections <= 64:
        raise ConfigError(f"SMTP_CONNECTIONS must be from 1 to 64, got {connections}")
    selector = env.get("DKIM_SELECTOR", "").strip()
    key_path = env.get("DKIM_PRIVATE_KEY_PATH", "").strip()
    domain = env.get("DKIM_DOMAIN", "").strip().lower()
    if not domain:
        domain = mail_from.rpartition("@")[2].rstrip(">").strip().lower()
    key = b""
    if selector or key_path:
        if not (selector and key_path):
            raise ConfigError(
                "DKIM_SELECTOR and DKIM_PRIVATE_KEY_PATH go together: set both, or neither"
            )
        try:
            key = Path(key_path).read_bytes()
        except OSError as err:
            raise ConfigError(
                f"DKIM_PRIVATE_KEY_PATH cannot be read: {key_path!r} ({err.strerror})"
            ) from None
        if b"PRIVATE KEY" not in key:
            raise ConfigError(f"DKIM_PRIVATE_KEY_PATH is not a PEM private key: {key_path!r}")
    return_path = env.get("MAIL_RETURN_PATH", "").strip()
    if return_path and ("@" not in return_path or any(c in return_path for c in " <>\r\n")):
        raise ConfigError(f"MAIL_RETURN_PATH must be a bare address, got {return_path!r}")
    return {
        "MAIL_RATE": limits,
        "SMTP_CONNECTIONS": connections,
        "DKIM_SELECTOR": selector,
        "DKIM_DOMAIN": domain,
        "DKIM_PRIVATE_KEY_PATH": key_path,
        "DKIM_PRIVATE_KEY": key,
        "MAIL_RETURN_PATH": return_path,
        "SENDING_PROBE_MINUTES": _int(env, "SENDING_PROBE_MINUTES", 15),
        "REPUTATION_COMPLAINT_PERCENT": _number(env, "REPUTATION_COMPLAINT_PERCENT", 0.3),
        "REPUTATION_BOUNCE_PERCENT": _number(env, "REPUTATION_BOUNCE_PERCENT", 5.0),
        "REPUTATION_WINDOW_HOURS": _int(env, "REPUTATION_WINDOW_HOURS", 168),
        "REPUTATION_MIN_SENT": _int(env, "REPUTATION_MIN_SENT", 100),
    }


def load(env: Mapping[str, str] | None = None, *, debug: bool = False) -> dict:
    """Build the Flask config from environment variables, validating each one."""
    env = os.environ if env is None else env
    debug = debug or _flag(env.get("FLASK_DEBUG", ""))

    secret = env.get("SECRET_KEY", "")
    if secret.strip().lower() in PLACEHOLDER_SECRETS:
        if not debug:
            raise ConfigError(
                "SECRET_KEY is missing or a placeholder: set SECRET_KEY to a long random value"
            )
        secret = secrets.token_hex(32)

    timezone = env.get("DEFAULT_TIMEZONE", "UTC").strip() or "UTC"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"DEFAULT_TIMEZONE is not an IANA time zone: {timezone!r}") from None

    window = env.get("DRIP_WINDOW", "09:00-17:00").strip()
    try:
        parse_window(window)
    except ValueError:
        raise ConfigError(f"DRIP_WINDOW must look like 09:00-17:00, got {window!r}") from None

    days = env.get("DRIP_DAYS", "Mon-Fri").strip() or "Mon-Fri"
    try:
        parse_days(days)
    except ValueError:
        raise ConfigError(
            f"DRIP_DAYS must name days like Mon-Fri or Mon,Wed,Fri, got {days!r}"
        ) from None

    # Words: the locale of the shipped copy, and the public holidays no note leaves on.
    locale = env.get("LOCALE", "en-US").strip() or "en-US"
    if locale not in LOCALES:
        raise ConfigError(f"LOCALE must be one of {', '.join(LOCALES)}, got {locale!r}")
    holidays = env.get("DRIP_HOLIDAYS", "").strip()
    try:
        holidays = ",".join(parse_codes(holidays))
    except ValueError as err:
        raise ConfigError(
            f"DRIP_HOLIDAYS must be country codes like US, GB or US-CA: {err}"
        ) from None

    reply_to = env.get("REPLY_TO", "").strip()
    if reply_to and "@" not in parseaddr(reply_to)[1]:
        raise ConfigError(f"REPLY_TO must be an email address, got {reply_to!r}")

    security = env.get("SMTP_SECURITY", "none").strip().lower()
    if security not in {"none", "starttls", "ssl"}:
        raise ConfigError(f"SMTP_SECURITY must be none, starttls or ssl, got {security!r}")
    backend = env.get("MAIL_BACKEND", "outbox").strip().lower()
    if backend not in {"smtp", "outbox"}:
        raise ConfigError(f"MAIL_BACKEND must be smtp or outbox, got {backend!r}")

    mail_from = env.get("MAIL_FROM", "").strip() or "hello@localhost"
    local, _, domain = parseaddr(mail_from)[1].rpartition("@")
    if not local or not domain or len(getaddresses([mail_from])) != 1:
        raise ConfigError(
            f"MAIL_FROM must be one email address, for example "
            f"MAIL_FROM='Career Notes <coach@example.com>' (a name with a comma goes in "
            f"double quotes), got {mail_from!r}"
        )

    challenge = env.get("SIGNUP_CHALLENGE", "pow").strip().lower() or "pow"
    if challenge not in {"pow", "off"}:
        raise ConfigError(f"SIGNUP_CHALLENGE must be pow or off, got {challenge!r}")
    api_keys = [k.strip() for k in env.get("SIGNUP_API_KEYS", "").split(",") if k.strip()]
    if any(len(k) < 16 for k in api_keys):
        raise ConfigError(
            "SIGNUP_API_KEYS: every key must be at least 16 characters "
            "(make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )

    paper = env.get("WORKSHEET_PAPER", "").strip().lower() or LOCALES[locale].paper
    if paper not in ("letter", "a4"):
        raise ConfigError(f"WORKSHEET_PAPER must be letter or a4, got {paper!r}")
    worksheet_path = env.get("WORKSHEET_PATH", "").strip()
    # Absolute, so the check here and the file served later name the same one.
    worksheet_path = os.path.abspath(worksheet_path) if worksheet_path else ""
    if worksheet_path and not os.path.isfile(worksheet_path):
        raise ConfigError(
            f"WORKSHEET_PATH names no file ({worksheet_path!r}): set it to your own PDF, "
            "or unset it to serve the built worksheet"
        )

    origins = [o.strip().rstrip("/") for o in env.get("EMBED_ALLOWED_ORIGINS", "").split(",")]
    public_base = _public_base_url(env.get("PUBLIC_BASE_URL", "http://localhost:5000"))

    config = _sending(env, mail_from) | {
        "DEBUG": debug,
        "SECRET_KEY": secret,
        "SQLALCHEMY_DATABASE_URI": env.get("DATABASE_URL", "").strip()
        or "sqlite:///instance/tend.db",
        # hide_parameters: a logged database error never carries a reader's name or address.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "hide_parameters": True},
        "REDIS_URL": env.get("REDIS_URL", "redis://localhost:6379/0").strip(),
        "PUBLIC_BASE_URL": public_base,
        "MAIL_BACKEND": backend,
        "SMTP_HOST": env.get("SMTP_HOST", "localhost").strip(),
        "SMTP_PORT": _int(env, "SMTP_PORT", 25),
        "SMTP_USERNAME": env.get("SMTP_USERNAME", ""),
        "SMTP_PASSWORD": env.get("SMTP_PASSWORD", ""),
        "SMTP_SECURITY": security,
        "SMTP_TIMEOUT": _int(env, "SMTP_TIMEOUT", 20),
        "SMTP_CA_FILE": env.get("SMTP_CA_FILE", "").strip(),
        # No display name by default: From then shows COACH_NAME (see campaigns.mime).
        "MAIL_FROM": mail_from,
        "COACH_NAME": env.get("COACH_NAME", "").strip() or "Your career coach",
        "LIST_NAME": env.get("LIST_NAME", "").strip() or "Staying connected",
        "REPLY_TO": reply_to,
        "POSTAL_ADDRESS": env.get("POSTAL_ADDRESS", "").strip(),
        "EMBED_ALLOWED_ORIGINS": [o for o in origins if o],
        "DOUBLE_OPT_IN": _flag(env.get("DOUBLE_OPT_IN", "1")),
        "ADMIN_PASSWORD": env.get("ADMIN_PASSWORD", ""),
        "DEFAULT_TIMEZONE": timezone,
        "DRIP_WINDOW": window,
        "DRIP_MIN_GAP_DAYS": _int(env, "DRIP_MIN_GAP_DAYS", 7),
        "DRIP_DAYS": days,
        "DRIP_HOLIDAYS": holidays,
        "LOCALE": locale,
        "SIGNUP_RATE_LIMIT": env.get("SIGNUP_RATE_LIMIT", "5/minute;50/day").strip(),
        "SIGNUP_MIN_SECONDS": _int(env, "SIGNUP_MIN_SECONDS", 2),
        "SIGNUP_CHALLENGE": challenge,
        "SIGNUP_API_KEYS": api_keys,
        "PROXY_FIX_HOPS": _int(env, "PROXY_FIX_HOPS", 0),
        "WORKSHEET_PATH": worksheet_path,
        "WORKSHEET_PAPER": paper,
        "SEQUENCE_PATH": env.get("SEQUENCE_PATH", "").strip(),
        "RQ_QUEUE": env.get("RQ_QUEUE", "tend").strip(),
        "SEND_BATCH_SIZE": _int(env, "SEND_BATCH_SIZE", 100),
        "SEND_LEASE_SECONDS": _int(env, "SEND_LEASE_SECONDS", 600),
        "MAX_SEND_ATTEMPTS": _int(env, "MAX_SEND_ATTEMPTS", 8),
        "RESEND_MINUTES": _int(env, "RESEND_MINUTES", 10),
        "UNCONFIRMED_DAYS": _unconfirmed_days(env),
        # Uploads waiting for a worker and finished exports; empty: instance/transfers.
        "TRANSFER_DIR": env.get("TRANSFER_DIR", "").strip(),
        "SESSION_COOKIE_SECURE": public_base.startswith("https://"),
        # Only the dashboard has a session (the signup form needs no cookie), and it is
        # never framed: Lax keeps its cookie off every cross-site request.
        "SESSION_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": 3600 * 6,
        "MAX_FORM_BYTES": _int(env, "MAX_FORM_BYTES", 16 * 1024),
        # The operator's side: dashboard login, bounce webhooks, metrics, logs.
        "ADMIN_LOGIN_RATE_LIMIT": env.get("ADMIN_LOGIN_RATE_LIMIT", "5/minute").strip(),
        "ADMIN_LOGIN_GLOBAL_RATE_LIMIT": env.get(
            "ADMIN_LOGIN_GLOBAL_RATE_LIMIT", "20/minute"
        ).strip(),
        "ADMIN_SESSION_HOURS": _int(env, "ADMIN_SESSION_HOURS", 12),
        "SES_TOPIC_ARNS": [
            a.strip() for a in env.get("SES_TOPIC_ARNS", "").split(",") if a.strip()
        ],
        "POSTMARK_WEBHOOK_USERNAME": env.get("POSTMARK_WEBHOOK_USERNAME", "").strip(),
        "POSTMARK_WEBHOOK_PASSWORD": env.get("POSTMARK_WEBHOOK_PASSWORD", ""),
        "MAILGUN_WEBHOOK_SIGNING_KEY": env.get("MAILGUN_WEBHOOK_SIGNING_KEY", "").strip(),
        "SENDGRID_WEBHOOK_PUBLIC_KEY": env.get("SENDGRID_WEBHOOK_PUBLIC_KEY", "").strip(),
        "WEBHOOK_MAX_AGE_SECONDS": _int(env, "WEBHOOK_MAX_AGE_SECONDS", 900),
        "SOFT_BOUNCE_LIMIT": _int(env, "SOFT_BOUNCE_LIMIT", 3),
        "METRICS_TOKEN": env.get("METRICS_TOKEN", "").strip(),
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO").strip().upper() or "INFO",
    }
    if not debug:
        refuse_unsafe_production(config)
    return config
