"""``X-Hub-Signature-256``: HMAC-SHA256 of the raw body with the Meta app secret."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

PREFIX = "sha256="


def sign(body: bytes, secret: str) -> str:
    """Return the header value Meta would send for ``body``."""
    return PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(body: bytes, header: str | None, secrets: Iterable[str]) -> bool:
    """Whether ``header`` is the signature of the raw ``body`` under one of ``secrets``.

    Hashes the bytes as received: Meta escapes non-ASCII characters, so a
    re-serialized body would hash differently. Every comparison is constant-time.
    """
    if not header or not header.startswith(PREFIX):
        return False
    expected = header.strip().lower().encode()
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(sign(body, secret).encode(), expected)
    return matched
