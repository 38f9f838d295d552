"""The job that rebuilds the worksheet PDF after the coach publishes new words, as the
existing worker runs it (queued by `studio.worksheet.publish` on the slow-jobs queue).

It builds whatever words are newest when it runs, so the job of an older publish may find
a later one's words, and the later job finds them built. Its outcome is written to
`state` for the dashboard; one that fails leaves the old build served and says why.
"""

from __future__ import annotations

import logging
from datetime import datetime

from flask import current_app

from campaigns.worksheet import build, content, state
from models import db, utcnow

log = logging.getLogger("tend.worksheet")

JOB = "campaigns.worksheet.rebuild.run"
JOB_TIMEOUT = 300  # seconds: a build takes a few


def build_current(now: datetime) -> build.Built:
    """Build the words readers get now, for these settings, and say it is ready (committed)."""
    cfg = current_app.config
    options = build.Options.from_config(cfg)
    version = content.current().version
    made = build.build(options, build.build_folder(cfg, current_app.instance_path))
    state.mark(state.READY, version=version, digest=build.digest(options), now=now)
    db.session.commit()
    return made


def run(version: int) -> dict[str, object]:
    """The RQ job of the publish of `version`."""
    try:
        newest = content.current().version
        try:
            made = build_current(utcnow())
        except Exception as err:
            db.session.rollback()
            log.exception("worksheet: the rebuild of version %s stopped", newest)
            digest = build.digest(build.Options.from_config(current_app.config))
            reason = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
            state.mark(state.FAILED, version=newest, digest=digest, now=utcnow(), error=reason)
            db.session.commit()
            raise
        return {"version": newest, "asked": version, "pages": made.pages}
    finally:
        db.session.remove()
