"""Capture: the form, hosted page, embed script, JSON API and the subscriber lifecycle."""
