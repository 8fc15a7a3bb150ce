"""Which hosts may be sent the token over plain http: loopback ones only (DESIGN.md section 6).

One decision for every source of the API URL (``--api-url``, config ``github.api_url``,
``GITHUB_API_URL``), so that no source can slip past it.
"""

from __future__ import annotations

from ipaddress import ip_address
from urllib.parse import urlsplit


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1, ``localhost`` and names under ``.localhost`` (RFC 6761 reserves them)."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ip_address(name).is_loopback
    except ValueError:
        return False


def check_api_url(url: str) -> str:
    """The URL, if the token may be sent there; else ValueError saying why (one line)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # an unbalanced "[" in the host
        raise ValueError(f"{url!r} is not an http(s) URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"{url!r} is not an http(s) URL")
    if parts.scheme == "http" and not is_loopback(host):
        raise ValueError(f"{url!r} must use https (plain http only for loopback hosts)")
    return url
