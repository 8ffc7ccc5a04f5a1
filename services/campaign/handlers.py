"""campaign's units of work: each runs in one database transaction on a Connection.

rpc.py turns protos into these calls and back; the rules themselves are pure (domain.py,
filters.py); this module holds what is decided against stored state.
"""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
import yaml
from herald_common.bulk import insert_rows
from herald_common.clock import as_utc
from herald_common.errors import FailedPrecondition, FieldError, InvalidArgument, NotFound
from herald_common.steps import StepLog
from herald_services.campaign.catalogue import LIVE, Catalogue, KnownCampaign
from herald_services.campaign.domain import (
    Address,
    CampaignSpec,
    RenderedMessage,
    cancel_matches,
    goal_matches,
    reentry_allows,
    render_message,
)
from herald_services.campaign import experiments
from herald_services.campaign.domain import addresses_for as _addresses
from herald_services.campaign.evidence import filter_facts, reentry_rule, rule_facts
from herald_services.campaign.filters import (
    as_boolean,
    event_conditions_may_hold,
    filters_match,
)
from herald_services.campaign.limits import NO_SETTINGS, WorkspaceSettings, parse_settings
from herald_services.campaign.spec import check_campaign, load_yaml
from herald_services.campaign.store import (
    CampaignRecord,
    CampaignVersionRecord,
    CancelWatchRecord,
    DecisionStepRecord,
    GoalWindowRecord,
    ParkedGoalEventRecord,
    ProcessedEventRecord,
    SendRecord,
    TriggerCountRecord,
    UnsubscriptionRecord,
    WorkspaceSettingsRecord,
)
from herald_services.campaign.templates import RenderFailed, message_context
from sqlalchemy import (
    Connection,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    update,
)

STATUSES = ("draft", "live", "paused", "archived")
TERMINAL = frozenset({"sent", "failed", "suppressed", "cancelled", "unknown", "held_out"})
# A send that reached the moment its message would go out: sent, or held out (a control group's;
# its goal windows open then, as a sent message's would).
REACHED = frozenset({"sent", "held_out"})
HOLDOUT, GLOBAL_CONTROL = "holdout", "global_control"
SEND_NAMESPACE = uuid.UUID("6f1d7c52-3c4e-4b7f-9a51-2f0d9b8e4a10")
ADDRESS_KINDS = {"email": ("email",), "sms": ("phone",), "voice": ("phone",), "push": ("apns", "fcm"), "webhook": ("url",)}


def send_id_for(campaign_id: str, event_id: str) -> str:
    """A user enters a campaign once per trigger event: the send id is derived from both, so a
    redelivered event finds the send it already made.

    32 hex digits. ingest's event ids are increasing integers; their first 12 digits are the
    event id, so new sends' ids (the primary key here and in delivery) follow one another in
    the index instead of landing on a random page each; the other 20 are a hash of both. Other
    event ids (tests, hand-made events) get the whole hash."""
    digest = uuid.uuid5(SEND_NAMESPACE, f"{campaign_id}:{event_id}").hex
    if event_id.isdigit() and len(event_id) <= 14:
        return f"{int(event_id):012x}{digest[:20]}"
    return digest


# ---- campaigns -------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    campaign: KnownCampaign
    created: bool
    changed: bool
    warnings: tuple[FieldError, ...] = ()


def _known(record: dict[str, Any], spec: CampaignSpec) -> KnownCampaign:
    return KnownCampaign(
        id=record["id"], workspace_id=record["workspace_id"], name=record["name"], status=record["status"],
        version=record["version"], trigger_event=record["trigger_event"], updated_at=record["updated_at"], spec=spec,
        created_at=record["created_at"],
    )


def _campaign_row(connection: Connection, workspace_id: str, name: str, *, lock: bool = False) -> dict[str, Any] | None:
    statement = select(CampaignRecord.__table__).where(
        CampaignRecord.workspace_id == workspace_id, CampaignRecord.name == name
    )
    if lock and connection.dialect.name == "postgresql":
        statement = statement.with_for_update()
    row = connection.execute(statement).mappings().first()
    return dict(row) if row else None


def apply_campaign(
    connection: Connection,
    catalogue: Catalogue,
    *,
    workspace_id: str,
    source_yaml: str,
    file_name: str,
    now: datetime,
    draft: bool = False,
) -> Applied:
    """Creates the campaign named in the file, or updates it. A change to a campaign that has
    left draft makes a new version; scheduled sends keep their trigger and are confirmed
    against whatever version is current when they go out. Status is not changed by an apply,
    except that a new campaign starts live (or draft when asked)."""
    checked = check_campaign(source_yaml)
    spec, warnings = checked.spec, checked.warnings
    existing = _campaign_row(connection, workspace_id, spec.name, lock=True)
    if existing is None:
        record = {
            "id": uuid.uuid4().hex, "workspace_id": workspace_id, "name": spec.name,
            "status": "draft" if draft else LIVE, "version": 1, "trigger_event": spec.trigger.event,
            "created_at": now, "updated_at": now,
        }
        connection.execute(insert(CampaignRecord.__table__), [record])
        connection.execute(insert(CampaignVersionRecord.__table__), [
            {"campaign_id": record["id"], "version": 1, "source_yaml": source_yaml, "file_name": file_name, "created_at": now}
        ])
        known = _known(record, catalogue.spec_from_source(record["id"], 1, source_yaml))
        catalogue.put(known)
        catalogue.changed(connection)
        return Applied(known, created=True, changed=True, warnings=warnings)
    current = connection.execute(
        select(CampaignVersionRecord.source_yaml).where(
            CampaignVersionRecord.campaign_id == existing["id"], CampaignVersionRecord.version == existing["version"]
        )
    ).scalar_one()
    if current == source_yaml:
        known = _known(existing, catalogue.spec_from_source(existing["id"], existing["version"], current))
        return Applied(known, created=False, changed=False, warnings=warnings)
    version = existing["version"]
    if existing["status"] == "draft":
        connection.execute(
            update(CampaignVersionRecord.__table__)
            .where(CampaignVersionRecord.campaign_id == existing["id"], CampaignVersionRecord.version == version)
            .values(source_yaml=source_yaml, file_name=file_name, created_at=now)
        )
        catalogue.forget_spec(existing["id"], version)
    else:
        version += 1
        connection.execute(insert(CampaignVersionRecord.__table__), [
            {"campaign_id": existing["id"], "version": version, "source_yaml": source_yaml, "file_name": file_name, "created_at": now}
        ])
    connection.execute(
        update(CampaignRecord.__table__).where(CampaignRecord.id == existing["id"])
        .values(version=version, trigger_event=spec.trigger.event, updated_at=now)
    )
    record = {**existing, "version": version, "trigger_event": spec.trigger.event, "updated_at": now}
    known = _known(record, catalogue.spec_from_source(existing["id"], version, source_yaml))
    catalogue.put(known)
    catalogue.changed(connection)
    return Applied(known, created=False, changed=True, warnings=warnings)


def get_campaign(connection: Connection, catalogue: Catalogue, workspace_id: str, name: str) -> tuple[KnownCampaign, str]:
    record = _campaign_row(connection, workspace_id, name)
    if record is None:
        raise NotFound(f"no campaign named {name!r}")
    source = connection.execute(
        select(CampaignVersionRecord.source_yaml).where(
            CampaignVersionRecord.campaign_id == record["id"], CampaignVersionRecord.version == record["version"]
        )
    ).scalar_one()
    return _known(record, catalogue.spec_from_source(record["id"], record["version"], source)), source


def list_campaigns(connection: Connection, workspace_id: str) -> list[dict[str, Any]]:
    rows = connection.execute(
        select(CampaignRecord.__table__).where(CampaignRecord.workspace_id == workspace_id).order_by(CampaignRecord.name)
    ).mappings()
    return [dict(row) for row in rows]


_TRANSITIONS = {
    "paused": {"live"},
    "live": {"paused", "draft", "archived", "live"},
    "archived": {"draft", "live", "paused"},
}


def set_status(
    connection: Connection, catalogue: Catalogue, *, workspace_id: str, name: str, status: str, now: datetime
) -> KnownCampaign:
    known, _ = get_campaign(connection, catalogue, workspace_id, name)
    if known.status == status and status != LIVE:
        return known
    if known.status not in _TRANSITIONS[status]:
        raise FailedPrecondition(f"campaign {name!r} is {known.status}; it cannot become {status}")
    connection.execute(
        update(CampaignRecord.__table__).where(CampaignRecord.id == known.id).values(status=status, updated_at=now)
    )
    changed = KnownCampaign(**{**known.__dict__, "status": status, "updated_at": now})
    catalogue.put(changed)
    catalogue.changed(connection)
    return changed


# ---- events ----------------------------------------------------------------------------


@dataclass(frozen=True)
class IncomingEvent:
    id: str
    workspace_id: str
    name: str
    profile_id: str
    user_id: str
    properties: dict[str, Any]
    timestamp: datetime
    received_at: datetime
    properties_json: str | None = None  # the properties as received, kept as the send's copy

    @property
    def properties_text(self) -> str:
        return self.properties_json if self.properties_json is not None else orjson.dumps(self.properties).decode()


@dataclass
class EventsOutcome:
    new_sends: list[dict[str, Any]] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    cancel_in_delivery: dict[str, str] = field(default_factory=dict)  # confirmed send -> cancelling event
    conversions: int = 0
    kept_out: int = 0  # triggers whose event filters or re-entry rule kept the user out
    duplicates: int = 0  # trigger events seen before


STEPS = DecisionStepRecord.__table__


def process_events(
    connection: Connection, catalogue: Catalogue, events: list[IncomingEvent], *, now: datetime, settle: timedelta,
    steps: StepLog | None = None,
) -> EventsOutcome:
    """Triggers, cancel conditions and goal conversions for a batch of recorded events (already
    narrowed to those the catalogue says are relevant), in order. Each decision is recorded in
    `steps` (default: a recording log) and written in this transaction."""
    steps = StepLog() if steps is None else steps
    outcome = EventsOutcome()
    triggers = catalogue.triggers
    dormant = catalogue.dormant if steps.enabled else {}
    triggering = [event for event in events if (event.workspace_id, event.name) in triggers
                  or (event.workspace_id, event.name) in dormant]
    if triggering:
        _trigger(connection, catalogue, triggering, now=now, settle=settle, outcome=outcome, steps=steps)
    watched = [event for event in events if (event.workspace_id, event.name) in catalogue.watched]
    if watched:
        _cancel(connection, catalogue, watched, now=now, outcome=outcome, steps=steps)
        goal_campaigns = catalogue.goal_campaigns
        goal_events = [event for event in watched if (event.workspace_id, event.name) in goal_campaigns]
        if goal_events:
            # Parked first: on PostgreSQL it waits for a MarkSent of the same send in flight, so
            # either that MarkSent reads what is parked here, or _convert sees its windows.
            _park(connection, catalogue, goal_events, now=now)
        _convert(connection, catalogue, watched, now=now, outcome=outcome, steps=steps)
    steps.write(connection, STEPS)
    return outcome


def _trigger(
    connection: Connection,
    catalogue: Catalogue,
    events: list[IncomingEvent],
    *,
    now: datetime,
    settle: timedelta,
    outcome: EventsOutcome,
    steps: StepLog,
) -> None:
    # At least once from ingest (and once per ingest replica): a trigger event already handled
    # is skipped. The insert claims each event id; on PostgreSQL a concurrent claim of the
    # same id waits for the first and then gets nothing back, so exactly one replica handles it.
    candidates: dict[str, IncomingEvent] = {}
    for event in events:
        if event.id in candidates:
            outcome.duplicates += 1
        else:
            candidates[event.id] = event
    claimed = _claim_events(connection, list(candidates), now)
    fresh = [event for event_id, event in candidates.items() if event_id in claimed]
    outcome.duplicates += len(candidates) - len(fresh)
    if not fresh:
        return

    # Re-entry: the last entry per (campaign, user), for campaigns that limit it.
    triggers, recording = catalogue.triggers, steps.enabled
    if recording:
        _not_live(catalogue, fresh, now=now, steps=steps)
    limited = {
        (event.workspace_id, event.profile_id, known.id)
        for event in fresh
        for known in triggers.get((event.workspace_id, event.name), ())
        if known.spec.reentry.mode != "every_time"
    }
    entered: dict[tuple[str, str], datetime] = {}
    # Per workspace: profile IN (..) AND campaign IN (..) is a seek in the profile index
    # (SQLite scans the whole index for a row-value IN); pairs not asked for are dropped.
    by_workspace: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for workspace_id, profile_id, campaign_id in limited:
        by_workspace[workspace_id].add((profile_id, campaign_id))
    for workspace_id, pairs in by_workspace.items():
        campaigns = sorted({campaign_id for _, campaign_id in pairs})
        for chunk in _chunks(sorted({profile_id for profile_id, _ in pairs}), 400):
            rows = connection.execute(
                select(SendRecord.campaign_id, SendRecord.profile_id, func.max(SendRecord.triggered_at))
                .where(SendRecord.workspace_id == workspace_id, SendRecord.profile_id.in_(chunk),
                       SendRecord.campaign_id.in_(campaigns))
                .group_by(SendRecord.profile_id, SendRecord.campaign_id)
            )
            entered.update({(c, p): at for c, p, at in rows if (p, c) in pairs})

    counts: dict[tuple[str, str], int] = defaultdict(int)
    sends: list[dict[str, Any]] = []
    watches: list[dict[str, Any]] = []
    global_control: dict[str, WorkspaceSettings] | None = None  # read once, when a send is made
    for event in fresh:
        entries = None  # the user's entries in `steps`, looked up once per event
        for known in triggers.get((event.workspace_id, event.name), ()):
            spec = known.spec
            recorded = None  # this entry's steps before it has a send
            if recording:
                if entries is None:
                    entries = steps.entries_of(workspace_id=event.workspace_id, profile_id=event.profile_id, at=now)
                recorded = entries.setdefault((known.id, event.id, ""), [])
                recorded.append(("triggered", "received", {"event": event.name, "event_time": event.timestamp,
                                                           "version": known.version}))
                if spec.filters is not None:
                    may_hold, facts = filter_facts(spec.filters, event_properties=event.properties,
                                                   user_attributes=None, now=now, sources=("event",))
                    if facts:
                        recorded.append(("event_conditions", "held" if may_hold else "not_held", {"conditions": facts}))
                else:
                    may_hold = True
            else:
                may_hold = event_conditions_may_hold(spec.filters, event.properties, now=now)
            if not may_hold:
                counts[(known.id, "filters")] += 1
                continue
            key = (known.id, event.profile_id)
            previous = entered.get(key)
            if not reentry_allows(spec.reentry, previous=[previous] if previous else [], now=event.timestamp):
                counts[(known.id, "reentry")] += 1
                if recorded is not None:
                    recorded.append(("not_entered", "reentry", {"rule": reentry_rule(spec.reentry),
                                                                "last_entered_at": previous}))
                continue
            counts[(known.id, "entered")] += 1
            entered[key] = event.timestamp
            send_id = send_id_for(known.id, event.id)
            if global_control is None:
                global_control = settings_of(connection, {e.workspace_id for e in fresh})
            control, variant, decided = assign(known, event, global_control[event.workspace_id])
            message = spec.message_for(variant)
            # Timing counts from when herald learned of the event: the settle period exists
            # because identify and track arrive in any order, which is about arrival.
            trigger_at = max(event.timestamp, event.received_at) if event.received_at else event.timestamp
            filtered = spec.filters is not None
            due_at = spec.due_at(trigger_at, settle=settle)
            if recorded is not None:
                detail: dict[str, Any] = {"channel": message.channel, "due_at": due_at}
                if spec.reentry.mode != "every_time":
                    detail["reentry"] = reentry_rule(spec.reentry)
                    detail["last_entered_at"] = previous
                if spec.delay:
                    detail["delay_seconds"] = int(spec.delay.total_seconds())
                of_send = entries.setdefault((known.id, event.id, send_id), [])
                of_send.append(("entered", "scheduled", detail))
                of_send.extend(decided)
                if filtered:
                    of_send.append(("settle", "waiting", {"seconds": int(settle.total_seconds()),
                                                          "until": trigger_at + settle, "due_at": due_at}))
            sends.append({
                "id": send_id, "workspace_id": event.workspace_id, "campaign_id": known.id, "version": known.version,
                "confirmed_version": None, "profile_id": event.profile_id, "user_id": event.user_id,
                "channel": message.channel, "trigger_event_id": event.id, "trigger_name": event.name,
                "trigger_properties": event.properties_text, "triggered_at": event.timestamp,
                "trigger_at": trigger_at, "settle_until": trigger_at + settle if filtered else None,
                "due_at": due_at, "status": "scheduled", "outcome": "",
                "sent_at": None, "handed_off": False, "created_at": now, "control": control, "variant": variant,
            })
            for name in {rule.event for rule in spec.cancel_if}:
                watches.append({"send_id": send_id, "event_name": name, "workspace_id": event.workspace_id,
                                "profile_id": event.profile_id})
                catalogue.watch(event.workspace_id, name)
    if sends:
        insert_rows(connection, SendRecord.__table__, sends, skip_conflicts_on=["id"])
        insert_rows(connection, CancelWatchRecord.__table__, watches, skip_conflicts_on=["send_id", "event_name"])
        outcome.new_sends.extend(sends)
    _add_counts(connection, counts)
    outcome.kept_out += sum(count for (_, reason), count in counts.items() if reason != "entered")


def assign(known: KnownCampaign, event: IncomingEvent, settings: WorkspaceSettings
           ) -> tuple[str, str, list[tuple[str, str, dict[str, Any]]]]:
    """A new send's group: the workspace's global control (transactional campaigns are exempt),
    else the campaign's holdout, else treatment with its variant, by sticky hashes
    (experiments.py). Returns (control, variant, the decisions as (step, outcome, detail))."""
    spec = known.spec
    key = experiments.user_key(event.user_id, event.profile_id)
    decided: list[tuple[str, str, dict[str, Any]]] = []
    if settings.global_control > 0 and not spec.transactional:
        held = experiments.in_global_control(event.workspace_id, key, settings.global_control)
        decided.append((GLOBAL_CONTROL, "control" if held else "treatment",
                        {"global_control": settings.global_control_text}))
        if held:
            return GLOBAL_CONTROL, "", decided
    if spec.holdout > 0:
        held = experiments.in_holdout(known.id, key, spec.holdout)
        decided.append((HOLDOUT, "control" if held else "treatment", {"holdout": spec.holdout_text}))
        if held:
            return HOLDOUT, "", decided
    if not spec.variants:
        return "", "", decided
    chosen = spec.variants[experiments.choose_variant(known.id, key, [v.weight for v in spec.variants])]
    decided.append(("variant", chosen.name, {"weight": chosen.weight, "variants": len(spec.variants)}))
    return "", chosen.name, decided


def _not_live(catalogue: Catalogue, events: list[IncomingEvent], *, now: datetime, steps: StepLog) -> None:
    """A trigger of a paused or draft campaign: the user did not enter, and explain says why."""
    dormant = catalogue.dormant
    for event in events:
        for known in dormant.get((event.workspace_id, event.name), ()):
            for name, outcome, detail in (
                ("triggered", "received", {"event": event.name, "event_time": event.timestamp, "version": known.version}),
                ("not_entered", "campaign_not_live", {"status": known.status}),
            ):
                steps.add(workspace_id=event.workspace_id, profile_id=event.profile_id, campaign_id=known.id,
                          trigger_event_id=event.id, at=now, step=name, outcome=outcome, detail=detail)


def _claim_events(connection: Connection, event_ids: list[str], now: datetime) -> set[str]:
    table = ProcessedEventRecord.__table__
    if connection.dialect.name != "postgresql":
        # SQLite has one writer, which is us for this whole transaction: look, then insert.
        seen: set[str] = set()
        for chunk in _chunks(event_ids, 500):
            seen.update(connection.execute(select(table.c.event_id).where(table.c.event_id.in_(chunk))).scalars())
        fresh = [event_id for event_id in event_ids if event_id not in seen]
        if fresh:
            insert_rows(connection, table, [{"event_id": event_id, "processed_at": now} for event_id in fresh])
        return set(fresh)
    from sqlalchemy.dialects.postgresql import insert as dialect_insert

    claimed: set[str] = set()
    for chunk in _chunks(event_ids, 500):
        statement = (
            dialect_insert(table)
            .values([{"event_id": event_id, "processed_at": now} for event_id in chunk])
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(table.c.event_id)
        )
        claimed.update(connection.execute(statement).scalars())
    return claimed


def _add_counts(connection: Connection, counts: dict[tuple[str, str], int]) -> None:
    if not counts:
        return
    keys = list(counts)
    insert_rows(connection, TriggerCountRecord.__table__, [{"campaign_id": c, "reason": r, "count": 0} for c, r in keys],
                skip_conflicts_on=["campaign_id", "reason"])
    table = TriggerCountRecord.__table__
    for (campaign_id, reason), count in counts.items():
        connection.execute(
            update(table).where(table.c.campaign_id == campaign_id, table.c.reason == reason)
            .values(count=table.c.count + count)
        )


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _pending_for(connection: Connection, table, events: list[IncomingEvent], name_column) -> list[Any]:
    workspaces = {event.workspace_id for event in events}
    profiles = list({event.profile_id for event in events})
    names = list({event.name for event in events})
    rows: list[Any] = []
    for chunk in _chunks(profiles, 400):
        rows.extend(connection.execute(
            select(table).where(table.c.workspace_id.in_(workspaces), table.c.profile_id.in_(chunk), name_column.in_(names))
        ).mappings())
    return rows


def _cancel(connection: Connection, catalogue: Catalogue, events: list[IncomingEvent], *, now: datetime,
            outcome: EventsOutcome, steps: StepLog) -> None:
    table = CancelWatchRecord.__table__
    watches = _pending_for(connection, table, events, table.c.event_name)
    if not watches:
        return
    send_ids = list({watch["send_id"] for watch in watches})
    sends = {row["id"]: row for row in connection.execute(
        select(SendRecord.id, SendRecord.campaign_id, SendRecord.version, SendRecord.trigger_event_id,
               SendRecord.triggered_at, SendRecord.trigger_properties, SendRecord.workspace_id, SendRecord.profile_id,
               SendRecord.status)
        .where(SendRecord.id.in_(send_ids), SendRecord.status.in_(("scheduled", "sending")))
    ).mappings()}
    by_user: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for watch in watches:
        if watch["send_id"] in sends:
            by_user[(watch["workspace_id"], watch["profile_id"], watch["event_name"])].append(sends[watch["send_id"]])
    cancelling: dict[str, str] = {}  # send id -> the event name that cancels it
    recording = steps.enabled
    cancel_steps: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}  # written once the UPDATE says so
    for event in events:
        for send in by_user.get((event.workspace_id, event.profile_id, event.name), []):
            if send["id"] in cancelling or send["trigger_event_id"] == event.id:
                continue
            if event.timestamp < send["triggered_at"]:
                if recording:
                    _send_step(steps, send, now, "cancel_if", "not_matched",
                               {"event": event.name, "event_id": event.id, "event_time": event.timestamp,
                                "before_trigger": True})
                continue  # done before the trigger: it cannot cancel what it preceded
            known = catalogue.by_id.get(send["campaign_id"])
            spec = known.spec if known else catalogue.spec(connection, send["campaign_id"], send["version"])
            trigger_properties = orjson.loads(send["trigger_properties"])
            if not recording:
                if any(cancel_matches(rule, event_name=event.name, properties=event.properties,
                                      trigger_properties=trigger_properties, now=now) for rule in spec.cancel_if):
                    cancelling[send["id"]] = event.name
                continue
            checked = []
            for index, rule in enumerate(spec.cancel_if):
                if rule.event != event.name:
                    continue
                matched, detail = rule_facts(rule, event_name=event.name, properties=event.properties,
                                             trigger_properties=trigger_properties, now=now)
                detail.update(event_id=event.id, event_time=event.timestamp, rule=index)
                if matched:
                    cancelling[send["id"]] = event.name
                    cancel_steps[send["id"]] = (send, detail)
                    break
                checked.append(detail)
            else:
                for detail in checked:
                    _send_step(steps, send, now, "cancel_if", "not_matched", detail)
    # A send Confirm already said go to (`sending`: delivery may be holding it for its window or
    # a retry) is delivery's to stop: it cancels it only if no provider accepted it yet, and its
    # report makes it `cancelled` here. Marking it here would lose a message that did go out.
    for send_id, name in list(cancelling.items()):
        if sends[send_id]["status"] == "sending":
            del cancelling[send_id]
            outcome.cancel_in_delivery[send_id] = name
            if send_id in cancel_steps:
                send, detail = cancel_steps.pop(send_id)
                _send_step(steps, send, now, "cancel_if", "asked_delivery", detail)
    # One UPDATE per cancelling event name, not one per send; RETURNING says which were still
    # scheduled (on PostgreSQL another replica may have got there first).
    by_name: dict[str, list[str]] = defaultdict(list)
    for send_id, name in cancelling.items():
        by_name[name].append(send_id)
    for name, ids in by_name.items():
        for chunk in _chunks(ids, 500):
            outcome.cancelled.extend(connection.execute(
                update(SendRecord.__table__).where(SendRecord.id.in_(chunk), SendRecord.status == "scheduled")
                .values(status="cancelled", outcome=f"cancel_if: {name}").returning(SendRecord.id)
            ).scalars())
    if outcome.cancelled:
        connection.execute(delete(table).where(table.c.send_id.in_(outcome.cancelled)))
        for send_id in outcome.cancelled:
            if send_id in cancel_steps:
                send, detail = cancel_steps[send_id]
                _send_step(steps, send, now, "cancel_if", "cancelled", detail)


def _send_step(steps: StepLog, send: dict[str, Any], at: datetime, step: str, outcome: str,
               detail: dict[str, Any] | None = None) -> None:
    """A step of a send's entry (send: its row, or the columns that name the entry)."""
    steps.add(workspace_id=send["workspace_id"], profile_id=send["profile_id"], campaign_id=send["campaign_id"],
              trigger_event_id=send["trigger_event_id"], send_id=send["id"], at=at, step=step, outcome=outcome,
              detail=detail)


def _park(connection: Connection, catalogue: Catalogue, events: list[IncomingEvent], *, now: datetime) -> int:
    """Goal events of users with a send on its way (confirmed, so the provider may have accepted
    it; MarkSent not here yet) are kept, for MarkSent to count those at or after the accepted
    time. Only events that match a goal of that send (name, where, match_trigger) are kept.

    A send is on its way only while it is `sending`: Confirm turns it so, in its transaction,
    before delivery calls the provider, so a goal event at or after the accepted time always
    finds it so (or already sent, with its windows open)."""
    goal_campaigns = catalogue.goal_campaigns
    table = SendRecord.__table__
    by_key: dict[tuple[str, str], list[IncomingEvent]] = defaultdict(list)
    campaigns_of: dict[str, set[str]] = defaultdict(set)
    for event in events:
        by_key[(event.workspace_id, event.profile_id)].append(event)
        campaigns_of[event.workspace_id].update(goal_campaigns.get((event.workspace_id, event.name), ()))
    on_way: list[Any] = []
    for workspace_id, campaign_ids in campaigns_of.items():
        profiles = sorted({profile for ws, profile in by_key if ws == workspace_id})
        for chunk in _chunks(profiles, 400):
            statement = select(
                table.c.id, table.c.workspace_id, table.c.profile_id, table.c.campaign_id, table.c.version,
                table.c.confirmed_version, table.c.trigger_properties,
            ).where(table.c.workspace_id == workspace_id, table.c.profile_id.in_(chunk),
                    table.c.campaign_id.in_(sorted(campaign_ids)), table.c.status == "sending").order_by(table.c.id)
            if connection.dialect.name == "postgresql":
                # A MarkSent of one of these sends, in flight, holds its row: wait for it, then
                # see it sent (and its windows, in _convert), or park before it reads.
                statement = statement.with_for_update()
            on_way.extend(connection.execute(statement).mappings())
    if not on_way:
        return 0
    sends_of: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for send in on_way:
        sends_of[(send["workspace_id"], send["profile_id"])].append(send)
    rows: list[dict[str, Any]] = []
    for key, sends in sends_of.items():
        for send in sends:
            spec = catalogue.spec(connection, send["campaign_id"], send["confirmed_version"] or send["version"])
            trigger_properties = None
            for event in by_key[key]:
                for goal in spec.goals:
                    if goal.event != event.name:
                        continue
                    if trigger_properties is None:
                        trigger_properties = orjson.loads(send["trigger_properties"])
                    if goal_matches(goal, event_name=event.name, properties=event.properties,
                                    trigger_properties=trigger_properties, now=now):
                        rows.append({"send_id": send["id"], "goal_name": goal.name, "event_id": event.id,
                                     "event_name": event.name, "event_time": event.timestamp, "parked_at": now})
    if rows:
        insert_rows(connection, ParkedGoalEventRecord.__table__, rows,
                    skip_conflicts_on=["send_id", "goal_name", "event_id"])
    return len(rows)


def prune_parked(connection: Connection, *, before: datetime) -> int:
    """Parked goal events of sends whose MarkSent never came (kept PARKED_KEEP)."""
    table = ParkedGoalEventRecord.__table__
    return connection.execute(delete(table).where(table.c.parked_at < before)).rowcount


# A parked goal event is kept this long for a MarkSent that does not come (delivery retries a
# report until campaign acknowledges it, backing off to a minute between tries).
PARKED_KEEP = timedelta(days=8)


def _convert(connection: Connection, catalogue: Catalogue, events: list[IncomingEvent], *, now: datetime,
             outcome: EventsOutcome, steps: StepLog) -> None:
    table = GoalWindowRecord.__table__
    windows = [w for w in _pending_for(connection, table, events, table.c.goal_event) if w["converted_at"] is None]
    if not windows:
        return
    sends = {row["id"]: row for row in connection.execute(
        select(SendRecord.id, SendRecord.campaign_id, SendRecord.version, SendRecord.confirmed_version,
               SendRecord.trigger_properties, SendRecord.workspace_id, SendRecord.profile_id,
               SendRecord.trigger_event_id)
        .where(SendRecord.id.in_(list({w["send_id"] for w in windows})))
    ).mappings()}
    by_user: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for window in windows:
        by_user[(window["workspace_id"], window["profile_id"], window["goal_event"])].append(window)
    converted: set[tuple[str, str]] = set()
    for event in events:
        for window in by_user.get((event.workspace_id, event.profile_id, event.name), []):
            key = (window["send_id"], window["goal_name"])
            if key in converted or not (window["opens_at"] <= event.timestamp <= window["closes_at"]):
                continue
            send = sends.get(window["send_id"])
            if send is None:
                continue
            spec = catalogue.spec(connection, send["campaign_id"], send["confirmed_version"] or send["version"])
            goal = next((g for g in spec.goals if g.name == window["goal_name"]), None)
            if goal is None or not goal_matches(goal, event_name=event.name, properties=event.properties,
                                                trigger_properties=orjson.loads(send["trigger_properties"]), now=now):
                continue
            result = connection.execute(
                update(table)
                .where(table.c.send_id == window["send_id"], table.c.goal_name == window["goal_name"],
                       table.c.converted_at.is_(None))
                .values(converted_at=event.timestamp, conversion_event_id=event.id,
                        seconds_to_convert=(event.timestamp - window["opens_at"]).total_seconds())
            )
            if result.rowcount:
                converted.add(key)
                outcome.conversions += 1
                if steps.enabled:
                    _send_step(steps, send, now, "conversion", "converted", {
                        "goal": goal.name, "event": event.name, "event_id": event.id, "event_time": event.timestamp,
                        "seconds_to_convert": (event.timestamp - window["opens_at"]).total_seconds()})


# ---- handing sends to delivery ---------------------------------------------------------


def pending_handoff(connection: Connection, limit: int = 500, *, before: datetime | None = None) -> list[dict[str, Any]]:
    """Sends delivery has not acknowledged yet (it was down, or the call failed); `before`
    leaves out sends made since, whose first hand-over may still be on its way."""
    # Written as the partial index's own condition, so the index is used.
    condition = [SendRecord.handed_off == False, SendRecord.status == "scheduled"]  # noqa: E712
    if before is not None:
        condition.append(SendRecord.created_at < before)
    rows = connection.execute(
        select(SendRecord.__table__)
        .where(*condition)
        .order_by(SendRecord.created_at).limit(limit)
    ).mappings()
    return [dict(row) for row in rows]


def mark_handed_off(connection: Connection, due: dict[str, datetime | None]) -> None:
    """Delivery acknowledged these sends; its due time (moved into the window) is kept for display."""
    table = SendRecord.__table__
    moved = [(send_id, due_at) for send_id, due_at in due.items() if due_at is not None]
    # One statement per chunk, not one per send (executemany steps every row on its own).
    for chunk in _chunks(moved, 200):
        new_due = case(*[(table.c.id == send_id, bindparam(None, due_at, type_=table.c.due_at.type))
                         for send_id, due_at in chunk], else_=table.c.due_at)
        connection.execute(
            update(table).where(table.c.id.in_([send_id for send_id, _ in chunk])).values(handed_off=True, due_at=new_due)
        )
    undated = [send_id for send_id, due_at in due.items() if due_at is None]
    for chunk in _chunks(undated, 500):
        connection.execute(update(table).where(table.c.id.in_(chunk)).values(handed_off=True))


# ---- Confirm ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    go: bool
    reason: str = ""
    hold: bool = False
    message: RenderedMessage | None = None
    addresses: tuple[Address, ...] = ()
    timezone: str = ""
    workspace_id: str = ""
    user_id: str = ""
    # What delivery enforces when it sends (a go only): the workspace's caps and quiet hours,
    # and the campaign's exemption from them and what a cap does to its sends.
    settings: WorkspaceSettings = NO_SETTINGS
    transactional: bool = False
    on_cap: str = "suppress"
    # A control group's send (the campaign's holdout or the workspace's global control): delivery
    # does everything but the provider call and reports it held_out.
    held_out: bool = False
    variant: str = ""


def send_for_confirm(connection: Connection, send_id: str) -> dict[str, Any]:
    found = sends_for_confirm(connection, [send_id])
    if send_id not in found:
        raise NotFound(f"no send {send_id!r}")
    return found[send_id]


def sends_for_confirm(connection: Connection, send_ids: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(send_ids, 500):
        for row in connection.execute(select(SendRecord.__table__).where(SendRecord.id.in_(list(chunk)))).mappings():
            found[row["id"]] = dict(row)
    return found


def confirm(
    connection: Connection,
    catalogue: Catalogue,
    send: dict[str, Any],
    *,
    user: dict[str, Any] | None,
    now: datetime,
    settings: WorkspaceSettings | None = None,
    steps: StepLog | None = None,
) -> Decision:
    """What delivery asks just before sending. `user` is identity's profile now (None: gone):
    {"user_id", "attributes", "devices": [(kind, token)]}. `settings`: the workspace's (read
    here when not given). The decision and the facts behind it are recorded in `steps` (the
    caller writes them in this transaction)."""
    steps = StepLog(enabled=False) if steps is None else steps
    decision = _decide(connection, catalogue, send, user=user, now=now, settings=settings, steps=steps)
    if steps.enabled and not (send["status"] in TERMINAL):
        detail: dict[str, Any] = {}
        if decision.go:
            detail = {"addresses": len(decision.addresses), "kinds": sorted({a.kind for a in decision.addresses})}
            if decision.timezone:
                detail["timezone"] = decision.timezone
            if decision.held_out:
                detail["held_out"] = True
            if decision.variant:
                detail["variant"] = decision.variant
        else:
            detail = {"reason": decision.reason}
        _send_step(steps, send, now, "confirm", "go" if decision.go else ("hold" if decision.hold else "suppressed"),
                   detail)
    return decision


def _decide(
    connection: Connection, catalogue: Catalogue, send: dict[str, Any], *, user: dict[str, Any] | None, now: datetime,
    settings: WorkspaceSettings | None, steps: StepLog,
) -> Decision:
    base = {"workspace_id": send["workspace_id"], "user_id": send["user_id"]}
    if send["status"] in TERMINAL:
        return Decision(False, reason=send["outcome"] or send["status"], **base)
    campaign = connection.execute(
        select(CampaignRecord.status, CampaignRecord.version).where(CampaignRecord.id == send["campaign_id"])
    ).first()
    if campaign is None:
        return _suppress(connection, send, "campaign_deleted", base)
    if campaign.status == "paused":
        return Decision(False, reason="campaign_paused", hold=True, **base)
    if campaign.status != LIVE:
        return _suppress(connection, send, f"campaign_{campaign.status}", base)
    if user is None:
        return _suppress(connection, send, "user_deleted", base)
    attributes = user["attributes"]
    if as_boolean(attributes.get("unsubscribed")) is True:
        if steps.enabled:
            _send_step(steps, send, now, "unsubscribed", "all", {"by": "attribute"})
        return _suppress(connection, send, "unsubscribed", base)
    unsubscribed = connection.execute(
        select(UnsubscriptionRecord.campaign_id).where(
            UnsubscriptionRecord.workspace_id == send["workspace_id"],
            UnsubscriptionRecord.profile_id == send["profile_id"],
            UnsubscriptionRecord.campaign_id.in_(["", send["campaign_id"]]),
        )
    ).scalars().all()
    if unsubscribed:
        if steps.enabled:
            _send_step(steps, send, now, "unsubscribed", "all" if "" in unsubscribed else "campaign",
                       {"by": "unsubscribe"})
        return _suppress(connection, send, "unsubscribed", base)
    spec = catalogue.spec(connection, send["campaign_id"], campaign.version)
    trigger_properties = orjson.loads(send["trigger_properties"])
    if steps.enabled and spec.filters is not None:
        held, facts = filter_facts(spec.filters, event_properties=trigger_properties, user_attributes=attributes, now=now)
        _send_step(steps, send, now, "user_conditions", "held" if held else "not_held",
                   {"conditions": facts, "version": campaign.version})
    else:
        held = filters_match(spec.filters, event_properties=trigger_properties, user_attributes=attributes, now=now)
    if not held:
        return _suppress(connection, send, "filters", base)
    context = message_context(user_id=user["user_id"] or send["user_id"], attributes=attributes,
                              event_name=send["trigger_name"], event_properties=trigger_properties,
                              event_time=as_utc(send["triggered_at"]))
    # A held-out send is rendered and addressed too: the control group faces every suppression
    # the treatment does, up to the provider call, which delivery skips.
    template = spec.message_for(send["variant"])
    try:
        message = render_message(template, context)
    except RenderFailed as error:
        return _suppress(connection, send, f"render_failed: {error}", base)
    addresses = _addresses(template.channel, attributes, user["devices"], message)
    if not addresses:
        if steps.enabled:
            _send_step(steps, send, now, "no_address", "suppressed",
                       {"channel": template.channel, "needs": NEEDED_ADDRESS[template.channel]})
        return _suppress(connection, send, "no_address", base)
    connection.execute(
        update(SendRecord.__table__).where(SendRecord.id == send["id"], SendRecord.status == "scheduled")
        .values(status="sending", confirmed_version=campaign.version)
    )
    timezone = attributes.get("timezone")
    if settings is None:
        settings = get_settings(connection, send["workspace_id"]).settings
    return Decision(True, message=message, addresses=addresses,
                    timezone=timezone if isinstance(timezone, str) else "", settings=settings,
                    transactional=spec.transactional, on_cap=spec.on_cap, held_out=bool(send["control"]),
                    variant=send["variant"], **base)


NEEDED_ADDRESS = {"email": "email", "sms": "phone_number", "voice": "phone_number", "push": "an apns or fcm device",
                  "webhook": "a url"}


def _suppress(connection: Connection, send: dict[str, Any], reason: str, base: dict[str, str]) -> Decision:
    _finish(connection, send["id"], status="suppressed", outcome=reason)
    return Decision(False, reason=reason, **base)


def _finish(connection: Connection, send_id: str, *, status: str, outcome: str, sent_at: datetime | None = None) -> bool:
    table = SendRecord.__table__
    values: dict[str, Any] = {"status": status, "outcome": outcome}
    if sent_at is not None:
        values["sent_at"] = sent_at
    result = connection.execute(
        update(table).where(table.c.id == send_id, table.c.status.not_in(list(TERMINAL))).values(**values)
    )
    connection.execute(delete(CancelWatchRecord.__table__).where(CancelWatchRecord.send_id == send_id))
    if result.rowcount:
        connection.execute(delete(ParkedGoalEventRecord.__table__).where(ParkedGoalEventRecord.send_id == send_id))
    return bool(result.rowcount)


# ---- MarkSent ---------------------------------------------------------------------------


def mark_sent(
    connection: Connection,
    catalogue: Catalogue,
    *,
    send_id: str,
    status: str,
    outcome: str,
    sent_at: datetime | None,
    due_at: datetime | None,
    now: datetime,
    steps: StepLog | None = None,
) -> None:
    """Delivery's report of a send's outcome (idempotent: a terminal send stays as it is). The
    goal windows a sent send opens are recorded in `steps` (the caller writes them)."""
    table = SendRecord.__table__
    send = connection.execute(select(table).where(table.c.id == send_id)).mappings().first()
    if send is None:
        raise NotFound(f"no send {send_id!r}")
    if status == "scheduled":
        values: dict[str, Any] = {"status": "scheduled", "handed_off": True}
        if due_at is not None:
            values["due_at"] = due_at
        connection.execute(update(table).where(table.c.id == send_id, table.c.status.not_in(list(TERMINAL))).values(**values))
        return
    if status not in TERMINAL:
        raise FailedPrecondition(f"status {status!r} is not one of scheduled, {', '.join(sorted(TERMINAL))}")
    parked: list[Any] = []
    if status in REACHED:
        sent_at = sent_at or now
        if send["status"] == "sending":  # only a send on its way has parked goal events
            parked_table = ParkedGoalEventRecord.__table__
            parked = list(connection.execute(
                select(parked_table).where(parked_table.c.send_id == send_id).order_by(parked_table.c.event_time)
            ).mappings())
    if status == "held_out":
        outcome = f"held out: {send['control'] or HOLDOUT} (not sent)"
    if not _finish(connection, send_id, status=status, outcome=outcome, sent_at=sent_at if status in REACHED else None):
        return
    if status not in REACHED:
        return
    spec = catalogue.spec(connection, send["campaign_id"], send["confirmed_version"] or send["version"])
    windows = [
        {"send_id": send_id, "goal_name": goal.name, "workspace_id": send["workspace_id"],
         "campaign_id": send["campaign_id"], "profile_id": send["profile_id"], "goal_event": goal.event,
         "opens_at": sent_at, "closes_at": sent_at + goal.within, "converted_at": None,
         "conversion_event_id": None, "seconds_to_convert": None}
        for goal in spec.goals
    ]
    insert_rows(connection, GoalWindowRecord.__table__, windows, skip_conflicts_on=["send_id", "goal_name"])
    for goal in spec.goals:
        catalogue.watch(send["workspace_id"], goal.event)
    recording = steps is not None and steps.enabled
    if recording:
        for window in windows:
            _send_step(steps, send, now, "goal_window", "opened",
                       {"goal": window["goal_name"], "event": window["goal_event"], "opens_at": window["opens_at"],
                        "closes_at": window["closes_at"], **({"held_out": True} if status == "held_out" else {})})
    if parked:
        _convert_parked(connection, send, windows, parked, now=now, steps=steps if recording else None)


def _convert_parked(connection: Connection, send: Any, windows: list[dict[str, Any]], parked: list[Any], *,
                    now: datetime, steps: StepLog | None) -> None:
    """The goal events that arrived while the send was on its way: per goal, the first one at or
    after the accepted time and inside the window converts (each matched the goal when parked)."""
    table = GoalWindowRecord.__table__
    for window in windows:
        first = next((row for row in parked if row["goal_name"] == window["goal_name"]
                      and window["opens_at"] <= as_utc(row["event_time"]) <= window["closes_at"]), None)
        if first is None:
            continue
        event_time = as_utc(first["event_time"])
        seconds = (event_time - window["opens_at"]).total_seconds()
        result = connection.execute(
            update(table).where(table.c.send_id == window["send_id"], table.c.goal_name == window["goal_name"],
                                table.c.converted_at.is_(None))
            .values(converted_at=event_time, conversion_event_id=first["event_id"], seconds_to_convert=seconds)
        )
        if result.rowcount and steps is not None:
            _send_step(steps, send, now, "conversion", "converted", {
                "goal": window["goal_name"], "event": first["event_name"], "event_id": first["event_id"],
                "event_time": event_time, "seconds_to_convert": seconds, "before_mark_sent": True})


# ---- reading -----------------------------------------------------------------------------


def displayed_status(send: dict[str, Any], now: datetime) -> str:
    if send["status"] == "scheduled" and send["settle_until"] is not None and now < send["settle_until"]:
        return "settling"
    return send["status"]


def list_sends(
    connection: Connection, *, workspace_id: str, campaign_id: str | None, profile_ids: list[str] | None, limit: int
) -> list[dict[str, Any]]:
    table = SendRecord.__table__
    statement = select(table, CampaignRecord.name.label("campaign_name")).join(
        CampaignRecord.__table__, CampaignRecord.id == table.c.campaign_id
    ).where(table.c.workspace_id == workspace_id)
    if campaign_id:
        statement = statement.where(table.c.campaign_id == campaign_id)
    if profile_ids is not None:
        statement = statement.where(table.c.profile_id.in_(profile_ids))
    statement = statement.order_by(table.c.created_at.desc(), table.c.id).limit(limit)
    return [dict(row) for row in connection.execute(statement).mappings()]


@dataclass
class Stats:
    name: str
    status: str
    triggered: int = 0
    scheduled: int = 0
    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    cancelled: int = 0
    unknown: int = 0
    held_out: int = 0
    suppressed_by_reason: dict[str, int] = field(default_factory=dict)
    not_entered: dict[str, int] = field(default_factory=dict)
    held_out_by_group: dict[str, int] = field(default_factory=dict)  # holdout, global_control
    goals: list[dict[str, Any]] = field(default_factory=list)
    holdout: str = ""  # as written, "10%"
    variants: list[dict[str, Any]] = field(default_factory=list)


def campaign_stats(connection: Connection, catalogue: Catalogue, workspace_id: str, name: str) -> Stats:
    known, _ = get_campaign(connection, catalogue, workspace_id, name)
    stats = Stats(name=known.name, status=known.status)
    for reason, count in connection.execute(
        select(TriggerCountRecord.reason, TriggerCountRecord.count).where(TriggerCountRecord.campaign_id == known.id)
    ):
        stats.triggered += count
        if reason != "entered":
            stats.not_entered[reason] = count
    spec = known.spec
    stats.holdout = spec.holdout_text if spec.holdout > 0 else ""
    table = SendRecord.__table__
    mine = table.c.campaign_id == known.id
    # Counts by status come from the (campaign_id, status, sent_at) index alone; only the
    # statuses whose rows carry more (suppression reasons, control groups, variants) are read
    # further, each from its own part of an index.
    for status, count in connection.execute(select(table.c.status, func.count()).where(mine).group_by(table.c.status)):
        stats.scheduled += count
        if status in ("sent", "failed", "suppressed", "cancelled", "unknown", "held_out"):
            setattr(stats, status, getattr(stats, status) + count)
    if stats.suppressed:
        for outcome, count in connection.execute(
            select(table.c.outcome, func.count()).where(mine, table.c.status == "suppressed").group_by(table.c.outcome)
        ):
            reason = outcome.split(":", 1)[0] or "unknown"
            stats.suppressed_by_reason[reason] = stats.suppressed_by_reason.get(reason, 0) + count
    if stats.held_out:
        for control, count in connection.execute(
            select(table.c.control, func.count()).where(mine, table.c.status == "held_out").group_by(table.c.control)
        ):
            stats.held_out_by_group[control] = stats.held_out_by_group.get(control, 0) + count
    # Sent by variant: the partial index of sends with a variant (none for a campaign that never
    # had variants, so this reads nothing there).
    sent_by_variant: dict[str, int] = defaultdict(int)
    if stats.sent:
        for variant, count in connection.execute(
            select(table.c.variant, func.count())
            .where(mine, table.c.variant != "", table.c.status == "sent")
            .group_by(table.c.variant)
        ):
            sent_by_variant[variant] += count
    # Conversions by the group of the send whose window converted: treatment (sent, by variant)
    # or control (held out).
    windows = GoalWindowRecord.__table__
    converted: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
    averages: dict[str, tuple[int, float]] = {}
    for name, status, variant, count, average in connection.execute(
        select(windows.c.goal_name, table.c.status, table.c.variant, func.count(),
               func.avg(windows.c.seconds_to_convert))
        .join(table, table.c.id == windows.c.send_id)
        .where(windows.c.campaign_id == known.id, windows.c.converted_at.is_not(None))
        .group_by(windows.c.goal_name, table.c.status, table.c.variant)
    ):
        converted[name][(status, variant)] = int(count)
        if status == "sent" and average is not None:
            total, weighted = averages.get(name, (0, 0.0))
            averages[name] = (total + int(count), weighted + float(average) * int(count))
    for goal in spec.goals:
        by_group = converted.get(goal.name, {})
        treatment = sum(count for (status, _), count in by_group.items() if status == "sent")
        control = sum(count for (status, _), count in by_group.items() if status == "held_out")
        comparison = experiments.GroupComparison(stats.sent, treatment, stats.held_out, control)
        total, weighted = averages.get(goal.name, (0, 0.0))
        stats.goals.append({
            "name": goal.name, "primary": goal.primary, "conversions": treatment,
            "rate": comparison.treatment_rate,
            "average_seconds_to_convert": weighted / total if total else None,
            "treatment_conversions": treatment, "treatment_rate": comparison.treatment_rate,
            "control_conversions": control, "control_rate": comparison.control_rate,
            "lift": comparison.lift, "confidence": comparison.confidence, "enough_data": comparison.enough_data,
        })
    # The variants of this version, then any that earlier versions sent (a promoted test's).
    weights = {variant.name: variant.weight for variant in spec.variants}
    names = [*weights, *sorted(name for name in sent_by_variant if name and name not in weights)]
    if names:
        first = names[0]
        for name in names:
            sent = sent_by_variant.get(name, 0)
            goals = []
            for goal in spec.goals:
                by_group = converted.get(goal.name, {})
                conversions = by_group.get(("sent", name), 0)
                beats = None
                if name != first:
                    beats = experiments.chance_to_beat(conversions, sent, by_group.get(("sent", first), 0),
                                                       sent_by_variant.get(first, 0))
                goals.append({"name": goal.name, "conversions": conversions,
                              "rate": experiments.rate(conversions, sent), "chance_to_beat_first": beats})
            stats.variants.append({"name": name, "weight": weights.get(name), "sent": sent, "goals": goals})
    return stats


# ---- experiments ---------------------------------------------------------------------------


def promote_variant(connection: Connection, catalogue: Catalogue, *, workspace_id: str, name: str, variant: str,
                    now: datetime) -> Applied:
    """Makes one variant the whole campaign: a new version of its file with `variants` replaced
    by that variant's `message`, applied like any file (the holdout and everything else stay).
    Sends already made for other variants get this message when they are confirmed."""
    known, source = get_campaign(connection, catalogue, workspace_id, name)
    if not known.spec.variants:
        raise FailedPrecondition(f"campaign {name!r} has no variants to promote (its file has message, not variants)")
    if known.spec.variant(variant) is None:
        choices = ", ".join(v.name for v in known.spec.variants)
        raise InvalidArgument(None, [FieldError("variant", f"campaign {name!r} has no variant {variant!r} (it has {choices})")])
    document = load_yaml(source)
    promoted: dict[str, Any] = {}
    for key, value in document.items():
        if key == "variants":
            chosen = next(item for item in value if isinstance(item, dict) and str(item.get("name", "")).strip() == variant)
            promoted["message"] = chosen["message"]
        else:
            promoted[key] = value
    header = f"# variant {variant!r} promoted from version {known.version} ({now.date().isoformat()})\n"
    text = header + yaml.safe_dump(promoted, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)
    file_name = connection.execute(
        select(CampaignVersionRecord.file_name).where(CampaignVersionRecord.campaign_id == known.id,
                                                      CampaignVersionRecord.version == known.version)
    ).scalar_one()
    return apply_campaign(connection, catalogue, workspace_id=workspace_id, source_yaml=text, file_name=file_name,
                          now=now)


@dataclass(frozen=True)
class UserGroups:
    global_control: bool
    global_control_text: str
    campaigns: list[tuple[str, str, str]]  # (campaign name, treatment|holdout|global_control, variant)


def user_experiments(connection: Connection, catalogue: Catalogue, *, workspace_id: str, user_id: str,
                     profile_id: str) -> UserGroups:
    """The groups a user is in now (the same sticky hashes a send uses): the workspace's global
    control, and each live campaign's holdout or variant, for campaigns with either."""
    settings = get_settings(connection, workspace_id).settings
    key = experiments.user_key(user_id, profile_id)
    in_global = experiments.in_global_control(workspace_id, key, settings.global_control)
    campaigns = []
    for known in sorted(catalogue.by_id.values(), key=lambda known: known.name):
        spec = known.spec
        if known.workspace_id != workspace_id or known.status != LIVE or not (spec.holdout > 0 or spec.variants
                                                                              or (in_global and not spec.transactional)):
            continue
        event = IncomingEvent(id="", workspace_id=workspace_id, name="", profile_id=profile_id, user_id=user_id,
                              properties={}, timestamp=datetime.min, received_at=datetime.min)
        control, variant, _ = assign(known, event, settings)
        campaigns.append((known.name, control or "treatment", variant))
    return UserGroups(in_global, settings.global_control_text, campaigns)


# ---- unsubscribes ------------------------------------------------------------------------


def unsubscribe(
    connection: Connection, *, workspace_id: str, profile_ids: list[str], campaign_id: str, resubscribe: bool, now: datetime
) -> None:
    table = UnsubscriptionRecord.__table__
    if resubscribe:
        connection.execute(delete(table).where(
            table.c.workspace_id == workspace_id, table.c.profile_id.in_(profile_ids), table.c.campaign_id == campaign_id
        ))
        return
    insert_rows(connection, table, [
        {"workspace_id": workspace_id, "profile_id": p, "campaign_id": campaign_id, "created_at": now} for p in profile_ids
    ], skip_conflicts_on=["workspace_id", "profile_id", "campaign_id"])


def subscriptions(connection: Connection, *, workspace_id: str, profile_ids: list[str]) -> tuple[bool, list[str]]:
    """(unsubscribed from every campaign, names of the campaigns unsubscribed from one by one)."""
    table = UnsubscriptionRecord.__table__
    campaigns = CampaignRecord.__table__
    ids = set(connection.execute(
        select(table.c.campaign_id).where(table.c.workspace_id == workspace_id, table.c.profile_id.in_(profile_ids))
    ).scalars())
    every = "" in ids
    ids.discard("")
    names = sorted(connection.execute(select(campaigns.c.name).where(campaigns.c.id.in_(ids))).scalars()) if ids else []
    return every, names


def unsubscribed_among(connection: Connection, *, workspace_id: str, profile_ids: list[str], campaign_id: str) -> set[str]:
    """Which of these users `herald users unsubscribe` took out of every campaign, or of this one."""
    table = UnsubscriptionRecord.__table__
    found: set[str] = set()
    for chunk in _chunks(profile_ids, 500):
        found.update(connection.execute(
            select(table.c.profile_id).where(table.c.workspace_id == workspace_id, table.c.profile_id.in_(list(chunk)),
                                             table.c.campaign_id.in_(["", campaign_id]))
        ).scalars())
    return found


def prune_processed(connection: Connection, *, before: datetime) -> int:
    table = ProcessedEventRecord.__table__
    return connection.execute(delete(table).where(table.c.processed_at < before)).rowcount


def campaign_id_for(connection: Connection, workspace_id: str, name: str) -> str:
    row = _campaign_row(connection, workspace_id, name)
    if row is None:
        raise NotFound(f"no campaign named {name!r}")
    return row["id"]



# ---- workspace settings ------------------------------------------------------------------


@dataclass(frozen=True)
class AppliedSettings:
    workspace_id: str
    settings: WorkspaceSettings
    source_yaml: str = ""
    file_name: str = ""
    updated_at: datetime | None = None  # None: never applied
    changed: bool = False


@functools.lru_cache(maxsize=256)
def _parsed_settings(source_yaml: str) -> WorkspaceSettings:
    return parse_settings(source_yaml)


def apply_settings(
    connection: Connection, *, workspace_id: str, source_yaml: str, file_name: str, now: datetime
) -> AppliedSettings:
    """Replaces the workspace's settings with the file's (refused whole when any part is bad).
    Applying the same file again changes nothing."""
    settings = parse_settings(source_yaml)
    table = WorkspaceSettingsRecord.__table__
    current = get_settings(connection, workspace_id)
    if current.updated_at is not None and current.source_yaml == source_yaml:
        return current
    row = {"workspace_id": workspace_id, "source_yaml": source_yaml, "file_name": file_name, "updated_at": now}
    if current.updated_at is None:
        # Two callers applying at once: the later one's file wins, as with two applies in a row.
        insert_rows(connection, table, [row], skip_conflicts_on=["workspace_id"])
    connection.execute(update(table).where(table.c.workspace_id == workspace_id).values(**row))
    return AppliedSettings(workspace_id, settings, source_yaml, file_name, now, changed=True)


def get_settings(connection: Connection, workspace_id: str) -> AppliedSettings:
    """The workspace's settings as applied; with nothing applied, no caps, no quiet hours, no
    global control group. (experiments reads `global_control` from here.)"""
    table = WorkspaceSettingsRecord.__table__
    row = connection.execute(select(table).where(table.c.workspace_id == workspace_id)).mappings().first()
    if row is None:
        return AppliedSettings(workspace_id, NO_SETTINGS)
    return AppliedSettings(workspace_id, _parsed_settings(row["source_yaml"]), row["source_yaml"], row["file_name"],
                           row["updated_at"], changed=False)


def settings_of(connection: Connection, workspace_ids: Iterable[str]) -> dict[str, WorkspaceSettings]:
    """Each workspace's settings in one read (Confirm hands them to delivery with each send)."""
    wanted = sorted(set(workspace_ids))
    found = {workspace_id: NO_SETTINGS for workspace_id in wanted}
    table = WorkspaceSettingsRecord.__table__
    for chunk in _chunks(wanted, 500):
        for workspace_id, source in connection.execute(
            select(table.c.workspace_id, table.c.source_yaml).where(table.c.workspace_id.in_(list(chunk)))
        ):
            found[workspace_id] = _parsed_settings(source)
    return found
