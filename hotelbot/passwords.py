"""Password hashing with bcrypt, kept off the event loop.

bcrypt at cost 12 takes about a quarter of a second: run on the event loop it
would stall every request and webhook, so the async functions hash in a thread.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib

import bcrypt

MIN_LENGTH = 8
MAX_LENGTH = 128  # bcrypt reads at most 72 bytes; longer inputs are pre-hashed below.

# A hash of a random password, verified when an email is unknown so that the
# answer takes as long as for a known email with a wrong password.
_DUMMY_HASH = bcrypt.hashpw(b"hotelbot-timing-equalizer", bcrypt.gensalt(4))


def _prepare(password: str) -> bytes:
    # bcrypt ignores bytes past 72 and rejects NUL; hashing first keeps every character significant.
    return base64.b64encode(hashlib.sha256(password.encode()).digest())


def hash_password_sync(password: str, rounds: int = 12) -> str:
    return bcrypt.hashpw(_prepare(password), bcrypt.gensalt(rounds)).decode()


def verify_password_sync(password: str, password_hash: str | None) -> bool:
    if password_hash is None:
        bcrypt.checkpw(_prepare(password), _DUMMY_HASH)
        return False
    return bcrypt.checkpw(_prepare(password), password_hash.encode())


async def hash_password(password: str, rounds: int = 12) -> str:
    return await asyncio.to_thread(hash_password_sync, password, rounds)


async def verify_password(password: str, password_hash: str | None) -> bool:
    """Check ``password`` against ``password_hash``; a None hash costs the same time and fails."""
    return await asyncio.to_thread(verify_password_sync, password, password_hash)


def set_dummy_cost(rounds: int) -> None:
    """Make unknown-email checks cost what real ones do at ``rounds``."""
    global _DUMMY_HASH
    _DUMMY_HASH = bcrypt.hashpw(b"hotelbot-timing-equalizer", bcrypt.gensalt(rounds))
