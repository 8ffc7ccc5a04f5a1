"""Durations ("4h", "1h30m") and the times conditions compare against ("2026-01-31", "-7d", "now").

Pure: imports neither grpc nor sqlmodel.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

DURATION_HINT = "like 30m, 4h, 2d"
TIME_HINT = "an ISO date like 2026-01-31, an ISO time like 2026-01-31T09:00:00Z, now, or relative like -7d, +2h"
# Longer than any campaign means; also keeps timedelta arithmetic far from overflowing.
MAX_DURATION = timedelta(days=3650)

_DURATION = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_UNITS = (("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


def parse_duration(value: Any) -> timedelta:
    """'90s', '30m', '4h', '2d', '1w', '1h30m' (units in that order, optional spaces between) -> timedelta.

    A bare 0 is zero; any other bare number is refused, since its unit would be a guess.
    Raises ValueError with the reason a user reads.
    """
    if value == 0 and not isinstance(value, bool):
        return timedelta(0)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration ({DURATION_HINT})")
    return _parse_duration_text(value)


@functools.lru_cache(maxsize=1024)
def _parse_duration_text(value: str) -> timedelta:
    compact = "".join(value.split())
    match = _DURATION.fullmatch(compact)
    if not compact or match is None:
        raise ValueError(f"{value!r} is not a duration ({DURATION_HINT})")
    seconds = sum(int(amount) * unit for amount, (_, unit) in zip(match.groups(), _UNITS, strict=True) if amount)
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"{value!r} is longer than {format_duration(MAX_DURATION)}")
    return timedelta(seconds=seconds)


def format_duration(duration: timedelta) -> str:
    """The shortest text parse_duration reads back: timedelta(hours=1, minutes=30) -> '1h30m'."""
    seconds = int(duration.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for name, unit in _UNITS[1:]:
        amount, seconds = divmod(seconds, unit)
        if amount:
            parts.append(f"{amount}{name}")
    return "".join(parts)


def as_instant(value: Any) -> datetime | None:
    """A property value read as a point in time: an aware datetime in UTC, or None.

    ISO 8601 dates and times are read; a date is its midnight in UTC, a time without an offset
    is taken as UTC. Numbers are not read as epoch times: nothing says seconds or milliseconds.
    """
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        return _instant_from_text(value)
    return None


@functools.lru_cache(maxsize=65_536)
def _instant_from_text(value: str) -> datetime | None:
    text = value.strip()
    # fromisoformat also reads compact forms like '20260131'; a value must look like a date.
    if len(text) < 10 or text[4] != "-":
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dataclass(frozen=True)
class TimeReference:
    """What `before` / `after` compare against: a fixed instant, or an offset from now."""

    at: datetime | None = None
    offset: timedelta = timedelta(0)

    def resolve(self, now: datetime) -> datetime:
        return self.at if self.at is not None else now + self.offset


_RELATIVE = re.compile(r"([+-])\s*(\S.*)")


def parse_time_reference(value: Any) -> TimeReference:
    """'now', '-7d', '+2h', '-1h30m', or an absolute ISO date / time. Raises ValueError."""
    if isinstance(value, str):
        text = value.strip()
        if text == "now":
            return TimeReference()
        relative = _RELATIVE.fullmatch(text)
        if relative is not None:
            sign, amount = relative.groups()
            try:
                offset = _parse_duration_text(amount)
            except ValueError:
                raise ValueError(f"{value!r} is not a time ({TIME_HINT})") from None
            return TimeReference(offset=-offset if sign == "-" else offset)
    at = as_instant(value) if not isinstance(value, (int, float)) else None
    if at is None:
        raise ValueError(f"{value!r} is not a time ({TIME_HINT})")
    return TimeReference(at=at)
