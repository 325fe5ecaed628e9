"""From the webhook to processing: inbox rows committed in groups, drained in batches.

The webhook route hands each authentic body to :class:`InboxIntake`. Bodies
that arrive while a commit is under way wait and go together in the next one,
so concurrent webhooks share one transaction, and each request gets its
response only after the transaction holding its own row has committed.

After each commit the intake wakes :class:`InboundDrain`. At most one
``inbound_drain`` job is queued or running at a time. It processes waiting
rows in batches, oldest first, and waits briefly for more before it ends, so a
steady stream of webhooks keeps one job busy instead of queuing one per
webhook. When a batch fails, its rows are tried again one by one. A row that
fails alone keeps its error and goes to its own ``inbound`` job, which gives
it the remaining attempts, the backoff and, at the end, the dead letter. The
inbox rows stay the record of unfinished work: rows a crash left behind are
drained at start, and the periodic sweep queues a job for any row left
waiting longer than its interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from hotelbot import metrics
from hotelbot.services.inbound import process_inbox_rows
from hotelbot.storage import inbox as inbox_store
from hotelbot.storage.database import Database

logger = logging.getLogger(__name__)

DRAIN_JOB = "inbound_drain"
ROW_JOB = "inbound"
# Rows per transaction: enough to spread its fixed cost, few enough to hold the writer only briefly.
BATCH_ROWS = 16
# Bodies per inbox commit; the rest wait for the next one.
COMMIT_BODIES = 256
# When the drain is behind, it waits for webhooks to pause this long before its next batch,
# but never longer than DEFER_SECONDS.
# NOTE: when webhooks arrive faster than the server can process them for minutes, this
# leaves processing one batch (BATCH_ROWS rows) a second until they slow down. Short surges
# (Meta redelivering after an outage) are the expected case. Keeping a tenth of the time for
# processing cut the webhook rate of a 10 s burst by a fifth to a third on 2 cores.
QUIET_SECONDS = 0.002
DEFER_SECONDS = 1.0
# How long an idle drain job waits for new rows before it ends.
LINGER_SECONDS = 0.5
# A drain job hands over to a new one after this long, well inside the job time limit.
RUN_SECONDS = 10.0

Spawn = Callable[[Coroutine[Any, Any, None], str], None]


class InboxIntake:
    """Commits webhook bodies to the inbox, many concurrent ones in one transaction."""

    def __init__(self, db: Database, spawn: Spawn, on_stored: Callable[[], None]) -> None:
        self._db = db
        self._spawn = spawn
        self._on_stored = on_stored
        self._waiting: list[tuple[bytes, asyncio.Future[None]]] = []
        self._committing = False
        # time.monotonic() of the latest store() call.
        self.last_arrival = 0.0

    def store(self, body: bytes) -> asyncio.Future[None]:
        """Queue ``body`` for the next inbox commit; return a future that is done once it is committed.

        The future carries the commit's error if the commit failed. Cancelling
        it does not withdraw the body.
        """
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.last_arrival = time.monotonic()
        self._waiting.append((body, future))
        if not self._committing:
            self._committing = True
            self._spawn(self._commit_waiting(), "inbox-commit")
        return future

    async def _commit_waiting(self) -> None:
        """Commit waiting bodies, a group at a time, until none wait; settle each body's future."""
        try:
            while self._waiting:
                group, self._waiting = self._waiting[:COMMIT_BODIES], self._waiting[COMMIT_BODIES:]
                bodies = [body for body, _ in group]
                try:
                    await self._db.write_on_thread(lambda connection: inbox_store.insert_inbox_bodies(connection, bodies))
                except Exception as error:
                    logger.error("Committing %d webhook(s) to the inbox failed: %s: %s", len(group), type(error).__name__, error)
                    _settle(group, error)
                    continue
                _settle(group, None)
                self._on_stored()
        finally:
            self._committing = False

    @property
    def idle(self) -> bool:
        """Whether no body is waiting or being committed."""
        return not self._committing and not self._waiting


def _settle(group: list[tuple[bytes, asyncio.Future[None]]], error: Exception | None) -> None:
    for _, future in group:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


class InboundDrain:
    """Processes waiting inbox rows from one queue job at a time, woken after each inbox commit."""

    def __init__(self, runtime: Any) -> None:
        self._runtime = runtime
        # True from the wake-up that queues a drain job until that job (or its successor) ends.
        self._queued = False
        self._wakes = 0
        self._woken = asyncio.Event()

    def wake(self) -> None:
        """Note that rows are waiting; queue a drain job unless one is queued or running. Call on the loop."""
        self._wakes += 1
        self._woken.set()
        if self._queued or not self._runtime.jobs.accepting:
            return
        self._queued = True
        self._runtime.spawn(self._queue_job(), "inbound-drain-queue")

    async def _queue_job(self) -> None:
        try:
            await self._runtime.jobs.enqueue_async(DRAIN_JOB, {})
        except Exception as error:
            self._queued = False
            logger.error(
                "Queuing the inbox drain failed: %s: %s; the next webhook or the sweep queues its rows", type(error).__name__, error
            )

    async def run(self) -> None:
        """Process waiting rows until none come for LINGER_SECONDS, the queue stops, or RUN_SECONDS pass.

        Each row is passed at most once per run, so a row that keeps failing
        without its error being recorded (a full disk) waits for a later run.
        """
        started = time.monotonic()
        after = 0
        handed_over = False
        try:
            while self._runtime.jobs.accepting:
                wakes = self._wakes
                self._woken.clear()
                async with self._runtime.db.read() as connection:
                    rows = await inbox_store.select_waiting_inbox(connection, after, BATCH_ROWS)
                if rows:
                    after = rows[-1]["id"]
                    await self._process(rows)
                    if len(rows) == BATCH_ROWS:
                        await self._let_webhooks_first()
                    if time.monotonic() - started > RUN_SECONDS:
                        handed_over = True
                        self._runtime.spawn(self._queue_job(), "inbound-drain-queue")
                        return
                    continue
                if self._wakes == wakes:
                    await self._linger()
                if self._wakes == wakes:
                    return
        finally:
            if not handed_over:
                self._queued = False

    async def _let_webhooks_first(self) -> None:
        """Wait for a pause of QUIET_SECONDS in webhooks, for at most DEFER_SECONDS.

        Called when the drain is behind (its last batch was full): during a
        surge the 200 that Meta waits for then comes before processing, which
        catches up once the surge ends and meanwhile still takes a batch per
        DEFER_SECONDS.
        """
        intake = self._runtime.intake
        deadline = time.monotonic() + DEFER_SECONDS
        while time.monotonic() < deadline:
            if intake.idle and time.monotonic() - intake.last_arrival >= QUIET_SECONDS:
                return
            await asyncio.sleep(QUIET_SECONDS)

    async def _linger(self) -> None:
        """Wait up to LINGER_SECONDS for a wake-up."""
        try:
            await asyncio.wait_for(self._woken.wait(), LINGER_SECONDS)
        except TimeoutError:
            pass

    async def _process(self, rows: list[dict]) -> None:
        """Apply ``rows`` in one transaction; after a failure, one by one, handing failed rows to their own jobs."""
        started = time.monotonic()
        try:
            applied = await process_inbox_rows(self._runtime, rows)
        except Exception as error:
            if len(rows) == 1:
                await self._row_failed(rows[0]["id"], error)
                return
            logger.warning(
                "Inbox batch %d-%d failed (%s: %s); processing its %d rows one by one",
                rows[0]["id"], rows[-1]["id"], type(error).__name__, error, len(rows),
            )
            for row in rows:
                await self._process([row])
            return

        metrics.JOBS.labels(ROW_JOB, "done").inc(len(rows))
        logger.debug(
            "Inbox rows %d-%d processed: %d applied in %.3f s", rows[0]["id"], rows[-1]["id"], applied, time.monotonic() - started
        )

    async def _row_failed(self, inbox_id: int, error: Exception) -> None:
        """Keep the error on the row, then let the queue schedule the row's next attempt (or its dead letter)."""
        description = f"{type(error).__name__}: {error}"
        logger.error("Processing inbox %d failed (attempt 1): %s", inbox_id, description, exc_info=error)
        try:
            async with self._runtime.db.write(single_statement=True) as connection:
                await inbox_store.note_inbox_error(connection, inbox_id, description)
        except Exception as note_error:
            logger.error("Recording the failure of inbox %d failed: %s: %s", inbox_id, type(note_error).__name__, note_error)
        await asyncio.to_thread(self._runtime.jobs.attempt_failed, ROW_JOB, {"inboxId": inbox_id}, 1, description, logged=True)
