"""Short-lived signed links to stored media, so ``<img>`` and ``<audio>`` tags work.

A link is ``/api/media/{tenantId}/{fileId}?expires=<unix>&sig=<hex>`` where
``sig`` is HMAC-SHA256 of ``{tenantId}/{fileId}/{expires}`` under the data
directory's media key.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.parse


class MediaLinks:
    def __init__(self, key: bytes, ttl: int, base_url: str) -> None:
        self._key = key
        self._ttl = ttl
        self._base_url = base_url

    def _signature(self, tenant_id: str, file_id: str, expires: int) -> str:
        message = f"{tenant_id}/{file_id}/{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def sign(self, path: str, ttl: int | None = None) -> str:
        """Append ``expires`` and ``sig`` to a ``/api/media/{tenantId}/{fileId}`` path."""
        parts = path.strip("/").split("/")
        tenant_id, file_id = parts[-2], parts[-1]
        expires = int(time.time()) + (ttl or self._ttl)
        query = urllib.parse.urlencode({"expires": expires, "sig": self._signature(tenant_id, file_id, expires)})
        return f"{path}?{query}"

    def absolute(self, path: str, ttl: int | None = None) -> str:
        return self._base_url + self.sign(path, ttl)

    def verify(self, tenant_id: str, file_id: str, expires: str | None, signature: str | None) -> bool:
        if not expires or not signature or not expires.isdigit():
            return False
        if int(expires) < time.time():
            return False
        expected = self._signature(tenant_id, file_id, int(expires))
        return hmac.compare_digest(expected, signature)
