"""The hosted form (Flask-WTF), validated by the same pure checks the API uses.

It has no session CSRF: its `csrf_token` is the signed, stateless token of `signup.traps`,
checked by the view, so the form needs no cookie (the dashboard's forms keep theirs).
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, StringField
from wtforms.validators import ValidationError

from signup import messages
from subscribers.fields import clean_email, clean_name


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class SignupForm(FlaskForm):
    class Meta:
        csrf = False

    name = StringField("Your name", filters=[_strip])
    email = EmailField("Your email", filters=[_strip])
    timezone = HiddenField()
    page = HiddenField()
    csrf_token = HiddenField()
    # The ALTCHA solution the page's script fills in; empty without JavaScript.
    altcha = HiddenField()
    # The address a "Did you mean …?" was shown for: sent again unchanged, it is kept.
    email_checked = HiddenField()
    # The honeypot: hidden from people, filled by bots.
    website = StringField("Leave this field empty")

    def validate_name(self, field):
        if clean_name(field.data) is None:
            raise ValidationError(messages.NAME)

    def validate_email(self, field):
        if clean_email(field.data) is None:
            raise ValidationError(messages.EMAIL)
