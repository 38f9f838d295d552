"""What a studio function answers when the coach's input cannot be taken."""

from __future__ import annotations


class Refused(Exception):
    """Bad input: nothing was changed. `errors` maps each field (as the API and the
    dashboard's forms name it) to its messages, each one naming the problem."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


class NotFound(Exception):
    """No such email, version, reader or setting."""
