import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class IncomingEvent(_message.Message):
    __slots__ = ("message_id", "type", "event", "user_id", "anonymous_id", "properties_json", "context_json", "timestamp", "sent_at", "original_timestamp", "received_at")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ANONYMOUS_ID_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_JSON_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_JSON_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
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
    received_at: _timestamp_pb2.Timestamp
    def __init__(self, message_id: _Optional[str] = ..., type: _Optional[str] = ..., event: _Optional[str] = ..., user_id: _Optional[str] = ..., anonymous_id: _Optional[str] = ..., properties_json: _Optional[bytes] = ..., context_json: _Optional[bytes] = ..., timestamp: _Optional[str] = ..., sent_at: _Optional[str] = ..., original_timestamp: _Optional[str] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RecordRequest(_message.Message):
    __slots__ = ("workspace_id", "events")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    events: _containers.RepeatedCompositeFieldContainer[IncomingEvent]
    def __init__(self, workspace_id: _Optional[str] = ..., events: _Optional[_Iterable[_Union[IncomingEvent, _Mapping]]] = ...) -> None: ...

class RecordResult(_message.Message):
    __slots__ = ("outcome", "event_id", "reason", "warning_field", "warning")
    class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OUTCOME_UNSPECIFIED: _ClassVar[RecordResult.Outcome]
        OUTCOME_RECORDED: _ClassVar[RecordResult.Outcome]
        OUTCOME_DUPLICATE: _ClassVar[RecordResult.Outcome]
        OUTCOME_REJECTED: _ClassVar[RecordResult.Outcome]
    OUTCOME_UNSPECIFIED: RecordResult.Outcome
    OUTCOME_RECORDED: RecordResult.Outcome
    OUTCOME_DUPLICATE: RecordResult.Outcome
    OUTCOME_REJECTED: RecordResult.Outcome
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    WARNING_FIELD_FIELD_NUMBER: _ClassVar[int]
    WARNING_FIELD_NUMBER: _ClassVar[int]
    outcome: RecordResult.Outcome
    event_id: str
    reason: str
    warning_field: str
    warning: str
    def __init__(self, outcome: _Optional[_Union[RecordResult.Outcome, str]] = ..., event_id: _Optional[str] = ..., reason: _Optional[str] = ..., warning_field: _Optional[str] = ..., warning: _Optional[str] = ...) -> None: ...

class RecordResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[RecordResult]
    def __init__(self, results: _Optional[_Iterable[_Union[RecordResult, _Mapping]]] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("id", "workspace_id", "message_id", "type", "name", "profile_id", "user_id", "anonymous_id", "properties_json", "context_json", "timestamp", "received_at", "sequence")
    ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ANONYMOUS_ID_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_JSON_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_JSON_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    id: str
    workspace_id: str
    message_id: str
    type: str
    name: str
    profile_id: str
    user_id: str
    anonymous_id: str
    properties_json: bytes
    context_json: bytes
    timestamp: _timestamp_pb2.Timestamp
    received_at: _timestamp_pb2.Timestamp
    sequence: int
    def __init__(self, id: _Optional[str] = ..., workspace_id: _Optional[str] = ..., message_id: _Optional[str] = ..., type: _Optional[str] = ..., name: _Optional[str] = ..., profile_id: _Optional[str] = ..., user_id: _Optional[str] = ..., anonymous_id: _Optional[str] = ..., properties_json: _Optional[bytes] = ..., context_json: _Optional[bytes] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sequence: _Optional[int] = ...) -> None: ...

class PropertySet(_message.Message):
    __slots__ = ("properties", "count", "last_seen")
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    properties: _containers.RepeatedScalarFieldContainer[str]
    count: int
    last_seen: _timestamp_pb2.Timestamp
    def __init__(self, properties: _Optional[_Iterable[str]] = ..., count: _Optional[int] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class EventDefinition(_message.Message):
    __slots__ = ("name", "definitions", "times_seen", "seen_last_24h", "last_seen", "hidden", "defined_by_hand", "property_sets", "description", "times_seen_last_24h", "seen_in_last_24h", "daily_counts")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DEFINITIONS_FIELD_NUMBER: _ClassVar[int]
    TIMES_SEEN_FIELD_NUMBER: _ClassVar[int]
    SEEN_LAST_24H_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_FIELD_NUMBER: _ClassVar[int]
    DEFINED_BY_HAND_FIELD_NUMBER: _ClassVar[int]
    PROPERTY_SETS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TIMES_SEEN_LAST_24H_FIELD_NUMBER: _ClassVar[int]
    SEEN_IN_LAST_24H_FIELD_NUMBER: _ClassVar[int]
    DAILY_COUNTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    definitions: int
    times_seen: int
    seen_last_24h: int
    last_seen: _timestamp_pb2.Timestamp
    hidden: bool
    defined_by_hand: bool
    property_sets: _containers.RepeatedCompositeFieldContainer[PropertySet]
    description: str
    times_seen_last_24h: int
    seen_in_last_24h: bool
    daily_counts: _containers.RepeatedCompositeFieldContainer[DayCount]
    def __init__(self, name: _Optional[str] = ..., definitions: _Optional[int] = ..., times_seen: _Optional[int] = ..., seen_last_24h: _Optional[int] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., hidden: _Optional[bool] = ..., defined_by_hand: _Optional[bool] = ..., property_sets: _Optional[_Iterable[_Union[PropertySet, _Mapping]]] = ..., description: _Optional[str] = ..., times_seen_last_24h: _Optional[int] = ..., seen_in_last_24h: _Optional[bool] = ..., daily_counts: _Optional[_Iterable[_Union[DayCount, _Mapping]]] = ...) -> None: ...

class DayCount(_message.Message):
    __slots__ = ("day", "count")
    DAY_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    day: str
    count: int
    def __init__(self, day: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class ListEventsRequest(_message.Message):
    __slots__ = ("workspace_id", "include_hidden")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_HIDDEN_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    include_hidden: bool
    def __init__(self, workspace_id: _Optional[str] = ..., include_hidden: _Optional[bool] = ...) -> None: ...

class ListEventsResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[EventDefinition]
    def __init__(self, events: _Optional[_Iterable[_Union[EventDefinition, _Mapping]]] = ...) -> None: ...

class GetEventDefinitionRequest(_message.Message):
    __slots__ = ("workspace_id", "name")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    name: str
    def __init__(self, workspace_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class DefineEventRequest(_message.Message):
    __slots__ = ("workspace_id", "name", "description")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    name: str
    description: str
    def __init__(self, workspace_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class HideEventRequest(_message.Message):
    __slots__ = ("workspace_id", "name")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    name: str
    def __init__(self, workspace_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class ListUserEventsRequest(_message.Message):
    __slots__ = ("workspace_id", "id", "limit", "before", "name")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    id: str
    limit: int
    before: str
    name: str
    def __init__(self, workspace_id: _Optional[str] = ..., id: _Optional[str] = ..., limit: _Optional[int] = ..., before: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class ListUserEventsResponse(_message.Message):
    __slots__ = ("events", "next_before")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    next_before: str
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., next_before: _Optional[str] = ...) -> None: ...

class ListEventsByNameRequest(_message.Message):
    __slots__ = ("workspace_id", "name", "limit", "before_id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    BEFORE_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    name: str
    limit: int
    before_id: int
    def __init__(self, workspace_id: _Optional[str] = ..., name: _Optional[str] = ..., limit: _Optional[int] = ..., before_id: _Optional[int] = ...) -> None: ...

class ListEventsByNameResponse(_message.Message):
    __slots__ = ("events", "next_before_id")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_BEFORE_ID_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    next_before_id: int
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., next_before_id: _Optional[int] = ...) -> None: ...

class PurgeUserEventsRequest(_message.Message):
    __slots__ = ("workspace_id", "profile_ids")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_IDS_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    profile_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, workspace_id: _Optional[str] = ..., profile_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class PurgeUserEventsResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    def __init__(self, deleted: _Optional[int] = ...) -> None: ...

class ReadEventsRequest(_message.Message):
    __slots__ = ("workspace_id", "since", "until", "names", "cursor", "limit", "as_columns")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    AS_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    names: _containers.RepeatedScalarFieldContainer[str]
    cursor: str
    limit: int
    as_columns: bool
    def __init__(self, workspace_id: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., names: _Optional[_Iterable[str]] = ..., cursor: _Optional[str] = ..., limit: _Optional[int] = ..., as_columns: _Optional[bool] = ...) -> None: ...

class EventColumns(_message.Message):
    __slots__ = ("ids", "names", "profile_ids", "user_ids", "properties_json", "timestamps", "received_at")
    IDS_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    PROFILE_IDS_FIELD_NUMBER: _ClassVar[int]
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_JSON_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMPS_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    profile_ids: _containers.RepeatedScalarFieldContainer[str]
    user_ids: _containers.RepeatedScalarFieldContainer[str]
    properties_json: _containers.RepeatedScalarFieldContainer[bytes]
    timestamps: _containers.RepeatedScalarFieldContainer[str]
    received_at: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ids: _Optional[_Iterable[int]] = ..., names: _Optional[_Iterable[str]] = ..., profile_ids: _Optional[_Iterable[str]] = ..., user_ids: _Optional[_Iterable[str]] = ..., properties_json: _Optional[_Iterable[bytes]] = ..., timestamps: _Optional[_Iterable[str]] = ..., received_at: _Optional[_Iterable[str]] = ...) -> None: ...

class ReadEventsResponse(_message.Message):
    __slots__ = ("events", "next_cursor", "done", "counted", "columns")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    COUNTED_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    next_cursor: str
    done: bool
    counted: int
    columns: EventColumns
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., next_cursor: _Optional[str] = ..., done: _Optional[bool] = ..., counted: _Optional[int] = ..., columns: _Optional[_Union[EventColumns, _Mapping]] = ...) -> None: ...
