""" "Did you mean …?": a likely typo in a common mail domain, found without DNS. Pure."""

from __future__ import annotations

# The domains most readers' addresses are at. A domain on this list is never corrected.
COMMON_DOMAINS = (
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "yahoo.co.uk",
    "yahoo.fr",
    "yahoo.de",
    "ymail.com",
    "hotmail.com",
    "hotmail.co.uk",
    "hotmail.fr",
    "hotmail.de",
    "outlook.com",
    "live.com",
    "msn.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "gmx.de",
    "gmx.net",
    "gmx.com",
    "web.de",
    "mail.com",
    "zoho.com",
    "yandex.com",
    "yandex.ru",
    "comcast.net",
    "verizon.net",
    "att.net",
    "btinternet.com",
    "orange.fr",
    "free.fr",
    "t-online.de",
    "fastmail.com",
    "hey.com",
)
_KNOWN = frozenset(COMMON_DOMAINS)
# Endings that are slips for `.com` or `.net`. Any other ending is taken as typed: `live.fr`,
# `gmx.at` and `mail.ru` are real domains, one letter away from common ones.
ENDING_SLIPS = frozenset(
    {
        "con",
        "cmo",
        "cm",
        "om",
        "co",
        "comm",
        "coom",
        "vom",
        "xom",
        "ocm",
        "cpm",
        "cim",
        "nte",
        "ent",
        "nett",
        "met",
        "ner",
    }
)


def _distance(a: str, b: str, limit: int) -> int:
    """Edits (insert, delete, replace, swap two neighbours) from `a` to `b`; > limit early."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], previous2[j - 2] + 1)
        if min(row) > limit:
            return limit + 1
        previous2, previous = previous, row
    return previous[-1]


def suggest(address: str) -> str | None:
    """The address with its domain corrected to a common one it is a likely typo of, or None.

    A typo is at most two edits: one or two in the name (`gmial` → `gmail`, `yaho` → `yahoo`;
    one only for names of four letters or fewer, so `acme.com` is never `me.com`), at most
    one in the ending, and only from a known slip (`.con` → `.com`). The local part is kept
    as typed.
    """
    local, at, domain = address.rpartition("@")
    if not at or not local:
        return None
    domain = domain.lower()
    name, dot, ending = domain.partition(".")
    if domain in _KNOWN or not dot:
        return None
    best, best_edits = None, 3
    for known in COMMON_DOMAINS:
        known_name, _, known_ending = known.partition(".")
        name_limit = 1 if len(known_name) <= 4 else 2
        edits = _distance(name, known_name, name_limit)
        if edits > name_limit:
            continue
        if ending != known_ending:
            if ending not in ENDING_SLIPS or _distance(ending, known_ending, 1) > 1:
                continue
            edits += 1
        if 0 < edits <= 2 and edits < best_edits:
            best, best_edits = known, edits
    return None if best is None else f"{local}@{best}"
