"""Decision steps: what campaign and delivery decided for a user's campaign entry, and why.

A step is ``(at, step, outcome, detail)`` for a (workspace, user, campaign, trigger event[,
send]). The service that decides collects its steps in a ``StepLog`` during the unit of work
and writes them with ``StepLog.write`` on the same connection, before the transaction commits,
so a step is never lost (the decision and its steps commit together) nor invented (a decision
rolled back takes its steps with it; a write that changed nothing records nothing).

Storage: one row per (workspace, profile, time) of a unit of work, holding that user's steps of
the unit as a JSON list of entries, each entry's ids once and its steps as
``[step, outcome, detail]``. A trigger evaluated for four campaigns is one row, not a dozen, so
recording costs one multi-row INSERT per batch and about one row per user touched. The key,
``(workspace_id, profile_id, at, seq)``, makes one user's rows one index range; a second index
on ``(workspace_id, at)`` serves the retention prune. Both services' tables have this shape
(``step_table_columns``); step names are documented in docs/explain.md.

Usage (in a handler, inside the transaction of the decision)::

    steps.add(workspace_id=..., profile_id=..., campaign_id=..., trigger_event_id=...,
              send_id=..., at=now, step="frequency_cap", outcome="suppressed",
              detail={"rule": "1 per 1d"})
    ...
    steps.write(connection, DecisionStepRecord.__table__)

``StepLog(enabled=False)`` (``HERALD_EXPLAIN=off``) records nothing: ``add`` returns at once,
and callers whose detail costs something to build test ``steps.enabled`` first.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, Index, PrimaryKeyConstraint, Table, and_, delete, func, or_, select

# Orders the rows of one (workspace, profile, at): increasing within a process, from a random
# start so two processes writing the same user at the same microsecond do not collide.
_SEQUENCE = itertools.count(random.getrandbits(40) << 16)

COLUMNS = ("workspace_id", "profile_id", "at", "seq", "steps")


@dataclass(frozen=True, slots=True)
class Step:
    """One decision, as read back."""

    workspace_id: str
    profile_id: str
    campaign_id: str
    trigger_event_id: str
    send_id: str
    at: datetime
    seq: int
    step: str
    outcome: str
    detail: dict[str, Any] = field(default_factory=dict)


class StepLog:
    """The steps of one unit of work, grouped per (workspace, profile, at) for writing, and in a
    row per entry (campaign, trigger event, send), so the ids are written once per entry, not
    once per step."""

    __slots__ = ("enabled", "_rows")

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        # (workspace, profile, at) -> (campaign, trigger event, send) -> [(step, outcome, detail)]
        self._rows: dict[tuple[str, str, datetime], dict[tuple[str, str, str], list[tuple]]] = {}

    def entries_of(self, *, workspace_id: str, profile_id: str, at: datetime) -> dict[tuple[str, str, str], list[tuple]]:
        """One user's entries at `at`, (campaign, trigger event, send) -> that entry's steps as
        (step, outcome, detail or None) tuples, for code that records several entries of one
        user (`.setdefault(key, []).append(...)`); a switched-off log hands out a dict that is
        never written."""
        if not self.enabled:
            return {}
        entries = self._rows.get((workspace_id, profile_id, at))
        if entries is None:
            entries = self._rows[(workspace_id, profile_id, at)] = {}
        return entries

    def entry(self, *, workspace_id: str, profile_id: str, campaign_id: str, at: datetime,
              trigger_event_id: str = "", send_id: str = "") -> list[tuple]:
        """The list this entry's steps at `at` go in, as (step, outcome, detail or None) tuples."""
        entries = self.entries_of(workspace_id=workspace_id, profile_id=profile_id, at=at)
        steps = entries.get((campaign_id, trigger_event_id, send_id))
        if steps is None:
            steps = entries[(campaign_id, trigger_event_id, send_id)] = []
        return steps

    def add(
        self,
        *,
        workspace_id: str,
        profile_id: str,
        campaign_id: str,
        at: datetime,
        step: str,
        outcome: str,
        trigger_event_id: str = "",
        send_id: str = "",
        detail: dict[str, Any] | None = None,
    ) -> None:
        if not self.enabled:
            return
        self.entry(workspace_id=workspace_id, profile_id=profile_id, campaign_id=campaign_id, at=at,
                   trigger_event_id=trigger_event_id, send_id=send_id).append((step, outcome, detail or None))

    def __len__(self) -> int:
        return sum(len(steps) for entries in self._rows.values() for steps in entries.values())

    def __bool__(self) -> bool:
        return any(self._rows.values())

    def extend(self, other: StepLog) -> None:
        for key, entries in other._rows.items():
            mine = self._rows.setdefault(key, {})
            for entry, steps in entries.items():
                mine.setdefault(entry, []).extend(steps)

    def discard(self) -> None:
        self._rows.clear()

    def rows(self) -> list[tuple[str, str, datetime, int, str]]:
        """One row per (workspace, profile, at): its steps as JSON, a list of entries
        `{"campaign_id", "trigger_event_id", "send_id", "steps": [[step, outcome, detail], ...]}`
        in the order they were first added (read_steps also reads rows written before entries
        were grouped: a list of `{"campaign_id", ..., "step", "outcome", "detail"}`)."""
        dumps = orjson.dumps
        return [(workspace_id, profile_id, at, next(_SEQUENCE), dumps(
                    [{"campaign_id": campaign_id, "trigger_event_id": trigger_event_id, "send_id": send_id,
                      "steps": steps}
                     for (campaign_id, trigger_event_id, send_id), steps in entries.items()],
                    default=_json_default).decode())
                for (workspace_id, profile_id, at), entries in self._rows.items() if entries]

    def write(self, connection: Connection, table: Table) -> int:
        """Inserts the collected steps on this connection (call it inside the decision's
        transaction) and empties the log; returns how many rows went in."""
        if not self._rows:
            return 0
        from herald_common.bulk import insert_rows

        rows = self.rows()
        self._rows.clear()
        return insert_rows(connection, table, rows, columns=COLUMNS) if rows else 0


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


# ---- the table -------------------------------------------------------------------------------


def step_table_args(table_name: str) -> tuple:
    """__table_args__ of a service's step table (with its SQLModel fields workspace_id,
    profile_id, at, seq, steps): one user's rows are one range of the primary key. On SQLite the
    table keeps its rowid: rows (often a few kB) are appended and only the key's small entry goes
    in at the user's place; WITHOUT ROWID put each whole row there, a random page written per
    row and overflow pages past ~1 kB, at twice the CPU and WAL bytes."""
    return (
        PrimaryKeyConstraint("workspace_id", "profile_id", "at", "seq", name=f"pk_{table_name}"),
        Index(f"ix_{table_name}_at", "workspace_id", "at"),
    )


# ---- reading, deleting, pruning ----------------------------------------------------------------


def read_steps(
    connection: Connection,
    table: Table,
    *,
    workspace_id: str,
    profile_ids: Sequence[str],
    campaign_ids: Iterable[str] | None = None,
    send_ids: Iterable[str] | None = None,
    trigger_event_id: str = "",
) -> list[Step]:
    """Every step of these profiles (a user and the profiles merged into it), in time order,
    optionally only those of some campaigns, sends or one trigger event."""
    if not profile_ids:
        return []
    campaigns = set(campaign_ids) if campaign_ids is not None else None
    sends = set(send_ids) if send_ids is not None else None
    rows = connection.execute(
        select(table.c.profile_id, table.c.at, table.c.seq, table.c.steps)
        .where(table.c.workspace_id == workspace_id, table.c.profile_id.in_(list(profile_ids)))
    ).all()
    found: list[Step] = []
    for profile_id, at, seq, text in rows:
        for step in _row_steps(workspace_id, profile_id, at, seq, text):
            if campaigns is not None and step.campaign_id not in campaigns:
                continue
            if sends is not None and step.send_id not in sends:
                continue
            if trigger_event_id and step.trigger_event_id != trigger_event_id:
                continue
            found.append(step)
    found.sort(key=lambda step: (step.at, step.seq))
    return found


def steps_newest_first(
    connection: Connection, table: Table, *, workspace_id: str, profile_ids: Sequence[str], page: int = 500,
) -> Iterator[list[Step]]:
    """These profiles' steps a page of rows at a time, newest rows first (each row's steps in
    their order), along the primary key: a reader that needs only the latest entries stops early
    instead of reading the user's whole record."""
    if not profile_ids:
        return
    after: tuple[datetime, int] | None = None
    while True:
        statement = (
            select(table.c.profile_id, table.c.at, table.c.seq, table.c.steps)
            .where(table.c.workspace_id == workspace_id, table.c.profile_id.in_(list(profile_ids)))
            .order_by(table.c.at.desc(), table.c.seq.desc())
            .limit(page)
        )
        if after is not None:
            at, seq = after
            statement = statement.where(or_(table.c.at < at, and_(table.c.at == at, table.c.seq < seq)))
        rows = connection.execute(statement).all()
        if not rows:
            return
        yield [step for row in rows for step in _row_steps(workspace_id, *row)]
        if len(rows) < page:
            return
        after = (rows[-1].at, rows[-1].seq)


def _row_steps(workspace_id: str, profile_id: str, at: datetime, seq: int, text: str) -> list[Step]:
    """A row's steps in order. A row is a list of entries, each with its ids once and its steps
    as [step, outcome, detail] lists; rows written before entries were grouped hold one object
    per step, with its entry's ids."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    found: list[Step] = []
    position = 0
    for entry in orjson.loads(text):
        steps = entry["steps"] if "steps" in entry else ((entry["step"], entry["outcome"], entry.get("detail")),)
        for step, outcome, detail in steps:
            found.append(Step(workspace_id=workspace_id, profile_id=profile_id, campaign_id=entry["campaign_id"],
                              trigger_event_id=entry["trigger_event_id"], send_id=entry["send_id"], at=at,
                              seq=seq * 1000 + position, step=step, outcome=outcome, detail=detail or {}))
            position += 1
    return found


def delete_steps(connection: Connection, table: Table, *, workspace_id: str, profile_ids: Sequence[str]) -> int:
    """A privacy deletion: every step of these profiles."""
    if not profile_ids:
        return 0
    return connection.execute(
        delete(table).where(table.c.workspace_id == workspace_id, table.c.profile_id.in_(list(profile_ids)))
    ).rowcount


def prune_steps(connection: Connection, table: Table, *, before: datetime, slice_seconds: float = 3600.0,
                max_rows: int = 50_000) -> int:
    """Deletes steps older than `before`, workspace by workspace and an hour of steps at a time
    (each DELETE a range of the time index, so no statement holds the writer for long), until
    `max_rows` rows went; returns how many. The next round carries on."""
    deleted = 0
    oldest = connection.execute(
        select(table.c.workspace_id, func.min(table.c.at)).where(table.c.at < before).group_by(table.c.workspace_id)
    ).all()
    for workspace_id, start in oldest:
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        while start < before and deleted < max_rows:
            end = min(before, start + timedelta(seconds=slice_seconds))
            deleted += connection.execute(
                delete(table).where(table.c.workspace_id == workspace_id, table.c.at >= start, table.c.at < end)
            ).rowcount
            start = end
    return deleted


__all__ = ["COLUMNS", "Step", "StepLog", "delete_steps", "prune_steps", "read_steps", "step_table_args",
           "steps_newest_first"]
