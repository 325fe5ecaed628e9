"""Re-sealing every tenant secret under the current master key."""

from __future__ import annotations

import logging

from hotelbot.secretbox import SecretBox
from hotelbot.storage import sealed_secrets
from hotelbot.storage.database import Database

logger = logging.getLogger(__name__)


async def reseal_all(db: Database, box: SecretBox) -> int:
    """Re-seal, in one transaction, every tenant secret not sealed under ``box``'s current key.

    Returns the number of values re-sealed. Raises SecretBoxError, and changes
    nothing, when a value does not open with any of ``box``'s keys.
    """
    resealed = 0
    async with db.write() as connection:
        for row in await sealed_secrets.select_sealed_secrets(connection):
            changed = {}
            for name in sealed_secrets.SEALED_NAMES:
                if box.needs_reseal(row[name]):
                    context = f"{row['id']}:{name}"
                    changed[name] = box.seal(box.open(row[name], context), context)
            if changed:
                await sealed_secrets.update_sealed_secrets(connection, row["id"], changed)
                resealed += len(changed)
    logger.info("Re-sealed %d tenant secret(s) under the current master key", resealed)
    return resealed


async def count_stale(db: Database, box: SecretBox) -> int:
    """Return how many tenant secrets are still sealed under a key other than ``box``'s current one."""
    async with db.read() as connection:
        found = await sealed_secrets.select_sealed_secrets(connection)
    return sum(1 for row in found for name in sealed_secrets.SEALED_NAMES if box.needs_reseal(row[name]))
