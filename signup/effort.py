"""What a bot must spend on a signup, and where it holds: the honest account.

**Where a proof of work holds.** With SIGNUP_CHALLENGE=pow, an anonymous signup through
the API (the embed, or a page of one's own) is refused without a solved challenge, and
the hosted form run with JavaScript solves one before it posts. The hosted form *without*
JavaScript posts no proof of work: it carries the signed, single-use form token and its
time trap (SIGNUP_MIN_SECONDS), and a bot that waits the two seconds and posts gets
through it. A keyed API call (SIGNUP_API_KEYS) carries none either: the key stands for it.
What holds on every channel is the rate limit per client (SIGNUP_RATE_LIMIT, IPv6 counted
by its /64), the caps per address and per mailbox, and the same answer for all.

**What a challenge costs.** A solve takes about 15 ms of plain Python at the base
difficulty (`challenge.MAX_NUMBER`): a small price for one bot, by design, so a phone's
browser pays well under a second. So the price rises with use: a client (its network, as
the limits count it) that had signups accepted in the last `WINDOW` gets challenges
`2 ** n` times harder for its `n` recent signups, up to 16 times. A reader signing up once
never notices; a script signing up from one address pays more each time, and its rate
limit stops it anyway.

**Getting challenges.** `GET /api/challenge` is limited per client (`CHALLENGE_LIMIT`), so
no one can stock up on challenges faster than a person would need them: each is good for
two hours and for one signup.
"""

from __future__ import annotations

from flask import Flask, abort, current_app, request

from signup import challenge
from web import limits, redis_edge
from web.metrics import count_signup
from web.redis_edge import RedisDown

WINDOW = 3600  # seconds a client's accepted signups raise its difficulty
MOST = 4  # doublings at most: 16 times the base work
CHALLENGE_LIMIT = "20/minute;200/hour"
# Where a challenge is issued: the hosted form (to its script) and the embed's endpoint.
ISSUING = ("signup.form", "signup.new_challenge")


def _key(network: str) -> str:
    return redis_edge.current().key("effort", network)


def tally(source: str, ip: str | None) -> None:
    """Count an accepted signup, in one round trip: for the metrics (by source) and against
    its client's network for its next challenges. A Redis that does not answer loses the
    counts (the difficulty stays where it was; the rate limit still holds), never the
    signup."""
    key = _key(limits.network_of(ip))

    def count(redis) -> None:
        pipe = redis.pipeline(transaction=False)
        count_signup(pipe, source)
        pipe.incr(key).expire(key, WINDOW).execute()

    try:
        redis_edge.current().call(count)
    except RedisDown:
        current_app.logger.debug("signup not tallied: Redis unavailable")


def max_number_for(recent: int) -> int:
    """The difficulty for a client with `recent` accepted signups in the window."""
    return challenge.MAX_NUMBER * 2 ** min(max(recent, 0), MOST)


def recent_signups(network: str) -> int:
    try:
        return int(redis_edge.current().call(lambda redis: redis.get(_key(network))) or 0)
    except (RedisDown, ValueError):
        return 0


def before_issuing() -> None:
    """Before a view that may issue a challenge: the limit on fetching them, and the
    difficulty for this client."""
    if request.endpoint not in ISSUING:
        return
    network = limits.client_network()
    fetching = request.endpoint == "signup.new_challenge" and request.method == "GET"
    if fetching and not limits.spend(CHALLENGE_LIMIT, "challenge", network):
        abort(429)
    challenge.difficulty.set(max_number_for(recent_signups(network)))


def _after(_error) -> None:
    challenge.difficulty.set(challenge.MAX_NUMBER)  # the next request starts from the base


def init_app(app: Flask) -> None:
    app.before_request(before_issuing)
    app.teardown_request(_after)
