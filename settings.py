"""Configuration from the environment: the contract in the README, read once per app."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from campaigns.timing import parse_window
from workers.rate import parse_rate

# Values that must never sign anything outside debug.
PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "dev", "secret", "default"}


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

    security = env.get("SMTP_SECURITY", "none").strip().lower()
    if security not in {"none", "starttls", "ssl"}:
        raise ConfigError(f"SMTP_SECURITY must be none, starttls or ssl, got {security!r}")
    backend = env.get("MAIL_BACKEND", "outbox").strip().lower()
    if backend not in {"smtp", "outbox"}:
        raise ConfigError(f"MAIL_BACKEND must be smtp or outbox, got {backend!r}")

    origins = [o.strip().rstrip("/") for o in env.get("EMBED_ALLOWED_ORIGINS", "").split(",")]
    public_base = env.get("PUBLIC_BASE_URL", "http://localhost:5000").strip().rstrip("/")

    mail_from = env.get("MAIL_FROM", "Tend <hello@localhost>").strip()
    return _sending(env, mail_from) | {
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
        "MAIL_FROM": mail_from,
        "LIST_UNSUBSCRIBE_MAILTO": env.get("LIST_UNSUBSCRIBE_MAILTO", "").strip(),
        "POSTAL_ADDRESS": env.get("POSTAL_ADDRESS", "").strip(),
        "EMBED_ALLOWED_ORIGINS": [o for o in origins if o],
        "DOUBLE_OPT_IN": _flag(env.get("DOUBLE_OPT_IN", "1")),
        "ADMIN_PASSWORD": env.get("ADMIN_PASSWORD", ""),
        "DEFAULT_TIMEZONE": timezone,
        "DRIP_WINDOW": window,
        "DRIP_MIN_GAP_DAYS": _int(env, "DRIP_MIN_GAP_DAYS", 7),
        "SIGNUP_RATE_LIMIT": env.get("SIGNUP_RATE_LIMIT", "5/minute;50/day").strip(),
        "SIGNUP_MIN_SECONDS": _int(env, "SIGNUP_MIN_SECONDS", 2),
        "PROXY_FIX_HOPS": _int(env, "PROXY_FIX_HOPS", 0),
        "WORKSHEET_PATH": env.get("WORKSHEET_PATH", "").strip(),
        "SEQUENCE_PATH": env.get("SEQUENCE_PATH", "").strip(),
        "RQ_QUEUE": env.get("RQ_QUEUE", "tend").strip(),
        "SEND_BATCH_SIZE": _int(env, "SEND_BATCH_SIZE", 100),
        "SEND_LEASE_SECONDS": _int(env, "SEND_LEASE_SECONDS", 600),
        "MAX_SEND_ATTEMPTS": _int(env, "MAX_SEND_ATTEMPTS", 8),
        "RESEND_MINUTES": _int(env, "RESEND_MINUTES", 10),
        "SESSION_COOKIE_SECURE": public_base.startswith("https://"),
        "SESSION_COOKIE_SAMESITE": "None" if public_base.startswith("https://") else "Lax",
        # CHIPS: the framed form keeps its CSRF cookie where third-party cookies are blocked.
        "SESSION_COOKIE_PARTITIONED": public_base.startswith("https://"),
        "WTF_CSRF_TIME_LIMIT": 3600 * 6,
        "MAX_FORM_BYTES": _int(env, "MAX_FORM_BYTES", 16 * 1024),
        # The operator's side: dashboard login, bounce webhooks, metrics, logs.
        "ADMIN_LOGIN_RATE_LIMIT": env.get("ADMIN_LOGIN_RATE_LIMIT", "5/minute").strip(),
        "ADMIN_SESSION_HOURS": _int(env, "ADMIN_SESSION_HOURS", 12),
        "SES_TOPIC_ARNS": [
            a.strip() for a in env.get("SES_TOPIC_ARNS", "").split(",") if a.strip()
        ],
        "POSTMARK_WEBHOOK_USERNAME": env.get("POSTMARK_WEBHOOK_USERNAME", "").strip(),
        "POSTMARK_WEBHOOK_PASSWORD": env.get("POSTMARK_WEBHOOK_PASSWORD", ""),
        "MAILGUN_WEBHOOK_SIGNING_KEY": env.get("MAILGUN_WEBHOOK_SIGNING_KEY", "").strip(),
        "SENDGRID_WEBHOOK_PUBLIC_KEY": env.get("SENDGRID_WEBHOOK_PUBLIC_KEY", "").strip(),
        "WEBHOOK_MAX_AGE_SECONDS": _int(env, "WEBHOOK_MAX_AGE_SECONDS", 86400),
        "SOFT_BOUNCE_LIMIT": _int(env, "SOFT_BOUNCE_LIMIT", 3),
        "METRICS_TOKEN": env.get("METRICS_TOKEN", "").strip(),
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO").strip().upper() or "INFO",
    }
