"""The web side's app-wide concerns, each a module with its own `init_app(app)`.

`security` (headers and CSP), `errors` (the generic error pages), `request_log` (request ids
and one log line per request), `health` (`/healthz`), `icon` (`/favicon.ico`) and `metrics`
(`/metrics`). Features such as signup use them; none of them knows a feature.
"""
