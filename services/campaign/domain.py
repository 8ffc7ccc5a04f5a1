"""Pure rules of campaign: what a campaign is, whether a goal or cancel event matches, whether
a user may enter a campaign again, and how a message renders.

Parsing a campaign file is in spec.py, filter evaluation in filters.py, Liquid in templates.py.
Imports neither grpc nor sqlmodel.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from herald_services.campaign.filters import (
    MISSING,
    Condition,
    Filters,
    conditions_hold,
    lookup,
    typed_equal,
)
from herald_services.campaign.templates import MessageTemplate

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CHANNELS = ("email", "sms", "voice", "push", "webhook")
MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True)
class Trigger:
    event: str


@dataclass(frozen=True)
class DeliveryWindow:
    """Local times of day on some days of the week when a message may go out.

    Times are minutes after midnight; `end` may be 1440 ("24:00"). An end before the start
    crosses midnight: the window opens on a listed day and closes the next morning.
    """

    days: tuple[str, ...]
    start: int
    end: int
    # None: a user without a `timezone` gets the workspace default, else the send is held
    # (delivery suppresses it as `no_timezone`): never sent at a guessed local time.
    fallback_timezone: str | None = None

    @property
    def crosses_midnight(self) -> bool:
        return self.end < self.start

    def is_open_at(self, local: datetime) -> bool:
        """Whether the window is open at this wall-clock time in the user's zone."""
        minute = local.hour * 60 + local.minute
        today = WEEKDAYS[local.weekday()]
        if not self.crosses_midnight:
            return today in self.days and self.start <= minute < self.end
        yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
        return (today in self.days and minute >= self.start) or (yesterday in self.days and minute < self.end)


# ---- messages -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateObject:
    """A JSON object whose text leaves are templates (a webhook body)."""

    items: tuple[tuple[str, JsonTemplate], ...]


@dataclass(frozen=True)
class TemplateArray:
    items: tuple[JsonTemplate, ...]


JsonTemplate = TemplateObject | TemplateArray | MessageTemplate | bool | int | float | None


@dataclass(frozen=True)
class EmailMessage:
    channel: ClassVar[str] = "email"
    subject: MessageTemplate
    body: MessageTemplate
    html: MessageTemplate | None = None


@dataclass(frozen=True)
class SmsMessage:
    channel: ClassVar[str] = "sms"
    body: MessageTemplate


@dataclass(frozen=True)
class VoiceMessage:
    channel: ClassVar[str] = "voice"
    text: MessageTemplate


@dataclass(frozen=True)
class PushMessage:
    channel: ClassVar[str] = "push"
    title: MessageTemplate
    body: MessageTemplate
    data: tuple[tuple[str, MessageTemplate], ...] = ()


@dataclass(frozen=True)
class WebhookMessage:
    channel: ClassVar[str] = "webhook"
    url: MessageTemplate
    body: TemplateObject


Message = EmailMessage | SmsMessage | VoiceMessage | PushMessage | WebhookMessage


@dataclass(frozen=True)
class RenderedMessage:
    """A message ready for a provider. `data` is push data or the webhook's JSON body."""

    channel: str
    subject: str = ""
    body: str = ""
    html: str = ""
    title: str = ""
    text: str = ""
    url: str = ""
    data: dict[str, Any] | None = None


def render_message(message: Message, context: Mapping[str, Any]) -> RenderedMessage:
    """Renders every template of a message (see templates.message_context for the context).

    Raises templates.RenderFailed when a template cannot render with these values.
    """
    if isinstance(message, EmailMessage):
        return RenderedMessage(
            "email", subject=message.subject.render(context), body=message.body.render(context),
            html=message.html.render(context) if message.html is not None else "",
        )
    if isinstance(message, SmsMessage):
        return RenderedMessage("sms", body=message.body.render(context))
    if isinstance(message, VoiceMessage):
        return RenderedMessage("voice", text=message.text.render(context))
    if isinstance(message, PushMessage):
        return RenderedMessage(
            "push", title=message.title.render(context), body=message.body.render(context),
            data={key: value.render(context) for key, value in message.data},
        )
    return RenderedMessage("webhook", url=message.url.render(context).strip(), data=render_json(message.body, context))


def render_json(node: JsonTemplate, context: Mapping[str, Any]) -> Any:
    """A JSON value with every text leaf rendered; numbers, booleans and null stay as written."""
    if isinstance(node, MessageTemplate):
        return node.render(context)
    if isinstance(node, TemplateObject):
        return {key: render_json(value, context) for key, value in node.items}
    if isinstance(node, TemplateArray):
        return [render_json(value, context) for value in node.items]
    return node


@dataclass(frozen=True)
class Address:
    kind: str
    value: str


def addresses_for(channel: str, attributes: Mapping[str, Any], devices: list[tuple[str, str]],
                  message: RenderedMessage) -> tuple[Address, ...]:
    """Where a message of this channel goes for a user: their email, phone number, push devices,
    or the webhook's rendered url; () when they have none (Confirm suppresses as no_address)."""
    if channel == "email":
        value = attributes.get("email")
        return (Address("email", value),) if isinstance(value, str) and value else ()
    if channel in ("sms", "voice"):
        value = attributes.get("phone_number")
        return (Address("phone", value),) if isinstance(value, str) and value else ()
    if channel == "push":
        return tuple(Address(kind, token) for kind, token in devices if kind in ("apns", "fcm"))
    return (Address("url", message.url),) if message.url else ()


# ---- goals, cancel conditions, re-entry ---------------------------------------------------


@dataclass(frozen=True)
class Goal:
    name: str
    event: str
    within: timedelta
    primary: bool = False
    where: tuple[Condition, ...] = ()
    match_trigger: tuple[str, ...] = ()


@dataclass(frozen=True)
class CancelRule:
    """An event that, done before the send goes out, cancels it."""

    event: str
    where: tuple[Condition, ...] = ()
    match_trigger: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reentry:
    """How often one user may enter a campaign: every_time, once, or once_per `period`."""

    mode: str = "every_time"
    period: timedelta | None = None

    MODES: ClassVar[tuple[str, ...]] = ("every_time", "once", "once_per")


EVERY_TIME = Reentry()


def matches_trigger(names: Iterable[str], properties: Mapping[str, Any], trigger_properties: Mapping[str, Any]) -> bool:
    """Every named property has a value on both events and the values are equal (typed, as eq)."""
    for name in names:
        ours, theirs = lookup(properties, name), lookup(trigger_properties, name)
        if ours is MISSING or theirs is MISSING or not typed_equal(ours, theirs):
            return False
    return True


def _event_matches(
    rule: Goal | CancelRule,
    event_name: str,
    properties: Mapping[str, Any],
    trigger_properties: Mapping[str, Any],
    now: datetime,
) -> bool:
    return (
        event_name == rule.event
        and conditions_hold(rule.where, properties, now=now)
        and matches_trigger(rule.match_trigger, properties, trigger_properties)
    )


def goal_matches(
    goal: Goal,
    *,
    event_name: str,
    properties: Mapping[str, Any],
    trigger_properties: Mapping[str, Any],
    now: datetime,
) -> bool:
    """Whether an event is this goal's event: same name, `where` holds on its properties, and
    each `match_trigger` property equals the trigger event's. The window is checked apart."""
    return _event_matches(goal, event_name, properties, trigger_properties, now)


def cancel_matches(
    rule: CancelRule,
    *,
    event_name: str,
    properties: Mapping[str, Any],
    trigger_properties: Mapping[str, Any],
    now: datetime,
) -> bool:
    """Whether an event cancels a pending send, by the same rule as goal_matches."""
    return _event_matches(rule, event_name, properties, trigger_properties, now)


def goal_window_closes(goal: Goal, sent_at: datetime) -> datetime:
    return sent_at + goal.within


def within_goal_window(goal: Goal, *, sent_at: datetime, event_at: datetime) -> bool:
    """A goal event counts from the moment the message was sent until `within` after, both ends included."""
    return sent_at <= event_at <= goal_window_closes(goal, sent_at)


def reentry_allows(reentry: Reentry, *, previous: Iterable[datetime], now: datetime) -> bool:
    """Whether a user triggered again may enter: `previous` are the times this user entered the
    campaign before. once_per: the last entry is at least `period` ago (exactly `period` is enough)."""
    if reentry.mode == "every_time":
        return True
    if reentry.mode == "once":
        return next(iter(previous), None) is None
    assert reentry.period is not None
    latest = max(previous, default=None)
    return latest is None or now - latest >= reentry.period


# ---- a campaign ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One arm of an A/B test: a share (weight, out of 100) of the users not held out."""

    name: str
    weight: int
    message: Message


@dataclass(frozen=True)
class CampaignSpec:
    """A campaign as its file describes it, parsed and checked (spec.parse_campaign)."""

    name: str
    trigger: Trigger
    message: Message
    filters: Filters | None = None
    delay: timedelta = timedelta(0)
    delivery_window: DeliveryWindow | None = None
    goals: tuple[Goal, ...] = ()
    cancel_if: tuple[CancelRule, ...] = ()
    reentry: Reentry = EVERY_TIME
    # Exempt from the workspace's frequency caps and quiet hours (a receipt, a password reset);
    # its sends neither wait for a cap nor use one up.
    transactional: bool = False
    on_cap: str = "suppress"  # a send a frequency cap stops: suppressed, or deferred until the cap allows it
    # Experiments: the share of entering users held out (a control group: everything happens
    # but the provider call), and A/B variants (with variants, `message` is the first's).
    holdout: float = 0.0
    holdout_text: str = ""
    variants: tuple[Variant, ...] = ()

    def variant(self, name: str) -> Variant | None:
        return next((variant for variant in self.variants if variant.name == name), None)

    def message_for(self, variant: str) -> Message:
        """What a send assigned to `variant` says: that variant's message; a send whose variant
        this version no longer has (a promote, an edit) gets the campaign's message."""
        chosen = self.variant(variant) if variant else None
        return chosen.message if chosen is not None else self.message

    @property
    def channel(self) -> str:
        return self.message.channel

    @property
    def instant(self) -> bool:
        """No filters and no delay: scheduled as soon as the trigger arrives, without settling."""
        return self.filters is None and self.delay == timedelta(0)

    @property
    def primary_goal(self) -> Goal | None:
        return next((goal for goal in self.goals if goal.primary), None)

    def due_at(self, triggered_at: datetime, *, settle: timedelta) -> datetime:
        """When a triggered send is first due, before its delivery window moves it.

        An instant campaign is due at once. One with filters is due no sooner than `settle`
        after the trigger (HERALD_SETTLE_SECONDS: Segment's identify and track arrive in any
        order), and its filters are evaluated then. A delay counts from the trigger and, being
        longer than the settle period, already covers it.
        """
        if self.filters is None:
            return triggered_at + self.delay
        return triggered_at + max(self.delay, settle)
