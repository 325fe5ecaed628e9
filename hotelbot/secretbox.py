"""Tenant secrets at rest: AES-256-GCM under the master key.

A sealed value is ``v1:<key id>:<base64 nonce + ciphertext + tag>``; the key id
lets a rotated master key open values sealed under the previous one. The tenant
id is bound as associated data, so a sealed value copied to another tenant's
row does not open.
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


class SecretBoxError(ValueError):
    """A sealed value cannot be opened with the keys available."""


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


class SecretBox:
    """Seals and opens short secrets with AES-256-GCM."""

    def __init__(self, key: bytes, old_keys: tuple[bytes, ...] = ()) -> None:
        if len(key) != 32:
            raise ValueError("the master key must be 32 bytes")
        self._key = key
        self._keys = {key_id(candidate): AESGCM(candidate) for candidate in (key, *old_keys)}

    def seal(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(self._key).encrypt(nonce, plaintext.encode(), context.encode())
        return f"v1:{key_id(self._key)}:{base64.b64encode(nonce + ciphertext).decode()}"

    def open(self, sealed: str, context: str) -> str:
        try:
            version, kid, payload = sealed.split(":", 2)
            raw = base64.b64decode(payload)
        except ValueError:
            raise SecretBoxError("sealed value is malformed") from None
        if version != "v1" or kid not in self._keys:
            raise SecretBoxError(f"no key {kid!r} to open this value")
        try:
            return self._keys[kid].decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode()).decode()
        except InvalidTag:
            raise SecretBoxError("sealed value failed authentication") from None

    def needs_reseal(self, sealed: str) -> bool:
        return not sealed.startswith(f"v1:{key_id(self._key)}:")
