"""Where a ``next`` parameter may send the browser: only a path on this site.

Every place that follows a ``next`` (sign-in, the second-factor step, the language switch) asks
``same_site_path``.  A prefix check is not enough: browsers drop tabs and newlines inside a URL and
read a backslash as a slash, so ``/\\t/evil.example`` or ``/\\evil.example`` become
``//evil.example``, another site (issue #12, open redirect after sign-in).
"""
from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit


def same_site_path(target: object) -> str | None:
    """``target`` when it is a path on this site, else None.

    Accepted: text starting with a single ``/``, with no scheme or host once parsed, no
    backslash, no whitespace and no control or format characters (anything a browser could strip
    or reinterpret before resolving it)."""
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target:
        return None
    if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target
