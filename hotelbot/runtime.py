"""The resources one hotelbot process shares: database, tenants, clients, sockets, jobs.

The web app, the Socket.IO server and the queue's jobs all reach them through
one :class:`Runtime`, opened before the server takes requests and closed after
it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from hotelbot.cache import Cache
from hotelbot.datadir import DataDir
from hotelbot.jobs.queue import JobQueue
from hotelbot.media_links import MediaLinks
from hotelbot.passwords import set_dummy_cost
from hotelbot.realtime.sockets import RealtimeServer
from hotelbot.secretbox import SecretBox
from hotelbot.settings import Settings
from hotelbot.storage.database import Database
from hotelbot.storage.migrations import migrate
from hotelbot.tenancy import TenantDirectory
from hotelbot.tokens import TokenIssuer
from hotelbot.whatsapp.graph import GraphClient

logger = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.data_dir = DataDir(settings.data_path)
        self.data_dir.create()
        secrets = self.data_dir.load_secrets()

        self.box = SecretBox(secrets.master_key, secrets.old_master_keys)
        self.tokens = TokenIssuer(
            secrets.jwt_secret, settings.access_token_ttl, settings.refresh_token_ttl, settings.jwt_leeway
        )
        self.media_links = MediaLinks(secrets.media_key, settings.media_url_ttl, settings.base_url)
        self.db = Database(self.data_dir.database, settings.db_synchronous)
        self.cache = Cache(self.data_dir.cache)
        self.tenants = TenantDirectory(self.db, self.box)
        origins = [settings.frontend_origin] if settings.frontend_origin else None
        self.realtime = RealtimeServer(origins)
        self.jobs = JobQueue(
            self.data_dir.queue,
            workers=settings.workers,
            media_workers=settings.media_workers,
            forward_workers=settings.forward_workers,
            retry_delay=settings.retry_delay,
            retry_delay_max=settings.retry_delay_max,
            shutdown_timeout=settings.shutdown_timeout,
        )
        self.graph_http: httpx.AsyncClient | None = None
        self.n8n_http: aiohttp.ClientSession | None = None
        self.graph: GraphClient | None = None
        self._background: set[asyncio.Task] = set()
        self._serve_lock: Any = None

        from hotelbot.services.forwarding import FirstForwards
        from hotelbot.services.inbound_drain import InboundDrain, InboxIntake
        from hotelbot.services.outbound import ConversationLocks

        self.outbound_locks = ConversationLocks()
        self.inbound = InboundDrain(self)
        self.intake = InboxIntake(self.db, self.spawn, self.inbound.wake)
        self.forwards = FirstForwards(self)

    async def open(self) -> None:
        """Migrate and open the database, open HTTP clients, start the job queue.

        Raises DataDirBusy when another server runs on the same data directory,
        since two job queues on one directory would run every job twice.
        """
        self._serve_lock = self.data_dir.lock_for_serving()
        applied = await asyncio.to_thread(migrate, self.data_dir.database, self.settings.db_synchronous)
        if applied:
            logger.info("Applied %d migration(s)", len(applied))
        await self.db.open()
        await self.cache.open()
        await self.tenants.refresh(force=True)
        set_dummy_cost(self.settings.bcrypt_rounds)

        self.graph_http = httpx.AsyncClient(
            timeout=httpx.Timeout(self.settings.graph_timeout, connect=5.0),
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
        )
        self.graph = GraphClient(self.graph_http, self.settings.graph_api_base, self.settings.graph_api_version)
        # aiohttp rather than httpx for the forwards, because every guest message costs one POST:
        # 0.13 ms of CPU per POST against 1.0 ms with httpx (aiohttp 3.14, httpx 0.29, sequential
        # POSTs to a local server on a 2-core VM). No cookies are kept, so one tenant's N8N
        # cannot set a cookie that reaches another's.
        self.n8n_http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=min(5.0, self.settings.forward_timeout), sock_read=self.settings.forward_timeout
            ),
            connector=aiohttp.TCPConnector(limit=50),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

        from hotelbot.jobs.kinds import register_job_kinds, requeue_unfinished
        from hotelbot.jobs.sweep import sweep_unfinished

        register_job_kinds(self)
        self.jobs.start(asyncio.get_running_loop())
        await requeue_unfinished(self)
        self.spawn(sweep_unfinished(self), "sweep-unfinished")
        if self.settings.backup_interval_hours > 0:
            self.spawn(self._scheduled_backups(), "scheduled-backups")

    async def close(self) -> None:
        """Stop the job queue (from a thread), close sockets, clients and the database."""
        await asyncio.to_thread(self.jobs.stop)
        await self.forwards.wait()
        await self.realtime.close_all()
        for task in list(self._background):
            task.cancel()
        if self.graph_http is not None:
            await self.graph_http.aclose()
        if self.n8n_http is not None:
            await self.n8n_http.close()
        await self.cache.close()
        await self.db.close()
        if self._serve_lock is not None:
            self._serve_lock.close()
            self._serve_lock = None

    async def _scheduled_backups(self) -> None:
        """Write a backup every ``backup_interval_hours`` and keep the newest ``backup_keep``."""
        from hotelbot.services.backup import BackupError, create_backup, rotate_backups

        folder = Path(self.settings.backup_dir) if self.settings.backup_dir else self.data_dir.root / "backups"
        passphrase = os.environ.get("HOTELBOT_BACKUP_PASSPHRASE") or None
        while True:
            await asyncio.sleep(self.settings.backup_interval_hours * 3600)
            target = folder / f"hotelbot-{time.strftime('%Y%m%d-%H%M%S')}.backup"
            try:
                await asyncio.to_thread(create_backup, self.data_dir, target, passphrase)
                removed = await asyncio.to_thread(rotate_backups, folder, self.settings.backup_keep)
                logger.info("Scheduled backup written to %s; %d old backup(s) removed", target, len(removed))
            except (BackupError, OSError) as error:
                logger.error("Scheduled backup to %s failed: %s", target, error)

    def spawn(self, coroutine: Any, name: str) -> None:
        """Run ``coroutine`` in the background, keeping a reference and logging its failure."""
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._background.add(task)

        def _done(finished: asyncio.Task) -> None:
            self._background.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                logger.error("Background task %s failed", name, exc_info=finished.exception())

        task.add_done_callback(_done)

    async def drain_background(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._background, return_exceptions=True)
