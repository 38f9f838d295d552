"""Settings from the command line, for what runs before the app:

python -m settings reference     the configuration reference (docs/configuration.md)
python -m settings local-env     add SECRET_KEY and FLASK_DEBUG=1 to .env if it lacks them
python -m settings get NAME      one setting's value, from the environment and .env
"""

from __future__ import annotations

import sys

from . import ROOT, ConfigError, environment, value_of
from .local import ready
from .reference import render


def main(argv: list[str]) -> int:
    if argv == ["reference"]:
        sys.stdout.write(render())
        return 0
    if argv == ["local-env"]:
        for name in ready(ROOT / ".env"):
            print(f"added {name} to .env")
        return 0
    if len(argv) == 2 and argv[0] == "get":
        try:
            print(value_of(argv[1], environment()))
        except ConfigError as err:
            print(f"tend: {err}", file=sys.stderr)
            return 2
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
