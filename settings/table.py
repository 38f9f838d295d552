"""The settings table: every setting Tend reads, declared once.

Each field of a group names its environment variable, its default as it would be written
in `.env`, the parser that reads it, and one line for the configuration reference
(`docs/configuration.md`, written from this table by `python -m settings reference`).
A blank value means the default. The groups are frozen: a value is parsed once, at start;
the coach's settings (`editable`) may also be set in the dashboard, parsed by the same parser
(`settings.overlay`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from . import parsers as p
from . import rates as r
from . import when as c

# The locales the shipped copy has (campaigns.words holds their words), and each one's paper.
PAPER_OF_LOCALE = {"en-US": "letter", "en-GB": "a4"}


@dataclass(frozen=True)
class Setting:
    name: str
    default: str  # as written in .env; "" means unset
    parse: p.Parser
    doc: str
    shown: str = ""  # how the reference shows an empty default ("" shows "unset")
    unset: Any = ""  # the value when neither the environment nor the default gives one
    secret: bool = False  # outside debug: no example value, enough length and variety
    least: int = 16  # the least length of a secret outside debug
    strip: bool = True  # passwords keep their spaces
    config: Callable[[Any], Any] | None = None  # how app.config holds it (default: as is)
    editable: bool = False  # the dashboard may set it at run time (settings.coach overlays it)


def setting(name: str, default: str, parse: p.Parser, doc: str, **more: Any) -> Any:
    return field(metadata={"setting": Setting(name, default, parse, doc, **more)})


def _path(key: p.KeyFile | None) -> str:
    return key.path if key else ""


@dataclass(frozen=True)
class Service:
    """Where Tend runs: its database, Redis, address and keys."""

    debug: bool = setting("FLASK_DEBUG", "", p.flag, "`1` for a local trial (`make run` sets it in `.env`); off is production", shown="off", unset=False)  # fmt: skip
    skip_dotenv: bool = setting("FLASK_SKIP_DOTENV", "", p.flag, "`1`: no process reads `.env`", shown="unset", unset=False)  # fmt: skip
    secret_key: str = setting("SECRET_KEY", "", p.text, "signs tokens and sessions; outside debug at least 32 characters, not an example or low-variety value", shown="random per run, in debug only", secret=True, least=32)  # fmt: skip
    database_url: str = setting("DATABASE_URL", "sqlite:///instance/tend.db", p.database_url, "SQLAlchemy URL (`postgresql+psycopg://user@host/db` in production)")  # fmt: skip
    redis_url: str = setting("REDIS_URL", "redis://localhost:6379/0", p.redis_url, "Redis for RQ, rate limits and single-use tokens")  # fmt: skip
    public_base_url: str = setting("PUBLIC_BASE_URL", "http://localhost:5000", p.public_url, "the absolute base for links in emails, used exactly as configured; outside debug `https://` unless its host is loopback")  # fmt: skip
    proxy_fix_hops: int = setting("PROXY_FIX_HOPS", "0", p.whole(0), "how many reverse proxies to trust for `X-Forwarded-For`/`-Proto`/`-Host`")  # fmt: skip
    rq_queue: str = setting("RQ_QUEUE", "tend", p.text, "the name of the RQ queue")  # fmt: skip
    transfer_dir: str = setting("TRANSFER_DIR", "", p.text, "where uploaded imports wait for a worker and finished exports are kept (24 hours); made with mode 700. The web and the workers must see the same folder (one machine, or a shared volume)", shown="`instance/transfers`")  # fmt: skip
    log_level: str = setting("LOG_LEVEL", "INFO", p.log_level, "the least level logged: DEBUG, INFO, WARNING, ERROR")  # fmt: skip


@dataclass(frozen=True)
class Mail:
    """How email leaves: the backend, the relay and the pace."""

    backend: str = setting("MAIL_BACKEND", "outbox", p.one_of("smtp", "outbox"), "`smtp`, or `outbox` (a Maildir under `instance/outbox`)")  # fmt: skip
    smtp_host: str = setting("SMTP_HOST", "localhost", p.text, "the SMTP relay's host")  # fmt: skip
    smtp_port: int = setting("SMTP_PORT", "25", p.whole(1, 65535), "the SMTP relay's port")  # fmt: skip
    smtp_username: str = setting("SMTP_USERNAME", "", p.text, "SMTP login, when set", strip=False)  # fmt: skip
    smtp_password: str = setting("SMTP_PASSWORD", "", p.text, "SMTP password, when set", strip=False)  # fmt: skip
    smtp_security: str = setting("SMTP_SECURITY", "none", p.one_of("none", "starttls", "ssl"), "`none`, `starttls` or `ssl`")  # fmt: skip
    smtp_ca_file: str = setting("SMTP_CA_FILE", "", p.text, "a PEM file of a private CA to trust for the relay's certificate, besides the system's")  # fmt: skip
    smtp_timeout: int = setting("SMTP_TIMEOUT", "20", p.whole(1), "seconds before a silent relay counts as a temporary failure")  # fmt: skip
    smtp_connections: int = setting("SMTP_CONNECTIONS", "4", p.whole(1, 64), "SMTP connections one worker keeps busy (1 to 64)")  # fmt: skip
    rate: tuple = setting("MAIL_RATE", "", r.mail_rate, "one send rate for every worker on every host, kept in Redis, e.g. `14/second;50000/day` (Flask-Limiter's grammar, up to a day; a day is a UTC day)", shown="none", unset=())  # fmt: skip
    send_batch_size: int = setting("SEND_BATCH_SIZE", "100", p.whole(1), "deliveries per send job (one SMTP connection each)")  # fmt: skip
    send_lease_seconds: int = setting("SEND_LEASE_SECONDS", "600", p.whole(1), "how long a queued or sending delivery is held before the dispatcher takes it back")  # fmt: skip
    max_send_attempts: int = setting("MAX_SEND_ATTEMPTS", "8", p.whole(1), "temporary failures before a delivery is marked failed")  # fmt: skip


@dataclass(frozen=True)
class Sender:
    """Who email comes from, and how it proves it."""

    mail_from: str = setting("MAIL_FROM", "hello@localhost", p.mailbox, "the From address of every email (its domain also names the Message-IDs); without a display name From shows `COACH_NAME`; outside debug not on `localhost`")  # fmt: skip
    return_path: str = setting("MAIL_RETURN_PATH", "", p.bare_address, "the envelope sender (`MAIL FROM`, where bounces go), apart from `From`", shown="`MAIL_FROM`'s address")  # fmt: skip
    postal_address: str = setting("POSTAL_ADDRESS", "", p.text, "the sender's postal address for the footer (CAN-SPAM); required outside debug, and in debug the footer says it is missing", shown="empty")  # fmt: skip
    dkim_selector: str = setting("DKIM_SELECTOR", "", p.text, "sign every email with DKIM under this selector (see [SPF, DKIM and DMARC](sending.md#spf-dkim-and-dmarc)); set both it and `DKIM_PRIVATE_KEY_PATH`, or neither", shown="off")  # fmt: skip
    dkim_key: p.KeyFile | None = setting("DKIM_PRIVATE_KEY_PATH", "", p.pem_file, "the DKIM private key (PEM), as `flask --app app dkim keygen` writes it", shown="off", unset=None, config=_path)  # fmt: skip
    dkim_domain: str = setting("DKIM_DOMAIN", "", p.domain, "the signing domain (`d=`)", shown="`MAIL_FROM`'s domain")  # fmt: skip


@dataclass(frozen=True)
class Guard:
    """When sending pauses by itself, and how it tries again."""

    probe_minutes: int = setting("SENDING_PROBE_MINUTES", "15", p.whole(0), "while the relay refuses us, try one email this often and resume when it goes through (`0` = never)")  # fmt: skip
    complaint_percent: float = setting("REPUTATION_COMPLAINT_PERCENT", "0.3", p.number, "complaints (percent of emails sent) at or over which sending pauses")  # fmt: skip
    bounce_percent: float = setting("REPUTATION_BOUNCE_PERCENT", "5", p.number, "hard bounces (percent of emails sent) at or over which sending pauses")  # fmt: skip
    window_hours: int = setting("REPUTATION_WINDOW_HOURS", "168", p.whole(1), "the rolling window the guard counts over")  # fmt: skip
    min_sent: int = setting("REPUTATION_MIN_SENT", "100", p.whole(0), "the fewest emails sent in the window before the guard judges")  # fmt: skip
    soft_bounce_limit: int = setting("SOFT_BOUNCE_LIMIT", "3", p.whole(1), "soft bounces in a row that suppress an address")  # fmt: skip


@dataclass(frozen=True)
class Coach:
    """The coach's own settings. Each one is also on the dashboard's Settings page, where a
    value saved wins over the one set here until it is reset ([coach settings](coach-settings.md))."""

    coach_name: str = setting("COACH_NAME", "Your career coach", p.line, "who signs every email and the worksheet, and the From name when `MAIL_FROM` has none", editable=True)  # fmt: skip
    list_name: str = setting("LIST_NAME", "Staying connected", p.line, "the list's name: the header of every email and the `List-Id` label", editable=True)  # fmt: skip
    reply_to: str = setting("REPLY_TO", "", p.reply_to, "the `Reply-To` of every email (an address, with or without a name)", shown="`MAIL_FROM`'s address", editable=True)  # fmt: skip
    drip_window: c.Window = setting("DRIP_WINDOW", "09:00-17:00", c.window, "the local hours in which notes may go out", config=str, editable=True)  # fmt: skip
    drip_days: c.Days = setting("DRIP_DAYS", "Mon-Fri", c.days, "the days of the week, in the reader's zone, on which notes may go out: `Mon-Fri`, `Mon,Wed,Fri`, `Mon-Sun`", config=str, editable=True)  # fmt: skip
    drip_min_gap_days: int = setting("DRIP_MIN_GAP_DAYS", "7", p.whole(0, 365), "the fewest days between two notes to one person (0 to 365)", editable=True)  # fmt: skip
    drip_holidays: tuple = setting("DRIP_HOLIDAYS", "", c.holidays, "public holidays (country codes such as `US`, `GB`, `US-CA`) on which no note goes out", shown="none", unset=(), config=",".join, editable=True)  # fmt: skip
    timezone: str = setting("COACH_TIMEZONE", "", p.zone, "the coach's own zone, for the dashboard's times", shown="`DEFAULT_TIMEZONE`", editable=True)  # fmt: skip


@dataclass(frozen=True)
class Drip:
    """What the drip sends, and to whom."""

    locale: str = setting("LOCALE", "en-US", p.exactly(*PAPER_OF_LOCALE), "the shipped copy's language and date style: `en-US` (US spelling, month-first dates, Letter paper) or `en-GB`")  # fmt: skip
    default_timezone: str = setting("DEFAULT_TIMEZONE", "UTC", p.zone, "the time zone of a reader whose browser sent none")  # fmt: skip
    sequence_path: str = setting("SEQUENCE_PATH", "", p.text, "your own sequence file, used instead of `campaigns/sequence.toml`", shown="the shipped one")  # fmt: skip
    double_opt_in: bool = setting("DOUBLE_OPT_IN", "1", p.flag, "`1`: confirm before anything but the confirmation goes out; `0`: on the list at once, and the first email (list mail, with one-click unsubscribe) links the worksheet directly")  # fmt: skip
    resend_minutes: int = setting("RESEND_MINUTES", "10", p.whole(0), "the shortest time between two worksheet emails to one address (an address that never confirmed is asked 3 times in all, and a reader who left once per 30 days, whatever this says)")  # fmt: skip
    unconfirmed_days: int = setting("UNCONFIRMED_DAYS", "30", p.whole(1), "days a signup that never confirmed is kept after its last confirmation email; then the clock's tick deletes it with its consent and emails (at least `1`)")  # fmt: skip


@dataclass(frozen=True)
class Signup:
    """Who may sign up, from where, and how fast."""

    embed_origins: tuple = setting("EMBED_ALLOWED_ORIGINS", "", p.origins, "comma-separated origins (`https://blog.example.com`) allowed to embed the form and post to the API", shown="empty = same origin only", unset=(), config=list)  # fmt: skip
    rate_limit: r.Rate = setting("SIGNUP_RATE_LIMIT", "5/minute;50/day", r.rate, "signup posts per client (Flask-Limiter syntax), a client being an IPv4 address or the /64 of an IPv6 one. The hosted form and the API share it. Counted: every post taken, and every post refused as a bot's (the challenge, the honeypot, the origin, the form's token). Not counted: a post refused for a field the reader must fix, a \"Did you mean\" round, and calls with an API key", config=str)  # fmt: skip
    min_seconds: int = setting("SIGNUP_MIN_SECONDS", "2", p.whole(0), "time trap for the hosted form without JavaScript: sent sooner than this after it was shown, it is shown again asking for one more press (`0` = off)")  # fmt: skip
    challenge: str = setting("SIGNUP_CHALLENGE", "pow", p.one_of("pow", "off"), "`pow`: every anonymous API signup carries a proof of work Tend issued (ALTCHA format); `off`: none")  # fmt: skip
    api_keys: tuple = setting("SIGNUP_API_KEYS", "", p.words, "comma-separated keys (16 characters or more) for servers calling the API with `Authorization: Bearer <key>`", shown="none", unset=(), secret=True, config=list)  # fmt: skip
    max_form_bytes: int = setting("MAX_FORM_BYTES", "16384", p.whole(1), "the largest body accepted on the signup routes (`413` and the banner above it)")  # fmt: skip


@dataclass(frozen=True)
class Worksheet:
    """The PDF readers download."""

    paper: str = setting("WORKSHEET_PAPER", "", p.one_of("letter", "a4"), "the worksheet's paper: `letter` or `a4`", shown="the locale's: `letter` for en-US, `a4` for en-GB")  # fmt: skip
    path: str = setting("WORKSHEET_PATH", "", p.existing_file, "a PDF of your own, served instead of the built worksheet (it must exist)", shown="the built one")  # fmt: skip


@dataclass(frozen=True)
class Webhooks:
    """Bounces and complaints from the email provider."""

    ses_topic_arns: tuple = setting("SES_TOPIC_ARNS", "", p.words, "comma-separated SNS topic ARNs whose notifications are taken", shown="empty = off", unset=(), config=list)  # fmt: skip
    postmark_username: str = setting("POSTMARK_WEBHOOK_USERNAME", "", p.text, "the basic-auth user Postmark sends", shown="empty = off")  # fmt: skip
    postmark_password: str = setting("POSTMARK_WEBHOOK_PASSWORD", "", p.text, "the basic-auth password Postmark sends (16 characters or more)", shown="empty = off", secret=True, strip=False)  # fmt: skip
    mailgun_signing_key: str = setting("MAILGUN_WEBHOOK_SIGNING_KEY", "", p.text, "Mailgun's HTTP webhook signing key", shown="empty = off", secret=True)  # fmt: skip
    sendgrid_public_key: str = setting("SENDGRID_WEBHOOK_PUBLIC_KEY", "", p.text, "SendGrid's Event Webhook verification key (base64 as SendGrid shows it, or PEM)", shown="empty = off")  # fmt: skip
    max_age_seconds: int = setting("WEBHOOK_MAX_AGE_SECONDS", "900", p.whole(1), "how far a signed webhook time may be from now; each webhook nonce is kept this long")  # fmt: skip


@dataclass(frozen=True)
class Operator:
    """The dashboard, metrics and their guards."""

    admin_password: str = setting("ADMIN_PASSWORD", "", p.text, "guards `/admin`; outside debug at least 12 characters", shown="unset = dashboard off", secret=True, least=12, strip=False)  # fmt: skip
    login_rate_limit: r.Rate = setting("ADMIN_LOGIN_RATE_LIMIT", "5/minute", r.rate, "login attempts, and wrong admin API tokens, per client (an IPv4 address, or an IPv6 /64)", config=str)  # fmt: skip
    login_global_rate_limit: r.Rate = setting("ADMIN_LOGIN_GLOBAL_RATE_LIMIT", "20/minute", r.rate, "wrong passwords (with a valid form token) from all clients together; never holds back the right password from a client that has not failed itself", config=str)  # fmt: skip
    session_hours: int = setting("ADMIN_SESSION_HOURS", "12", p.whole(1), "how long a dashboard login lasts")  # fmt: skip
    api_token: str = setting("ADMIN_API_TOKEN", "", p.text, "Bearer token for [the admin API](admin-api.md) (`/api/admin/`); outside debug at least 32 characters", shown="unset = the admin API is off (every route a 404)", secret=True, least=32)  # fmt: skip
    metrics_token: str = setting("METRICS_TOKEN", "", p.text, "Bearer token for `/metrics` (16 characters or more)", shown="unset = `/metrics` is a 404 (open only with `FLASK_DEBUG`)", secret=True)  # fmt: skip


@dataclass(frozen=True)
class Web:
    """How the web process listens (read by `gunicorn.conf.py`)."""

    host: str = setting("WEB_HOST", "127.0.0.1", p.text, "the address the web process binds; `0.0.0.0` to listen on every interface")  # fmt: skip
    port: int = setting("PORT", "5000", p.whole(1, 65535), "the port the web process binds (change `PUBLIC_BASE_URL` with it)")  # fmt: skip
    concurrency: int = setting("WEB_CONCURRENCY", "3", p.whole(1), "gunicorn worker processes of `web` ((2 × cores) + 1 is the usual choice)")  # fmt: skip


# The groups of `Settings`, in the order the reference lists them.
GROUPS: tuple[tuple[str, type], ...] = (
    ("service", Service),
    ("web", Web),
    ("mail", Mail),
    ("sender", Sender),
    ("guard", Guard),
    ("coach", Coach),
    ("drip", Drip),
    ("signup", Signup),
    ("worksheet", Worksheet),
    ("webhooks", Webhooks),
    ("operator", Operator),
)


def rows() -> list[tuple[str, str, Setting]]:
    """Every setting as (group, field, declaration), in the reference's order."""
    return [(group, f.name, f.metadata["setting"]) for group, kind in GROUPS for f in fields(kind)]


BY_NAME: dict[str, Setting] = {s.name: s for _, _, s in rows()}
DEFAULTS: dict[str, str] = {name: s.default for name, s in BY_NAME.items()}
