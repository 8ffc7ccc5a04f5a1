"""ingest's servicer: proto <-> domain, nothing else."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime

from herald.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from herald_common.aio import BlockingRunner, GroupCommit, read_in, write_in
from herald_common.clients import IdentityClient
from herald_common.clock import Clock
from herald_common.errors import FieldError, InvalidArgument
from herald_common.metrics import count_events_not_recorded, count_events_recorded
from herald_common.protoconv import set_timestamp, to_datetime
from herald_services.ingest import handlers
from herald_services.ingest.outbox import add_event
from herald_services.ingest.resolver import ProfileResolver
from sqlalchemy import Engine

# Plain ints: looking enum values up through the wrapper cost 3% of ingest's CPU.
RECORDED = ingest_pb2.RecordResult.OUTCOME_RECORDED
DUPLICATE = ingest_pb2.RecordResult.OUTCOME_DUPLICATE
REJECTED = ingest_pb2.RecordResult.OUTCOME_REJECTED


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(
        self,
        *,
        engine: Engine,
        runner: BlockingRunner,
        clock: Clock,
        identity: IdentityClient,
        on_recorded: Callable[[], None],
        on_committed: Callable[[list[tuple]], None] = lambda rows: None,
        on_purged: Callable[[], None] = lambda: None,
        purge_lock: AbstractContextManager = nullcontext(),
    ) -> None:
        self.engine = engine
        self.runner = runner
        self.clock = clock
        self.identity = identity
        self.resolver = ProfileResolver(identity)
        self.on_recorded = on_recorded
        self.on_committed = on_committed
        self.on_purged = on_purged
        self.purge_lock = purge_lock
        self.recorder = GroupCommit(runner, self._record_groups)
        self._received_at: dict[tuple[int, int], object] = {}

    def _record_groups(self, items):
        with self.engine.begin() as connection:
            results, rows = handlers.record_many(connection, items)
        if rows:
            self.on_committed(rows)
            count_events_recorded(row[3] for row in rows)  # the event table's `type` column
        return results

    def _received(self, stamp, now):
        """A batch shares one received time: convert it once."""
        key = (stamp.seconds, stamp.nanos)
        found = self._received_at.get(key)
        if found is None:
            if len(self._received_at) > 1024:
                self._received_at.clear()
            found = self._received_at[key] = to_datetime(stamp, now)
        return found

    async def _read(self, handler, **kwargs):
        return await read_in(self.runner, self.engine, handler, **kwargs)

    async def _write(self, handler, **kwargs):
        return await write_in(self.runner, self.engine, handler, **kwargs)

    async def Record(self, request, context):
        _require(workspace_id=request.workspace_id)
        now = self.clock.now()
        prepared, rejected = handlers.prepare(request.events, lambda e: self._received(e.received_at, now))
        recorded, duplicates = {}, set()
        warnings = {e.index: e.warning for e in prepared if e.warning}
        if prepared:
            resolved = await self.resolver.resolve(request.workspace_id, [(e.user_id, e.anonymous_id) for e in prepared])
            for event, (profile_id, user_id) in zip(prepared, resolved):
                event.profile_id = profile_id
                # The profile's own user id wins: an anonymous id already joined to a user
                # records the event under that user.
                event.user_id = user_id or event.user_id
            recorded, duplicates = await self.recorder.submit((request.workspace_id, prepared))
            if recorded:
                self.on_recorded()
        count_events_not_recorded("duplicate", len(duplicates))
        count_events_not_recorded("rejected", len(request.events) - len(recorded) - len(duplicates))
        response = ingest_pb2.RecordResponse()
        add = response.results.add  # built in place: no per-result copy
        for index in range(len(request.events)):
            event_id = recorded.get(index)
            if event_id is not None:
                warning = warnings.get(index)
                if warning is None:
                    add(outcome=RECORDED, event_id=str(event_id))
                else:
                    add(outcome=RECORDED, event_id=str(event_id), warning_field=warning[0], warning=warning[1])
            elif index in duplicates:
                add(outcome=DUPLICATE)
            else:
                add(outcome=REJECTED, reason=rejected.get(index, ""))
        return response

    async def ListEvents(self, request, context):
        _require(workspace_id=request.workspace_id)
        views = await self._read(
            handlers.list_events, workspace_id=request.workspace_id, include_hidden=request.include_hidden, now=self.clock.now()
        )
        return ingest_pb2.ListEventsResponse(events=[definition_message(v) for v in views])

    async def GetEventDefinition(self, request, context):
        _require(workspace_id=request.workspace_id, name=request.name)
        view = await self._read(handlers.get_event_definition, workspace_id=request.workspace_id, name=request.name, now=self.clock.now())
        return definition_message(view)

    async def DefineEvent(self, request, context):
        view = await self._write(
            handlers.define_event,
            workspace_id=request.workspace_id,
            name=request.name,
            description=request.description,
            now=self.clock.now(),
        )
        return definition_message(view)

    async def HideEvent(self, request, context):
        return await self._set_hidden(request, True)

    async def UnhideEvent(self, request, context):
        return await self._set_hidden(request, False)

    async def _set_hidden(self, request, hidden: bool):
        _require(workspace_id=request.workspace_id, name=request.name)
        view = await self._write(
            handlers.set_hidden, workspace_id=request.workspace_id, name=request.name, hidden=hidden, now=self.clock.now()
        )
        return definition_message(view)

    async def ListUserEvents(self, request, context):
        _require(workspace_id=request.workspace_id, id=request.id)
        user = await self.identity.get_user(request.workspace_id, request.id)
        limit = request.limit or 100
        rows = await self._read(
            handlers.user_events,
            workspace_id=request.workspace_id,
            profile_ids=[user.profile_id, *user.merged_profile_ids],
            limit=limit + 1,
            before=handlers.parse_user_events_cursor(request.before) if request.before else None,
            name=request.name,
        )
        response = ingest_pb2.ListUserEventsResponse()
        for row in rows[:limit]:
            add_event(response.events, tuple(row))
        if len(rows) > limit:
            response.next_before = handlers.user_events_cursor(rows[limit - 1])
        return response

    async def ListEventsByName(self, request, context):
        _require(workspace_id=request.workspace_id, name=request.name)
        if request.limit < 0 or request.before_id < 0:
            raise InvalidArgument(errors=[FieldError("limit" if request.limit < 0 else "before_id", "must not be negative")])
        rows, next_before_id = await self._read(
            handlers.events_by_name, workspace_id=request.workspace_id, name=request.name,
            limit=request.limit, before_id=request.before_id,
        )
        response = ingest_pb2.ListEventsByNameResponse(next_before_id=next_before_id)
        for row in rows:
            add_event(response.events, tuple(row))
        return response

    async def ReadEvents(self, request, context):
        _require(workspace_id=request.workspace_id)
        since, until = to_datetime(request.since), to_datetime(request.until)
        errors = [FieldError(name, "is required") for name, value in (("since", since), ("until", until)) if value is None]
        if not errors and since >= until:
            errors.append(FieldError("until", "must be after since"))
        if errors:
            raise InvalidArgument(errors=errors)
        page = await self._read(
            handlers.read_events, workspace_id=request.workspace_id, since=since, until=until,
            names=list(request.names), cursor=request.cursor, limit=request.limit, as_columns=request.as_columns,
        )
        response = ingest_pb2.ReadEventsResponse(next_cursor=page.next_cursor, done=page.done, counted=page.counted)
        if request.as_columns:
            columns = response.columns
            if page.rows:
                ids, names, profile_ids, user_ids, properties, timestamps, received = zip(*page.rows)
                columns.ids.extend(ids)
                columns.names.extend(names)
                columns.profile_ids.extend(profile_ids)
                columns.user_ids.extend(user_id or "" for user_id in user_ids)
                columns.properties_json.extend(p.encode() if isinstance(p, str) else p for p in properties)
                columns.timestamps.extend(map(handlers.iso_time, timestamps))
                columns.received_at.extend(map(handlers.iso_time, received))
            return response
        for row in page.rows:
            add_event(response.events, tuple(row))
        return response

    async def PurgeUserEvents(self, request, context):
        _require(workspace_id=request.workspace_id)
        deleted = await self.runner.run(self._purge, request.workspace_id, list(request.profile_ids))
        self.resolver.forget(set(request.profile_ids))
        self.on_purged()
        return ingest_pb2.PurgeUserEventsResponse(deleted=deleted)

    def _purge(self, workspace_id: str, profile_ids: list[str]) -> int:
        # Not while the per-user indexer copies a batch: it could have read the events deleted here.
        with self.purge_lock, self.engine.begin() as connection:
            return handlers.purge_user_events(connection, workspace_id=workspace_id, profile_ids=profile_ids)


def _require(**fields: str) -> None:
    missing = [FieldError(name, "is required") for name, value in fields.items() if not value]
    if missing:
        raise InvalidArgument(errors=missing)


def _maybe(target, value: datetime | None) -> None:
    if value is not None:
        set_timestamp(target, value)


def definition_message(view: handlers.EventDefinitionView) -> ingest_pb2.EventDefinition:
    message = ingest_pb2.EventDefinition(
        name=view.name,
        definitions=view.definitions,
        times_seen=view.times_seen,
        seen_last_24h=view.times_seen_last_24h,
        times_seen_last_24h=view.times_seen_last_24h,
        seen_in_last_24h=view.times_seen_last_24h > 0,
        hidden=view.hidden,
        defined_by_hand=view.defined_by_hand,
        description=view.description,
    )
    _maybe(message.last_seen, view.last_seen)
    for item in view.property_sets:
        entry = message.property_sets.add(properties=item.properties, count=item.count)
        _maybe(entry.last_seen, item.last_seen)
    for day, count in view.daily_counts:
        message.daily_counts.add(day=day, count=count)
    return message
