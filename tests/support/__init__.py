"""What the tests share besides fixtures: the real servers they start, the helpers they
call, and the values they sign with. Fixtures live in conftest.py and build on these.

One module per concern; every name is here too, so `from support import X` reads the same:

- `env`: where the tests run, the environment a test app gets, the contract's messages;
- `smtp`: the SMTP server on loopback;
- `processes`: flask commands, workers, a private Redis or PostgreSQL, a fresh database;
- `rows`: driving the queue and the clock, reading rows back;
- `pages`: what a browser does (forms, tokens, the bot challenge, the dashboard login);
- `webhooks`: what each bounce provider signs.
"""

from .env import (
    ADMIN_PASSWORD,
    BACKEND,
    BANNER,
    EMAIL_MSG,
    NAME_MSG,
    PG_SERVER,
    REDIS_BASE,
    ROOT,
    SECRET,
    cli_env_of,
    env_for,
    free_port,
    worker_index,
)
from .pages import (
    admin_client,
    answer,
    csrf_from,
    hosted_fields,
    login,
    signup,
    solution_from,
    solve,
    started_path,
    tampered,
)
from .processes import (
    PostgresServer,
    RedisServer,
    empty_database,
    flask_cli,
    procfile_web_command,
    start_worker,
    stop,
    wait_for,
)
from .rows import add_due_drip_rows, deliveries_of, sending_state, subscriber_statuses, tick, work
from .smtp import Received, SMTPSink
from .webhooks import (
    MAILGUN_KEY,
    POSTMARK_PASSWORD,
    POSTMARK_USER,
    SNS_CERT_URL,
    SNS_TOPIC,
    WebhookKeys,
    basic,
    sign_mailgun,
    sign_sendgrid,
    sign_sns,
    sns_certificate,
)

__all__ = [
    "ADMIN_PASSWORD",
    "BACKEND",
    "BANNER",
    "EMAIL_MSG",
    "MAILGUN_KEY",
    "NAME_MSG",
    "PG_SERVER",
    "POSTMARK_PASSWORD",
    "POSTMARK_USER",
    "REDIS_BASE",
    "ROOT",
    "SECRET",
    "SNS_CERT_URL",
    "SNS_TOPIC",
    "PostgresServer",
    "Received",
    "RedisServer",
    "SMTPSink",
    "WebhookKeys",
    "add_due_drip_rows",
    "admin_client",
    "answer",
    "basic",
    "cli_env_of",
    "csrf_from",
    "deliveries_of",
    "empty_database",
    "env_for",
    "flask_cli",
    "procfile_web_command",
    "free_port",
    "hosted_fields",
    "login",
    "sending_state",
    "sign_mailgun",
    "sign_sendgrid",
    "sign_sns",
    "signup",
    "sns_certificate",
    "solution_from",
    "solve",
    "start_worker",
    "started_path",
    "stop",
    "subscriber_statuses",
    "tampered",
    "tick",
    "wait_for",
    "work",
    "worker_index",
]
