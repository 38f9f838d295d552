"""Where the tests run: the servers they use, the environment a test app gets, and the
values every test shares (the signing key, the admin password, the contract's messages)."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

PG_SERVER = os.environ.get("TEND_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
REDIS_BASE = os.environ.get("TEND_TEST_REDIS", "redis://127.0.0.1:6379")
BACKEND = os.environ.get("TEND_TEST_DB", "sqlite")
ROOT = Path(__file__).resolve().parent.parent.parent
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


# The contract's messages, to the letter (DESIGN.md): every form and the API give these.
NAME_MSG = "Please enter your name."
EMAIL_MSG = "Please enter a valid email address."
BANNER = "Something went wrong. Please check your entries and try again."


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
