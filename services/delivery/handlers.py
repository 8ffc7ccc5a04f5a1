"""delivery's use cases on the database: plain functions taking a unit of work (a connection).

Every change a dispatching replica makes to a claimed send is conditional on the send still
being claimed by it (``claimed_by`` and the status it left): a replica whose lease was taken
over finds its update matched nothing and stops, so a send is never dispatched twice.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
import structlog
from herald_common.errors import InvalidArgument, NotFound
from herald_services.delivery import store
from herald_services.delivery.caps import DEFER, FREQUENCY_CAP, CapRule, CapVerdict, Slot, check_caps, lookback
from herald_services.delivery.domain import DeliveryWindow, due_time
from herald_services.delivery.store import (
    ADDRESS,
    ADDRESS_ACCEPTED,
    ADDRESS_SENDING,
    ADDRESS_UNKNOWN,
    CANCELLED,
    CAP_SLOT,
    CLAIMED,
    FAILED,
    HELD,
    HELD_OUT,
    RELEASE,
    REPORT,
    SCHEDULED,
    SEND,
    SENDING,
    SENT,
    SUPPRESSED,
    UNKNOWN,
)
from herald_common.steps import StepLog
from sqlalchemy import Connection, and_, bindparam, delete, exists, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

log = structlog.get_logger(__name__)

HELD_OUTCOME = "held: campaign paused"
_CHUNK = 500


# ---- scheduling -------------------------------------------------------------------------


@dataclass(slots=True)
class NewSend:
    """A send as campaign asked for it."""

    id: str
    workspace_id: str
    campaign_id: str
    profile_id: str
    user_id: str
    channel: str
    trigger_at: datetime
    delay_seconds: int
    settle_seconds: int
    window: DeliveryWindow | None
    fallback_timezone: str
    timezone: str


def window_json(window: DeliveryWindow | None) -> str | None:
    return None if window is None else orjson.dumps(window.to_spec()).decode()


def window_of(text: str | None) -> DeliveryWindow | None:
    if not text:
        return None
    spec = orjson.loads(text)
    return DeliveryWindow.from_spec(days=spec["days"], start=spec["start"], end=spec["end"])


def plan(send: NewSend, *, default_timezone: str | None, now: datetime) -> dict[str, Any]:
    """The row of a new send: due at trigger + max(delay, settle), moved into its window in the
    user's zone (else the campaign's fallback, else the default); no zone at all with a window
    suppresses it as no_timezone.

    Campaign hands sends over without the user's zone (it reads the profile only at Confirm).
    Then the zone is not known yet: the window's opening in the fallback zone is only a guess,
    so such a send wakes when it is ready, asks Confirm, learns the user's zone and is placed in
    that zone's window (or suppressed as no_timezone) then. Without this, a New York user whose
    window is open would wait for Berlin's morning."""
    decision = due_time(
        trigger_at=send.trigger_at,
        delay=timedelta(seconds=send.delay_seconds),
        settle=timedelta(seconds=send.settle_seconds),
        has_filters=send.settle_seconds > 0,
        window=send.window,
        user_timezone=send.timezone,
        fallback_timezone=send.fallback_timezone,
        default_timezone=default_timezone,
    )
    zone_unknown = send.window is not None and not send.timezone
    status = SUPPRESSED if decision.is_suppressed and not zone_unknown else SCHEDULED
    due_at = decision.due_at if decision.due_at is not None or not zone_unknown else decision.ready_at
    return {
        "id": send.id,
        "workspace_id": send.workspace_id,
        "campaign_id": send.campaign_id,
        "profile_id": send.profile_id,
        "user_id": send.user_id,
        "channel": send.channel,
        "trigger_at": send.trigger_at,
        "delay_seconds": send.delay_seconds,
        "settle_seconds": send.settle_seconds,
        "window": window_json(send.window),
        "fallback_timezone": send.fallback_timezone,
        "timezone": send.timezone,
        "ready_at": decision.ready_at,
        "due_at": due_at,
        "wake_at": decision.ready_at if zone_unknown else decision.due_at,
        "status": status,
        "outcome": (decision.suppressed or "") if status == SUPPRESSED else "",
        "sent_at": None,
        "attempts": 0,
        "message": None,
        "claimed_by": None,
        "lease_until": None,
        "created_at": now,
        "updated_at": now,
    }


def schedule(connection: Connection, rows: Sequence[dict[str, Any]], *, steps: StepLog | None = None) -> list[dict[str, Any]]:
    """Keeps new sends; a send id kept before (or earlier in the same call) keeps its first
    schedule. Returns the kept row of each, in request order. Each new send is a `scheduled`
    step in `steps` (written by the caller in this transaction)."""
    kept: dict[str, dict[str, Any]] = {}
    ids = list(dict.fromkeys(row["id"] for row in rows))
    for start in range(0, len(ids), _CHUNK):
        found = connection.execute(select(SEND).where(SEND.c.id.in_(ids[start : start + _CHUNK])))
        kept.update((row.id, dict(row._mapping)) for row in found)
    new = []
    for row in rows:
        if row["id"] not in kept:
            kept[row["id"]] = row
            new.append(row)
    if new:
        # Another replica may keep the same id meanwhile: the first one wins there too.
        statement = store.dialect_insert(connection, SEND).on_conflict_do_nothing(index_elements=["id"])
        connection.execute(statement, new)
        if steps is not None and steps.enabled:
            for row in new:
                detail: dict[str, Any] = {"ready_at": row["ready_at"], "due_at": row["due_at"]}
                if row["window"] is not None:
                    detail["window"] = orjson.loads(row["window"])
                if row["status"] == SUPPRESSED:
                    detail["reason"] = row["outcome"]
                _step(steps, row, row["created_at"], "scheduled", "suppressed" if row["status"] == SUPPRESSED else "scheduled",
                      detail)
    return [kept[row["id"]] for row in rows]


def _step(steps: StepLog, row: Any, at: datetime, step: str, outcome: str, detail: dict[str, Any] | None = None) -> None:
    steps.add(workspace_id=row["workspace_id"], profile_id=row["profile_id"], campaign_id=row["campaign_id"],
              send_id=row["id"], at=at, step=step, outcome=outcome, detail=detail)


def backlog(connection: Connection) -> int:
    """Sends not finished yet: scheduled, held, claimed or sending."""
    return int(connection.execute(
        select(func.count()).select_from(SEND).where(SEND.c.status.in_([SCHEDULED, HELD, CLAIMED, SENDING]))
    ).scalar_one())


def earliest_wake(connection: Connection) -> datetime | None:
    return connection.execute(select(func.min(SEND.c.wake_at)).where(SEND.c.status == SCHEDULED)).scalar()


# ---- claiming -------------------------------------------------------------------------------


# What dispatching a claimed send reads of its row (not all of it: a burst claims thousands).
_CLAIMED_COLUMNS = [SEND.c[name] for name in ("id", "workspace_id", "campaign_id", "profile_id", "channel", "window",
                                               "fallback_timezone", "ready_at", "due_at", "wake_at", "attempts",
                                               "message")]


def claim(connection: Connection, *, owner: str, now: datetime, lease_until: datetime, limit: int) -> list[dict[str, Any]]:
    """Claims up to limit sends due by now, earliest first. On PostgreSQL the due rows are
    locked with FOR UPDATE SKIP LOCKED, so concurrent replicas claim disjoint rows; SQLite has
    one writer. Returns the claimed rows with the addresses of those being retried."""
    due = (
        select(SEND.c.id)
        .where(SEND.c.status == SCHEDULED, SEND.c.wake_at <= now)
        .order_by(SEND.c.wake_at)
        .limit(limit)
    )
    chosen = SEND.c.id.in_(due.scalar_subquery())
    if connection.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
        chosen = and_(SEND.c.id.in_(due.scalar_subquery()), SEND.c.status == SCHEDULED)
    # On SQLite (one writer) the subquery alone picks the rows: a status test out here would make
    # SQLite walk every scheduled row through the status index instead of the primary key.
    statement = (
        update(SEND)
        .where(chosen)
        .values(status=CLAIMED, claimed_by=owner, lease_until=lease_until, updated_at=now)
        .returning(*_CLAIMED_COLUMNS)
    )
    rows = [dict(row._mapping) for row in connection.execute(statement)]
    retried = [row["id"] for row in rows if row["message"] is not None]
    if retried:
        addresses = addresses_of(connection, retried)
        for row in rows:
            row["addresses"] = addresses.get(row["id"], [])
    rows.sort(key=lambda row: row["wake_at"])
    return rows


def addresses_of(connection: Connection, send_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(send_ids), _CHUNK):
        rows = connection.execute(
            select(ADDRESS).where(ADDRESS.c.send_id.in_(send_ids[start : start + _CHUNK])).order_by(ADDRESS.c.position)
        )
        for row in rows:
            found.setdefault(row.send_id, []).append(dict(row._mapping))
    return found


# ---- reports (the outbox of MarkSent) -------------------------------------------------------


@dataclass(slots=True)
class Report:
    send_id: str
    status: str
    outcome: str = ""
    sent_at: datetime | None = None
    due_at: datetime | None = None
    token: int = field(default_factory=lambda: random.getrandbits(62))
    attempts: int = 0


@functools.cache
def _report_upsert(dialect_name: str):
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    statement = dialect.insert(REPORT)
    return statement.on_conflict_do_update(
        index_elements=["send_id"],
        set_={name: statement.excluded[name] for name in ("token", "status", "outcome", "sent_at", "due_at", "attempts", "next_at")},
    )


def put_reports(connection: Connection, reports: Iterable[Report], *, next_at: datetime) -> None:
    """Keeps each report until campaign acknowledges it; a newer one for the same send replaces
    one not acknowledged yet (campaign needs only the latest outcome)."""
    rows = [
        {"send_id": r.send_id, "token": r.token, "status": r.status, "outcome": r.outcome[:2000], "sent_at": r.sent_at,
         "due_at": r.due_at, "attempts": 0, "next_at": next_at}
        for r in reports
    ]
    if rows:
        connection.execute(_report_upsert(connection.dialect.name), rows)


_ACKNOWLEDGE = REPORT.delete().where(REPORT.c.send_id == bindparam("b_send_id"), REPORT.c.token == bindparam("b_token"))


def acknowledge_reports(connection: Connection, acknowledged: Sequence[tuple[str, int]]) -> None:
    if acknowledged:
        connection.execute(_ACKNOWLEDGE, [{"b_send_id": send_id, "b_token": token} for send_id, token in acknowledged])


_POSTPONE = (
    update(REPORT)
    .where(REPORT.c.send_id == bindparam("b_send_id"), REPORT.c.token == bindparam("b_token"))
    .values(attempts=bindparam("v_attempts"), next_at=bindparam("v_next_at"))
)


def postpone_reports(connection: Connection, postponed: Sequence[tuple[str, int, int, datetime]]) -> None:
    """(send_id, token, attempts, next_at): a report campaign did not acknowledge, tried again later."""
    if postponed:
        connection.execute(
            _POSTPONE,
            [{"b_send_id": send_id, "b_token": token, "v_attempts": attempts, "v_next_at": next_at}
             for send_id, token, attempts, next_at in postponed],
        )


def take_due_reports(connection: Connection, *, now: datetime, lease_until: datetime, limit: int, everything: bool = False) -> list[Report]:
    """Reports due again (their earlier try failed, or the process that had them stopped),
    leased to this replica by moving their next_at past the lease."""
    due = select(REPORT).order_by(REPORT.c.next_at).limit(limit)
    if not everything:
        due = due.where(REPORT.c.next_at <= now)
    if connection.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    rows = connection.execute(due).all()
    if rows:
        connection.execute(
            update(REPORT).where(REPORT.c.send_id.in_([row.send_id for row in rows])).values(next_at=lease_until)
        )
    return [
        Report(send_id=row.send_id, status=row.status, outcome=row.outcome, sent_at=row.sent_at, due_at=row.due_at,
               token=row.token, attempts=row.attempts)
        for row in rows
    ]


# ---- one claimed send's way out ---------------------------------------------------------------


def _still_mine(connection: Connection, keys: Sequence[tuple[str, str, str]]) -> list[bool]:
    """For each (send_id, owner, status): is the send still claimed by owner in that status? One
    read for them all; on PostgreSQL the rows are locked (in id order) until the transaction
    ends, so no other replica takes one over between this read and the writes that follow it.
    A send listed twice counts once (its first key)."""
    ids = sorted({send_id for send_id, _, _ in keys})
    state: dict[str, tuple[str | None, str]] = {}
    for start in range(0, len(ids), _CHUNK):
        statement = select(SEND.c.id, SEND.c.claimed_by, SEND.c.status).where(SEND.c.id.in_(ids[start : start + _CHUNK]))
        if connection.dialect.name == "postgresql":
            statement = statement.order_by(SEND.c.id).with_for_update()
        state.update((row.id, (row.claimed_by, row.status)) for row in connection.execute(statement))
    mine = []
    for send_id, owner, status in keys:
        mine.append(state.pop(send_id, None) == (owner, status))
    return mine


def _mine(send_id: str, owner: str, *statuses: str):
    return and_(SEND.c.id == send_id, SEND.c.claimed_by == owner, SEND.c.status.in_(statuses))


_IS_MINE = and_(SEND.c.id == bindparam("b_id"), SEND.c.claimed_by == bindparam("b_owner"), SEND.c.status == bindparam("b_from"))
_FINISH = (
    update(SEND)
    .where(_IS_MINE)
    .values(status=bindparam("v_status"), outcome=bindparam("v_outcome"), sent_at=bindparam("v_sent_at"), wake_at=None,
            claimed_by=None, lease_until=None, updated_at=bindparam("v_now"))
)


def finish(
    connection: Connection,
    *,
    send_id: str,
    owner: str,
    status: str,
    outcome: str,
    now: datetime,
    due_at: datetime | None,
    sent_at: datetime | None = None,
    from_status: str = CLAIMED,
    report_next_at: datetime,
) -> Report | None:
    """A claimed send reaches a final status; its report is kept for campaign. None: the send is
    no longer this replica's (its lease was taken over)."""
    result = connection.execute(
        _FINISH,
        {"b_id": send_id, "b_owner": owner, "b_from": from_status, "v_status": status, "v_outcome": outcome[:2000],
         "v_sent_at": sent_at, "v_now": now},
    )
    if result.rowcount != 1:
        return None
    report = Report(send_id=send_id, status=status, outcome=outcome, sent_at=sent_at, due_at=due_at)
    put_reports(connection, [report], next_at=report_next_at)
    return report


def finish_many(connection: Connection, items: Sequence[dict[str, Any]]) -> list[Report | None]:
    """finish for many sends (each item is finish's keyword arguments): one read, one UPDATE
    executed for every send still this replica's, one upsert of their reports."""
    keys = [(item["send_id"], item["owner"], item.get("from_status", CLAIMED)) for item in items]
    mine = _still_mine(connection, keys)
    params, rows, out = [], [], []
    for item, (send_id, owner, from_status), ok in zip(items, keys, mine):
        if not ok:
            out.append(None)
            continue
        outcome = item["outcome"]
        params.append({"b_id": send_id, "b_owner": owner, "b_from": from_status, "v_status": item["status"],
                       "v_outcome": outcome[:2000], "v_sent_at": item.get("sent_at"), "v_now": item["now"]})
        report = Report(send_id=send_id, status=item["status"], outcome=outcome, sent_at=item.get("sent_at"),
                        due_at=item.get("due_at"))
        rows.append(_report_row(report, item["report_next_at"]))
        out.append(report)
    if params:
        connection.execute(_FINISH, params)
        connection.execute(_report_upsert(connection.dialect.name), rows)
        failed = [p["b_id"] for p in params if p["v_status"] == FAILED]
        if failed:
            release_slots(connection, failed)
    return out


def _report_row(report: Report, next_at: datetime) -> dict[str, Any]:
    return {"send_id": report.send_id, "token": report.token, "status": report.status, "outcome": report.outcome[:2000],
            "sent_at": report.sent_at, "due_at": report.due_at, "attempts": 0, "next_at": next_at}


def requeue(
    connection: Connection,
    *,
    send_id: str,
    owner: str,
    wake_at: datetime,
    now: datetime,
    outcome: str | None = None,
    due_at: datetime | None = None,
    timezone: str | None = None,
    report_next_at: datetime | None = None,
    from_status: str = CLAIMED,
    report_due_at: datetime | None = None,
) -> Report | None | bool:
    """Back to scheduled, to be looked at again at wake_at (campaign unreachable, a retry, a
    window moved by the user's new zone). With due_at, campaign is told the new due time.
    report_due_at: campaign is told this due time, but the stale limit keeps counting from the
    send's own due time (a send deferred by a cap)."""
    values: dict[str, Any] = {"status": SCHEDULED, "wake_at": wake_at, "claimed_by": None, "lease_until": None, "updated_at": now}
    if outcome is not None:
        values["outcome"] = outcome[:2000]
    if due_at is not None:
        values["due_at"] = due_at
    if timezone is not None:
        values["timezone"] = timezone
    result = connection.execute(update(SEND).where(_mine(send_id, owner, from_status)).values(**values))
    if result.rowcount != 1:
        return None
    told = due_at if due_at is not None else report_due_at
    if told is not None and report_next_at is not None:
        report = Report(send_id=send_id, status=SCHEDULED, outcome=outcome or "", due_at=told)
        put_reports(connection, [report], next_at=report_next_at)
        return report
    return True


def hold(connection: Connection, *, send_id: str, owner: str, campaign_id: str, asked_at: datetime, now: datetime) -> str | None:
    """Confirm said the campaign is paused: keep the send, with no timer, until Release. A
    Release that came while Confirm was being answered wins: the send is looked at again now.
    Returns the status left, or None when the send is no longer this replica's."""
    released_at = connection.execute(select(RELEASE.c.released_at).where(RELEASE.c.campaign_id == campaign_id)).scalar()
    if released_at is not None and released_at >= asked_at:
        done = requeue(connection, send_id=send_id, owner=owner, wake_at=now, now=now)
        return SCHEDULED if done else None
    result = connection.execute(
        update(SEND)
        .where(_mine(send_id, owner, CLAIMED))
        .values(status=HELD, wake_at=None, outcome=HELD_OUTCOME, claimed_by=None, lease_until=None, updated_at=now)
    )
    return HELD if result.rowcount == 1 else None


_START_SENDING = (
    update(SEND)
    .where(_IS_MINE)
    .values(status=SENDING, attempts=SEND.c.attempts + 1, updated_at=bindparam("v_now"),
            message=func.coalesce(bindparam("v_message", type_=SEND.c.message.type), SEND.c.message))
)
_INSERT_ADDRESS = ADDRESS.insert()
_ADDRESS_SENDING = (
    update(ADDRESS)
    .where(ADDRESS.c.send_id == bindparam("b_send_id"), ADDRESS.c.position == bindparam("b_position"))
    .values(status=ADDRESS_SENDING)
)


@dataclass(slots=True)
class CapCheck:
    """A send's frequency caps, checked when it starts going out (with start_sending)."""

    workspace_id: str
    profile_id: str
    channel: str
    rules: tuple[CapRule, ...]
    zone: Any  # a tzinfo for calendar_day rules; None: UTC
    on_cap: str
    due_at: datetime | None
    defer_limit: datetime | None  # a deferral past this (the stale limit) is a suppression
    report_next_at: datetime
    counts: bool = True  # the send uses up a slot (a held-out send is checked, not counted)
    steps: Any = None  # the send's SendSteps: frequency_cap steps are recorded with the write


@dataclass(slots=True)
class Capped:
    """A send a cap stopped: suppressed (its report made), or deferred to `wake_at`."""

    status: str  # suppressed, scheduled
    rule: CapRule
    report: Report | None
    wake_at: datetime | None = None

    @property
    def deferred(self) -> bool:
        return self.status == SCHEDULED


def start_sending(
    connection: Connection,
    *,
    send_id: str,
    owner: str,
    now: datetime,
    positions: Sequence[int],
    message: str | None = None,
    addresses: Sequence[tuple[str, str]] | None = None,
    cap: CapCheck | None = None,
) -> bool | Capped:
    """Written right before the provider calls: the send and each address about to be called are
    'sending'. A crash from here on leaves them so, and they become unknown, never resent.
    The first time, the rendered message and the addresses are kept (retries reuse them).
    With cap: the user's frequency caps are checked first, and a send they stop is suppressed
    or deferred instead (Capped)."""
    return start_sending_many(connection, [dict(send_id=send_id, owner=owner, now=now, positions=positions,
                                                message=message, addresses=addresses, cap=cap)])[0]


def start_sending_many(connection: Connection, items: Sequence[dict[str, Any]]) -> list[bool | Capped]:
    """start_sending for many sends (each item is its keyword arguments), in a few statements:
    one read of who owns them, the caps of those that have any (one lock and one read of
    slots for the group), one UPDATE executed for all those still this replica's, one INSERT of
    the new addresses, one UPDATE of the retried ones. True: that send may go out."""
    mine: list[bool | Capped] = list(_still_mine(connection, [(item["send_id"], item["owner"], CLAIMED) for item in items]))
    capped = [index for index, item in enumerate(items) if mine[index] and item.get("cap") is not None]
    if capped:
        verdicts = _check_caps(connection, [items[index] for index in capped])
        for index, verdict in zip(capped, verdicts):
            if not verdict.allowed:
                mine[index] = _stopped_by_cap(connection, items[index], verdict)
    sends, new, retried = [], [], []
    for item, ok in zip(items, mine):
        if ok is not True:
            continue
        send_id = item["send_id"]
        sends.append({"b_id": send_id, "b_owner": item["owner"], "b_from": CLAIMED, "v_now": item["now"],
                      "v_message": item.get("message")})
        addresses = item.get("addresses")
        if addresses is not None:
            new.extend(
                {"send_id": send_id, "position": position, "kind": kind, "value": value, "status": ADDRESS_SENDING,
                 "attempts": 0, "detail": "", "retry_after": None, "sent_at": None}
                for position, (kind, value) in enumerate(addresses)
            )
        else:
            retried.extend({"b_send_id": send_id, "b_position": position} for position in item["positions"])
    if sends:
        connection.execute(_START_SENDING, sends)
    if new:
        connection.execute(_INSERT_ADDRESS, new)
    if retried:
        connection.execute(_ADDRESS_SENDING, retried)
    return mine


_LOCK_USERS = text(
    "SELECT pg_advisory_xact_lock(key) FROM "
    "(SELECT DISTINCT hashtextextended(user_key, 0) AS key FROM unnest(CAST(:keys AS text[])) AS user_key ORDER BY 1) AS keys"
)


def _check_caps(connection: Connection, items: Sequence[dict[str, Any]]) -> list[CapVerdict]:
    """The caps of sends about to go out, in order: each user's counted slots in one read, each
    send decided against them (and the sends before it in this group), a slot kept for each
    allowed one. On PostgreSQL each user is locked for the rest of the transaction first, so
    replicas checking the same user's sends take turns and each sees the other's slot."""
    checks: list[CapCheck] = [item["cap"] for item in items]
    users = sorted({(check.workspace_id, check.profile_id) for check in checks})
    if connection.dialect.name == "postgresql":
        connection.execute(_LOCK_USERS, {"keys": [f"{workspace}\x1f{profile}" for workspace, profile in users]})
    earliest = min(item["now"] for item in items) - lookback(rule for check in checks for rule in check.rules)
    slots: dict[tuple[str, str], list[Slot]] = {user: [] for user in users}
    by_workspace: dict[str, list[str]] = {}
    for workspace, profile in users:
        by_workspace.setdefault(workspace, []).append(profile)
    for workspace, profiles in by_workspace.items():
        for start in range(0, len(profiles), _CHUNK):
            rows = connection.execute(
                select(CAP_SLOT.c.profile_id, CAP_SLOT.c.channel, CAP_SLOT.c.at).where(
                    CAP_SLOT.c.workspace_id == workspace, CAP_SLOT.c.profile_id.in_(profiles[start : start + _CHUNK]),
                    CAP_SLOT.c.at > earliest,
                )
            )
            for profile, channel, at in rows:
                slots[(workspace, profile)].append(Slot(channel, at))
    verdicts, kept = [], []
    for item, check in zip(items, checks):
        user = (check.workspace_id, check.profile_id)
        verdict = check_caps(check.rules, channel=check.channel, slots=slots[user], now=item["now"], zone=check.zone)
        verdicts.append(verdict)
        if verdict.allowed and check.steps is not None:
            covering = [rule.describe() for rule in check.rules if rule.covers(check.channel)]
            check.steps.record(item["now"], FREQUENCY_CAP, "passed",
                               {"rules": covering, "counted": check.counts, "channel": check.channel})
        if verdict.allowed and check.counts:
            slots[user].append(Slot(check.channel, item["now"]))
            kept.append({"send_id": item["send_id"], "workspace_id": check.workspace_id, "profile_id": check.profile_id,
                         "channel": check.channel, "at": item["now"]})
    if kept:
        connection.execute(store.dialect_insert(connection, CAP_SLOT).on_conflict_do_nothing(index_elements=["send_id"]),
                           kept)
    return verdicts


def _stopped_by_cap(connection: Connection, item: dict[str, Any], verdict: CapVerdict) -> Capped | bool:
    """A send a cap stops: deferred to the first moment the caps allow it (on_cap: defer, within
    the stale limit), else suppressed as frequency_cap with the rule."""
    check: CapCheck = item["cap"]
    assert verdict.rule is not None
    reason = f"{FREQUENCY_CAP}: {verdict.rule.describe()}"
    now = item["now"]
    defer = check.on_cap == DEFER and verdict.allowed_at is not None and (
        check.defer_limit is None or verdict.allowed_at <= check.defer_limit)
    if check.steps is not None:
        detail: dict[str, Any] = {"rule": verdict.rule.describe(), "channel": check.channel,
                                  "allowed_at": verdict.allowed_at}
        if check.on_cap == DEFER and not defer:
            detail["past_stale_limit"] = check.defer_limit
        check.steps.record(now, FREQUENCY_CAP, "deferred" if defer else "suppressed", detail)
    if defer:
        report = requeue(connection, send_id=item["send_id"], owner=item["owner"], wake_at=verdict.allowed_at, now=now,
                         outcome=f"deferred by {reason}", report_due_at=verdict.allowed_at,
                         report_next_at=check.report_next_at)
        if report is None:
            return False
        return Capped(SCHEDULED, verdict.rule, report if isinstance(report, Report) else None, wake_at=verdict.allowed_at)
    report = finish(connection, send_id=item["send_id"], owner=item["owner"], status=SUPPRESSED, outcome=reason, now=now,
                    due_at=check.due_at, report_next_at=check.report_next_at)
    if report is None:
        return False
    return Capped(SUPPRESSED, verdict.rule, report)


def hold_out(
    connection: Connection,
    *,
    send_id: str,
    owner: str,
    now: datetime,
    due_at: datetime | None,
    outcome: str,
    report_next_at: datetime,
    cap: CapCheck | None = None,
    recorder: Any = None,
) -> Report | Capped | None | bool:
    """A control group's send at the moment it would go out: its caps are checked as a real
    send's (so control and treatment face the same suppressions and deferrals) but it takes no
    slot (the user got nothing), and it ends held_out with sent_at now: campaign opens its goal
    windows from then. None/False: no longer this replica's."""
    if not _still_mine(connection, [(send_id, owner, CLAIMED)])[0]:
        return None
    if cap is not None:
        cap.counts = False
        item = {"send_id": send_id, "owner": owner, "now": now, "cap": cap}
        verdict = _check_caps(connection, [item])[0]
        if not verdict.allowed:
            return _stopped_by_cap(connection, item, verdict)
    if recorder is not None:
        recorder.record(now, HELD_OUT, HELD_OUT, {"sent_at": now})
    return finish(connection, send_id=send_id, owner=owner, status=HELD_OUT, outcome=outcome, now=now, due_at=due_at,
                  sent_at=now, report_next_at=report_next_at)


def release_slots(connection: Connection, send_ids: Sequence[str]) -> None:
    """Sends that reached no one (failed, or cancelled while waiting to retry) give their cap
    slot back."""
    for start in range(0, len(send_ids), _CHUNK):
        connection.execute(delete(CAP_SLOT).where(CAP_SLOT.c.send_id.in_(send_ids[start : start + _CHUNK])))


def prune_slots(connection: Connection, *, before: datetime, limit: int = 5000) -> int:
    """Slots older than any cap's window are never read again."""
    old = select(CAP_SLOT.c.send_id).where(CAP_SLOT.c.at < before).limit(limit).scalar_subquery()
    return connection.execute(delete(CAP_SLOT).where(CAP_SLOT.c.send_id.in_(old))).rowcount


@dataclass(slots=True)
class AddressResult:
    position: int
    status: str
    attempts: int
    detail: str
    retry_after: float | None = None
    sent_at: datetime | None = None


_RECORD_RESULT = (
    update(ADDRESS)
    .where(ADDRESS.c.send_id == bindparam("b_send_id"), ADDRESS.c.position == bindparam("b_position"))
    .values(status=bindparam("v_status"), attempts=bindparam("v_attempts"), detail=bindparam("v_detail"),
            retry_after=bindparam("v_retry_after"), sent_at=bindparam("v_sent_at"))
)


def record_results(connection: Connection, *, send_id: str, results: Sequence[AddressResult]) -> None:
    if results:
        connection.execute(
            _RECORD_RESULT,
            [{"b_send_id": send_id, "b_position": r.position, "v_status": r.status, "v_attempts": r.attempts,
              "v_detail": r.detail[:2000], "v_retry_after": r.retry_after, "v_sent_at": r.sent_at} for r in results],
        )


def settle(
    connection: Connection,
    *,
    send_id: str,
    owner: str,
    now: datetime,
    results: Sequence[AddressResult],
    wake_at: datetime | None = None,
    status: str = "",
    outcome: str = "",
    sent_at: datetime | None = None,
    due_at: datetime | None = None,
    report_next_at: datetime | None = None,
) -> Report | datetime | None:
    """After a round of provider calls: each address's result, then the send either back to
    scheduled at wake_at (a retry; returns wake_at) or finished with status (returns its report,
    None when the send is no longer this replica's)."""
    return settle_many(connection, [dict(send_id=send_id, owner=owner, now=now, results=results, wake_at=wake_at,
                                         status=status, outcome=outcome, sent_at=sent_at, due_at=due_at,
                                         report_next_at=report_next_at)])[0]


def settle_many(connection: Connection, items: Sequence[dict[str, Any]]) -> list[Report | datetime | None]:
    """settle for many sends: the address results of all in one executemany, the finished ones
    through finish_many; retries (rare) one by one."""
    rows = [
        {"b_send_id": item["send_id"], "b_position": r.position, "v_status": r.status, "v_attempts": r.attempts,
         "v_detail": r.detail[:2000], "v_retry_after": r.retry_after, "v_sent_at": r.sent_at}
        for item in items
        for r in item["results"]
    ]
    if rows:
        connection.execute(_RECORD_RESULT, rows)
    out: list[Report | datetime | None] = [None] * len(items)
    finishing = []
    for index, item in enumerate(items):
        if item.get("wake_at") is not None:
            requeue(connection, send_id=item["send_id"], owner=item["owner"], wake_at=item["wake_at"], now=item["now"],
                    outcome=item["outcome"], from_status=SENDING)
            out[index] = item["wake_at"]
        else:
            finishing.append(index)
    if finishing:
        reports = finish_many(
            connection,
            [{"send_id": items[i]["send_id"], "owner": items[i]["owner"], "status": items[i]["status"],
              "outcome": items[i]["outcome"], "now": items[i]["now"], "due_at": items[i].get("due_at"),
              "sent_at": items[i].get("sent_at"), "from_status": SENDING, "report_next_at": items[i]["report_next_at"]}
             for i in finishing],
        )
        for index, report in zip(finishing, reports):
            out[index] = report
    return out


def _acknowledge_many(connection: Connection, items: Sequence[dict[str, Any]]) -> list[None]:
    acknowledge_reports(connection, [pair for item in items for pair in item["acknowledged"]])
    return [None] * len(items)


def _postpone_many(connection: Connection, items: Sequence[dict[str, Any]]) -> list[None]:
    postpone_reports(connection, [entry for item in items for entry in item["postponed"]])
    return [None] * len(items)


# ---- crashes and leases -----------------------------------------------------------------------


def recover(connection: Connection, *, now: datetime, owner: str | None, everything: bool,
            explain: bool = True) -> tuple[int, list[Report]]:
    """Sends a stopped replica left behind: claimed (no provider called yet) go back to
    scheduled; sending (a provider may have accepted) become unknown and are never resent, or
    sent when a device had already accepted. everything: SQLite at start, where this process is
    the only owner; else only expired leases, and with owner (at start) the claims an earlier
    life of this replica id left.

    Returns (sends requeued, reports of those settled)."""
    stranded = SEND.c.status.in_((CLAIMED, SENDING))
    if not everything:
        left = SEND.c.lease_until < now
        stranded = and_(stranded, or_(left, SEND.c.claimed_by == owner) if owner is not None else left)
    rows = connection.execute(select(SEND.c.id, SEND.c.status, SEND.c.due_at, SEND.c.workspace_id, SEND.c.profile_id,
                                     SEND.c.campaign_id).where(stranded)).all()
    steps = StepLog(explain)
    claimed = [row.id for row in rows if row.status == CLAIMED]
    for start in range(0, len(claimed), _CHUNK):
        connection.execute(
            update(SEND)
            .where(SEND.c.id.in_(claimed[start : start + _CHUNK]), SEND.c.status == CLAIMED)
            .values(status=SCHEDULED, claimed_by=None, lease_until=None, updated_at=now)
        )
    reports = []
    sending = [row for row in rows if row.status == SENDING]
    addresses = addresses_of(connection, [row.id for row in sending])
    for row in sending:
        mine = addresses.get(row.id, [])
        connection.execute(
            update(ADDRESS)
            .where(ADDRESS.c.send_id == row.id, ADDRESS.c.status == ADDRESS_SENDING)
            .values(status=ADDRESS_UNKNOWN, detail="stopped during the provider call: not resent")
        )
        accepted = [a["sent_at"] for a in mine if a["status"] == ADDRESS_ACCEPTED and a["sent_at"] is not None]
        cut = sum(1 for a in mine if a["status"] == ADDRESS_SENDING)
        if accepted:
            status, outcome, sent_at = SENT, f"{len(accepted)} accepted; {cut} unknown (stopped during the provider call)", min(accepted)
        else:
            status, outcome, sent_at = UNKNOWN, "stopped during the provider call: the provider may have accepted it; not resent", None
        connection.execute(
            update(SEND)
            .where(SEND.c.id == row.id, SEND.c.status == SENDING)
            .values(status=status, outcome=outcome, sent_at=sent_at, wake_at=None, claimed_by=None, lease_until=None,
                    updated_at=now)
        )
        reports.append(Report(send_id=row.id, status=status, outcome=outcome, sent_at=sent_at, due_at=row.due_at))
        _step(steps, row._mapping, now, status, status, {"outcome": outcome, "recovered": True})
    put_reports(connection, reports, next_at=now)
    steps.write(connection, store.STEP)
    return len(claimed), reports


def unclaim(connection: Connection, *, owner: str, now: datetime) -> int:
    """On a clean stop: this replica's claims that never reached a provider go back at once."""
    result = connection.execute(
        update(SEND)
        .where(SEND.c.claimed_by == owner, SEND.c.status == CLAIMED)
        .values(status=SCHEDULED, claimed_by=None, lease_until=None, updated_at=now)
    )
    return result.rowcount


# ---- cancel, release, read ------------------------------------------------------------------


def cancel(
    connection: Connection, *, send_id: str = "", campaign_id: str = "", profile_id: str = "", reason: str, now: datetime,
    send_ids: Sequence[str] = (), explain: bool = True,
) -> list[Report]:
    """Cancels sends that have not gone out: scheduled or held, and never accepted by a provider
    (a send waiting to retry counts; a push that one device already accepted does not). One
    send, the sends of a campaign or of a user, or every send named in send_ids."""
    if send_ids:
        ids = list(dict.fromkeys(send_ids))
        return [report for start in range(0, len(ids), _CHUNK)
                for report in _cancel_where(connection, SEND.c.id.in_(ids[start : start + _CHUNK]), reason, now, explain)]
    if send_id:
        target = SEND.c.id == send_id
    elif campaign_id:
        target = SEND.c.campaign_id == campaign_id
    elif profile_id:
        target = SEND.c.profile_id == profile_id
    else:
        raise InvalidArgument("give one of send_id, campaign_id, profile_id")
    return _cancel_where(connection, target, reason, now, explain)


def _cancel_where(connection: Connection, target, reason: str, now: datetime, explain: bool) -> list[Report]:
    outcome = reason or "cancelled"
    rows = connection.execute(
        update(SEND)
        .where(target, SEND.c.status.in_((SCHEDULED, HELD)),
               or_(SEND.c.attempts == 0, ~exists().where(ADDRESS.c.send_id == SEND.c.id, ADDRESS.c.status == ADDRESS_ACCEPTED)))
        .values(status=CANCELLED, outcome=outcome, wake_at=None, updated_at=now)
        .returning(SEND.c.id, SEND.c.due_at, SEND.c.workspace_id, SEND.c.profile_id, SEND.c.campaign_id, SEND.c.attempts)
    ).all()
    reports = [Report(send_id=row.id, status=CANCELLED, outcome=outcome, due_at=row.due_at) for row in rows]
    put_reports(connection, reports, next_at=now)
    retried = [row.id for row in rows if row.attempts]
    if retried:  # a send cancelled while waiting to retry reached no one: its cap slot is free again
        release_slots(connection, retried)
    if explain:
        steps = StepLog()
        for row in rows:
            _step(steps, row._mapping, now, "cancelled", "cancelled", {"reason": outcome})
        steps.write(connection, store.STEP)
    return reports


def release(
    connection: Connection, *, campaign_id: str, now: datetime, per_second: float, stale_after: timedelta,
    explain: bool = True,
) -> tuple[int, list[Report], datetime | None]:
    """The campaign resumed: its held sends are scheduled again at most per_second a second
    (never one burst), earliest due first; those overdue past the stale limit are suppressed.

    Returns (released, reports of the stale ones, the first wake time)."""
    insert = store.dialect_insert(connection, RELEASE)
    connection.execute(
        insert.on_conflict_do_update(index_elements=["campaign_id"], set_={"released_at": insert.excluded.released_at}),
        [{"campaign_id": campaign_id, "released_at": now}],
    )
    held = connection.execute(
        select(SEND.c.id, SEND.c.due_at, SEND.c.workspace_id, SEND.c.profile_id, SEND.c.campaign_id)
        .where(SEND.c.campaign_id == campaign_id, SEND.c.status == HELD)
        .order_by(SEND.c.due_at, SEND.c.id)
    ).all()
    stale = [row for row in held if row.due_at is not None and now - row.due_at > stale_after]
    fresh = [row for row in held if not (row.due_at is not None and now - row.due_at > stale_after)]
    reports = []
    if stale:
        for start in range(0, len(stale), _CHUNK):
            chunk = [row.id for row in stale[start : start + _CHUNK]]
            connection.execute(
                update(SEND)
                .where(SEND.c.id.in_(chunk), SEND.c.status == HELD)
                .values(status=SUPPRESSED, outcome="stale", wake_at=None, updated_at=now)
            )
        reports = [Report(send_id=row.id, status=SUPPRESSED, outcome="stale", due_at=row.due_at) for row in stale]
        put_reports(connection, reports, next_at=now)
    step = 1.0 / per_second
    if fresh:
        statement = (
            update(SEND)
            .where(SEND.c.id == bindparam("sid"), SEND.c.status == HELD)
            .values(status=SCHEDULED, wake_at=bindparam("wake"), outcome="released", updated_at=now)
        )
        connection.execute(
            statement, [{"sid": row.id, "wake": now + timedelta(seconds=index * step)} for index, row in enumerate(fresh)]
        )
    if explain:
        steps = StepLog()
        for row in stale:
            _step(steps, row._mapping, now, "stale", "suppressed", {
                "due_at": row.due_at, "overdue_seconds": round((now - row.due_at).total_seconds()),
                "stale_after_seconds": round(stale_after.total_seconds()), "at_release": True})
        for index, row in enumerate(fresh):
            _step(steps, row._mapping, now, "release", "released", {"wake_at": now + timedelta(seconds=index * step)})
        steps.write(connection, store.STEP)
    return len(fresh), reports, (now if fresh else None)


def get_send(connection: Connection, send_id: str, workspace_id: str = "") -> dict[str, Any]:
    """The send; with workspace_id, only when it belongs to that workspace."""
    row = connection.execute(select(SEND).where(SEND.c.id == send_id)).first()
    if row is None or (workspace_id and row.workspace_id != workspace_id):
        raise NotFound(f"no send {send_id!r}" + (f" in workspace {workspace_id!r}" if workspace_id else ""))
    return dict(row._mapping)


def list_sends(
    connection: Connection, *, workspace_id: str, campaign_id: str, profile_id: str, limit: int,
    statuses: Sequence[str] = (), channel: str = "", before: tuple[datetime, str] | None = None,
) -> list[dict[str, Any]]:
    """Sends newest first (created_at, then id, both descending: a cursor's order). Walks
    ix_send_workspace_created, ix_send_campaign_created or ix_send_profile_created; a status or
    channel filter is applied along the walk (no index holds status: see store.SendRecord)."""
    conditions = []
    if workspace_id:
        conditions.append(SEND.c.workspace_id == workspace_id)
    if campaign_id:
        conditions.append(SEND.c.campaign_id == campaign_id)
    if profile_id:
        conditions.append(SEND.c.profile_id == profile_id)
    if statuses:
        conditions.append(SEND.c.status.in_(list(statuses)))
    if channel:
        conditions.append(SEND.c.channel == channel)
    if before is not None:
        at, send_id = before
        conditions.append(or_(SEND.c.created_at < at, and_(SEND.c.created_at == at, SEND.c.id < send_id)))
    statement = select(SEND).where(*conditions).order_by(SEND.c.created_at.desc(), SEND.c.id.desc()).limit(limit)
    return [dict(row._mapping) for row in connection.execute(statement)]


def counts(connection: Connection) -> dict[str, int]:
    """Sends per status (tests and the benchmark)."""
    return {status: count for status, count in connection.execute(select(SEND.c.status, func.count()).group_by(SEND.c.status))}


def sent_states(connection: Connection) -> list[tuple]:
    return connection.execute(select(SEND.c.id, SEND.c.status, SEND.c.due_at, SEND.c.sent_at)).all()


# Writes that concurrent dispatches submit one by one and a group commit runs together: the
# function each one names -> its bulk form, taking the list of their keyword arguments and
# answering one result per item, in order.
BULK = {
    start_sending: start_sending_many,
    finish: finish_many,
    settle: settle_many,
    acknowledge_reports: _acknowledge_many,
    postpone_reports: _postpone_many,
}
