"""The dashboard's numbers, counted from the database and served from the cache.

``GET /conversations/stats`` returns the tenant's conversations now (``total``,
``byStatus``, ``byPriority``, ``byHotelUnit``) and what a manager asks next:
open escalations by priority, escalations resolved today, the median time from
an escalation to its first human response, and the share of today's active
conversations the AI finished without people. ``GET /conversations/stats/range``
returns the period figures for a range of days. "Today" and every day are the
tenant's calendar days in its time zone.

Figures are cached under ``stats:{tenantId}:{unit}:{version}:{period}``. The
version changes, by database triggers, with every counted change, so a cached
answer is never read after its data changed. The time to live
(``stats_cache_ttl``) bounds what the triggers cannot see (a guest message
stored late with an earlier timestamp). Simultaneous misses of one key are
counted once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import statistics
import time
import zoneinfo
from typing import Any

from hotelbot.cache import stats_key
from hotelbot.clock import now_iso, to_iso
from hotelbot.domain.units import match_unit
from hotelbot.errors import NotFound, ValidationFailed
from hotelbot.storage import stats as stats_store

logger = logging.getLogger(__name__)

STATUSES = ("BOT", "OPEN", "IN_PROGRESS", "CLOSED")
PRIORITIES = ("LOW", "MEDIUM", "HIGH", "URGENT")
# Key of byHotelUnit for conversations without a unit, and the hotelUnit value that selects them.
NO_UNIT_KEY = "none"
ALL_UNITS = "all"
MAX_RANGE_DAYS = 366
DEFAULT_TIME_ZONE = "America/Sao_Paulo"
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclasses.dataclass(frozen=True)
class Period:
    """Whole days of a tenant, ``start <= time < end`` in UTC."""

    first_day: dt.date
    last_day: dt.date
    start: str
    end: str


@dataclasses.dataclass(frozen=True)
class UnitSelection:
    """The units a request counts: ``slug`` None for every unit, ``stats_store.NO_UNIT`` for none."""

    slug: str | None
    name: str | None

    @property
    def key(self) -> str:
        if self.slug is None:
            return ALL_UNITS
        return NO_UNIT_KEY if self.slug == stats_store.NO_UNIT else self.slug


@dataclasses.dataclass(frozen=True)
class StatsResult:
    """The JSON body and whether it came from the cache."""

    body: dict[str, Any]
    cache_hit: bool


def tenant_zone(time_zone: str, tenant_id: str) -> zoneinfo.ZoneInfo:
    """Return the tenant's time zone; an unknown one is logged and read as America/Sao_Paulo."""
    try:
        return zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        logger.warning("Tenant %s has an unknown time zone %r; using %s", tenant_id, time_zone, DEFAULT_TIME_ZONE)
        return zoneinfo.ZoneInfo(DEFAULT_TIME_ZONE)


def local_period(zone: zoneinfo.ZoneInfo, first_day: dt.date, last_day: dt.date) -> Period:
    """Return the UTC bounds of the days ``first_day`` to ``last_day`` (both included) in ``zone``."""
    start = dt.datetime.combine(first_day, dt.time(), tzinfo=zone)
    end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    return Period(first_day, last_day, to_iso(start), to_iso(end))


def select_units(raw: str | None, units: dict[str, str]) -> UnitSelection:
    """Read ``hotelUnit``: a unit name, ``all`` or absent for every unit, ``none`` for no unit.

    Raises ValidationFailed listing the valid values for an unknown unit.
    """
    text = (raw or "").strip()
    if not text or text.lower() == ALL_UNITS:
        return UnitSelection(None, None)
    if text.lower() == NO_UNIT_KEY:
        return UnitSelection(stats_store.NO_UNIT, None)

    slug = match_unit(text, units)
    if slug is None:
        valid = ", ".join([ALL_UNITS, NO_UNIT_KEY, *units.values()])
        raise ValidationFailed(details=[{
            "field": "hotelUnit", "message": "Unknown hotel unit. Valid units: {valid}.", "params": {"valid": valid},
        }])
    return UnitSelection(slug, units[slug])


def _parse_day(raw: str | None, field: str, details: list[dict[str, Any]]) -> dt.date | None:
    if not raw:
        details.append({"field": field, "message": "Required field."})
        return None
    try:
        if not _DAY.fullmatch(raw):
            raise ValueError(raw)
        return dt.date.fromisoformat(raw)
    except ValueError:
        details.append({"field": field, "message": "Must be a date written as YYYY-MM-DD."})
        return None


def parse_range(raw_from: str | None, raw_to: str | None) -> tuple[dt.date, dt.date]:
    """Read ``from`` and ``to`` (YYYY-MM-DD, both included, at most 366 days).

    Raises ValidationFailed naming each invalid field.
    """
    details: list[dict[str, Any]] = []
    first_day = _parse_day(raw_from, "from", details)
    last_day = _parse_day(raw_to, "to", details)
    if details or first_day is None or last_day is None:
        raise ValidationFailed(details=details)

    if last_day < first_day:
        raise ValidationFailed(details=[{"field": "to", "message": "Must not be earlier than from."}])
    if (last_day - first_day).days + 1 > MAX_RANGE_DAYS:
        raise ValidationFailed(details=[{
            "field": "to", "message": "The range can span at most {limit} days.",
            "params": {"limit": MAX_RANGE_DAYS}, "limit": MAX_RANGE_DAYS,
        }])
    return first_day, last_day


async def dashboard_stats(runtime: Any, principal: dict[str, Any], hotel_unit: str | None) -> StatsResult:
    """Return the dashboard's figures for the caller's tenant, from the cache when it has them.

    Raises ValidationFailed for an unknown unit and NotFound when the tenant no longer exists.
    """
    tenant = await _tenant(runtime, principal)
    selection = select_units(hotel_unit, tenant.hotel_units)
    zone = tenant_zone(tenant.time_zone, tenant.id)
    today = dt.datetime.now(zone).date()
    period = local_period(zone, today, today)

    figures, hit = await _figures(runtime, tenant.id, selection, period, period, dashboard=True)

    body = _conversation_counts(figures["conversations"], tenant.hotel_units, selection)
    body.update({
        "openEscalationsByPriority": _by_priority(figures["openEscalationsByPriority"]),
        "escalationsHandledToday": figures["escalationsResolved"],
        "medianFirstResponseSeconds": figures["medianFirstResponseSeconds"],
        "conversationsActiveToday": figures["conversationsActive"],
        "aiFinishedShare": _share(figures["aiFinished"], figures["conversationsActive"]),
        "hotelUnit": selection.name,
        "date": today.isoformat(),
        "timeZone": tenant.time_zone,
        "generatedAt": figures["generatedAt"],
    })
    return StatsResult(body, hit)


async def range_stats(
    runtime: Any, principal: dict[str, Any], hotel_unit: str | None, raw_from: str | None, raw_to: str | None
) -> StatsResult:
    """Return the period figures of the days ``from`` to ``to`` (both included) for the caller's tenant.

    Raises ValidationFailed for invalid dates, a range over 366 days or an unknown unit.
    """
    tenant = await _tenant(runtime, principal)
    selection = select_units(hotel_unit, tenant.hotel_units)
    first_day, last_day = parse_range(raw_from, raw_to)
    zone = tenant_zone(tenant.time_zone, tenant.id)
    today = dt.datetime.now(zone).date()
    period = local_period(zone, first_day, last_day)

    figures, hit = await _figures(runtime, tenant.id, selection, period, local_period(zone, today, today), dashboard=False)

    body = {
        "from": first_day.isoformat(),
        "to": last_day.isoformat(),
        "escalationsByPriority": _by_priority(figures["escalationsByPriority"]),
        "escalationsHandled": figures["escalationsResolved"],
        "medianFirstResponseSeconds": figures["medianFirstResponseSeconds"],
        "conversationsActive": figures["conversationsActive"],
        "aiFinishedShare": _share(figures["aiFinished"], figures["conversationsActive"]),
        "hotelUnit": selection.name,
        "timeZone": tenant.time_zone,
        "generatedAt": figures["generatedAt"],
    }
    return StatsResult(body, hit)


async def _tenant(runtime: Any, principal: dict[str, Any]) -> Any:
    tenant = await runtime.tenants.get(principal["tenant_id"])
    if tenant is None:
        raise NotFound()
    return tenant


async def _figures(
    runtime: Any, tenant_id: str, selection: UnitSelection, period: Period, today: Period, *, dashboard: bool
) -> tuple[dict[str, Any], bool]:
    """Return (figures, whether they came from the cache), counting and caching them on a miss."""
    version = await _current_version(runtime, tenant_id, today.start)
    kind = f"day:{period.first_day}" if dashboard else f"range:{period.first_day}:{period.last_day}"
    prefix = stats_key(tenant_id, selection.key)
    key = f"{prefix}:{version}:{kind}"
    cached = await runtime.cache.get(key)
    if cached is not None:
        return cached, True

    async with runtime.cache.computing(key):
        cached = await runtime.cache.get(key)
        if cached is not None:
            return cached, True

        started = time.perf_counter()
        async with runtime.db.read() as connection:
            async with stats_store.snapshot(connection):
                # The figures belong to the version read in the same transaction, which may be newer.
                version = (await stats_store.select_stats_version(connection, tenant_id)).version
                figures = await _count(connection, tenant_id, selection.slug, period, dashboard)
        await runtime.cache.set(f"{prefix}:{version}:{kind}", figures, runtime.settings.stats_cache_ttl)

    logger.info(
        "Stats of tenant %s counted in %.1f ms (units %s, %s, version %s)",
        tenant_id, (time.perf_counter() - started) * 1000, selection.key, kind, version,
    )
    return figures, False


async def _current_version(runtime: Any, tenant_id: str, day_start: str) -> int:
    """Return the tenant's stats version, first recording the start of its day when that moved."""
    async with runtime.db.read() as connection:
        current = await stats_store.select_stats_version(connection, tenant_id)
    if current.day_start == day_start:
        return current.version

    async with runtime.db.write() as connection:
        await stats_store.update_day_start(connection, tenant_id, day_start)
    logger.info("Stats day of tenant %s now starts at %s", tenant_id, day_start)
    return current.version


async def _count(connection: Any, tenant_id: str, unit_slug: str | None, period: Period, dashboard: bool) -> dict[str, Any]:
    """Count the figures of ``period`` (and, for the dashboard, the current conversations)."""
    seconds = await stats_store.select_first_response_seconds(connection, tenant_id, period.start, period.end, unit_slug)
    active, ai_finished = await stats_store.count_active_conversations(
        connection, tenant_id, period.start, period.end, unit_slug
    )
    figures: dict[str, Any] = {
        "escalationsResolved": await stats_store.count_escalations_resolved(
            connection, tenant_id, period.start, period.end, unit_slug
        ),
        "medianFirstResponseSeconds": round(statistics.median(seconds), 1) if seconds else None,
        "conversationsActive": active,
        "aiFinished": ai_finished,
        "generatedAt": now_iso(),
    }
    if dashboard:
        rows = await stats_store.select_conversation_counts(connection, tenant_id, unit_slug)
        figures["conversations"] = [[row["hotel_unit"], row["status"], row["priority"], row["count"]] for row in rows]
        figures["openEscalationsByPriority"] = await stats_store.select_open_escalations_by_priority(
            connection, tenant_id, unit_slug
        )
    else:
        figures["escalationsByPriority"] = await stats_store.select_escalations_by_priority(
            connection, tenant_id, period.start, period.end, unit_slug
        )
    return figures


def _conversation_counts(rows: list[list[Any]], units: dict[str, str], selection: UnitSelection) -> dict[str, Any]:
    """Return ``{total, byStatus, byPriority, byHotelUnit}``; byHotelUnit is keyed by unit name.

    Every status, priority and selected unit is present, with 0 when it has no conversation.
    """
    by_status = dict.fromkeys(STATUSES, 0)
    by_priority = dict.fromkeys(PRIORITIES, 0)
    if selection.slug is None:
        by_unit = {**dict.fromkeys(units.values(), 0), NO_UNIT_KEY: 0}
    else:
        by_unit = {selection.name or NO_UNIT_KEY: 0}

    for unit_slug, status, priority, count in rows:
        unit_name = units.get(unit_slug, unit_slug) if unit_slug else NO_UNIT_KEY
        by_status[status] = by_status.get(status, 0) + count
        by_priority[priority] = by_priority.get(priority, 0) + count
        by_unit[unit_name] = by_unit.get(unit_name, 0) + count
    return {"total": sum(by_status.values()), "byStatus": by_status, "byPriority": by_priority, "byHotelUnit": by_unit}


def _by_priority(counts: dict[str, int]) -> dict[str, int]:
    return {priority: counts.get(priority, 0) for priority in PRIORITIES}


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
