"""The tenant directory: tenants with their secrets opened, held in memory.

Webhooks find their tenant by phone number id and check signatures against
every configured app secret; doing that from the database on each request
would also decrypt on each request. The directory reloads when the tenants
table changes (the CLI may change it from another process), checked at most
once per ``refresh_interval`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time

from hotelbot.secretbox import SecretBox
from hotelbot.storage import tenants as tenant_store
from hotelbot.storage.database import Database
from hotelbot.storage.tenants import Tenant

logger = logging.getLogger(__name__)


class TenantDirectory:
    def __init__(self, db: Database, box: SecretBox, refresh_interval: float = 1.0) -> None:
        self._db = db
        self._box = box
        self._refresh_interval = refresh_interval
        self._by_id: dict[str, Tenant] = {}
        self._by_phone_number_id: dict[str, Tenant] = {}
        self._version: str | None = None
        self._checked_at = 0.0
        self._lock = asyncio.Lock()

    async def refresh(self, force: bool = False) -> None:
        """Reload the tenants when the table changed since the last load."""
        if not force and time.monotonic() - self._checked_at < self._refresh_interval:
            return
        async with self._lock:
            if not force and time.monotonic() - self._checked_at < self._refresh_interval:
                return
            async with self._db.read() as connection:
                version = await tenant_store.select_tenants_version(connection)
                if version != self._version or force:
                    loaded = await tenant_store.select_tenants(connection, self._box)
                    self._by_id = {tenant.id: tenant for tenant in loaded}
                    self._by_phone_number_id = {tenant.phone_number_id: tenant for tenant in loaded}
                    if self._version is not None:
                        logger.info("Tenant directory reloaded: %d tenant(s)", len(loaded))
                    self._version = version
            self._checked_at = time.monotonic()

    async def get(self, tenant_id: str) -> Tenant | None:
        await self.refresh()
        return self._by_id.get(tenant_id)

    async def by_phone_number_id(self, phone_number_id: str) -> Tenant | None:
        await self.refresh()
        return self._by_phone_number_id.get(phone_number_id)

    async def all(self) -> list[Tenant]:
        await self.refresh()
        return list(self._by_id.values())

    async def app_secrets(self) -> list[str]:
        await self.refresh()
        return sorted({tenant.app_secret for tenant in self._by_id.values()})
