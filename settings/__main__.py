"""`python -m settings reference`: print the configuration reference (docs/configuration.md)."""

from __future__ import annotations

import sys

from .reference import render


def main(argv: list[str]) -> int:
    if argv != ["reference"]:
        print("usage: python -m settings reference > docs/configuration.md", file=sys.stderr)
        return 2
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
