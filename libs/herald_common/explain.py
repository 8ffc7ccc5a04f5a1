"""herald explain: a user's campaign entries with every decision taken for them, in words.

campaign's Explain answers the entries (one user, one campaign, one trigger event) with the steps
campaign took; delivery's Explain answers the steps delivery took for the same sends. `merge`
puts delivery's steps into campaign's entries by send id, entries newest first and steps in the
order they were taken, as the document CONTRACT.md promises:

    {"user_id", "entries": [{"campaign", "trigger_event_id", "triggered_at", "send_id", "status",
                             "steps": [{"at", "step", "outcome", "detail"}]}]}

`describe_step` turns one step into the sentence a marketer reads (docs/explain.md's table); the
CLI and the console both print those words. `explain_user` makes the calls (campaign, delivery,
and, for a campaign the user never entered, ingest) and returns the document.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from herald_common.clock import isoformat

NOT_ENTERED = "not_entered"
T = TypeVar("T")

# On equal times (one clock tick), campaign's steps come before delivery's, except those campaign
# takes on delivery's report (goal windows and conversions open once delivery has sent).
_AFTER_DELIVERY = frozenset({"goal_window", "conversion"})


# ---- the document --------------------------------------------------------------------------------


def merge(campaign, delivery=None) -> dict[str, Any]:
    """campaign's ExplainResponse and delivery's (or None) as the explain document."""
    by_send: dict[str, list[tuple[datetime, int, int, dict[str, Any]]]] = {}
    if delivery is not None:
        for position, step in enumerate(delivery.steps):
            at = step.at.ToDatetime(tzinfo=UTC)
            by_send.setdefault(step.send_id, []).append((at, 1, position, _step(at, step)))
    entries = []
    for entry in campaign.entries:
        steps = []
        for position, step in enumerate(entry.steps):
            at = step.at.ToDatetime(tzinfo=UTC)
            steps.append((at, 2 if step.step in _AFTER_DELIVERY else 0, position, _step(at, step)))
        if entry.send_id:
            steps.extend(by_send.get(entry.send_id, ()))
        steps.sort(key=lambda item: item[:3])
        entries.append({
            "campaign": entry.campaign,
            "trigger_event_id": entry.trigger_event_id,
            "triggered_at": isoformat(entry.triggered_at.ToDatetime(tzinfo=UTC)) if entry.HasField("triggered_at") else None,
            "send_id": entry.send_id or None,
            "status": entry.status or None,
            "steps": [step for *_, step in steps],
        })
    return {"user_id": campaign.user_id or None, "profile_id": campaign.profile_id, "entries": entries}


def _step(at: datetime, step) -> dict[str, Any]:
    return {"at": isoformat(at), "step": step.step, "outcome": step.outcome,
            "detail": orjson.loads(step.detail_json) if step.detail_json else {}}


async def _direct(service: str, pending: Awaitable[T]) -> T:
    return await pending


async def explain_user(*, campaign, delivery, ingest, workspace_id: str, user: str, campaign_name: str = "",
                       trigger_event_id: str = "", limit: int = 0,
                       call: Callable[[str, Awaitable[Any]], Awaitable[Any]] = _direct) -> dict[str, Any]:
    """The explain document of `user` (a user id or any joined anonymous id). With a campaign
    the user has no entry in (and no trigger event asked for), `never_entered` says when the
    user last did the campaign's trigger event, from ingest's record of the user's events.
    Clients are herald_common.clients'; each call goes through `call(service, awaitable)`, where
    the caller turns an RPC error into its own (a NOT_FOUND names the user or campaign)."""
    answer = await call("campaign", campaign.explain(workspace_id, user, campaign=campaign_name,
                                                     trigger_event_id=trigger_event_id, limit=limit))
    send_ids = [entry.send_id for entry in answer.entries if entry.send_id]
    steps = None
    if send_ids:
        steps = await call("delivery", delivery.explain(workspace_id, list(answer.profile_ids), send_ids=send_ids))
    document = merge(answer, steps)
    if campaign_name and not document["entries"] and not trigger_event_id:
        events = await call("ingest", ingest.list_user_events(workspace_id, user, limit=1, name=answer.trigger_event))
        last = events.events[0].timestamp.ToDatetime(tzinfo=UTC) if events.events else None
        document["never_entered"] = {"campaign": campaign_name, "trigger_event": answer.trigger_event,
                                     "last_trigger_at": isoformat(last)}
    return document


# ---- text ------------------------------------------------------------------------------------------


def render_text(document: dict[str, Any], user: str) -> str:
    """The document as the CLI prints it: a heading per entry, then its steps, one a line."""
    never = document.get("never_entered")
    if never is not None:
        return never_entered_text(never, user)
    if not document["entries"]:
        return f"no campaign entries recorded for {user!r}"
    blocks = []
    for entry in document["entries"]:
        lines = [entry_heading(entry)]
        for step in entry["steps"]:
            lines.append(f"  {_clock(_parse(step['at']))}  {describe_step(step)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def entry_heading(entry: dict[str, Any]) -> str:
    parts = [entry["campaign"] or "(a deleted campaign)",
             f"triggered by event {entry['trigger_event_id']} at {_moment(_parse(entry['triggered_at']), seconds=True)}"]
    if entry["send_id"]:
        parts.append(f"send {entry['send_id'][:16]}…")
    parts.append(entry["status"] or "status unknown")
    return " · ".join(parts)


def never_entered_text(never: dict[str, Any], user: str) -> str:
    head = f"{user!r} never entered {never['campaign']!r}"
    if never["last_trigger_at"] is None:
        return f"{head}: the user never did its trigger event `{never['trigger_event']}`."
    return (f"{head}: the user last did its trigger event `{never['trigger_event']}` at "
            f"{_moment(_parse(never['last_trigger_at']), seconds=True)}, and no decision is recorded for it "
            "(the campaign did not exist or was not listening yet, HERALD_EXPLAIN was off, or the record is older "
            "than HERALD_EXPLAIN_RETENTION).")


# ---- one step in words ----------------------------------------------------------------------------


def describe_step(step: dict[str, Any]) -> str:
    """The sentence for one step ({"at", "step", "outcome", "detail"}), as docs/explain.md shows."""
    words = WORDS.get(step["step"])
    at = _parse(step.get("at")) or datetime.now(UTC)
    detail = step.get("detail") or {}
    if words is None:
        return f"{step['step']}: {step['outcome']}{_detail_text(detail)}."
    return words(step["outcome"], detail, at)


def _triggered(outcome: str, d: dict, at: datetime) -> str:
    when = _parse(d.get("event_time"))
    return f"Triggered by `{d.get('event', '?')}`" + (f" (event time {_when(when, at)})." if when else ".")


def _not_entered(outcome: str, d: dict, at: datetime) -> str:
    if outcome == "reentry":
        last = _parse(d.get("last_entered_at"))
        text = f"Not entered: the re-entry rule `{d.get('rule', '?')}` keeps the user out"
        return text + (f" (last entered {_moment(last)})." if last else ".")
    if outcome == "campaign_not_live":
        status = d.get("status", "not live")
        return "Not entered: the campaign was " + ("a draft." if status == "draft" else f"{status}.")
    return f"Not entered ({outcome})."


def _conditions(outcome: str, d: dict, at: datetime) -> str:
    facts = d.get("conditions") or []
    if outcome == "held":
        return "Event conditions held: " + "; ".join(_fact_held(f) for f in facts if f.get("held")) + "."
    failed = [f for f in facts if not f.get("held")]
    return "; ".join(f"{'Filter' if i == 0 else 'filter'} {_fact_failed(f)}" for i, f in enumerate(failed)) + "."


def _user_conditions(outcome: str, d: dict, at: datetime) -> str:
    facts = d.get("conditions") or []
    if outcome == "held":
        shown = [f for f in facts if f.get("held")]
        return "User conditions at confirm held: " + "; ".join(_fact_held(f) for f in shown) + "."
    failed = [f for f in facts if not f.get("held")]
    return "User conditions at confirm did not hold: " + "; ".join(
        f"{_condition(f)}: {_saw(f)}" for f in failed) + "."


def _entered(outcome: str, d: dict, at: datetime) -> str:
    text = f"Entered: {_a_message(d.get('channel', ''))} is due at {_when(_parse(d.get('due_at')), at)}"
    if d.get("delay_seconds"):
        text += f" (after a delay of {_duration(d['delay_seconds'])})"
    return text + "."


def _settle(outcome: str, d: dict, at: datetime) -> str:
    return (f"Waiting {_duration(d.get('seconds', 0))} (until {_when(_parse(d.get('until')), at)}) "
            "for identify calls before checking user conditions.")


def _cancel_if(outcome: str, d: dict, at: datetime) -> str:
    event = f"`{d.get('event', '?')}` (event {d.get('event_id', '?')})"
    reasons = [_fact_held(f) if f.get("held") else _fact_failed(f) for f in d.get("where") or []]
    for fact in d.get("match_trigger") or []:
        if fact.get("held"):
            reasons.append(f"{fact['property']} was `{_value(fact.get('saw'))}`, as on the trigger")
        else:
            reasons.append(f"{fact['property']} was {_shown(fact.get('saw'))}, not "
                           f"{_shown(fact.get('trigger'))} as on the trigger")
    because = (": " + "; ".join(reasons)) if reasons else ""
    if outcome == "cancelled":
        return f"Cancelled by {event}{because}."
    if outcome == "asked_delivery":
        return (f"Cancel asked of delivery: {event} matched{because}; the send was already confirmed, so delivery "
                "stops it unless a provider has it.")
    if d.get("before_trigger"):
        return f"{event} did not cancel it: it happened before the trigger."
    return f"{event} did not cancel it{because}."


def _unsubscribed(outcome: str, d: dict, at: datetime) -> str:
    how = {"attribute": " (the user's `unsubscribed` attribute)", "unsubscribe": " (herald users unsubscribe)"}
    scope = "every campaign" if outcome == "all" else "this campaign"
    return f"Not sent: the user is unsubscribed from {scope}{how.get(d.get('by', ''), '')}."


def _no_address(outcome: str, d: dict, at: datetime) -> str:
    needs = str(d.get("needs") or d.get("channel") or "address")
    for article in ("a ", "an "):
        needs = needs.removeprefix(article)
    return f"Not sent: the user has no {needs.replace('_', ' ')}."


_CONFIRM_REASONS = {
    "filters": "the user conditions did not hold",
    "unsubscribed": "the user is unsubscribed",
    "no_address": "the user has no address for the channel",
    "campaign_archived": "the campaign was archived",
    "campaign_deleted": "the campaign was deleted",
    "campaign_draft": "the campaign is a draft",
    "user_deleted": "the user was deleted",
    "campaign_paused": "the campaign is paused",
    "cancelled": "the send was cancelled",
}


def _reason(reason: str) -> str:
    if reason.startswith("render_failed"):
        return "the message could not be rendered (" + reason.removeprefix("render_failed").lstrip(": ") + ")"
    return _CONFIRM_REASONS.get(reason, reason or "no reason given")


def _confirm(outcome: str, d: dict, at: datetime) -> str:
    if outcome == "go":
        count = d.get("addresses", 0)
        text = f"Confirm said go ({count} address{'' if count == 1 else 'es'}: {', '.join(d.get('kinds') or [])})"
        if d.get("variant"):
            text += f", variant `{d['variant']}`"
        if d.get("held_out"):
            text += ", held out (control group)"
        return text + "."
    if outcome == "hold":
        return f"Confirm said hold: {_reason(d.get('reason', 'campaign_paused'))}."
    return f"Confirm said no: {_reason(d.get('reason', ''))}."


def _goal_window(outcome: str, d: dict, at: datetime) -> str:
    text = f"Goal window `{d.get('goal', '?')}` open until {_moment(_parse(d.get('closes_at')), seconds=True)}"
    return text + (" (control group: counted for lift)." if d.get("held_out") else ".")


def _conversion(outcome: str, d: dict, at: datetime) -> str:
    text = (f"Converted: goal `{d.get('goal', '?')}` reached by `{d.get('event', '?')}` (event {d.get('event_id', '?')}), "
            f"{_duration(d.get('seconds_to_convert', 0))} after the message")
    if d.get("before_mark_sent"):
        text += " (the goal event came before delivery's report and was kept until it did)"
    return text + "."


def _scheduled(outcome: str, d: dict, at: datetime) -> str:
    if outcome == "suppressed":
        return f"Delivery did not schedule it: {_reason(d.get('reason', ''))}."
    text = f"Delivery scheduled it, ready at {_when(_parse(d.get('ready_at')), at)}"
    if d.get("window"):
        text += f" (window {_window(d['window'])})"
    return text + "."


_ZONE_SOURCES = {"user": "the user's own zone", "fallback": "the campaign's fallback zone",
                 "default": "HERALD_DEFAULT_TIMEZONE"}


def _zone(d: dict) -> str:
    zone = d.get("zone")
    source = _ZONE_SOURCES.get(d.get("zone_source", ""))
    return f"{zone} ({source})" if source else str(zone)


def _window_step(outcome: str, d: dict, at: datetime) -> str:
    if outcome == "open":
        return f"Delivery window open now in {_zone(d)}."
    if outcome == "moved":
        after = _parse(d.get("due_after"))
        return (f"Delivery window closed in {_zone(d)}: moved from {_when(_parse(d.get('due_before')), at)} to "
                f"{_when(after, at)} (local {_local(after, d.get('zone'))}).")
    if outcome == "no_timezone":
        return "Not sent: no time zone to place the delivery window in (the user has none and the campaign no fallback)."
    return f"Delivery window: {outcome}."


def _stale(outcome: str, d: dict, at: datetime) -> str:
    text = (f"Not sent: {_duration(d.get('overdue_seconds', 0))} overdue, past the "
            f"{_duration(d.get('stale_after_seconds', 0))} stale limit")
    return text + (" (as the campaign resumed)." if d.get("at_release") else ".")


def _hold(outcome: str, d: dict, at: datetime) -> str:
    return f"Held: {_reason(d.get('reason', 'campaign_paused'))}."


def _release(outcome: str, d: dict, at: datetime) -> str:
    return f"Released (the campaign resumed): goes out at {_when(_parse(d.get('wake_at')), at)}."


def _attempt(outcome: str, d: dict, at: datetime) -> str:
    head = f"Attempt {d.get('attempt', '?')} through {d.get('provider', '?')}"
    answer = f" ({d['answer']})" if d.get("answer") else ""
    if outcome == "retry":
        delay = d.get("retry_in_seconds")
        return f"{head}: retry in {_duration(delay) if delay is not None else 'a moment'}{answer}."
    if outcome == "gone":
        return f"{head}: the address is gone (the device was removed){answer}."
    return f"{head}: {outcome}{answer}."


def _outcome(outcome: str, d: dict, at: datetime) -> str:
    addresses, accepted = d.get("addresses"), d.get("accepted")
    if outcome == "sent":
        if d.get("recovered"):
            return f"Sent ({d.get('outcome', '')}; found after a restart)."
        if addresses and accepted is not None and accepted < addresses:
            return f"Sent: {accepted} of {addresses} addresses accepted."
        return "Sent."
    if outcome == "failed":
        return f"Failed: {d.get('outcome') or 'no provider accepted it'}."
    if d.get("recovered"):
        return "Unknown: stopped during the provider call; not resent."
    return f"Unknown: {d.get('outcome') or 'the provider may or may not have it'}; not resent."


def _cancelled(outcome: str, d: dict, at: datetime) -> str:
    return f"Delivery cancelled it ({d.get('reason') or 'cancelled'})."


def _global_control(outcome: str, d: dict, at: datetime) -> str:
    share = d.get("global_control", "?")
    if outcome == "control":
        return f"In the workspace's global control group ({share}): held out of every campaign but transactional ones."
    return f"Not in the workspace's global control group ({share})."


def _holdout(outcome: str, d: dict, at: datetime) -> str:
    share = d.get("holdout", "?")
    if outcome == "control":
        return (f"In the campaign's holdout ({share}, control group): goes through everything but the provider call, "
                "counted for lift.")
    return f"Not in the campaign's holdout ({share}): treatment."


def _variant(outcome: str, d: dict, at: datetime) -> str:
    return f"Variant `{outcome}` (weight {d.get('weight', '?')} of {d.get('variants', '?')} variants)."


def _held_out(outcome: str, d: dict, at: datetime) -> str:
    return f"Held out: not sent (control group); goal windows open from {_when(_parse(d.get('sent_at')), at)}."


def _frequency_cap(outcome: str, d: dict, at: datetime) -> str:
    if outcome == "passed":
        rules = d.get("rules") or []
        if not rules:
            return f"No frequency cap covers {d.get('channel', 'this channel')}."
        text = "Frequency cap" + ("s " if len(rules) > 1 else " ") + ", ".join(f"`{r}`" for r in rules) + " passed"
        return text + (" (not counted: a held-out send)." if d.get("counted") is False else ".")
    if outcome == "deferred":
        return f"Frequency cap `{d.get('rule', '?')}` deferred it to {_when(_parse(d.get('allowed_at')), at)}."
    text = f"Frequency cap `{d.get('rule', '?')}` suppressed it"
    return text + (" (deferring it would pass the stale limit)." if d.get("past_stale_limit") else ".")


def _quiet_hours(outcome: str, d: dict, at: datetime) -> str:
    zone = d.get("zone")
    if outcome == "no_timezone":
        return "Not sent: no time zone to apply quiet hours in."
    if outcome == "clear":
        return f"Quiet hours {d.get('start')}–{d.get('end')} in {zone}: clear now."
    return (f"Quiet hours in {zone} moved it from {_local(_parse(d.get('before')), zone)} to "
            f"{_local(_parse(d.get('after')), zone)}.")


WORDS: dict[str, Callable[[str, dict, datetime], str]] = {
    "triggered": _triggered,
    "not_entered": _not_entered,
    "event_conditions": _conditions,
    "entered": _entered,
    "settle": _settle,
    "cancel_if": _cancel_if,
    "unsubscribed": _unsubscribed,
    "user_conditions": _user_conditions,
    "no_address": _no_address,
    "confirm": _confirm,
    "goal_window": _goal_window,
    "conversion": _conversion,
    "scheduled": _scheduled,
    "window": _window_step,
    "stale": _stale,
    "hold": _hold,
    "release": _release,
    "attempt": _attempt,
    "sent": _outcome,
    "failed": _outcome,
    "unknown": _outcome,
    "cancelled": _cancelled,
    "global_control": _global_control,
    "holdout": _holdout,
    "variant": _variant,
    "held_out": _held_out,
    "frequency_cap": _frequency_cap,
    "quiet_hours": _quiet_hours,
}


# ---- pieces of sentences ----------------------------------------------------------------------------

_MESSAGES = {"email": "an email", "sms": "an SMS", "voice": "a voice call", "push": "a push notification",
             "webhook": "a webhook call"}


def _a_message(channel: str) -> str:
    return _MESSAGES.get(channel, f"a {channel or 'message'}")


def _condition(fact: dict) -> str:
    if fact.get("op") in ("exists", "not_exists"):
        return f"`{fact.get('property')} {fact.get('op')}`"
    return f"`{fact.get('property')} {fact.get('op')} {_value(fact.get('value'))}`"


def _saw(fact: dict) -> str:
    if fact.get("missing"):
        return f"{fact.get('property')} was missing"
    return f"{fact.get('property')} was {_shown(fact.get('saw'))}"


def _fact_held(fact: dict) -> str:
    return f"{_condition(fact)} held: {_saw(fact)}"


def _fact_failed(fact: dict) -> str:
    return f"{_condition(fact)} did not hold: {_saw(fact)}"


def _shown(value: Any) -> str:
    return "missing" if value is None else f"`{_value(value)}`"


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _window(window: dict) -> str:
    days = window.get("days") or []
    text = f"{window.get('start')}–{window.get('end')}"
    return f"{','.join(days)} {text}" if days and len(days) < 7 else text


def _duration(seconds: float) -> str:
    seconds = float(seconds or 0)
    if seconds < 120:
        return f"{_number(seconds)} s"
    if seconds < 7200:
        return f"{_number(seconds / 60)} min"
    if seconds < 2 * 86400:
        return f"{_number(seconds / 3600)} h"
    return f"{_number(seconds / 86400)} d"


def _number(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _parse(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _clock(value: datetime | None) -> str:
    return value.strftime("%H:%M:%S") if value else "--:--:--"


def _moment(value: datetime | None, *, seconds: bool = False) -> str:
    if value is None:
        return "an unknown time"
    return value.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def _when(value: datetime | None, at: datetime) -> str:
    """A time as the step's line reads it: the clock alone on the step's own (UTC) day."""
    if value is None:
        return "an unknown time"
    return _clock(value) if value.date() == at.date() else _moment(value, seconds=True)


def _local(value: datetime | None, zone: str | None) -> str:
    if value is None:
        return "an unknown time"
    try:
        return value.astimezone(ZoneInfo(zone)).strftime("%H:%M") if zone else value.strftime("%H:%M UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return value.strftime("%H:%M UTC")


def _detail_text(detail: dict) -> str:
    return f" ({json.dumps(detail, ensure_ascii=False, sort_keys=True)})" if detail else ""


__all__ = ["NOT_ENTERED", "WORDS", "describe_step", "entry_heading", "explain_user", "merge", "never_entered_text",
           "render_text"]
