"""Simulate: what a campaign would have done over recorded events, in memory only.

The replay runs the rules OnEvents and Confirm run, through the same functions: event
conditions and user conditions (filters.py, evidence.py for which condition kept a user out),
the re-entry rule, cancel_if and goal matching (domain.py), the due time after the delay and
settle period (CampaignSpec.due_at), the message and its address (domain.render_message,
handlers' address rule), and delivery's window arithmetic (herald_common.timing, which delivery
itself uses). Nothing is written: the state is a few dictionaries of the users in flight (a send
waiting for its due time, or a goal window open), dropped as they end, so memory follows the
users in flight, not the number of events.

Events come in the order ingest recorded them, which is the order the live campaign handled
them; the replay's clock is each event's received time. Pure: imports neither grpc nor sqlmodel.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from herald_common import timing
from herald_services.campaign.domain import (
    CampaignSpec,
    RenderedMessage,
    addresses_for,
    cancel_matches,
    goal_matches,
    reentry_allows,
    render_message,
)
from herald_services.campaign.filters import Condition, as_boolean, event_conditions_may_hold, filters_match
from herald_services.campaign.templates import RenderFailed, message_context

# A goal window is kept this long after it closes, for goal events received late with a time
# inside it (ingest reads a period's events this much wider too).
GOAL_GRACE = timedelta(hours=1)
_NOT_RENDERED = RenderedMessage(channel="")


class SimEvent(NamedTuple):  # a tuple: made for every event of a page, at a third of a dataclass's cost
    id: str
    name: str
    profile_id: str
    user_id: str
    properties: Mapping[str, Any]
    timestamp: datetime
    received_at: datetime


@dataclass(frozen=True, slots=True)
class SimUser:
    """A user as identity has them now."""

    user_id: str
    attributes: Mapping[str, Any]
    devices: tuple[tuple[str, str], ...] = ()
    unsubscribed: bool = False  # `herald users unsubscribe` from every campaign or this one


@dataclass(slots=True, eq=False)  # one send is itself: a user's list drops it by identity
class _Pending:
    profile_id: str
    user_id: str
    event_id: str
    event_name: str
    triggered_at: datetime
    properties: Mapping[str, Any]
    ready_at: datetime
    cancelled: bool = False
    sent_at: datetime | None = None  # confirmed, held by delivery until its window opens then
    hour_zone: Any = None


@dataclass(slots=True, eq=False)
class _Sent:
    sent_at: datetime
    properties: Mapping[str, Any]
    converted: set[str] = field(default_factory=set)


@dataclass
class SimulationResult:
    events_replayed: int = 0
    triggered: int = 0
    entered: int = 0
    filtered_out: Counter = field(default_factory=Counter)  # condition -> users
    cancelled: int = 0
    would_send: int = 0
    by_day: Counter = field(default_factory=Counter)  # "YYYY-MM-DD" (UTC) -> sends
    by_local_hour: Counter = field(default_factory=Counter)  # 0-23 in the user's zone -> sends
    conversions: dict[str, int] = field(default_factory=dict)  # goal name -> conversions
    kept_out_by_reentry: int = 0
    not_sent: Counter = field(default_factory=Counter)  # reason -> sends
    users_in_flight_peak: int = 0

    def goals(self) -> list[dict[str, Any]]:
        return [{"name": name, "conversions": count, "rate": count / self.would_send if self.would_send else 0.0}
                for name, count in self.conversions.items()]


def condition_label(condition: Condition) -> str:
    """A filter condition as the report names it: `event.price gt 45`, `user.plan neq Enterprise`."""
    text = f"{condition.source or 'event'}.{condition.property} {condition.op}"
    if condition.op not in ("exists", "not_exists"):
        value = condition.value
        if isinstance(value, (list, tuple)):
            value = "[" + ", ".join(str(v) for v in value) + "]"
        text += f" {value}"
    return text


def timing_window(spec: CampaignSpec) -> timing.DeliveryWindow | None:
    window = spec.delivery_window
    if window is None:
        return None
    return timing.DeliveryWindow.from_spec(days=window.days, start=_clock(window.start), end=_clock(window.end))


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class Simulation:
    """One campaign replayed over a stream of events; `users` must hold each triggering user
    before the event that triggers them is replayed (the caller fetches them a page ahead)."""

    def __init__(self, spec: CampaignSpec, *, campaign_id: str, settle: timedelta,
                 default_timezone: str | None = None) -> None:
        self.spec = spec
        self.campaign_id = campaign_id
        self.settle = settle
        self.default_timezone = default_timezone
        self.window = timing_window(spec)
        self.result = SimulationResult(conversions={goal.name: 0 for goal in spec.goals})
        self.users: dict[str, SimUser | None] = {}  # profile -> user now (None: not found)
        self._pending: list[tuple[datetime, int, _Pending]] = []  # a heap by ready time
        self._pending_of: dict[str, list[_Pending]] = defaultdict(list)
        self._sent_of: dict[str, list[_Sent]] = defaultdict(list)
        self._expiry: list[tuple[datetime, int, str]] = []  # (last goal window closes, seq, profile)
        self._entered_at: dict[str, datetime] = {}  # re-entry: last entry per user (once, once_per)
        self._entry_expiry: list[tuple[datetime, str]] = []  # once_per: when an entry stops mattering
        self._seq = itertools.count()
        self._by_day: Counter = Counter()  # UTC date -> sends, named in the result by finish()
        self._labels: dict[int, str] = {}  # id of a condition of the spec -> its label
        self._idle: set[str] = set()  # users whose last send or window just ended: forgotten after the page
        self._cancel_names = frozenset(rule.event for rule in spec.cancel_if)
        self._goal_names = frozenset(goal.event for goal in spec.goals)
        self._longest_goal = max((goal.within for goal in spec.goals), default=timedelta(0))
        self.names = frozenset({spec.trigger.event, *self._cancel_names, *self._goal_names})

    # ---- feeding -------------------------------------------------------------------------

    def unknown_users(self, events: Iterable[SimEvent]) -> set[str]:
        """Users of these events' triggers that `users` does not hold yet."""
        trigger = self.spec.trigger.event
        return {e.profile_id for e in events if e.name == trigger and e.profile_id not in self.users}

    def replay(self, events: Iterable[SimEvent], counted: int | None = None) -> None:
        """Replays events in order; `counted`: how many events of the period they stand for
        (ingest leaves out the names no rule of the campaign reads)."""
        trigger = self.spec.trigger.event
        cancels, goals = self._cancel_names, self._goal_names
        pending, expiry, entries = self._pending, self._expiry, self._entry_expiry
        replayed = 0
        for event in events:
            replayed += 1
            now = event.received_at
            # _advance's own tests, first, without the call: most events find nothing due.
            if ((pending and pending[0][0] <= now) or (expiry and expiry[0][0] < now)
                    or (entries and entries[0][0] <= now)):
                self._advance(now)
            name = event.name
            if name == trigger:
                self._trigger(event)
            if name in cancels and event.profile_id in self._pending_of:
                self._cancel(event)
            if name in goals and event.profile_id in self._sent_of:
                self._convert(event)
        self.result.events_replayed += replayed if counted is None else counted
        # Users out of flight are forgotten once the page is done (the caller fetched this
        # page's users before it; one who triggers again later is fetched again).
        for profile in self._idle:
            if profile not in self._pending_of and profile not in self._sent_of:
                self.users.pop(profile, None)
        self._idle.clear()
        in_flight = self.users_in_flight
        if in_flight > self.result.users_in_flight_peak:
            self.result.users_in_flight_peak = in_flight

    def finish(self) -> SimulationResult:
        """Sends still waiting at the end of the period go out as they would (their user
        conditions read as they are now), and are counted."""
        self._advance(None)
        for day, sends in sorted(self._by_day.items()):
            self.result.by_day[day.isoformat()] += sends
        self._by_day.clear()
        return self.result

    @property
    def users_in_flight(self) -> int:
        """Users with a send waiting or a goal window open (each counted once)."""
        return len(self._pending_of.keys() | self._sent_of.keys())

    # ---- the rules -----------------------------------------------------------------------

    def _advance(self, now: datetime | None) -> None:
        pending = self._pending
        while pending and (now is None or pending[0][0] <= now):
            _, _, send = heapq.heappop(pending)
            of_user = self._pending_of[send.profile_id]
            of_user.remove(send)
            if not of_user:
                del self._pending_of[send.profile_id]
            if send.cancelled:
                pass
            elif send.sent_at is None:
                self._confirm(send)
            else:
                self._went_out(send, send.sent_at, send.hour_zone)
            if send.profile_id not in self._pending_of:
                self._idle.add(send.profile_id)
        expiry = self._expiry
        while expiry and now is not None and expiry[0][0] < now:
            _, _, profile = heapq.heappop(expiry)
            sends = [s for s in self._sent_of.get(profile, ()) if s.sent_at + self._longest_goal + GOAL_GRACE >= now]
            if sends:
                self._sent_of[profile] = sends
            else:
                self._sent_of.pop(profile, None)
                self._idle.add(profile)
        entries = self._entry_expiry
        while entries and now is not None and entries[0][0] <= now:
            at, profile = heapq.heappop(entries)
            entered = self._entered_at.get(profile)
            if entered is not None and entered + self.spec.reentry.period <= at:
                del self._entered_at[profile]

    def _trigger(self, event: SimEvent) -> None:
        spec, result = self.spec, self.result
        result.triggered += 1
        if spec.filters is not None and not event_conditions_may_hold(spec.filters, event.properties,
                                                                     now=event.received_at):
            self._kept_out(event.properties, None, event.received_at)
            return
        reentry = spec.reentry
        if reentry.mode != "every_time":
            previous = self._entered_at.get(event.profile_id)
            if not reentry_allows(reentry, previous=[previous] if previous else [], now=event.timestamp):
                result.kept_out_by_reentry += 1
                return
            self._entered_at[event.profile_id] = event.timestamp
            if reentry.mode == "once_per":
                heapq.heappush(self._entry_expiry, (event.timestamp + reentry.period, event.profile_id))
        result.entered += 1
        trigger_at = max(event.timestamp, event.received_at)
        send = _Pending(
            profile_id=event.profile_id, user_id=event.user_id,
            event_id=event.id, event_name=event.name, triggered_at=event.timestamp, properties=event.properties,
            ready_at=spec.due_at(trigger_at, settle=self.settle),
        )
        heapq.heappush(self._pending, (send.ready_at, next(self._seq), send))
        self._pending_of[event.profile_id].append(send)

    def _kept_out(self, properties: Mapping[str, Any], attributes: Mapping[str, Any] | None, now: datetime) -> None:
        """Counts the user under each condition that did not hold (of the event only, before
        the user's attributes are read; of both at the due time), as explain's facts do."""
        labels = set()
        for group in self.spec.filters.any_of:
            for condition in group.all_of:
                source = condition.source or "event"
                if source == "user" and attributes is None:
                    continue
                if not condition.holds(properties if source == "event" else attributes, now=now):
                    label = self._labels.get(id(condition))
                    if label is None:
                        label = self._labels[id(condition)] = condition_label(condition)
                    labels.add(label)
        self.result.filtered_out.update(labels)

    def _cancel(self, event: SimEvent) -> None:
        for send in self._pending_of.get(event.profile_id, ()):
            if send.cancelled or send.event_id == event.id or event.timestamp < send.triggered_at:
                continue
            if any(cancel_matches(rule, event_name=event.name, properties=event.properties,
                                  trigger_properties=send.properties, now=event.received_at)
                   for rule in self.spec.cancel_if):
                send.cancelled = True
                self.result.cancelled += 1

    def _convert(self, event: SimEvent) -> None:
        at = event.timestamp
        for sent in self._sent_of.get(event.profile_id, ()):
            if at < sent.sent_at:
                continue
            for goal in self.spec.goals:
                if goal.event != event.name or goal.name in sent.converted or at > sent.sent_at + goal.within:
                    continue
                if goal_matches(goal, event_name=event.name, properties=event.properties,
                                trigger_properties=sent.properties, now=event.received_at):
                    sent.converted.add(goal.name)
                    self.result.conversions[goal.name] += 1

    def _confirm(self, send: _Pending) -> None:
        """What Confirm decides at the send's due time, then where delivery's window puts it."""
        spec, result, now = self.spec, self.result, send.ready_at
        user = self.users.get(send.profile_id)
        if user is None:
            result.not_sent["user_deleted"] += 1
            return
        attributes = user.attributes
        if user.unsubscribed or as_boolean(attributes.get("unsubscribed")) is True:
            result.not_sent["unsubscribed"] += 1
            return
        if spec.filters is not None and not filters_match(spec.filters, event_properties=send.properties,
                                                          user_attributes=attributes, now=now):
            self._kept_out(send.properties, attributes, now)
            return
        # The message itself is rendered only where the address comes from it (a webhook's url):
        # rendering every message would cost the replay more than every rule above together.
        message = _NOT_RENDERED
        if spec.channel == "webhook":
            context = message_context(user_id=user.user_id or send.user_id, attributes=attributes,
                                      event_name=send.event_name, event_properties=send.properties,
                                      event_time=send.triggered_at)
            try:
                message = render_message(spec.message, context)
            except RenderFailed:
                result.not_sent["render_failed"] += 1
                return
        if not addresses_for(spec.channel, attributes, user.devices, message):
            result.not_sent["no_address"] += 1
            return
        user_zone = attributes.get("timezone")
        user_zone = user_zone if isinstance(user_zone, str) else None
        fallback = spec.delivery_window.fallback_timezone if spec.delivery_window else None
        decision = timing.recompute_due(ready_at=send.ready_at, now=now, window=self.window,
                                        user_timezone=user_zone, fallback_timezone=fallback,
                                        default_timezone=self.default_timezone)
        if decision.is_suppressed:
            result.not_sent[decision.suppressed] += 1
            return
        sent_at = decision.due_at
        zone = timing.choose_timezone(user_zone, fallback, self.default_timezone)
        if sent_at > now and self._cancel_names:
            # Delivery holds it for its window; a cancel_if event until then still stops it
            # (campaign asks delivery to cancel a confirmed send it holds).
            send.sent_at, send.hour_zone = sent_at, zone
            heapq.heappush(self._pending, (sent_at, next(self._seq), send))
            self._pending_of[send.profile_id].append(send)
            return
        self._went_out(send, sent_at, zone)

    def _went_out(self, send: _Pending, sent_at: datetime, zone: timing.ZoneChoice | None) -> None:
        result = self.result
        result.would_send += 1
        self._by_day[(sent_at if sent_at.tzinfo is UTC else sent_at.astimezone(UTC)).date()] += 1
        result.by_local_hour[sent_at.astimezone(zone.zone if zone else UTC).hour] += 1
        if self.spec.goals:
            self._sent_of[send.profile_id].append(_Sent(sent_at=sent_at, properties=send.properties))
            closes = sent_at + self._longest_goal + GOAL_GRACE
            heapq.heappush(self._expiry, (closes, next(self._seq), send.profile_id))
