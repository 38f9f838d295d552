"""The dashboard's forms (Flask-WTF): each POST carries a CSRF token."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, ValidationError

from subscribers.fields import clean_email


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
