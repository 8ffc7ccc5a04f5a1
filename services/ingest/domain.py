"""Pure rules of ingest: Segment event naming, Segment's timestamp arithmetic, property sets.

Imports neither grpc nor sqlmodel.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from collections.abc import Sequence
from typing import Any

TRACK_PREFIX = "[Segment] "
PAGE_PREFIX = "[Segment Page] "
SCREEN_PREFIX = "[Segment Screen] "
KINDS = ("track", "page", "screen")
# analytics.js and some wrappers send these when a value was never set.
_UNSET_TEXT = {"", "undefined", "null"}
CATALOGUE_DAYS = 30
MAX_NAME_LENGTH = 500


class EventRefused(ValueError):
    """An event that cannot be kept, with the field and the reason."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return None if text in _UNSET_TEXT else text


def event_name(kind: str, event: str, properties: dict[str, Any], context: dict[str, Any]) -> str:
    """'[Segment] <event>' for track, '[Segment Page] <name or url>', '[Segment Screen] <name>'."""
    if kind == "track":
        return _track_name(event)
    if kind == "page":
        page_context = context.get("page") if isinstance(context.get("page"), dict) else {}
        name = _text(event) or _text(properties.get("name")) or _text(properties.get("url")) or _text(page_context.get("url"))
        if name is None:
            raise EventRefused("name", "a page call needs a name or a properties.url")
        return _limit(PAGE_PREFIX + name)
    if kind == "screen":
        name = _text(event) or _text(properties.get("name"))
        if name is None:
            raise EventRefused("name", "a screen call needs a name")
        return _limit(SCREEN_PREFIX + name)
    raise EventRefused("type", f"{kind!r} is not one of track, page, screen")


@functools.lru_cache(maxsize=4096)
def _track_name(event: str) -> str:
    """A track's name depends on its event alone, and a workspace sends few distinct ones:
    cached (a refusal raises each time; lru_cache keeps no exceptions)."""
    name = _text(event)
    if name is None:
        raise EventRefused("event", "a track call needs an event name")
    return _limit(TRACK_PREFIX + name)


def _limit(name: str) -> str:
    if len(name) > MAX_NAME_LENGTH:
        raise EventRefused("event", f"the event name is longer than {MAX_NAME_LENGTH} characters")
    return name


def parse_time(value: str, field: str) -> datetime | None:
    """An ISO 8601 time as Segment's libraries send it; naive times are taken as UTC."""
    if not value:
        return None
    parsed = _parse_iso(value)
    if parsed is None:
        raise EventRefused(field, f"{value!r} is not an ISO 8601 time")
    return parsed


@functools.lru_cache(maxsize=4096)
def _parse_iso(value: str) -> datetime | None:
    """Cached: a batch's events share its sentAt, and a client's events often a timestamp."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _combine(explicit: datetime | None, sent: datetime | None, original: datetime | None, received_at: datetime) -> datetime:
    if explicit is not None:
        return explicit
    if original is not None and sent is not None:
        return received_at - (sent - original)
    if original is not None:
        return original
    return received_at


def event_time(*, timestamp: str, sent_at: str, original_timestamp: str, received_at: datetime) -> datetime:
    """Segment's rule: an explicit timestamp is kept; otherwise the client's clock skew is
    corrected: receivedAt - (sentAt - originalTimestamp)."""
    explicit = parse_time(timestamp, "timestamp")
    if explicit is not None:
        return explicit
    original = parse_time(original_timestamp, "originalTimestamp")
    sent = parse_time(sent_at, "sentAt")
    return _combine(None, sent, original, received_at)


def event_time_lenient(
    *, timestamp: str, sent_at: str, original_timestamp: str, received_at: datetime
) -> tuple[datetime, Sequence[EventRefused]]:
    """event_time, but a time field that cannot be read is ignored (and reported) rather than
    costing the event: an event is never lost over its clock. Each field is parsed once."""
    if not timestamp and not original_timestamp and (not sent_at or _parse_iso(sent_at) is not None):
        # The usual case (a batch's sentAt and nothing else): the time received.
        return received_at, ()
    ignored: list[EventRefused] = []
    explicit = _read_time(timestamp, "timestamp", ignored)
    sent = _read_time(sent_at, "sentAt", ignored)
    original = _read_time(original_timestamp, "originalTimestamp", ignored)
    return _combine(explicit, sent, original, received_at), ignored


def _read_time(value: str, field: str, ignored: list[EventRefused]) -> datetime | None:
    if not value:
        return None
    parsed = _parse_iso(value)
    if parsed is None:
        ignored.append(EventRefused(field, f"{value!r} is not an ISO 8601 time; ignored"))
    return parsed


def property_set(properties: dict[str, Any]) -> tuple[str, ...]:
    """The sorted top-level property names: one 'definition' of an event."""
    return tuple(sorted(properties))


def hour_bucket(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class CatalogueWindow:
    """The two windows the catalogue counts over, in hour buckets."""

    since_30d: datetime
    since_24h: datetime

    @classmethod
    def at(cls, now: datetime) -> CatalogueWindow:
        current = hour_bucket(now)
        return cls(since_30d=current - timedelta(days=CATALOGUE_DAYS) + timedelta(hours=1), since_24h=current - timedelta(hours=23))
