"""The pages and the worksheet as one TOML file, for `content export|import`.

`dumps()` writes `{"pages": pages.export_data(), "worksheet": worksheet.export_data()}`
as TOML that `tomllib` reads back equal (`loads()`): tables for objects, arrays of tables
for lists of objects that hold lists, inline tables for the small ones (a worksheet's
boxes and columns), strings escaped as TOML's basic strings. It writes only what these
two hold (objects, lists, text, whole numbers, true and false), which is all it needs.
"""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

from studio import pages, worksheet

BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
HEADER = (
    "# The words of the signup pages and the worksheet (Tend). `flask --app app content\n"
    "# import DIR` publishes what differs from what readers get now; see docs/pages.md.\n"
)


def export_text() -> str:
    """The current pages and worksheet, as the file's text."""
    return dumps({"pages": pages.export_data(), "worksheet": worksheet.export_data()})


def loads(text: str) -> dict[str, Any]:
    """The file's data (`pages`, `worksheet`); raises ValueError for TOML it cannot read."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"not TOML: {err}") from None


def _key(name: str) -> str:
    return name if BARE_KEY.fullmatch(name) else _string(name)


def _string(text: str) -> str:
    # JSON's escapes are TOML's, but for DEL, which TOML wants escaped too.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            return "[\n" + "".join(f"  {_value(v)},\n" for v in value) + "]"
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"TOML has no place for {type(value).__name__}")


def _nested(value: Any) -> bool:
    return isinstance(value, dict | list)


def _is_table_list(value: Any) -> bool:
    """A list of objects written as an array of tables: all but lists of small flat
    objects (a key and a label), which read best as inline tables, one a line."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) for v in value)
        and any(len(v) > 2 or any(_nested(x) for x in v.values()) for v in value)
    )


def _table(data: dict[str, Any], path: list[str], out: list[str]) -> None:
    for name, value in data.items():
        if not isinstance(value, dict) and not _is_table_list(value):
            out.append(f"{_key(name)} = {_value(value)}")
    for name, value in data.items():
        where = [*path, _key(name)]
        if isinstance(value, dict):
            out.append(f"\n[{'.'.join(where)}]")
            _table(value, where, out)
        elif _is_table_list(value):
            for element in value:
                out.append(f"\n[[{'.'.join(where)}]]")
                _table(element, where, out)


def dumps(data: dict[str, Any]) -> str:
    """`data` as TOML text that `tomllib` reads back equal."""
    out: list[str] = []
    _table(data, [], out)
    return HEADER + "\n".join(out).lstrip("\n") + "\n"
