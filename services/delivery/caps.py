"""Pure rules of the workspace's limits as delivery enforces them: frequency caps and quiet hours.

- A cap allows at most `max` sends to one user on a channel (`any`: every channel together) in
  any rolling window of `per`, or per calendar day in the user's zone. Every rule that covers a
  send's channel applies; the first one (in the settings file's order) that the send would
  break names the suppression. The first moment a blocked send may go is when enough counted
  sends have left each blocked rule's window: for a rolling window, the oldest send that must
  leave plus `per`; for a calendar day, the user's next midnight.
- Quiet hours are the complement of a delivery window open every day from their end to their
  start, so a send due in them moves to their end with delivery's window arithmetic
  (domain.next_opening: DST gaps and repeated hours included).

Times are aware; returned instants are in UTC. Imports neither grpc nor sqlmodel.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from herald_services.delivery.domain import ALL_DAYS, DeliveryWindow, choose_timezone, next_opening

ANY = "any"
SUPPRESS = "suppress"
DEFER = "defer"
FREQUENCY_CAP = "frequency_cap"
QUIET_HOURS = "quiet_hours"
# The longest a calendar day lasts in any zone's history (Samoa skipped one; the longest is
# 25 hours), with room: the slots a calendar_day rule may need are younger than this.
CALENDAR_DAY_LOOKBACK = timedelta(hours=50)


@dataclass(frozen=True)
class CapRule:
    channel: str  # any, email, sms, voice, push, webhook
    max: int
    per: timedelta | None  # None: the user's calendar day

    def __post_init__(self) -> None:
        if self.max < 1:
            raise ValueError(f"a cap allows at least one send, got max {self.max}")
        if self.per is not None and self.per <= timedelta(0):
            raise ValueError(f"a cap's window must be positive, got {self.per}")

    def covers(self, channel: str) -> bool:
        return self.channel == ANY or self.channel == channel

    @property
    def per_text(self) -> str:
        if self.per is None:
            return "calendar_day"
        seconds = int(self.per.total_seconds())
        parts = []
        for name, unit in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
            amount, seconds = divmod(seconds, unit)
            if amount:
                parts.append(f"{amount}{name}")
        return "".join(parts)

    def describe(self) -> str:
        """`any max 3 per 1d`: how the rule is named in outcomes and decision steps."""
        return f"{self.channel} max {self.max} per {self.per_text}"

    @property
    def lookback(self) -> timedelta:
        return CALENDAR_DAY_LOOKBACK if self.per is None else self.per


@dataclass(frozen=True)
class Slot:
    """A send counted against a user's caps: its channel and when it went out."""

    channel: str
    at: datetime


@dataclass(frozen=True)
class CapVerdict:
    """allowed, or the first rule broken and the first moment every broken rule allows the send."""

    allowed: bool
    rule: CapRule | None = None
    allowed_at: datetime | None = None


ALLOWED = CapVerdict(True)


def lookback(rules: Iterable[CapRule]) -> timedelta:
    """How far back a check needs a user's slots: the longest window among the rules."""
    return max((rule.lookback for rule in rules), default=timedelta(0))


def next_midnight(instant: datetime, zone: tzinfo) -> datetime:
    """The first instant after `instant` whose local date in zone is a later day, in UTC: the
    next local midnight, or where the clocks skip midnight, the first instant after the gap."""
    today = local_date(instant, zone)

    def tomorrow_at(at: datetime) -> bool:
        return local_date(at, zone) > today

    wall = datetime.combine(today + timedelta(days=1), time(0))
    candidate = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if tomorrow_at(candidate) and not tomorrow_at(candidate - timedelta(seconds=1)):
        return candidate
    # Midnight fell in a gap (or the clocks did something stranger): bisect whole seconds, as
    # offsets change only on whole seconds.
    low = int(instant.timestamp())
    high = int(candidate.timestamp()) + (0 if tomorrow_at(candidate) else 3 * 3600)
    while high - low > 1:
        middle = (low + high) // 2
        if tomorrow_at(datetime.fromtimestamp(middle, UTC)):
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def local_date(instant: datetime, zone: tzinfo) -> date:
    return instant.astimezone(zone).date()


def check_caps(
    rules: Sequence[CapRule], *, channel: str, slots: Iterable[Slot], now: datetime, zone: tzinfo | None,
) -> CapVerdict:
    """Whether one more send on `channel` at `now` keeps every rule, given the user's counted
    slots (any order; only those younger than lookback(rules) matter). `zone`: the user's, for
    calendar_day rules (None: UTC)."""
    now = now.astimezone(UTC)
    covering = [rule for rule in rules if rule.covers(channel)]
    if not covering:
        return ALLOWED
    ordered = sorted(slots, key=lambda slot: slot.at)
    first: CapRule | None = None
    allowed_at: datetime | None = None
    for rule in covering:
        counted = [slot.at for slot in ordered if rule.covers(slot.channel)]
        if rule.per is None:
            today = local_date(now, zone or UTC)
            in_window = [at for at in counted if local_date(at, zone or UTC) == today and at <= now]
            free_at = next_midnight(now, zone or UTC) if len(in_window) >= rule.max else None
        else:
            in_window = [at for at in counted if now - rule.per < at <= now]
            # The send that must leave for one slot to be free: the (count - max + 1)-th oldest.
            free_at = in_window[len(in_window) - rule.max] + rule.per if len(in_window) >= rule.max else None
        if free_at is None:
            continue
        first = first or rule
        allowed_at = free_at if allowed_at is None else max(allowed_at, free_at)
    if first is None:
        return ALLOWED
    return CapVerdict(False, rule=first, allowed_at=allowed_at)


@dataclass(frozen=True)
class QuietHours:
    """Local wall-clock times when nothing is sent: from `start` up to `end`; an end at or
    before the start crosses midnight."""

    start: time
    end: time
    fallback_timezone: str | None = None

    @property
    def open_window(self) -> DeliveryWindow:
        """The hours a send may go: every day from the quiet hours' end to their start."""
        return DeliveryWindow(days=ALL_DAYS, start=self.end, end=self.start)

    def end_after(self, instant: datetime, zone: tzinfo) -> datetime:
        """`instant` itself when it is outside quiet hours in zone, else the moment they end (UTC)."""
        return next_opening(self.open_window, instant, zone)


def quiet_hours_zone(
    *, user_timezone: str | None, campaign_fallback: str | None, quiet: QuietHours, default_timezone: str | None,
):
    """The zone quiet hours are read in, as a delivery window's: the user's `timezone`, else the
    campaign's window fallback, else the quiet hours' own fallback, else the workspace default;
    None when there is none (the send is then suppressed as no_timezone, never sent at a
    guessed local time)."""
    return choose_timezone(user_timezone, campaign_fallback, quiet.fallback_timezone) or choose_timezone(
        None, None, default_timezone
    )


@dataclass(frozen=True)
class Policy:
    """What Confirm hands delivery for one send: the workspace's caps and quiet hours now, and
    whether the campaign is exempt (transactional) and what a cap does to its sends."""

    caps: tuple[CapRule, ...] = ()
    quiet_hours: QuietHours | None = None
    transactional: bool = False
    on_cap: str = SUPPRESS

    @property
    def limits_caps(self) -> bool:
        return bool(self.caps) and not self.transactional

    @property
    def limits_hours(self) -> bool:
        return self.quiet_hours is not None and not self.transactional


NO_POLICY = Policy()
