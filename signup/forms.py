"""The hosted form (Flask-WTF), validated by the same pure checks the API uses."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, StringField
from wtforms.validators import ValidationError

from signup import messages
from signup.validation import clean_email, clean_name


class SignupForm(FlaskForm):
    name = StringField("Your name", filters=[lambda v: v.strip() if isinstance(v, str) else v])
    email = EmailField("Your email", filters=[lambda v: v.strip() if isinstance(v, str) else v])
    timezone = HiddenField()
    page = HiddenField()
    rendered = HiddenField()
    # The honeypot: hidden from people, filled by bots.
    website = StringField("Leave this field empty")

    def validate_name(self, field):
        if clean_name(field.data) is None:
            raise ValidationError(messages.NAME)

    def validate_email(self, field):
        if clean_email(field.data) is None:
            raise ValidationError(messages.EMAIL)
