"""Who may post a signup: the browser's own word on where a post comes from, and the keys of
servers calling the API. Pure: the request's headers are passed in.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection, Iterable
from urllib.parse import urlsplit


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of an absolute http(s) URL, or None."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def post_from_allowed_page(
    *,
    origin: str | None,
    fetch_site: str | None,
    referer: str | None,
    allowed: Collection[str],
) -> bool:
    """Whether a browser says this form post came from a page of an allowed origin.

    `Origin` decides when the browser sent one (every current browser does on a POST). Without
    it, `Sec-Fetch-Site: same-origin` (or `none`: typed or bookmarked) is enough, and a
    `Referer` must name an allowed origin. A request with none of the three is no browser
    post from another site (a browser sends at least one): it is let through to the
    form's token, like any other client.
    """
    if origin is not None:
        return origin in allowed
    if fetch_site in ("same-origin", "none"):
        return True
    if referer:
        return origin_of(referer) in allowed
    return fetch_site is None


def page_on_origin_of(page: str | None, referrer: str | None) -> str | None:
    """The page a signup names, when it sits on the origin of the page that sent the
    request (`Referer`, or `Origin`), else None: a link that names someone else's page is
    not believed. The page itself must already be a clean URL."""
    if page is None or referrer is None:
        return None
    own = origin_of(page)
    return page if own is not None and own == origin_of(referrer) else None


def believed_page(
    page: str | None,
    *,
    keyed: bool,
    origin: str | None,
    framed: bool,
    allowed: Collection[str],
) -> str | None:
    """The page a signup names, when it is believed, else None. The page must already be a
    clean URL.

    A keyed call (a server of the coach's) names any page. A browser's post is believed for
    a page on the origin it posts from (`Origin`). The hosted form (`framed`) names the
    page its frame sits on, which may only be on an allowed origin. Anyone else (a script
    with no key and no Origin) names no page.
    """
    if page is None:
        return None
    if keyed:
        return page
    if framed:
        return page if origin_of(page) in allowed else None
    return page_on_origin_of(page, origin)


def bearer_key(authorization: str | None) -> str | None:
    """The key of an `Authorization: Bearer <key>` header, or None without one."""
    if not authorization:
        return None
    scheme, _, key = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    return key.strip()


def key_accepted(key: str, keys: Iterable[str]) -> bool:
    """Whether `key` is one of the configured keys (compared in constant time)."""
    given = key.encode()
    # Every key is compared, so the time taken says nothing about which one nearly matched.
    return bool(sum(hmac.compare_digest(given, k.encode()) for k in keys))
