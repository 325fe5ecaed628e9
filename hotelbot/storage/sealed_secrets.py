"""The tenants' sealed secret columns, read and written across every tenant for master key rotation.

Unlike the other storage modules these queries take no tenant id: rotation
re-seals every tenant's secrets in one transaction.
"""

from __future__ import annotations

import aiosqlite

# Each column ``<name>_sealed`` is sealed with the associated data ``<tenant id>:<name>``.
SEALED_NAMES = ("access_token", "app_secret", "verify_token", "forward_secret")


async def select_sealed_secrets(connection: aiosqlite.Connection) -> list[dict[str, str]]:
    """Return ``{id, <name>: sealed value}`` for every tenant, ordered by id."""
    columns = ", ".join(f"{name}_sealed AS {name}" for name in SEALED_NAMES)
    cursor = await connection.execute(f"SELECT id, {columns} FROM tenants ORDER BY id")
    return [dict(row) for row in await cursor.fetchall()]


async def update_sealed_secrets(connection: aiosqlite.Connection, tenant_id: str, sealed: dict[str, str]) -> None:
    """Replace the sealed values of ``tenant_id`` named in ``sealed`` (keys from SEALED_NAMES)."""
    unknown = set(sealed) - set(SEALED_NAMES)
    if unknown:
        raise ValueError(f"not sealed columns: {sorted(unknown)}")
    assignments = ", ".join(f"{name}_sealed = ?" for name in sealed)
    await connection.execute(
        f"UPDATE tenants SET {assignments} WHERE id = ?", (*sealed.values(), tenant_id)
    )
