"""Timestamps as hotelbot stores and returns them: ISO 8601 in UTC with milliseconds."""

from __future__ import annotations

import datetime as dt
import uuid

UTC = dt.timezone.utc


def now() -> dt.datetime:
    return dt.datetime.now(UTC)


def to_iso(moment: dt.datetime) -> str:
    """Format ``moment`` as ``2026-12-04T19:22:27.123Z``; such strings sort in time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def now_iso() -> str:
    return to_iso(now())


def from_iso(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def from_unix(seconds: str | int | float) -> dt.datetime:
    return dt.datetime.fromtimestamp(float(seconds), UTC)


def new_id() -> str:
    """Return a new random id (32 hex digits)."""
    return uuid.uuid4().hex
