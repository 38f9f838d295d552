"""The dashboard's forms (Flask-WTF): each POST carries a CSRF token."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, EmailField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, ValidationError

from subscribers.fields import clean_email

EXPIRED = "That form expired. Please try again."  # a form whose CSRF token is stale


class LoginForm(FlaskForm):
    password = PasswordField("Password", validators=[DataRequired()])


class ActionForm(FlaskForm):
    """A button: log out, delete a subscriber. Only the CSRF token is checked."""


class TestSendForm(FlaskForm):
    email = EmailField("Send a test to", validators=[DataRequired()])

    def validate_email(self, field):
        if clean_email(field.data) is None:
            raise ValidationError("Please enter a valid email address.")


class ImportForm(FlaskForm):
    file = FileField("CSV export (Mailchimp, listmonk or Tend)", validators=[FileRequired()])
    skip_invalid = BooleanField("Import the valid rows and list the invalid ones (skip them)")


# One reader's forms: what was typed is judged by `studio.readers` (the signup form's own
# checks), whose messages the page shows beside each field; these carry it and the CSRF.


class NameForm(FlaskForm):
    name = StringField("Name")


class AddressForm(FlaskForm):
    email = StringField("Email address")
    in_person = BooleanField("They asked for this address in person (no confirmation by email)")


class StartForm(FlaskForm):
    started_on = StringField("Start of the new job")


# The answers of the start-date page, as the coach may set one ("": never said).
JOB_CHOICES = (
    ("", "Never said"),
    ("started", "Started (or has a start date)"),
    ("looking", "Still looking"),
    ("not_changing", "Not changing jobs"),
)


class JobForm(FlaskForm):
    job_answer = StringField("Their answer")


class AddReaderForm(FlaskForm):
    name = StringField("Name")
    email = StringField("Email address")
    note = TextAreaField("How they asked to join")
    confirmed = BooleanField("They confirmed in person: no confirmation email")
