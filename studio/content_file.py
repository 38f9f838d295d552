"""The pages and the worksheet as one TOML file, for `content export|import`.

`export_text()` writes `{"pages": ..., "worksheet": ...}` with tomli-w, which `tomllib`
reads back equal (`loads()`); long texts that hold line breaks are written as multi-line
strings, so a coach can read and edit the file by hand.
"""

from __future__ import annotations

import tomllib
from typing import Any

import tomli_w

from studio import pages, worksheet

HEADER = (
    "# The words of the signup pages and the worksheet (Tend). `flask --app app content\n"
    "# import DIR` publishes what differs from what readers get now; see docs/pages.md.\n\n"
)


def export_text() -> str:
    """The current pages and worksheet, as the file's text."""
    data = {"pages": pages.export_data(), "worksheet": worksheet.export_data()}
    return HEADER + tomli_w.dumps(data, multiline_strings=True)


def loads(text: str) -> dict[str, Any]:
    """The file's data (`pages`, `worksheet`); raises ValueError for TOML it cannot read."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"not TOML: {err}") from None
