"""Bounces and complaints reported by the sending provider's webhooks (SES, Postmark, Mailgun, SendGrid)."""
