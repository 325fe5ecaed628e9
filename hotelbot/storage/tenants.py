"""Tenants and their hotel units."""

from __future__ import annotations

import dataclasses
import hashlib

import aiosqlite

from hotelbot.clock import now_iso
from hotelbot.secretbox import SecretBox
from hotelbot.storage.database import fetch_all, fetch_one

SEALED_FIELDS = ("access_token", "app_secret", "verify_token", "forward_secret")


@dataclasses.dataclass(frozen=True)
class Tenant:
    """A tenant with its secrets opened; never serialized with them."""

    id: str
    name: str
    phone_number_id: str
    waba_id: str | None
    time_zone: str
    n8n_url: str | None
    read_receipts: bool
    access_token: str
    app_secret: str
    verify_token: str
    forward_secret: str
    hotel_units: dict[str, str]  # slug -> name
    updated_at: str

    def __repr__(self) -> str:
        return f"Tenant(id={self.id!r}, name={self.name!r})"


def hash_api_key(api_key: str) -> str:
    """Return the stored form of an N8N API key (SHA-256; keys are 256-bit random)."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def _open_tenant(row: dict, units: dict[str, str], box: SecretBox) -> Tenant:
    return Tenant(
        id=row["id"],
        name=row["name"],
        phone_number_id=row["phone_number_id"],
        waba_id=row["waba_id"],
        time_zone=row["time_zone"],
        n8n_url=row["n8n_url"],
        read_receipts=bool(row["read_receipts"]),
        access_token=box.open(row["access_token_sealed"], f"{row['id']}:access_token"),
        app_secret=box.open(row["app_secret_sealed"], f"{row['id']}:app_secret"),
        verify_token=box.open(row["verify_token_sealed"], f"{row['id']}:verify_token"),
        forward_secret=box.open(row["forward_secret_sealed"], f"{row['id']}:forward_secret"),
        hotel_units=units,
        updated_at=row["updated_at"],
    )


async def insert_tenant(
    connection: aiosqlite.Connection,
    box: SecretBox,
    *,
    tenant_id: str,
    name: str,
    phone_number_id: str,
    waba_id: str | None,
    time_zone: str,
    n8n_url: str | None,
    api_key: str,
    secrets: dict[str, str],
) -> None:
    stamp = now_iso()
    await connection.execute(
        "INSERT INTO tenants (id, name, phone_number_id, waba_id, time_zone, access_token_sealed,"
        " app_secret_sealed, verify_token_sealed, n8n_url, api_key_hash, forward_secret_sealed,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            tenant_id,
            name,
            phone_number_id,
            waba_id,
            time_zone,
            box.seal(secrets["access_token"], f"{tenant_id}:access_token"),
            box.seal(secrets["app_secret"], f"{tenant_id}:app_secret"),
            box.seal(secrets["verify_token"], f"{tenant_id}:verify_token"),
            n8n_url,
            hash_api_key(api_key),
            box.seal(secrets["forward_secret"], f"{tenant_id}:forward_secret"),
            stamp,
            stamp,
        ),
    )


async def update_tenant(
    connection: aiosqlite.Connection,
    box: SecretBox,
    tenant_id: str,
    *,
    fields: dict[str, object],
    secrets: dict[str, str],
    api_key: str | None = None,
) -> None:
    """Change plain ``fields`` and re-seal ``secrets`` of a tenant."""
    assignments: list[str] = []
    params: list[object] = []
    for column, value in fields.items():
        assignments.append(f"{column} = ?")
        params.append(value)
    for name, value in secrets.items():
        if name not in SEALED_FIELDS:
            raise ValueError(f"unknown secret {name}")
        assignments.append(f"{name}_sealed = ?")
        params.append(box.seal(value, f"{tenant_id}:{name}"))
    if api_key is not None:
        assignments.append("api_key_hash = ?")
        params.append(hash_api_key(api_key))
    assignments.append("updated_at = ?")
    params.append(now_iso())

    await connection.execute(
        f"UPDATE tenants SET {', '.join(assignments)} WHERE id = ?", (*params, tenant_id)
    )


async def select_units(connection: aiosqlite.Connection, tenant_id: str) -> dict[str, str]:
    rows = await fetch_all(
        connection, "SELECT slug, name FROM hotel_units WHERE tenant_id = ? ORDER BY name", (tenant_id,)
    )
    return {row["slug"]: row["name"] for row in rows}


async def insert_unit(connection: aiosqlite.Connection, tenant_id: str, slug: str, name: str) -> None:
    await connection.execute(
        "INSERT INTO hotel_units (tenant_id, slug, name) VALUES (?, ?, ?)"
        " ON CONFLICT (tenant_id, slug) DO UPDATE SET name = excluded.name",
        (tenant_id, slug, name),
    )
    await connection.execute("UPDATE tenants SET updated_at = ? WHERE id = ?", (now_iso(), tenant_id))


async def delete_unit(connection: aiosqlite.Connection, tenant_id: str, slug: str) -> bool:
    cursor = await connection.execute(
        "DELETE FROM hotel_units WHERE tenant_id = ? AND slug = ?", (tenant_id, slug)
    )
    await connection.execute("UPDATE tenants SET updated_at = ? WHERE id = ?", (now_iso(), tenant_id))
    return cursor.rowcount > 0


async def select_tenant(connection: aiosqlite.Connection, box: SecretBox, tenant_id: str) -> Tenant | None:
    row = await fetch_one(connection, "SELECT * FROM tenants WHERE id = ?", (tenant_id,))
    if row is None:
        return None
    return _open_tenant(row, await select_units(connection, tenant_id), box)


async def select_tenants(connection: aiosqlite.Connection, box: SecretBox) -> list[Tenant]:
    rows = await fetch_all(connection, "SELECT * FROM tenants ORDER BY created_at")
    return [_open_tenant(row, await select_units(connection, row["id"]), box) for row in rows]


async def select_tenant_id_by_api_key(connection: aiosqlite.Connection, api_key: str) -> str | None:
    row = await fetch_one(
        connection, "SELECT id FROM tenants WHERE api_key_hash = ?", (hash_api_key(api_key),)
    )
    return None if row is None else row["id"]


async def select_tenants_version(connection: aiosqlite.Connection) -> str:
    """Return a value that changes whenever any tenant or unit changes."""
    row = await fetch_one(connection, "SELECT count(*) AS n, max(updated_at) AS latest FROM tenants")
    return f"{row['n']}:{row['latest']}"
