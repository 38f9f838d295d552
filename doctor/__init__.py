"""`flask --app app doctor`: every problem of a deployment at once, then the DNS records.

`probes.py` asks the real services (database, Redis, the relay, the DKIM key, the
worksheet); `dns.py` writes the records to publish; `cli.py` is the command.
"""
