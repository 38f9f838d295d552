"""The DNS records a sender publishes: SPF, DKIM (one TXT value) and DMARC."""

from __future__ import annotations

from email.utils import parseaddr

from settings import Settings, is_loopback


def _domain(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2].strip().lower()


def records(built: Settings, public_b64: str | None) -> list[str]:
    """Lines to print; SPF and DMARC whenever MAIL_FROM has a real domain, DKIM with a key."""
    from campaigns.dkim import txt_value

    sender = built.sender
    from_domain = _domain(sender.mail_from)
    if not from_domain or is_loopback(from_domain):
        return []
    envelope = _domain(sender.return_path) if sender.return_path else from_domain
    lines = [
        "DNS records to publish (one TXT value each, pasted whole):",
        f"  SPF    {envelope}  TXT  v=spf1 include:<your relay's SPF domain> -all",
    ]
    if public_b64:
        name = f"{sender.dkim_selector}._domainkey.{sender.dkim_domain}"
        lines.append(f"  DKIM   {name}  TXT  {txt_value(public_b64)}")
    lines.append(
        f"  DMARC  _dmarc.{from_domain}  TXT  v=DMARC1; p=none; rua=mailto:dmarc@{from_domain}"
    )
    return lines
