"""Building and checking URLs."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, url_for


def external_url(endpoint: str, **values) -> str:
    """An absolute URL for emails. SERVER_BASE_URL, when set, wins over the request's Host header."""
    base = current_app.config.get("SERVER_BASE_URL")
    if base:
        return base.rstrip("/") + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)


def is_safe_next(target: str | None) -> bool:
    """Only a local path may be a `next` target: no scheme, no host, no tricks with slashes."""
    if not target or not isinstance(target, str) or len(target) > 2000:
        return False
    if any(ord(ch) < 32 or ch == "\\" for ch in target):
        return False
    if not target.startswith("/") or target.startswith("//"):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc
