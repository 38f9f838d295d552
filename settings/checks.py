"""What a set of parsed values may not be: settings that go together, what production
refuses, secrets that are not secret, and the warnings `doctor` prints.

Each check returns `Problem`s (never raises), so one start lists every problem at once.
`values` maps each environment variable's name to its parsed value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from urllib.parse import urlsplit

from .parsers import is_loopback

# Values that must never sign anything outside debug.
PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "dev", "secret", "default"}
# Example secrets shown in the README and docs (a test keeps this list complete): whoever
# copies one runs with a value the whole world can read.
EXAMPLE_SECRETS = {
    "6bQm1kT0xX8ZrV4pYc2sHq9uNwJ3eLdA",
    "a long local password",
}
# Outside debug a secret must hold at least this many different characters.
LEAST_VARIETY = 10
MAKE_ONE = "python3 -c 'import secrets; print(secrets.token_hex(32))'"
LOCAL_WAY = "for a local trial instead, set FLASK_DEBUG=1 (make run writes it to .env)"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the settings: the variable, and a line saying what and the fix."""

    name: str
    message: str
    warning: bool = False

    def __str__(self) -> str:
        return self.message


def together(values: Mapping) -> list[Problem]:
    """Settings that only make sense with another, in debug too."""
    found = []
    if bool(values["DKIM_SELECTOR"]) != bool(values["DKIM_PRIVATE_KEY_PATH"]):
        found.append(
            Problem(
                "DKIM_SELECTOR",
                "DKIM_SELECTOR and DKIM_PRIVATE_KEY_PATH go together: set both, or neither",
            )
        )
    if any(len(key) < 16 for key in values["SIGNUP_API_KEYS"]):
        found.append(
            Problem(
                "SIGNUP_API_KEYS",
                "SIGNUP_API_KEYS: every key must be at least 16 characters "
                "(make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')",
            )
        )
    return found


def secret(name: str, value: str, least: int) -> list[Problem]:
    """A secret outside debug: not a documented example, long enough, varied enough."""
    fix = f"set {name} to a random value of your own, for example the output of {MAKE_ONE}"
    if name == "ADMIN_PASSWORD":
        fix = f"set {name} to a password of your own, or unset it to turn the dashboard off"
    if value.strip() in EXAMPLE_SECRETS:
        return [Problem(name, f"{name} is the example value from the documentation: {fix}")]
    if len(value) < least:
        if name == "ADMIN_PASSWORD":
            return [
                Problem(
                    name,
                    f"ADMIN_PASSWORD is too short ({len(value)} characters): set ADMIN_PASSWORD "
                    f"to at least {least} characters, or unset it to turn the dashboard off",
                )
            ]
        return [
            Problem(
                name,
                f"{name} is too short ({len(value)} characters): set {name} to at least "
                f"{least} random characters, for example the output of {MAKE_ONE}",
            )
        ]
    if len(set(value)) < LEAST_VARIETY:
        return [
            Problem(
                name,
                f"{name} has too little variety ({len(set(value))} different characters, "
                f"at least {LEAST_VARIETY} wanted): {fix}",
            )
        ]
    return []


def production(values: Mapping, secrets: Mapping[str, int]) -> list[Problem]:
    """Outside debug, what a real sender must not run with; each names its fix.

    `secrets` maps each secret setting to its least length. Plain http is allowed on
    loopback, so a production-like run on one machine still works.
    """
    found = []
    for name, least in secrets.items():
        given = values[name]
        if name == "SECRET_KEY" or given:
            for one in given if isinstance(given, tuple) else (given,):
                found += secret(name, one, least)
    base = urlsplit(values["PUBLIC_BASE_URL"])
    if base.scheme != "https" and not is_loopback(base.hostname or ""):
        found.append(
            Problem(
                "PUBLIC_BASE_URL",
                f"PUBLIC_BASE_URL is http:// on {base.hostname}: set PUBLIC_BASE_URL to the "
                "https:// address readers open (plain http is allowed only on loopback)",
            )
        )
    mail_from = values["MAIL_FROM"]
    if is_loopback(parseaddr(mail_from)[1].rpartition("@")[2]):
        found.append(
            Problem(
                "MAIL_FROM",
                f"MAIL_FROM is on localhost ({mail_from!r}): set MAIL_FROM to an address on "
                "your own domain, for example MAIL_FROM='Career Notes <coach@example.com>'; "
                + LOCAL_WAY,
            )
        )
    if not values["POSTAL_ADDRESS"].strip():
        found.append(
            Problem(
                "POSTAL_ADDRESS",
                "POSTAL_ADDRESS is empty: set POSTAL_ADDRESS to your postal address, which "
                "every email must carry (CAN-SPAM), for example POSTAL_ADDRESS='12 Garden "
                "Lane, Springfield, IL 62701'",
            )
        )
    if found and is_loopback(base.hostname or ""):
        found.append(
            Problem(
                "FLASK_DEBUG",
                f"FLASK_DEBUG is off while PUBLIC_BASE_URL is on loopback ({base.geturl()}), so "
                f"the lines above apply: {LOCAL_WAY}",
            )
        )
    return found


def advice(values: Mapping) -> list[Problem]:
    """What is advisable but not required: `doctor` prints these as warnings."""
    tips = []

    def tip(name: str, message: str) -> None:
        tips.append(Problem(name, message, warning=True))

    if not values["DKIM_SELECTOR"]:
        tip(
            "DKIM_SELECTOR",
            "DKIM_SELECTOR is not set: email goes out unsigned unless your relay signs it; "
            "run flask --app app dkim keygen and set what it prints",
        )
    if not values["ADMIN_PASSWORD"]:
        tip("ADMIN_PASSWORD", "ADMIN_PASSWORD is not set: the dashboard (/admin) is off")
    if values["SIGNUP_CHALLENGE"] == "off":
        tip(
            "SIGNUP_CHALLENGE",
            "SIGNUP_CHALLENGE is off: anonymous API signups need no proof of work; "
            "set SIGNUP_CHALLENGE=pow unless something in front of Tend guards the signup",
        )
    if values["SIGNUP_MIN_SECONDS"] == 0:
        tip(
            "SIGNUP_MIN_SECONDS",
            "SIGNUP_MIN_SECONDS is 0: the hosted form's time trap is off; set it to 2",
        )
    if not values["DOUBLE_OPT_IN"]:
        tip(
            "DOUBLE_OPT_IN",
            "DOUBLE_OPT_IN is 0: anyone can put any address on the list; set DOUBLE_OPT_IN=1",
        )
    if values["MAIL_BACKEND"] == "smtp" and values["SMTP_SECURITY"] == "none":
        host = values["SMTP_HOST"]
        where = "a relay on this machine" if is_loopback(host) else f"the relay {host}"
        tip(
            "SMTP_SECURITY",
            f"SMTP_SECURITY is none: mail to {where} travels in clear; fine for a local relay "
            "that forwards over TLS, else set SMTP_SECURITY=starttls (or ssl)",
        )
    for origin in values["EMBED_ALLOWED_ORIGINS"]:
        parts = urlsplit(origin)
        if parts.scheme == "http":
            tip(
                "EMBED_ALLOWED_ORIGINS",
                f"EMBED_ALLOWED_ORIGINS has {origin} on plain http: the blog must be opened "
                "at exactly that address (http, not https; localhost and 127.0.0.1 differ)",
            )
    return tips
