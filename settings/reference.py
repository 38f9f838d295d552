"""The configuration reference (`docs/configuration.md`), written from the settings table.

    python -m settings reference > docs/configuration.md

A test compares the page with this output, so the page cannot drift from the code.
"""

from __future__ import annotations

import inspect

from .checks import LEAST_VARIETY
from .table import GROUPS, rows

INTRO = f"""\
# Configuration

<!-- Written by `python -m settings reference > docs/configuration.md` from
settings/table.py. Do not edit it here: change the table and run the command. -->

Everything comes from the environment. Every process (web, worker, clock and each
`flask --app app ...` command) also reads `.env` in the project folder, with
python-dotenv, so quotes, spaces and `#` mean the same everywhere; a variable already in
the environment wins, and `FLASK_SKIP_DOTENV=1` leaves `.env` unread. Quote a value with
spaces: `COACH_NAME='Career Notes'`. A blank value means the default.

A setting Tend cannot use stops every process at start (exit status 2), with one line per
problem, each naming the variable and its fix: all of them at once, not one per start.
`flask --app app doctor` lists the same problems without stopping, checks the database,
Redis, the relay and the DKIM key, and prints the DNS records to publish.

Outside debug (`FLASK_DEBUG` unset), Tend also refuses what a real sender must not run
with: a `SECRET_KEY` under 32 characters; `PUBLIC_BASE_URL` on `http://` with a host that
is not loopback; `MAIL_FROM` on `localhost`; an empty `POSTAL_ADDRESS`; and secrets that
are not secret. Those are `SECRET_KEY` and `ADMIN_API_TOKEN` (32 characters or more),
`ADMIN_PASSWORD` (12 characters or more), `SIGNUP_API_KEYS`, `METRICS_TOKEN`, `POSTMARK_WEBHOOK_PASSWORD` and
`MAILGUN_WEBHOOK_SIGNING_KEY` (16 characters or more): none may be a value shown in
these docs, or hold fewer than {LEAST_VARIETY} different characters. For a local trial,
`FLASK_DEBUG=1` (which `make run` writes to `.env`) lifts these. More on a wrong setting
at start is in [running locally](running.md#when-a-setting-is-wrong), and on production in
[production](deploy.md#production-notes).

The coach's settings (the [coach](#coach) group, marked *dashboard-editable* below) can
also be set on the dashboard's Settings page (`/admin/settings`) while Tend runs. A value
saved there wins over the environment's until it is reset, and applies to the next email
and the next tick in every process, with no restart. It is checked by the same parser
that reads the environment. The environment's value is the default. More in
[coach settings](coach-settings.md).
"""


def _default(declared) -> str:
    if declared.shown:
        return declared.shown
    return f"`{declared.default}`" if declared.default else "unset"


def render() -> str:
    """The whole page, one table per group, in the table's order."""
    lines = [INTRO]
    declared_rows = rows()
    for group, kind in GROUPS:
        lines.append(f"## {group}\n")
        lines.append(f"{inspect.cleandoc(kind.__doc__ or '')}\n")
        lines.append("| variable | meaning | default |")
        lines.append("|---|---|---|")
        for g, _, declared in declared_rows:
            if g == group:
                doc = declared.doc.replace("|", "\\|")
                if declared.editable:
                    doc += "; *dashboard-editable*"
                lines.append(f"| `{declared.name}` | {doc} | {_default(declared)} |")
        lines.append("")
    return "\n".join(lines)
