"""gunicorn's settings for the `web` process (Procfile: `gunicorn -c gunicorn.conf.py`).

It reads `.env` the way every process does (python-dotenv, unless FLASK_SKIP_DOTENV=1),
binds WEB_HOST:PORT (127.0.0.1:5000 unless told otherwise), and writes gunicorn's own
access and error lines as JSON, one object per line with ts, level, logger and message,
like the rest of Tend (`logs.JSONFormatter`).
"""

import settings

_env = settings.environment()
try:
    bind = [f"{settings.value_of('WEB_HOST', _env)}:{settings.value_of('PORT', _env)}"]
    workers = settings.value_of("WEB_CONCURRENCY", _env)
except settings.ConfigError as err:
    raise SystemExit(f"tend: {err}") from None

# Settings are checked once, in the master, before any worker starts (without it each
# worker would stop on a bad setting and be started again).
preload_app = True
# gunicorn's control socket (one fixed path per user by default) is not used by Tend, and
# two instances on one machine would fight over it: none.
control_socket_disable = True
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "logs.JSONFormatter"}},
    # A token in a path (a signed link, a login link) never reaches the access log.
    "filters": {"tokens": {"()": "logs.TokenMask"}},
    "handlers": {
        "json": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["tokens"],
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"level": "INFO", "handlers": []},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["json"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["json"], "propagate": False},
    },
}
