"""The web side's app-wide concerns, each a module with its own `init_app(app)`.

`security` (headers and CSP), `errors` (the generic error pages) and `request_log`
(request ids and one log line per request). Features such as signup use them; none of them
knows a feature.
"""
