"""The gateway's rules: Segment payloads in, identity and ingest requests out.

Pure: no I/O and no grpc. It does build the protobuf request messages itself, because they are
plain values and this translation is the gateway's whole job: the benchmark pushes 25,000 events/s
through one process, so each event is read once and written once, straight into the message
that will travel.

What it decides:

- Where the write key is: the HTTP Basic user name (`base64("key:")`, Segment's documented form),
  the older `base64("key")` without the colon, `base64("key") + ":"`, or `writeKey` in the body
  (top level of a batch). A key in the header wins over one in the body.
- Segment's limits: 32 KB a call (a single-event body, and each event of a batch, measured as
  compact JSON), 500 KB a batch request, 2,500 events a batch; all on the decompressed body.
  Over a limit the whole request is refused (Segment does the same).
- Which events are kept. An event that cannot be kept is refused by itself with its index and
  a reason; the rest of the batch goes on.
- How a batch splits: identify, alias and group calls go to identity, one request each; track,
  page and screen calls go to ingest in one Record request, with their raw timestamp strings (ingest
  computes the event time and the name). A batch's top-level `sentAt` applies to every event that
  lacks its own; its top-level `context` is merged under each event's own context.
- A call without a `messageId` gets a random one, as Segment's servers do, so it is still kept.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from herald.identity.v1 import identity_pb2
from herald.ingest.v1 import ingest_pb2
from herald_common.protoconv import set_timestamp, timestamp

KIB = 1024
MAX_CALL_BYTES = 32 * KIB
MAX_BATCH_BYTES = 500 * KIB
MAX_BATCH_EVENTS = 2500

CALL_TYPES = ("identify", "track", "page", "screen", "group", "alias")
BATCH = "batch"

# Every endpoint, with and without the v1 prefix, and the call type it takes.
ENDPOINTS: dict[str, str] = {
    **{f"/v1/{kind}": kind for kind in (*CALL_TYPES, BATCH)},
    **{f"/{kind}": kind for kind in (*CALL_TYPES, BATCH)},
}

NO_IDENTITY = "no userId and no anonymousId"
EMPTY_OBJECT = b"{}"


# ---- refusals of a whole request ------------------------------------------------------------


class RequestRefused(Exception):
    """The whole request is refused; nothing of it is kept."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MalformedPayload(RequestRefused):
    """Not JSON, not an object, a batch that is not a list, a body that does not decode."""


class OverLimit(RequestRefused):
    """Over one of Segment's size or count limits."""


class MissingWriteKey(RequestRefused):
    """Neither the Authorization header nor the body names a write key."""


def body_limit(kind: str) -> int:
    return MAX_BATCH_BYTES if kind == BATCH else MAX_CALL_BYTES


# ---- the write key --------------------------------------------------------------------------


def _b64_text(value: str) -> str | None:
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def write_key_from_authorization(header: str | None) -> str | None:
    """The write key of a Basic Authorization header, in any of the three forms clients send."""
    if not header:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    credentials = credentials.strip()
    decoded = _b64_text(credentials)
    if decoded is None and credentials.endswith(":"):
        decoded = _b64_text(credentials[:-1])
    if decoded is None:
        return None
    key = decoded.partition(":")[0]
    return key or None


def write_key_from_body(payload: dict[str, Any]) -> str | None:
    key = payload.get("writeKey")
    if key is None:
        key = payload.get("write_key")
    return key if isinstance(key, str) and key else None


# ---- parsing --------------------------------------------------------------------------------


def parse_json_object(body: bytes) -> dict[str, Any]:
    if not body:
        raise MalformedPayload("the body is empty; expected a JSON object")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise MalformedPayload(f"the body is not valid JSON: {error}") from None
    if type(payload) is not dict:
        raise MalformedPayload(f"the body must be a JSON object, not {_json_kind(payload)}")
    return payload


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "null" if value is None else type(value).__name__


def parse_time(text: Any) -> datetime | None:
    """An ISO 8601 time, UTC when it carries no offset; None when absent or unreadable."""
    if type(text) is not str or not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def derived_time(timestamp_text: Any, sent_at_text: Any, original_text: Any, received_at: datetime) -> datetime | None:
    """Segment's event time: `timestamp` if given, else received - (sentAt - originalTimestamp).

    Returns None when `timestamp` is given but unreadable, so the caller can say so.
    """
    if timestamp_text:
        return parse_time(timestamp_text)
    original = parse_time(original_text)
    sent = parse_time(sent_at_text)
    if original is not None and sent is not None:
        return received_at - (sent - original)
    return original or received_at


# ---- the plan of one request ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rejection:
    """An event that was not kept."""

    index: int
    reason: str


@dataclass(frozen=True, slots=True)
class FieldWarning:
    """An event that was kept without one of its fields."""

    index: int
    field: str
    reason: str


@dataclass(slots=True)
class Plan:
    """What one HTTP request becomes: at most one request per RPC, each with the batch index of
    every call in it, and the events refused on the way."""

    identify: identity_pb2.IdentifyRequest = field(default_factory=identity_pb2.IdentifyRequest)
    identify_index: list[int] = field(default_factory=list)
    alias: identity_pb2.AliasRequest = field(default_factory=identity_pb2.AliasRequest)
    alias_index: list[int] = field(default_factory=list)
    group: identity_pb2.GroupRequest = field(default_factory=identity_pb2.GroupRequest)
    group_index: list[int] = field(default_factory=list)
    record: ingest_pb2.RecordRequest = field(default_factory=ingest_pb2.RecordRequest)
    record_index: list[int] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    warnings: list[FieldWarning] = field(default_factory=list)
    # The user ids, anonymous ids and previous ids named by identity's calls, and those named by
    # ingest's: when they share none, the Record call need not wait for identity's calls.
    identity_ids: set[str] = field(default_factory=set)
    record_ids: set[str] = field(default_factory=set)

    @property
    def record_waits_for_identity(self) -> bool:
        """Whether some event for ingest names a user that an identify, alias or group call of
        the same request names too, so identity must apply those first: the event is then
        recorded against the profile they made or joined."""
        return not self.identity_ids.isdisjoint(self.record_ids)

    @property
    def kept(self) -> int:
        return len(self.identify_index) + len(self.alias_index) + len(self.group_index) + len(self.record_index)

    def for_workspace(self, workspace_id: str) -> Plan:
        self.identify.workspace_id = workspace_id
        self.alias.workspace_id = workspace_id
        self.group.workspace_id = workspace_id
        self.record.workspace_id = workspace_id
        return self


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _id(value: Any, name: str) -> str:
    """An identifier: a string, or a number written as one (Segment accepts numeric ids)."""
    kind = type(value)
    if kind is str:
        return value
    if value is None:
        return ""
    if kind is int or kind is float:
        return str(value)
    raise _Refused(f"{name} must be a string")


def _time_text(value: Any, name: str) -> str:
    if type(value) is str:
        return value
    if value is None:
        return ""
    raise _Refused(f"{name} must be an ISO 8601 string")


def _name(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return value
    if kind is int or kind is float:
        return str(value)
    return ""


def _message_id(value: Any) -> str:
    """The call's messageId, or a fresh random one (32 random hex digits: as unique as a uuid4,
    and cheaper to make)."""
    if type(value) is str and value:
        return value
    return _id(value, "messageId") or os.urandom(16).hex()


def _json_field(value: Any, name: str) -> bytes:
    """properties / traits as JSON bytes; absent is an empty object, anything but an object refused."""
    if type(value) is dict:
        return orjson.dumps(value) if value else EMPTY_OBJECT
    if value is None:
        return EMPTY_OBJECT
    raise _Refused(f"{name} must be a JSON object")


class _Planner:
    """Turns the calls of one request into a Plan, one call at a time, in batch order."""

    def __init__(self, received_at: datetime, batch_sent_at: str = "", batch_context: dict[str, Any] | None = None):
        self.plan = Plan()
        self.received_at = received_at
        self.received_ts = timestamp(received_at)
        self.batch_sent_at = batch_sent_at
        self.batch_context = batch_context or None
        self.record_events = self.plan.record.events
        self.record_index = self.plan.record_index
        self.record_ids = self.plan.record_ids
        self.handlers = {
            "track": self._track,
            "page": self._page,
            "screen": self._screen,
            "identify": self._identify,
            "alias": self._alias,
            "group": self._group,
        }

    def add(self, index: int, kind: str, item: dict[str, Any]) -> None:
        try:
            self.handlers[kind](index, item)
        except _Refused as refused:
            self.plan.rejected.append(Rejection(index, refused.reason))

    # -- shared parts

    def _identities(self, item: dict[str, Any]) -> tuple[str, str]:
        user_id = item.get("userId")
        if type(user_id) is not str:
            user_id = _id(user_id, "userId")
        anonymous_id = item.get("anonymousId")
        if type(anonymous_id) is not str:
            anonymous_id = _id(anonymous_id, "anonymousId")
        if not user_id and not anonymous_id:
            raise _Refused(NO_IDENTITY)
        return user_id, anonymous_id

    def _context(self, item: dict[str, Any]) -> bytes:
        context = item.get("context")
        if type(context) is not dict and context is not None:
            raise _Refused("context must be a JSON object")
        if self.batch_context is not None:
            context = {**self.batch_context, **context} if context else self.batch_context
        return orjson.dumps(context) if context else EMPTY_OBJECT

    def _time(self, index: int, item: dict[str, Any]) -> datetime:
        timestamp_text = item.get("timestamp")
        when = derived_time(
            timestamp_text, item.get("sentAt") or self.batch_sent_at, item.get("originalTimestamp"), self.received_at
        )
        if when is None:
            self.plan.warnings.append(
                FieldWarning(
                    index, "timestamp", f"{timestamp_text!r} is not an ISO 8601 time; the time received is used"
                )
            )
            return self.received_at
        return when

    # -- ingest: track, page, screen (the hot path: most events of a batch come through here)

    def _record(self, index: int, item: dict[str, Any], kind: str) -> None:
        get = item.get
        user_id, anonymous_id = self._identities(item)
        if kind == "track":
            name = get("event")
            if type(name) is not str:
                name = _id(name, "event")
            if not name or name.isspace():
                raise _Refused("a track call needs an event name")
        else:
            name = _name(get("name"))
        properties = _json_field(get("properties"), "properties")
        context = self._context(item)
        timestamp_text = get("timestamp")
        if type(timestamp_text) is not str:
            timestamp_text = _time_text(timestamp_text, "timestamp")
        sent_at = get("sentAt")
        if type(sent_at) is not str:
            sent_at = _time_text(sent_at, "sentAt")
        original = get("originalTimestamp")
        if type(original) is not str:
            original = _time_text(original, "originalTimestamp")
        self.record_events.add(
            message_id=_message_id(get("messageId")),
            type=kind,
            event=name,
            user_id=user_id,
            anonymous_id=anonymous_id,
            properties_json=properties,
            context_json=context,
            timestamp=timestamp_text,
            sent_at=sent_at or self.batch_sent_at,
            original_timestamp=original,
            received_at=self.received_ts,
        )
        self.record_index.append(index)
        # Only ids that are set: identity_ids may hold "" (a call without one), which must not match.
        if user_id:
            self.record_ids.add(user_id)
        if anonymous_id:
            self.record_ids.add(anonymous_id)

    def _track(self, index: int, item: dict[str, Any]) -> None:
        self._record(index, item, "track")

    def _page(self, index: int, item: dict[str, Any]) -> None:
        self._record(index, item, "page")

    def _screen(self, index: int, item: dict[str, Any]) -> None:
        self._record(index, item, "screen")

    # -- identity: identify, alias, group

    def _identify(self, index: int, item: dict[str, Any]) -> None:
        user_id, anonymous_id = self._identities(item)
        traits = _json_field(item.get("traits"), "traits")
        context = self._context(item)
        message_id = _message_id(item.get("messageId"))
        when = self._time(index, item)
        call = self.plan.identify.calls.add(
            message_id=message_id,
            user_id=user_id,
            anonymous_id=anonymous_id,
            traits_json=traits,
            context_json=context,
        )
        set_timestamp(call.timestamp, when)
        self.plan.identify_index.append(index)
        self.plan.identity_ids.update((user_id, anonymous_id))

    def _alias(self, index: int, item: dict[str, Any]) -> None:
        previous_id = _id(item.get("previousId"), "previousId")
        user_id = _id(item.get("userId"), "userId")
        if not previous_id:
            raise _Refused("an alias call needs a previousId")
        if not user_id:
            raise _Refused("an alias call needs a userId")
        message_id = _message_id(item.get("messageId"))
        when = self._time(index, item)
        call = self.plan.alias.calls.add(message_id=message_id, previous_id=previous_id, user_id=user_id)
        set_timestamp(call.timestamp, when)
        self.plan.alias_index.append(index)
        self.plan.identity_ids.update((previous_id, user_id))

    def _group(self, index: int, item: dict[str, Any]) -> None:
        user_id, anonymous_id = self._identities(item)
        group_id = _id(item.get("groupId"), "groupId")
        if not group_id:
            raise _Refused("a group call needs a groupId")
        traits = _json_field(item.get("traits"), "traits")
        message_id = _message_id(item.get("messageId"))
        when = self._time(index, item)
        call = self.plan.group.calls.add(
            message_id=message_id,
            group_id=group_id,
            user_id=user_id,
            anonymous_id=anonymous_id,
            traits_json=traits,
        )
        set_timestamp(call.timestamp, when)
        self.plan.group_index.append(index)
        self.plan.identity_ids.update((user_id, anonymous_id))


def plan_call(kind: str, payload: dict[str, Any], *, received_at: datetime) -> Plan:
    """One call to a single-event endpoint; its type is the endpoint's, whatever the body says."""
    planner = _Planner(received_at)
    planner.add(0, kind, payload)
    return planner.plan


def plan_batch(payload: dict[str, Any], *, received_at: datetime, body_bytes: int) -> Plan:
    """A /v1/batch body. Raises OverLimit or MalformedPayload for the whole request."""
    batch = payload.get("batch")
    if type(batch) is not list:
        raise MalformedPayload("batch must be a list of events")
    if len(batch) > MAX_BATCH_EVENTS:
        raise OverLimit(f"a batch holds at most {MAX_BATCH_EVENTS} events; this one has {len(batch)}")
    # No event can be over the per-call limit when the whole body is within it.
    if body_bytes > MAX_CALL_BYTES:
        for index, item in enumerate(batch):
            if len(orjson.dumps(item)) > MAX_CALL_BYTES:
                raise OverLimit(f"event {index} is larger than {MAX_CALL_BYTES // KIB} KB")
    sent_at = payload.get("sentAt")
    context = payload.get("context")
    planner = _Planner(
        received_at,
        batch_sent_at=sent_at if type(sent_at) is str else "",
        batch_context=context if type(context) is dict else None,
    )
    handlers = planner.handlers
    rejected = planner.plan.rejected
    for index, item in enumerate(batch):
        if type(item) is not dict:
            rejected.append(Rejection(index, "an event must be a JSON object"))
            continue
        kind = item.get("type")
        handler = handlers.get(kind) if type(kind) is str else None
        if handler is None:
            rejected.append(Rejection(index, f"unknown type {kind!r}" if kind is not None else "no type"))
            continue
        try:
            handler(index, item)
        except _Refused as refused:
            rejected.append(Rejection(index, refused.reason))
    return planner.plan


# ---- load shedding --------------------------------------------------------------------------


class InflightGate:
    """Counts the events waiting on identity and ingest; refuses more once over the limit.

    A request is always let in when nothing is in flight, so a batch larger than the limit is
    slow rather than refused forever.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.inflight = 0

    @property
    def full(self) -> bool:
        return self.inflight >= self.limit

    def try_admit(self, events: int) -> bool:
        if self.inflight and self.inflight + events > self.limit:
            return False
        self.inflight += events
        return True

    def release(self, events: int) -> None:
        self.inflight -= events
