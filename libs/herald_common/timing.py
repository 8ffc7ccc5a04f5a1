"""Pure rules of delivery timing: when a send is due, and the delivery window in the user's zone.

Used by delivery (which sends) and by campaign's simulate (which replays what delivery would do).

A window is read on the user's wall clock: an instant is inside when the local time it shows
falls in the window of a listed day. Everything else follows from that reading:

- The window of a day runs from `start` to `end` local time; an `end` at or before `start`
  crosses midnight, and those early hours belong to the day the window opened (a friday
  22:00-06:00 window covers saturday 00:00-06:00, a saturday-only window does not cover the
  friday night before it). `start == end` is a 24-hour window opening at `start`, so
  "00:00"-"00:00" is the whole calendar day. `end` may be written "24:00".
- A spring-forward gap: a local opening time the clocks skip does not exist that day, so the
  window opens at the first instant after the gap (a 02:30 opening in a 02:00-03:00 gap opens at
  03:00). A window lying wholly inside a gap has no instant that day and opens on its next day.
- A fall-back hour: the first instant showing an ambiguous opening time is its first occurrence
  (fold=0). While the clocks repeat an hour the window follows what they show: a window ending
  01:30 is open again for the repeated 01:00-01:30, and one opening 01:30 is closed again during
  the repeated 01:00-01:30, as the user sees it.
- No window at all means always open.

Times passed in and returned are aware; returned instants are in UTC. Imports neither grpc nor
sqlmodel, and reads no files beyond the time zone database.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_DAYS = frozenset(range(7))
NO_TIMEZONE = "no_timezone"
STALE = "stale"
DEFAULT_STALE_AFTER = timedelta(hours=24)
ZONE_SOURCES = ("user", "fallback", "default")

_ONE_DAY = timedelta(days=1)
_MICROSECOND = timedelta(microseconds=1)
_DAY_US = 86_400_000_000
_CLOCK_TIME = re.compile(r"(\d{1,2}):(\d{2})")
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
# No IANA zone changes its offset and back within a day (in 2019-2031 the closest two transitions
# of any zone are four weeks apart), so probing the offset daily finds every transition on the way.
_OFFSET_PROBE_STEP = timedelta(days=1)
# Each hop of the search crosses one offset transition; a week holds at most two.
_MAX_TRANSITION_HOPS = 32


class TimingRefused(ValueError):
    """A window or duration that cannot be used, with the field and the reason."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class DeliveryWindow:
    """Weekdays (0 = monday, as date.weekday()) and the local start and end of each day's window."""

    days: frozenset[int]
    start: time
    end: time

    def __post_init__(self) -> None:
        object.__setattr__(self, "days", frozenset(self.days))
        if not self.days:
            raise TimingRefused("days", "a delivery window needs at least one day")
        if not self.days <= ALL_DAYS:
            raise TimingRefused("days", f"weekdays are 0 (monday) to 6 (sunday), got {sorted(self.days)}")
        for name in ("start", "end"):
            if getattr(self, name).tzinfo is not None:
                raise TimingRefused(name, "a window time is a local wall-clock time, without a zone")
        # A wall-clock time is read as microseconds since its midnight against these.
        object.__setattr__(self, "_start_us", _micros_of_day(self.start))
        object.__setattr__(self, "_length_us", self.length // _MICROSECOND)

    @classmethod
    def from_spec(cls, *, days: Iterable[str] | None, start: str, end: str) -> DeliveryWindow:
        """From a campaign's `delivery_window`: days as mon..sun (omitted: every day), "HH:MM" times."""
        return cls(days=_parse_days(days), start=_parse_clock(start, "start"), end=_parse_clock(end, "end", allow_24=True))

    def to_spec(self) -> dict[str, object]:
        return {
            "days": [WEEKDAYS[day] for day in sorted(self.days)],
            "start": self.start.strftime("%H:%M"),
            "end": self.end.strftime("%H:%M"),
        }

    @property
    def length(self) -> timedelta:
        """Wall-clock length of one day's window: up to 24 hours, crossing midnight when end <= start."""
        span = datetime.combine(date.min, self.end) - datetime.combine(date.min, self.start)
        return span if span > timedelta(0) else span + _ONE_DAY

    def contains_local(self, wall: datetime) -> bool:
        """Whether a naive local wall-clock time lies in the window of a listed day: today's
        window, or yesterday's crossing midnight."""
        since_opening = _micros_of_day(wall) - self._start_us  # from today's opening, wall-clock
        weekday = wall.weekday()
        if weekday in self.days and 0 <= since_opening < self._length_us:
            return True
        return (weekday - 1) % 7 in self.days and 0 <= since_opening + _DAY_US < self._length_us

    def opens_after(self, wall: datetime) -> datetime:
        """The first wall-clock opening strictly after a naive local time."""
        weekday = wall.weekday()
        first = 0 if _micros_of_day(wall) < self._start_us else 1  # today's opening is still ahead
        for days_ahead in range(first, 8):
            if (weekday + days_ahead) % 7 in self.days:
                return datetime.combine(wall.date() + timedelta(days=days_ahead), self.start)
        raise AssertionError("a window with at least one day opens within eight days")


def _micros_of_day(clock: datetime | time) -> int:
    return ((clock.hour * 60 + clock.minute) * 60 + clock.second) * 1_000_000 + clock.microsecond


def _parse_days(days: Iterable[str] | None) -> frozenset[int]:
    if days is None:
        return ALL_DAYS
    if isinstance(days, str) or not isinstance(days, Iterable):
        raise TimingRefused("days", f"expected a list of days like [mon, tue], got {days!r}")
    parsed = set()
    for day in days:
        name = day.strip().lower() if isinstance(day, str) else None
        if name not in WEEKDAYS:
            raise TimingRefused("days", f"{day!r} is not one of {', '.join(WEEKDAYS)}")
        parsed.add(WEEKDAYS.index(name))
    return frozenset(parsed)


def _parse_clock(value: str, field: str, *, allow_24: bool = False) -> time:
    if not isinstance(value, str):
        # YAML reads an unquoted 9:00 as the number 540.
        raise TimingRefused(field, f'expected a quoted local time like "09:00", got {value!r}')
    match = _CLOCK_TIME.fullmatch(value.strip())
    if match is None:
        raise TimingRefused(field, f'{value!r} is not a local time like "09:00"')
    hour, minute = int(match[1]), int(match[2])
    if allow_24 and (hour, minute) == (24, 0):
        return time(0, 0)
    if hour > 23 or minute > 59:
        raise TimingRefused(field, f"{value!r} is not a time of day")
    return time(hour, minute)


def parse_duration(text: str, field: str = "duration") -> timedelta:
    """'30m', '4h', '2d', '1h30m', '45s', '0m' -> a timedelta. Units in this order: d, h, m, s."""
    match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or not any(match.groups()):
        raise TimingRefused(field, f"{text!r} is not a duration like 30m, 4h, 2d or 1h30m")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    try:
        return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:
        raise TimingRefused(field, f"{text!r} is too long a duration") from None


def _as_utc(value: datetime, field: str) -> datetime:
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{field} must be an aware datetime, got naive {value!r}")
    return value.astimezone(UTC)


def _offset(instant: datetime, zone: tzinfo) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def _first_offset_change(after: datetime, until: datetime, zone: tzinfo, offset: timedelta) -> datetime | None:
    """The first instant in (after, until] whose UTC offset in zone is not `offset`, if any."""
    low = after
    while low < until:
        high = min(low + _OFFSET_PROBE_STEP, until)
        if _offset(high, zone) != offset:
            return _transition_between(low, high, zone, offset)
        low = high
    return None


def _transition_between(low: datetime, high: datetime, zone: tzinfo, offset: timedelta) -> datetime:
    # Transitions fall on whole seconds, so bisecting POSIX seconds finds one exactly.
    low_second, high_second = int(low.timestamp() // 1), int(high.timestamp() // 1)
    while high_second - low_second > 1:
        middle = (low_second + high_second) // 2
        if _offset(datetime.fromtimestamp(middle, UTC), zone) == offset:
            low_second = middle
        else:
            high_second = middle
    return datetime.fromtimestamp(high_second, UTC)


def next_opening(window: DeliveryWindow | None, instant: datetime, zone: tzinfo) -> datetime:
    """The first instant at or after `instant` that lies inside `window` in `zone`, in UTC.

    An instant already inside the window is returned unchanged; no window is always open.
    """
    at = _as_utc(instant, "instant")
    if window is None:
        return at
    for _ in range(_MAX_TRANSITION_HOPS):
        local = at.astimezone(zone)
        wall = local.replace(tzinfo=None)
        if window.contains_local(wall):
            return at
        offset = local.utcoffset()
        assert offset is not None
        # Until the zone's offset changes, the wall clock runs with UTC: it shows the next
        # opening at exactly this instant. A change on the way is where a gap or a repeated
        # hour moves the clock, so the search restarts from there.
        reaches_opening = (window.opens_after(wall) - offset).replace(tzinfo=UTC)
        change = _first_offset_change(at, reaches_opening, zone, offset)
        if change is None:
            return reaches_opening
        at = change
    raise AssertionError(f"no opening of {window} found after {instant} in {zone}")


def is_open(window: DeliveryWindow | None, instant: datetime, zone: tzinfo) -> bool:
    return next_opening(window, instant, zone) == _as_utc(instant, "instant")


@dataclass(frozen=True)
class ZoneChoice:
    """The zone a send's window is read in, and where its name came from."""

    name: str
    zone: zoneinfo.ZoneInfo
    source: str  # one of ZONE_SOURCES


@functools.cache
def zone_names() -> frozenset[str]:
    """IANA zone names a window may be read in. 'localtime' is this machine's zone and 'Factory'
    means "no zone set": reading a window in either would be a guess."""
    return frozenset(zoneinfo.available_timezones()) - {"localtime", "Factory"}


def _load_zone(name: str | None) -> zoneinfo.ZoneInfo | None:
    if not isinstance(name, str) or name.strip() not in zone_names():
        return None
    return zoneinfo.ZoneInfo(name.strip())


def choose_timezone(user_timezone: str | None, fallback_timezone: str | None, default_timezone: str | None) -> ZoneChoice | None:
    """The user's `timezone` attribute, else the campaign's fallback, else the workspace default.

    A name that is empty or not an IANA zone name (see zone_names) counts as absent, and the next
    one is tried; None when no name is usable.
    """
    if ((user_timezone is None or user_timezone.__class__ is str)
            and (fallback_timezone is None or fallback_timezone.__class__ is str)
            and (default_timezone is None or default_timezone.__class__ is str)):
        return _choice_of_names(user_timezone, fallback_timezone, default_timezone)
    return _choose((user_timezone, fallback_timezone, default_timezone))


@functools.lru_cache(maxsize=4096)
def _choice_of_names(user_timezone: str | None, fallback_timezone: str | None,
                     default_timezone: str | None) -> ZoneChoice | None:
    """choose_timezone remembered by names: every send asks it, for a handful of distinct zones."""
    return _choose((user_timezone, fallback_timezone, default_timezone))


def _choose(names: tuple) -> ZoneChoice | None:
    for source, name in zip(ZONE_SOURCES, names, strict=True):
        zone = _load_zone(name)
        if zone is not None:
            return ZoneChoice(name=zone.key, zone=zone, source=source)
    return None


@dataclass(frozen=True)
class Decision:
    """When a send is due, or why it is held instead.

    `ready_at` is the trigger time plus the wait, before any window moved it: the time to
    recompute from. `due_at` is None exactly when the send is suppressed, with the reason in
    `suppressed`. `timezone` names the zone the window was read in (None without a window).
    """

    ready_at: datetime
    due_at: datetime | None
    timezone: str | None = None
    timezone_source: str | None = None
    suppressed: str | None = None

    @property
    def is_suppressed(self) -> bool:
        return self.suppressed is not None


def waiting_period(*, delay: timedelta, settle: timedelta, has_filters: bool) -> timedelta:
    """The campaign's delay; a campaign with filters waits at least the settle period, because
    Segment's identify and track arrive in any order and filters read attributes when due."""
    for name, value in (("delay", delay), ("settle", settle)):
        if value < timedelta(0):
            raise TimingRefused(name, f"cannot be negative, got {value}")
    return max(delay, settle) if has_filters else delay


def _place(
    *,
    ready_at: datetime,
    earliest: datetime,
    window: DeliveryWindow | None,
    user_timezone: str | None,
    fallback_timezone: str | None,
    default_timezone: str | None,
) -> Decision:
    if window is None:
        return Decision(ready_at=ready_at, due_at=earliest)
    choice = choose_timezone(user_timezone, fallback_timezone, default_timezone)
    if choice is None:
        # A window read in a guessed zone could wake the user at night: hold the send instead.
        return Decision(ready_at=ready_at, due_at=None, suppressed=NO_TIMEZONE)
    return Decision(
        ready_at=ready_at,
        due_at=next_opening(window, earliest, choice.zone),
        timezone=choice.name,
        timezone_source=choice.source,
    )


def due_time(
    *,
    trigger_at: datetime,
    delay: timedelta,
    settle: timedelta,
    has_filters: bool,
    window: DeliveryWindow | None,
    user_timezone: str | None,
    fallback_timezone: str | None,
    default_timezone: str | None,
) -> Decision:
    """A new send's due time: trigger time plus its wait, moved to the next window opening in the
    user's zone. With a window and no usable zone, the send is suppressed as `no_timezone`."""
    ready_at = _as_utc(trigger_at, "trigger_at") + waiting_period(delay=delay, settle=settle, has_filters=has_filters)
    return _place(
        ready_at=ready_at,
        earliest=ready_at,
        window=window,
        user_timezone=user_timezone,
        fallback_timezone=fallback_timezone,
        default_timezone=default_timezone,
    )


def recompute_due(
    *,
    ready_at: datetime,
    now: datetime,
    window: DeliveryWindow | None,
    user_timezone: str | None,
    fallback_timezone: str | None,
    default_timezone: str | None,
) -> Decision:
    """The due time again, with the zones as they are now.

    A user's `timezone` may change between scheduling and sending, and the window belongs to the
    zone the user is in when the message goes out. So callers recompute when the timer fires
    (and may recompute early when the attribute changes): a `due_at` equal to `now` means send
    now, a later one means wait until then, `no_timezone` means the zone is gone and the send is
    held. Never earlier than `now`: a window that opened in the new zone while the timer waited
    for the old one is used from now on.
    """
    ready = _as_utc(ready_at, "ready_at")
    return _place(
        ready_at=ready,
        earliest=max(ready, _as_utc(now, "now")),
        window=window,
        user_timezone=user_timezone,
        fallback_timezone=fallback_timezone,
        default_timezone=default_timezone,
    )


def is_stale(due_at: datetime, now: datetime, stale_after: timedelta = DEFAULT_STALE_AFTER) -> bool:
    """Overdue by more than `stale_after` (HERALD_STALE_AFTER): suppress as `stale`, not send late."""
    if stale_after < timedelta(0):
        raise TimingRefused("stale_after", f"cannot be negative, got {stale_after}")
    return _as_utc(now, "now") - _as_utc(due_at, "due_at") > stale_after
