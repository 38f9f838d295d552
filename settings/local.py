"""`python -m settings local-env`: make `.env` ready for a local trial (what `make run` does).

It adds `SECRET_KEY` (random) and `FLASK_DEBUG=1` to `.env` when they are missing, and
never changes a line that is there: a `.env` written before the first run (say with a
port) gets them too.
"""

from __future__ import annotations

import io
import secrets
from pathlib import Path

from dotenv import dotenv_values


def ready(path: Path) -> list[str]:
    """Append what a local trial needs and `path` lacks; the names added."""
    text = path.read_text() if path.exists() else ""
    values = dotenv_values(stream=io.StringIO(text))
    wanted = {"SECRET_KEY": secrets.token_hex(32), "FLASK_DEBUG": "1"}
    added = {k: v for k, v in wanted.items() if not (values.get(k) or "").strip()}
    if added:
        if text and not text.endswith("\n"):
            text += "\n"
        text += "".join(f"{k}={v}\n" for k, v in added.items())
        path.write_text(text)
        path.chmod(0o600)
    return list(added)
