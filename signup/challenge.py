"""The bot challenge: an ALTCHA proof of work that Tend issues, signs and checks. `now` is
passed in; the difficulty is the caller's, or the request's (`difficulty`, `signup.effort`).

The format is ALTCHA's (v1): the challenge is SHA-256(salt + number) for a secret number
below the difficulty (`MAX_NUMBER`, or more for a busy client), signed with an HMAC; the browser finds the number by trying them in
turn and sends back base64(JSON) of algorithm, challenge, number, salt and signature. The
expiry travels in the signed salt. Checking a solution costs one SHA-256 and one HMAC,
whatever the difficulty. Single use is `web.spent`'s business: `Solved.id` names it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

from altcha import create_challenge_v1, verify_solution_v1

# Tries a solver makes: half of it on average. A phone's browser does a few hundred
# thousand SHA-256 a second, so the worst case stays well under a second
# (bench/bench_challenge.py measures it).
MAX_NUMBER = 50_000
# A client that signed up a lot lately gets up to 16 times the work (`signup.effort`).
MAX_NUMBER_CEILING = MAX_NUMBER * 16
LIFETIME = timedelta(hours=2)
ALGORITHM = "SHA-256"
# A real payload is about 250 characters; anything much longer is not one.
PAYLOAD_MAX = 1024
_HEX64 = re.compile(r"[0-9a-f]{64}")
_DIGITS = re.compile(r"[0-9]{1,12}")


@dataclass(frozen=True)
class Solved:
    """A genuine, fresh solution: `id` is what single use is counted by."""

    id: str
    expires_at: datetime


# The largest secret number of a challenge issued in this context, when `issue` is not told:
# `signup.effort` sets it for each request from the client's recent signups.
difficulty: ContextVar[int] = ContextVar("tend.challenge.max_number", default=MAX_NUMBER)


def _key(secret_key: str) -> bytes:
    # Its own key, derived from SECRET_KEY, so a challenge signature signs nothing else.
    return hmac.new(secret_key.encode(), b"tend.challenge", hashlib.sha256).digest()


def issue(
    secret_key: str, now: datetime, *, number: int | None = None, max_number: int | None = None
) -> dict:
    """A new challenge as the JSON an ALTCHA solver takes, valid for `LIFETIME`.

    `number` fixes the answer instead of drawing it at random: the signup bench makes its
    solutions that way rather than spending its CPU on solving. `max_number` is the
    difficulty (the solver tries half of it on average); without it, the context's
    `difficulty`, `MAX_NUMBER` unless `signup.effort` raised it for this client.
    """
    max_number = min(max_number or difficulty.get(), MAX_NUMBER_CEILING)
    challenge = create_challenge_v1(
        algorithm=ALGORITHM,
        max_number=max_number,
        hmac_key=_key(secret_key),
        number=number,
        expires=now + LIFETIME,
    )
    body = challenge.to_dict()
    body["maxnumber"] = body["maxNumber"]  # the ALTCHA widget's spelling
    return body


def check(secret_key: str, payload: object, now: datetime) -> Solved | None:
    """The solution in `payload` if it is one Tend issued, solved, and not expired; else None.

    Anything else (missing, not base64, not JSON, the wrong shape, a forged signature, a
    wrong number, expired) is None: never an exception.
    """
    if not isinstance(payload, str) or not payload or len(payload) > PAYLOAD_MAX:
        return None
    try:
        data = json.loads(base64.b64decode(payload, validate=True))
    except (binascii.Error, ValueError, RecursionError):
        return None
    if not _well_formed(data):
        return None
    expires = _expires(data["salt"])
    if expires is None or not now.timestamp() < expires <= (now + LIFETIME).timestamp() + 60:
        return None
    verified, _error = verify_solution_v1(data, _key(secret_key), check_expires=False)
    if not verified:
        return None
    return Solved(id=data["challenge"], expires_at=datetime.fromtimestamp(expires, UTC))


def _well_formed(data: object) -> bool:
    """The payload's fields have the types and sizes the library expects (it trusts them)."""
    if not isinstance(data, dict) or data.get("algorithm") != ALGORITHM:
        return False
    number, salt = data.get("number"), data.get("salt")
    return (
        isinstance(number, int)
        and not isinstance(number, bool)
        and 0 <= number <= MAX_NUMBER_CEILING
        and isinstance(salt, str)
        and 0 < len(salt) <= 200
        and all(_is_hex64(data.get(k)) for k in ("challenge", "signature"))
    )


def _is_hex64(value: object) -> bool:
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def _expires(salt: str) -> int | None:
    """The expiry the salt carries (Unix time), or None unless it carries exactly one."""
    _, _, query = salt.partition("?")
    values = parse_qs(query).get("expires", [])
    # ASCII digits only: `str.isdigit` also takes "①" and "²", which `int` refuses.
    if len(values) != 1 or _DIGITS.fullmatch(values[0]) is None:
        return None
    return int(values[0])
