"""The job queue: Huey with SQLite storage, consumed by threads of the server process.

Huey runs the jobs; hotelbot's own tables (the inbox, messages' forward
state, outbound messages still PENDING) are the durable record of what is
unfinished, because a Huey task taken by a worker that dies is gone. At start
the Huey queue is emptied and every unfinished item is queued again from
those tables.

Each job is a coroutine run on the server's event loop, so jobs share the
database writer, the HTTP clients and the Socket.IO server with the API. The
Huey worker thread waits for the coroutine with a time limit, because Huey does
not enforce ``timeout`` for thread workers.

Attempts are counted here, not by Huey: a failed attempt is scheduled again
after ``retry_delay * 2 ** (attempt - 1)`` seconds with ±25 % jitter, capped
at ``retry_delay_max``; after the last attempt the job's ``on_exhausted`` hook
runs (a dead letter, an escalation) and nothing is retried further. A
failure that carries a ``retry_after`` (Meta's ``Retry-After``) waits at
least that long. Every attempt is logged with the job's ids.

The queue also counts, per job, the copies queued or running in this process
(:meth:`JobQueue.has_job`), so the periodic sweep can queue again unfinished
work whose job was lost (a retry that could not be scheduled on a full disk)
without running a job twice.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
import json
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from huey import SqliteHuey
from huey.consumer import Consumer
from huey.storage import SqliteStorage

from hotelbot import metrics

logger = logging.getLogger(__name__)

WAIT_SECONDS = 1.0
# Upper bound on a Retry-After honoured from an outside service.
RETRY_AFTER_MAX = 3600.0

# Each pool has its own Huey queue and worker threads, so jobs that wait on an
# outside service (a large download, a slow N8N workflow) never hold back the
# processing of guests' messages in the main pool.
MAIN_POOL = "main"
MEDIA_POOL = "media"
FORWARD_POOL = "forward"
# Huey queue name of each pool, in the queue's SQLite file.
POOL_QUEUES = {MAIN_POOL: "hotelbot", MEDIA_POOL: "hotelbot-media", FORWARD_POOL: "hotelbot-forward"}
# Pools of kinds, for processes that queue jobs without registering them (the CLI).
KIND_POOLS = {"media_download": MEDIA_POOL, "forward": FORWARD_POOL}


class WakingSqliteStorage(SqliteStorage):
    """SQLite storage whose ``dequeue`` blocks until a task is queued in this process.

    Huey's workers otherwise poll with a growing delay (seconds after idling),
    which would hold a guest's message back. Enqueues from the same process wake
    a waiting worker at once; the wait is bounded so stop requests are seen.
    """

    blocking = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._condition = threading.Condition()
        self._generation = 0
        super().__init__(*args, **kwargs)

    def enqueue(self, data: bytes, priority: float | None = None) -> None:
        super().enqueue(data, priority)
        with self._condition:
            self._generation += 1
            self._condition.notify()

    def dequeue(self) -> bytes | None:
        with self._condition:
            seen = self._generation
        data = super().dequeue()
        if data is not None:
            return data
        with self._condition:
            if self._generation == seen:
                self._condition.wait(WAIT_SECONDS)
        return super().dequeue()

    def wake_all(self) -> None:
        with self._condition:
            self._generation += 1
            self._condition.notify_all()


class WakingHuey(SqliteHuey):
    storage_class = WakingSqliteStorage


class InProcessConsumer(Consumer):
    """A consumer that leaves signal handling to the server that owns the process."""

    def _set_signal_handlers(self) -> None:
        pass


JobHandler = Callable[[dict[str, Any]], Awaitable[None]]
ExhaustedHandler = Callable[[dict[str, Any], str, int], Awaitable[None]]


@dataclasses.dataclass(frozen=True)
class JobKind:
    """One kind of job: its handler, its attempts and what happens when they are spent."""

    name: str
    handler: JobHandler
    attempts: int
    timeout: float
    on_exhausted: ExhaustedHandler | None = None
    pool: str = MAIN_POOL
    describe: Callable[[dict[str, Any]], str] = lambda payload: ""


class JobFailed(Exception):
    """A job attempt failed in an expected way; the message is logged without a traceback.

    ``retry_after`` (seconds) is the least delay before the next attempt, as an
    outside service asked with ``Retry-After``.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def job_key(name: str, payload: dict[str, Any]) -> str:
    """Return the identity of a job: its kind and its payload, whatever the attempt."""
    return name + ":" + json.dumps(payload, sort_keys=True, separators=(",", ":"))


class JobQueue:
    """Queues jobs and runs them on Huey worker threads that hand them to the event loop."""

    def __init__(
        self,
        path: Path,
        *,
        workers: int,
        media_workers: int,
        retry_delay: float,
        retry_delay_max: float,
        shutdown_timeout: float,
        forward_workers: int = 1,
    ) -> None:
        self._retry_delay = retry_delay
        self._retry_delay_max = retry_delay_max
        self._shutdown_timeout = shutdown_timeout
        self._pool_workers = {MAIN_POOL: workers, MEDIA_POOL: media_workers, FORWARD_POOL: forward_workers}
        self._kinds: dict[str, JobKind] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._consumers: list[InProcessConsumer] = []
        # True between start() and stop(): whether queued jobs will run in this process.
        self.accepting = False
        self._counts_lock = threading.Lock()
        self._queued: collections.Counter[str] = collections.Counter()
        self._running: collections.Counter[str] = collections.Counter()

        self._hueys = {pool: WakingHuey(queue, filename=str(path), results=False, utc=True) for pool, queue in POOL_QUEUES.items()}
        self._tasks = {pool: huey.task(name=f"run_{pool}_job")(self._execute) for pool, huey in self._hueys.items()}

    def register(self, kind: JobKind) -> None:
        self._kinds[kind.name] = kind

    # -- queueing ---------------------------------------------------------

    def enqueue(self, name: str, payload: dict[str, Any], *, attempt: int = 1, delay: float | None = None, priority: int = 0) -> None:
        """Queue job ``name``; safe to call from any thread. Blocks on a small SQLite write.

        Another process (the CLI) may queue jobs too: the server's workers find
        them within ``WAIT_SECONDS``.
        """
        self._count_queued(job_key(name, payload))
        self._write(name, payload, attempt, delay, priority)

    async def enqueue_async(self, name: str, payload: dict[str, Any], *, priority: int = 0) -> None:
        """Queue job ``name`` from the event loop without blocking it.

        The job counts for :meth:`has_job` before this awaits, so code on the
        loop that checks it meanwhile does not start the same work.
        """
        self._count_queued(job_key(name, payload))
        await asyncio.to_thread(self._write, name, payload, 1, None, priority)

    def _count_queued(self, key: str) -> None:
        # Counted before the write, because a worker may take the job before the write returns.
        with self._counts_lock:
            self._queued[key] += 1

    def _write(self, name: str, payload: dict[str, Any], attempt: int, delay: float | None, priority: int) -> None:
        """Write a job counted by :meth:`_count_queued` to Huey's file, and uncount it when the write fails."""
        kind = self._kinds.get(name)
        task = self._tasks[kind.pool if kind is not None else KIND_POOLS.get(name, MAIN_POOL)]
        try:
            if delay:
                task.schedule(args=(name, payload, attempt), delay=delay, priority=priority)
            else:
                task(name, payload, attempt, priority=priority)
        except BaseException:
            self._uncount_queued(job_key(name, payload))
            raise

    def _uncount_queued(self, key: str) -> None:
        with self._counts_lock:
            if self._queued[key] > 0:
                self._queued[key] -= 1
            if not self._queued[key]:
                del self._queued[key]

    def backoff_delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Return the delay before attempt ``attempt + 1``: exponential with ±25 % jitter, at least ``retry_after``."""
        base = min(self._retry_delay * 2 ** (attempt - 1), self._retry_delay_max)
        delay = base * random.uniform(0.75, 1.25)
        if retry_after is not None:
            delay = max(delay, min(retry_after, RETRY_AFTER_MAX))
        return delay

    def has_job(self, name: str, payload: dict[str, Any]) -> bool:
        """Return whether a job with this kind and payload is queued, scheduled or running in this process."""
        key = job_key(name, payload)
        with self._counts_lock:
            return self._queued[key] > 0 or self._running[key] > 0

    def _claim(self, key: str) -> None:
        with self._counts_lock:
            if self._queued[key] > 0:
                self._queued[key] -= 1
            if not self._queued[key]:
                del self._queued[key]
            self._running[key] += 1

    def _release(self, key: str) -> None:
        with self._counts_lock:
            self._running[key] -= 1
            if self._running[key] <= 0:
                del self._running[key]

    # -- running ----------------------------------------------------------

    def _execute(self, name: str, payload: dict[str, Any], attempt: int) -> None:
        """Run one attempt of a job on the event loop and wait for it, bounded by the kind's time limit."""
        kind = self._kinds.get(name)
        if kind is None:
            logger.error("Job of unknown kind %s discarded (payload keys: %s)", name, ", ".join(sorted(payload)))
            return
        assert self._loop is not None, "job queue is not started"

        key = job_key(name, payload)
        self._claim(key)
        try:
            self._attempt(kind, payload, attempt)
        finally:
            self._release(key)

    def _attempt(self, kind: JobKind, payload: dict[str, Any], attempt: int) -> None:
        label = kind.describe(payload)
        started = time.monotonic()
        logger.info("Job %s attempt %d/%d started (%s)", kind.name, attempt, kind.attempts, label)
        future = asyncio.run_coroutine_threadsafe(kind.handler(payload), self._loop)
        try:
            future.result(timeout=kind.timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            self._attempt_failed(kind, payload, attempt, f"timed out after {kind.timeout:.0f} s", label)
        except JobFailed as exc:
            self._attempt_failed(kind, payload, attempt, str(exc), label, retry_after=exc.retry_after)
        except Exception as exc:
            logger.exception("Job %s crashed (%s, attempt %d/%d)", kind.name, label, attempt, kind.attempts)
            self._attempt_failed(kind, payload, attempt, f"{type(exc).__name__}: {exc}", label, logged=True)
        else:
            metrics.JOBS.labels(kind.name, "done").inc()
            logger.info("Job %s done in %.3f s (%s, attempt %d)", kind.name, time.monotonic() - started, label, attempt)

    @contextlib.contextmanager
    def first_attempt_outside(self, name: str, payload: dict[str, Any]) -> Iterator[None]:
        """Log the start of attempt 1 of job ``name`` run outside the queue, and count it as running for :meth:`has_job`."""
        kind = self._kinds[name]
        key = job_key(name, payload)
        with self._counts_lock:
            self._running[key] += 1
        logger.info("Job %s attempt 1/%d started (%s)", name, kind.attempts, kind.describe(payload))
        try:
            yield
        finally:
            self._release(key)

    def attempt_failed(
        self,
        name: str,
        payload: dict[str, Any],
        attempt: int,
        error: str,
        *,
        logged: bool = False,
        retry_after: float | None = None,
    ) -> None:
        """Count a failed attempt of job ``name`` that ran outside the queue (a first try on the event loop).

        Queues the next attempt with backoff, or after the last one runs the
        kind's exhausted hook, exactly as for an attempt the queue ran. Call
        from a thread, never from the event loop, which the hook needs.
        """
        kind = self._kinds[name]
        self._attempt_failed(kind, payload, attempt, error, kind.describe(payload), logged=logged, retry_after=retry_after)

    def _attempt_failed(
        self,
        kind: JobKind,
        payload: dict[str, Any],
        attempt: int,
        error: str,
        label: str,
        logged: bool = False,
        retry_after: float | None = None,
    ) -> None:
        if attempt < kind.attempts:
            self._schedule_retry(kind, payload, attempt, error, label, logged, retry_after)
            return

        metrics.JOBS.labels(kind.name, "dead").inc()
        logger.error("Job %s gave up after %d attempt(s) (%s): %s", kind.name, attempt, label, error)
        if kind.on_exhausted is None or self._loop is None:
            return
        future = asyncio.run_coroutine_threadsafe(kind.on_exhausted(payload, error, attempt), self._loop)
        try:
            future.result(timeout=kind.timeout)
        except Exception:
            # The work stays unfinished in the database, so the sweep queues it again.
            logger.exception("Handling the exhausted job %s failed (%s); it will be queued again", kind.name, label)

    def _schedule_retry(
        self,
        kind: JobKind,
        payload: dict[str, Any],
        attempt: int,
        error: str,
        label: str,
        logged: bool,
        retry_after: float | None,
    ) -> None:
        metrics.JOBS.labels(kind.name, "retried").inc()
        delay = self.backoff_delay(attempt, retry_after)
        if not logged:
            logger.warning(
                "Job %s failed (%s, attempt %d/%d): %s; retrying in %.1f s",
                kind.name, label, attempt, kind.attempts, error, delay,
            )
        else:
            logger.warning("Job %s retrying in %.1f s (%s)", kind.name, delay, label)
        try:
            self.enqueue(kind.name, payload, attempt=attempt + 1, delay=delay)
        except Exception as exc:
            # Huey's file may be unwritable (a full disk); the database still records the work as unfinished.
            logger.error(
                "Job %s retry could not be queued (%s): %s: %s; the sweep will queue it again",
                kind.name, label, type(exc).__name__, exc,
            )

    # -- lifecycle --------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Empty Huey's queue and start the worker threads; unfinished work is queued by the caller."""
        self._loop = loop
        for pool, huey in self._hueys.items():
            huey.flush()
            consumer = InProcessConsumer(
                huey, workers=self._pool_workers[pool], periodic=False, worker_type="thread", check_worker_health=False,
                scheduler_interval=1, shutdown_timeout=self._shutdown_timeout,
            )
            consumer.start()
            self._consumers.append(consumer)
        self.accepting = True
        logger.info(
            "Job queue started: %s",
            ", ".join(f"{workers} {pool} worker(s)" for pool, workers in self._pool_workers.items()),
        )

    def stop(self) -> None:
        """Stop taking jobs and wait for running ones (up to the shutdown timeout).

        Call from a thread, never from the event loop: a running job may be
        waiting for the loop, and blocking the loop here would deadlock.
        """
        self.accepting = False
        for consumer in self._consumers:
            consumer.stop_flag.set()
        for huey in self._hueys.values():
            huey.storage.wake_all()
        for consumer in self._consumers:
            consumer.stop(graceful=True)
        self._consumers.clear()
        for huey in self._hueys.values():
            huey.storage.close()
        logger.info("Job queue stopped")

    def pending_count(self) -> int:
        return sum(huey.pending_count() + huey.scheduled_count() for huey in self._hueys.values())
