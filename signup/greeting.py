"""The words of the start-date page that Tend computes, and "What should I call you?".

The page (signup.email_links) offers one optional field: the name the reader wants to be
greeted by. It is posted with the form's signed token (`signup.traps`, its own form name)
and the page's link token; from then on every email greets them by it. Empty puts the
greeting back to the one taken from their name.

Also here, for every page: the locale's dates and send days, and the public holidays a
planned note was moved past.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

from flask import Blueprint, current_app, redirect, request, url_for

from campaigns.names import first_name
from campaigns.plan import Rules
from campaigns.words import current_locale, send_days_words
from models import Subscriber, db, utcnow
from signup.traps import form_token, read_form_token
from subscribers.fields import CALLED_MAX

bp = Blueprint("greeting", __name__)

CALL_ME_FORM = "call-me"
TOO_LONG = f"Please keep it to {CALLED_MAX} characters."
NOT_TEXT = "Please use letters, spaces and punctuation only."
EXPIRED = "This form is too old. Please try again."


def greeting_for(subscriber: Subscriber) -> str:
    """What the reader is greeted by: the name they asked for, else the one from `name`."""
    return subscriber.called_name or first_name(subscriber.name)


def clean_called(raw: object) -> tuple[str | None, str | None]:
    """(the name to keep, None) or (None, the reader's error). Empty keeps None."""
    if not isinstance(raw, str):
        return None, NOT_TEXT
    value = " ".join(raw.split())
    if len(value) > CALLED_MAX:
        return None, TOO_LONG
    if not value.isprintable():
        return None, NOT_TEXT
    return value or None, None


def _holiday_before(day: date, rules: Rules) -> str:
    """' (after New Year's Day)' when a note that leaves on `day` was moved past a public
    holiday: the days just before it that no note leaves on include one."""
    if not rules.holidays:
        return ""
    names, back = [], day - timedelta(days=1)
    for _ in range(14):
        name = rules.holidays.name(back)
        if name:
            names.append(name)
        elif back.weekday() in rules.days:
            break
        back -= timedelta(days=1)
    return f" (after {' and '.join(reversed(names))})" if names else ""


@bp.app_context_processor
def _page_words() -> dict:
    """What the pages' templates may call: the greeting, the send days and hours in
    words, a planned day's holiday, and a fresh token for the "call me" form."""
    config = current_app.config
    # The coach's sending rules, read when a page first asks, once per page: the
    # dashboard may change them at any time.
    _rules = cache(Rules.current)
    return {
        "greeting_for": greeting_for,
        "send_days_words": lambda: send_days_words(_rules().days),
        "send_hours_words": lambda: " and ".join(
            current_locale().clock(t) for t in _rules().window
        ),
        "holiday_before": lambda day: _holiday_before(day, _rules()),
        "call_me_token": lambda: form_token(config["SECRET_KEY"], utcnow(), CALL_ME_FORM),
        "called_max": CALLED_MAX,
    }


@bp.post("/started/<token>/name")
def call_me(token: str):
    """Keep the name the reader wants to be greeted by; bad input changes nothing."""
    from signup import email_links

    subscriber = email_links.subscriber_for("started", token)
    form = read_form_token(
        current_app.config["SECRET_KEY"], request.form.get("csrf_token"), CALL_ME_FORM
    )
    called, error = clean_called(request.form.get("called_name", ""))
    if form is None or form.expired(utcnow()):
        error = EXPIRED
    if error:
        entered = str(request.form.get("called_name", ""))[: CALLED_MAX * 2]
        return email_links._started_page(
            token, subscriber, status=400, name_error=error, called=entered
        )
    subscriber.called_name = called
    db.session.commit()
    return redirect(url_for("signup.started_page", token=token, named=1), code=303)
