"""Credentials out of anything printed or logged: one helper for URLs, one for free text.

A ledger URL (``redis://:password@host``), a downstream endpoint or a webhook may carry a secret
in its userinfo or query string; error messages of client libraries sometimes quote the URL
back. Everything that prints or logs a URL, or an error that may contain one, passes it through
here first (the bottom layer, so any module may). The password is replaced, the user name kept
(it tells an operator which account), a lone userinfo masked (``https://TOKEN@host`` is common),
and query parameters whose names say
they hold a secret (``password``, ``token``, ``key``, ``secret``, ``auth`` ...) are masked.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"

# scheme://[user][:password]@ -- the userinfo of any URL inside free text.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^\s:/@?#]*)(?::(?P<password>[^\s/@]*))?@")
_SECRET_PARAM = re.compile(r"pass|pwd|token|secret|key|auth|signature|credential", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` with its password, and query values that look like secrets, masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, colon, _ = userinfo.partition(":")
        # user:password -> user:***; a lone userinfo is often a token (https://TOKEN@host): masked.
        netloc = f"{user}:{MASK}@{host}" if colon else f"{MASK}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_SECRET_PARAM.search(name) for name, _ in pairs):
            masked = [(name, MASK if _SECRET_PARAM.search(name) else value) for name, value in pairs]
            query = urlencode(masked, safe="*")
    if netloc == parts.netloc and query == parts.query:
        return url
    if not netloc and "://" in url:  # unix:///path: urlunsplit would drop the empty host's //
        return (
            f"{parts.scheme}://{parts.path}"
            + (f"?{query}" if query else "")
            + (f"#{parts.fragment}" if parts.fragment else "")
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str) -> str:
    """``text`` (an error message, a log line) with the password of every URL in it masked."""
    return _USERINFO.sub(_masked_userinfo, text)


def _masked_userinfo(match: re.Match[str]) -> str:
    if match.group("password") is None:
        return f"{match.group('scheme')}{MASK}@"
    return f"{match.group('scheme')}{match.group('user')}:{MASK}@"
