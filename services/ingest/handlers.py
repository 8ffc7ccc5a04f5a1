"""ingest's use cases: plain functions taking a command and a unit of work (a connection)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import orjson
import structlog
from herald_common.clock import as_utc
from herald_common.errors import FieldError, InvalidArgument, NotFound
from herald_services.ingest import store
from herald_services.ingest.domain import (
    CATALOGUE_DAYS,
    CatalogueWindow,
    EventRefused,
    event_name,
    event_time_lenient,
    hour_bucket,
    property_set,
)
from herald_services.ingest.profile_index import indexed_cursor
from herald_services.ingest.store import EVENT, EVENT_BY_PROFILE, EVENT_COUNT, EVENT_NAME, PROPERTY_SET
from sqlalchemy import Connection, String, and_, case, delete, func, literal, or_, select, type_coerce

log = structlog.get_logger(__name__)


class IncomingEvent(Protocol):
    """A Segment call as the gateway sent it (ingest.v1.IncomingEvent has these attributes)."""

    message_id: str
    type: str
    event: str
    user_id: str
    anonymous_id: str
    properties_json: bytes
    context_json: bytes
    timestamp: str
    sent_at: str
    original_timestamp: str


@dataclass(slots=True)
class PreparedEvent:
    """An incoming event named and timed, ready to be kept once its user is resolved."""

    index: int
    message_id: str
    type: str
    name: str
    user_id: str
    anonymous_id: str
    properties: dict[str, Any]
    properties_json: str
    context_json: str
    timestamp: datetime
    received_at: datetime
    profile_id: str = ""
    warning: tuple[str, str] | None = None  # (field, reason) of a field ignored



def prepare(
    events: Sequence[IncomingEvent], received_at: Callable[[IncomingEvent], datetime]
) -> tuple[list[PreparedEvent], dict[int, str]]:
    """Names and times each event (pure); an event that cannot be kept is refused alone.

    The rpc layer passes the request's messages as they are, rather than copying each first;
    received_at reads an event's received time. This runs once per event at 25,000+ events a
    second, so each field is read from the message once and the common cases go first.
    """
    prepared, rejected = [], {}
    append = prepared.append
    for index, incoming in enumerate(events):
        received = received_at(incoming)
        user_id, anonymous_id, message_id = incoming.user_id, incoming.anonymous_id, incoming.message_id
        kind, raw_properties, raw_context = incoming.type, incoming.properties_json, incoming.context_json
        try:
            if not user_id and not anonymous_id:
                raise EventRefused("userId", "an event needs a userId or an anonymousId")
            if not message_id:
                raise EventRefused("messageId", "is required")
            properties = _object(raw_properties, "properties")
            context = _object(raw_context, "context")
            name = event_name(kind, incoming.event, properties, context)
            when, ignored = event_time_lenient(
                timestamp=incoming.timestamp,
                sent_at=incoming.sent_at,
                original_timestamp=incoming.original_timestamp,
                received_at=received,
            )
        except EventRefused as refusal:
            rejected[index] = str(refusal)
            continue
        append(
            PreparedEvent(
                index,
                message_id,
                kind,
                name,
                user_id,
                anonymous_id,
                properties,
                raw_properties.decode() if raw_properties else "{}",
                raw_context.decode() if raw_context else "{}",
                when,
                received,
                "",
                (ignored[0].field, ignored[0].reason) if ignored else None,
            )
        )
    return prepared, rejected


def _object(raw: bytes, field_name: str) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise EventRefused(field_name, f"is not JSON ({error})") from None
    if type(value) is not dict:
        raise EventRefused(field_name, "must be a JSON object")
    return value


def record_many(
    connection: Connection, items: list[tuple[str, list[PreparedEvent]]]
) -> tuple[list[tuple[dict[int, int], set[int]]], list[tuple]]:
    """Keeps events whose message id is new and bumps the catalogue, for several requests in
    one transaction. Kept events are the outbox: campaign is handed every event past its cursor.

    The unique (workspace, messageId) index is the duplicate check: every event is inserted
    with ON CONFLICT DO NOTHING, and only when fewer rows went in than were sent (a retried
    batch) does a second look find which ones. Ids of events found to be duplicates are
    simply never used.

    Returns per request ({batch index: event id} of recorded events, batch indexes of duplicates),
    and the rows inserted, in id order, in the event table's column order.
    """
    seen: set[tuple[str, str]] = set()
    results: list[tuple[dict[int, int], set[int]]] = []
    candidates: list[tuple[dict[int, int], set[int], str, PreparedEvent]] = []
    for workspace_id, events in items:
        recorded: dict[int, int] = {}
        duplicates: set[int] = set()
        for event in events:
            key = (workspace_id, event.message_id)
            if key in seen:
                duplicates.add(event.index)  # twice in the same call
            else:
                seen.add(key)
                candidates.append((recorded, duplicates, workspace_id, event))
        results.append((recorded, duplicates))
    if not candidates:
        return results, []
    next_id = store.reserve_event_ids(connection, len(candidates))
    rows = [
        (next_id + position, workspace_id, event.message_id, event.type, event.name, event.profile_id,
         event.user_id or None, event.anonymous_id or None, event.properties_json, event.context_json,
         event.timestamp, event.received_at)
        for position, (_, _, workspace_id, event) in enumerate(candidates)
    ]
    inserted = store.insert_events(connection, rows)
    if inserted < len(rows):
        kept_ids = store.event_ids_between(connection, next_id, next_id + len(rows) - 1)
        kept_rows, kept = [], []
        for row, candidate in zip(rows, candidates):
            if row[0] in kept_ids:
                kept_rows.append(row)
                kept.append(candidate)
            else:
                candidate[1].add(candidate[3].index)  # recorded before: a duplicate
        rows, candidates = kept_rows, kept
    for row, (recorded, _, _, event) in zip(rows, candidates):
        recorded[event.index] = row[0]
    _bump_catalogue(connection, [(workspace_id, event) for _, _, workspace_id, event in candidates])
    return results, rows


def _bump_catalogue(connection: Connection, events: list[tuple[str, PreparedEvent]]) -> None:
    last_seen: dict[tuple[str, str], datetime] = {}
    counts: Counter[tuple[str, str, datetime]] = Counter()
    sets: dict[tuple[str, str, tuple[str, ...]], list] = {}
    hours: dict[datetime, datetime] = {}  # a batch shares one received time
    for workspace_id, event in events:
        seen = event.received_at
        name_key = (workspace_id, event.name)
        if name_key not in last_seen or seen > last_seen[name_key]:
            last_seen[name_key] = seen
        hour = hours.get(seen)
        if hour is None:
            hour = hours[seen] = hour_bucket(seen)
        counts[(workspace_id, event.name, hour)] += 1
        key = (workspace_id, event.name, property_set(event.properties))
        entry = sets.get(key)
        if entry is None:
            sets[key] = [1, seen, seen]
        else:
            entry[0] += 1
            entry[2] = max(entry[2], seen)
    store.bump_catalogue(
        connection,
        names=[
            {"workspace_id": workspace_id, "name": name, "hidden": False, "defined_by_hand": False,
             "description": "", "first_seen": seen, "last_seen": seen}
            for (workspace_id, name), seen in last_seen.items()
        ],
        counts=[
            {"workspace_id": workspace_id, "name": name, "hour": hour, "count": count}
            for (workspace_id, name, hour), count in counts.items()
        ],
        sets=[
            {"workspace_id": workspace_id, "name": name, "properties": orjson.dumps(list(props)).decode(),
             "count": count, "first_seen": first, "last_seen": last}
            for (workspace_id, name, props), (count, first, last) in sets.items()
        ],
    )


# ---- the catalogue ------------------------------------------------------------------------


@dataclass
class PropertySetView:
    properties: list[str]
    count: int
    last_seen: datetime | None


@dataclass
class EventDefinitionView:
    name: str
    definitions: int
    times_seen: int
    times_seen_last_24h: int
    last_seen: datetime | None
    hidden: bool
    defined_by_hand: bool
    description: str
    property_sets: list[PropertySetView] = field(default_factory=list)
    daily_counts: list[tuple[str, int]] = field(default_factory=list)  # only in get_event_definition


def list_events(connection: Connection, *, workspace_id: str, include_hidden: bool, now: datetime) -> list[EventDefinitionView]:
    """The catalogue of the last 30 days: names seen since then, and names defined by hand."""
    window = CatalogueWindow.at(now)
    conditions = [EVENT_NAME.c.workspace_id == workspace_id]
    if not include_hidden:
        conditions.append(EVENT_NAME.c.hidden.is_(False))
    names = connection.execute(select(EVENT_NAME).where(*conditions).order_by(EVENT_NAME.c.name)).all()
    counts = _counts(connection, workspace_id, window)
    definitions = _definitions(connection, workspace_id, now - timedelta(days=CATALOGUE_DAYS))
    views = []
    for row in names:
        times_seen, last_24h = counts.get(row.name, (0, 0))
        if not row.defined_by_hand and times_seen == 0:
            continue
        views.append(
            EventDefinitionView(
                name=row.name,
                definitions=definitions.get(row.name, 0),
                times_seen=times_seen,
                times_seen_last_24h=last_24h,
                last_seen=row.last_seen,
                hidden=row.hidden,
                defined_by_hand=row.defined_by_hand,
                description=row.description,
            )
        )
    return views


def _counts(connection: Connection, workspace_id: str, window: CatalogueWindow, name: str | None = None) -> dict[str, tuple[int, int]]:
    last_24h = func.sum(EVENT_COUNT.c["count"]).filter(EVENT_COUNT.c.hour >= window.since_24h)
    statement = (
        select(EVENT_COUNT.c.name, func.sum(EVENT_COUNT.c["count"]), last_24h)
        .where(EVENT_COUNT.c.workspace_id == workspace_id, EVENT_COUNT.c.hour >= window.since_30d)
        .group_by(EVENT_COUNT.c.name)
    )
    if name is not None:
        statement = statement.where(EVENT_COUNT.c.name == name)
    return {row[0]: (int(row[1] or 0), int(row[2] or 0)) for row in connection.execute(statement)}


def _definitions(connection: Connection, workspace_id: str, since: datetime) -> dict[str, int]:
    statement = (
        select(PROPERTY_SET.c.name, func.count())
        .where(PROPERTY_SET.c.workspace_id == workspace_id, PROPERTY_SET.c.last_seen >= since)
        .group_by(PROPERTY_SET.c.name)
    )
    return {name: count for name, count in connection.execute(statement)}


def get_event_definition(connection: Connection, *, workspace_id: str, name: str, now: datetime) -> EventDefinitionView:
    row = connection.execute(
        select(EVENT_NAME).where(EVENT_NAME.c.workspace_id == workspace_id, EVENT_NAME.c.name == name)
    ).first()
    if row is None:
        raise NotFound(f"no event named {name!r} in workspace {workspace_id!r}")
    since = now - timedelta(days=CATALOGUE_DAYS)
    times_seen, last_24h = _counts(connection, workspace_id, CatalogueWindow.at(now), name).get(name, (0, 0))
    sets = connection.execute(
        select(PROPERTY_SET)
        .where(PROPERTY_SET.c.workspace_id == workspace_id, PROPERTY_SET.c.name == name, PROPERTY_SET.c.last_seen >= since)
        .order_by(PROPERTY_SET.c["count"].desc(), PROPERTY_SET.c.properties)
    ).all()
    return EventDefinitionView(
        name=row.name,
        definitions=len(sets),
        times_seen=times_seen,
        times_seen_last_24h=last_24h,
        last_seen=row.last_seen,
        hidden=row.hidden,
        defined_by_hand=row.defined_by_hand,
        description=row.description,
        property_sets=[PropertySetView(orjson.loads(s.properties), s.count, s.last_seen) for s in sets],
        daily_counts=daily_counts(connection, workspace_id, name, now),
    )


def daily_counts(connection: Connection, workspace_id: str, name: str, now: datetime) -> list[tuple[str, int]]:
    """Times seen per UTC day over the last 30 days (today included), oldest first, every day
    present: summed from the catalogue's hourly counts (at most 720 rows of its primary key)."""
    today = hour_bucket(now).date()
    days = [today - timedelta(days=offset) for offset in range(CATALOGUE_DAYS - 1, -1, -1)]
    since = datetime.combine(days[0], datetime.min.time(), tzinfo=now.tzinfo)
    totals: Counter = Counter()
    for hour, count in connection.execute(
        select(EVENT_COUNT.c.hour, EVENT_COUNT.c["count"]).where(
            EVENT_COUNT.c.workspace_id == workspace_id, EVENT_COUNT.c.name == name, EVENT_COUNT.c.hour >= since
        )
    ):
        totals[hour.date()] += count
    return [(day.isoformat(), int(totals.get(day, 0))) for day in days]


EVENTS_BY_NAME_LIMIT = 20
MAX_EVENTS_BY_NAME_LIMIT = 500


def events_by_name(
    connection: Connection, *, workspace_id: str, name: str, limit: int, before_id: int
) -> tuple[list[Any], int]:
    """The latest events of one name, newest first (by id: the order they were recorded), and
    the cursor of the next page (0: none). Walks ix_event_name (name, workspace_id, id)."""
    limit = min(limit or EVENTS_BY_NAME_LIMIT, MAX_EVENTS_BY_NAME_LIMIT)
    statement = select(EVENT).where(EVENT.c.workspace_id == workspace_id, EVENT.c.name == name)
    if before_id:
        statement = statement.where(EVENT.c.id < before_id)
    rows = connection.execute(statement.order_by(EVENT.c.id.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more else 0)


def define_event(connection: Connection, *, workspace_id: str, name: str, description: str, now: datetime) -> EventDefinitionView:
    name = name.strip()
    errors = []
    if not workspace_id:
        errors.append(FieldError("workspace_id", "is required"))
    if not name:
        errors.append(FieldError("name", "is required"))
    elif len(name) > 500:
        errors.append(FieldError("name", "is longer than 500 characters"))
    if errors:
        raise InvalidArgument(errors=errors)
    statement = store.dialect_insert(connection, EVENT_NAME)
    set_ = {"defined_by_hand": True}
    if description:
        set_["description"] = description
    connection.execute(
        statement.on_conflict_do_update(index_elements=["workspace_id", "name"], set_=set_),
        [{"workspace_id": workspace_id, "name": name, "hidden": False, "defined_by_hand": True, "description": description}],
    )
    log.info("event_defined", name=name)
    return get_event_definition(connection, workspace_id=workspace_id, name=name, now=now)


def set_hidden(connection: Connection, *, workspace_id: str, name: str, hidden: bool, now: datetime) -> EventDefinitionView:
    result = connection.execute(
        EVENT_NAME.update()
        .where(EVENT_NAME.c.workspace_id == workspace_id, EVENT_NAME.c.name == name)
        .values(hidden=hidden)
    )
    if result.rowcount == 0:
        raise NotFound(f"no event named {name!r} in workspace {workspace_id!r}")
    log.info("event_hidden" if hidden else "event_unhidden", name=name)
    return get_event_definition(connection, workspace_id=workspace_id, name=name, now=now)


# ---- a user's events --------------------------------------------------------------------


# A user's events are those event_by_profile holds plus those in the log past its cursor
# (profile_index.py); both are read in the same transaction, so none is missed or doubled.


def events_after_index(cursor: int, profile_ids: list[str]):
    """The ids of these profiles' events not in the per-user index yet (after its cursor), found
    by the id range alone: with `workspace_id = ?` beside it SQLite walks the workspace's whole
    (workspace_id, message_id) index instead (0.5 s at a million events). Profile ids are unique
    across workspaces (identity's primary key), so the workspace is implied."""
    return select(EVENT.c.id).where(EVENT.c.id > cursor, EVENT.c.profile_id.in_(profile_ids))


def user_events(
    connection: Connection, *, workspace_id: str, profile_ids: list[str], limit: int,
    before: tuple[datetime, int] | None = None, name: str = "",
) -> list[Any]:
    """The users' latest events, newest first; with `before` (an event's time and id), only
    those older than it (the next page); with `name`, only events of that name (the user's index
    range is walked newest first, each event's name read from the log by its id)."""
    if not profile_ids:
        return []
    cursor = indexed_cursor(connection)
    indexed = (
        select(EVENT_BY_PROFILE.c.event_id)
        .where(EVENT_BY_PROFILE.c.workspace_id == workspace_id, EVENT_BY_PROFILE.c.profile_id.in_(profile_ids))
        .order_by(EVENT_BY_PROFILE.c.timestamp.desc(), EVENT_BY_PROFILE.c.event_id.desc())
        .limit(limit)
    )
    recent = events_after_index(cursor, profile_ids)
    if name:
        indexed = indexed.join(EVENT, EVENT.c.id == EVENT_BY_PROFILE.c.event_id).where(EVENT.c.name == name)
        recent = recent.where(EVENT.c.name == name)
    if before is not None:
        at, event_id = before
        indexed = indexed.where(or_(EVENT_BY_PROFILE.c.timestamp < at,
                                    and_(EVENT_BY_PROFILE.c.timestamp == at, EVENT_BY_PROFILE.c.event_id < event_id)))
        recent = recent.where(or_(EVENT.c.timestamp < at, and_(EVENT.c.timestamp == at, EVENT.c.id < event_id)))
    ids = list(connection.execute(indexed).scalars())
    ids += connection.execute(recent).scalars()
    rows = connection.execute(select(EVENT).where(EVENT.c.id.in_(ids))).all() if ids else []
    rows.sort(key=lambda row: (row.timestamp, row.id), reverse=True)
    return rows[:limit]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def user_events_cursor(row) -> str:
    """The cursor after this event: its time (microseconds since the epoch) and id."""
    return f"{(as_utc(row.timestamp) - _EPOCH) // timedelta(microseconds=1)}.{row.id}"


def parse_user_events_cursor(text: str) -> tuple[datetime, int]:
    try:
        micros, event_id = text.split(".", 1)
        at = _EPOCH + timedelta(microseconds=int(micros))
        return at, int(event_id)
    except (ValueError, OverflowError):
        raise InvalidArgument(errors=[FieldError("before", f"{text!r} is not a cursor this service gave")]) from None


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def purge_user_events(connection: Connection, *, workspace_id: str, profile_ids: list[str]) -> int:
    if not profile_ids:
        return 0
    cursor = indexed_cursor(connection)
    mine = and_(EVENT_BY_PROFILE.c.workspace_id == workspace_id, EVENT_BY_PROFILE.c.profile_id.in_(profile_ids))
    deleted = connection.execute(delete(EVENT).where(EVENT.c.id.in_(select(EVENT_BY_PROFILE.c.event_id).where(mine)))).rowcount
    # Found as user_events finds them (the id range), but only this workspace's are deleted: the
    # profile ids come from the caller, and another workspace's must never lose an event here.
    # Beside `id IN (...)` the workspace check is a filter on the rows found, not an index walk.
    deleted += connection.execute(
        delete(EVENT).where(EVENT.c.id.in_(events_after_index(cursor, profile_ids)), EVENT.c.workspace_id == workspace_id)
    ).rowcount
    connection.execute(delete(EVENT_BY_PROFILE).where(mine))
    log.info("user_events_purged", profile_ids=profile_ids, deleted=deleted)
    return deleted


# ---- the event log of a period (campaign's simulate) -------------------------------------

# An event's id is handed out when it is recorded, a moment after it was received: ids follow
# received times closely but not exactly. A period's first and last ids are found this much
# wider, and each row's received time is then checked exactly.
READ_SLACK = timedelta(hours=1)
READ_SPAN = 50_000  # ids one page looks through at most
READ_LIMIT = 5_000
READ_LIMIT_MAX = 20_000


def _first_id_at_or_after(connection: Connection, at: datetime) -> int:
    """The first event id whose received time is at or after `at`, by a binary search of the
    event id index (received times rise with ids, within READ_SLACK)."""
    low = connection.execute(select(func.min(EVENT.c.id))).scalar()
    high = connection.execute(select(func.max(EVENT.c.id))).scalar()
    if low is None:
        return 1
    high += 1
    while low < high:
        middle = (low + high) // 2
        row = connection.execute(
            select(EVENT.c.id, EVENT.c.received_at).where(EVENT.c.id >= middle).order_by(EVENT.c.id).limit(1)
        ).first()
        if row is None or as_utc(row.received_at) >= at:
            high = middle
        else:
            low = row.id + 1
    return low


@dataclass(frozen=True)
class EventPage:
    rows: list[Any]
    next_cursor: str
    done: bool
    counted: int


def read_events(
    connection: Connection, *, workspace_id: str, since: datetime, until: datetime, names: list[str],
    cursor: str, limit: int, as_columns: bool = False,
) -> EventPage:
    """A page of the workspace's events received in [since, until), in event id order (the order
    they were recorded and handed to campaign), read along the event id index. The cursor holds
    the last id looked at and the last id of the period. `as_columns`: rows of _COLUMN_READ
    (what a replay reads, times as the database gives them, see iso_time), not whole events."""
    limit = min(max(limit or READ_LIMIT, 1), READ_LIMIT_MAX)
    if cursor:
        try:
            after, last = (int(part) for part in cursor.split(":", 1))
        except ValueError:
            raise InvalidArgument(errors=[FieldError("cursor", "is not a cursor ReadEvents handed out")]) from None
    else:
        after = _first_id_at_or_after(connection, since - READ_SLACK) - 1
        last = _first_id_at_or_after(connection, until + READ_SLACK) - 1
    high = min(after + READ_SPAN, last)
    rows = connection.execute(
        period_events(workspace_id=workspace_id, since=since, until=until, names=names, after=after, high=high,
                      columns=_COLUMN_READ if as_columns else _READ_COLUMNS)
        .order_by(EVENT.c.id).limit(limit)
    ).all()
    if len(rows) == limit:
        high = rows[-1].id
    if names:
        counted = connection.execute(
            period_count(workspace_id=workspace_id, since=since, until=until, after=after, high=high)
        ).scalar_one()
    else:
        counted = len(rows)
    return EventPage(rows=rows, next_cursor=f"{high}:{last}", done=high >= last, counted=counted)


def _in_period(workspace_id: str, since: datetime, until: datetime):
    """The workspace and period test of one row, inside a CASE: as plain WHERE terms SQLite walks
    the workspace's whole (workspace_id, message_id) index for `workspace_id = ?` instead of the
    id range (every page went over the whole log: 0.24 s a page at a million events)."""
    return case((and_(EVENT.c.workspace_id == workspace_id, EVENT.c.received_at >= since,
                      EVENT.c.received_at < until), 1))


def period_events(*, workspace_id: str, since: datetime, until: datetime, names: list[str], after: int, high: int,
                  columns: tuple = ()):
    """A page's events in ids (after, high]: of these names along ix_event_name (name,
    workspace_id, id), one id range per name; of any name along the id range."""
    statement = select(*(columns or _READ_COLUMNS)).where(EVENT.c.id > after, EVENT.c.id <= high)
    if names:
        return statement.where(EVENT.c.name.in_(names), EVENT.c.workspace_id == workspace_id,
                               EVENT.c.received_at >= since, EVENT.c.received_at < until)
    return statement.where(_in_period(workspace_id, since, until) == 1)


def period_count(*, workspace_id: str, since: datetime, until: datetime, after: int, high: int):
    """How many events of the workspace in the period ids (after, high] hold, of any name: along
    the id range."""
    return select(func.count(_in_period(workspace_id, since, until))).where(EVENT.c.id > after, EVENT.c.id <= high)


_READ_COLUMNS = (EVENT.c.id, EVENT.c.workspace_id, EVENT.c.message_id, EVENT.c.type, EVENT.c.name, EVENT.c.profile_id,
                 EVENT.c.user_id, EVENT.c.anonymous_id, EVENT.c.properties, literal("").label("context"),
                 EVENT.c.timestamp, EVENT.c.received_at)
# A replay's columns, the times as the driver gives them: SQLite's text is read as is, not
# parsed into a datetime and printed again (two thirds of a page's cost in ingest).
_COLUMN_READ = (EVENT.c.id, EVENT.c.name, EVENT.c.profile_id, EVENT.c.user_id, EVENT.c.properties,
                type_coerce(EVENT.c.timestamp, String), type_coerce(EVENT.c.received_at, String))


def iso_time(value: str | datetime) -> str:
    """A time of _COLUMN_READ as ISO 8601 text in UTC, with its offset: SQLite's stored text (UTC,
    without one) as it is; a driver's datetime (PostgreSQL's) printed."""
    if isinstance(value, str):
        return value + "+00:00"
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat(" ")

