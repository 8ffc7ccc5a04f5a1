import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExplainRequest(_message.Message):
    __slots__ = ("workspace_id", "profile_ids", "send_ids", "campaign_id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_IDS_FIELD_NUMBER: _ClassVar[int]
    SEND_IDS_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    profile_ids: _containers.RepeatedScalarFieldContainer[str]
    send_ids: _containers.RepeatedScalarFieldContainer[str]
    campaign_id: str
    def __init__(self, workspace_id: _Optional[str] = ..., profile_ids: _Optional[_Iterable[str]] = ..., send_ids: _Optional[_Iterable[str]] = ..., campaign_id: _Optional[str] = ...) -> None: ...

class ExplainStep(_message.Message):
    __slots__ = ("at", "step", "outcome", "detail_json", "send_id", "campaign_id")
    AT_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    DETAIL_JSON_FIELD_NUMBER: _ClassVar[int]
    SEND_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    step: str
    outcome: str
    detail_json: bytes
    send_id: str
    campaign_id: str
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., step: _Optional[str] = ..., outcome: _Optional[str] = ..., detail_json: _Optional[bytes] = ..., send_id: _Optional[str] = ..., campaign_id: _Optional[str] = ...) -> None: ...

class ExplainResponse(_message.Message):
    __slots__ = ("steps",)
    STEPS_FIELD_NUMBER: _ClassVar[int]
    steps: _containers.RepeatedCompositeFieldContainer[ExplainStep]
    def __init__(self, steps: _Optional[_Iterable[_Union[ExplainStep, _Mapping]]] = ...) -> None: ...

class ForgetProfilesRequest(_message.Message):
    __slots__ = ("workspace_id", "profile_ids")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_IDS_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    profile_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, workspace_id: _Optional[str] = ..., profile_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ForgetProfilesResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    def __init__(self, deleted: _Optional[int] = ...) -> None: ...

class DeliveryWindow(_message.Message):
    __slots__ = ("days", "start", "end", "fallback_timezone")
    DAYS_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    days: _containers.RepeatedScalarFieldContainer[str]
    start: str
    end: str
    fallback_timezone: str
    def __init__(self, days: _Optional[_Iterable[str]] = ..., start: _Optional[str] = ..., end: _Optional[str] = ..., fallback_timezone: _Optional[str] = ...) -> None: ...

class ScheduledSend(_message.Message):
    __slots__ = ("id", "workspace_id", "campaign_id", "profile_id", "channel", "trigger_at", "delay_seconds", "settle_seconds", "window", "timezone", "due_at", "status", "outcome", "sent_at", "user_id", "attempts", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_AT_FIELD_NUMBER: _ClassVar[int]
    DELAY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SETTLE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    workspace_id: str
    campaign_id: str
    profile_id: str
    channel: str
    trigger_at: _timestamp_pb2.Timestamp
    delay_seconds: int
    settle_seconds: int
    window: DeliveryWindow
    timezone: str
    due_at: _timestamp_pb2.Timestamp
    status: str
    outcome: str
    sent_at: _timestamp_pb2.Timestamp
    user_id: str
    attempts: int
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., workspace_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., profile_id: _Optional[str] = ..., channel: _Optional[str] = ..., trigger_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., delay_seconds: _Optional[int] = ..., settle_seconds: _Optional[int] = ..., window: _Optional[_Union[DeliveryWindow, _Mapping]] = ..., timezone: _Optional[str] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[str] = ..., outcome: _Optional[str] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., user_id: _Optional[str] = ..., attempts: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ScheduleRequest(_message.Message):
    __slots__ = ("sends",)
    SENDS_FIELD_NUMBER: _ClassVar[int]
    sends: _containers.RepeatedCompositeFieldContainer[ScheduledSend]
    def __init__(self, sends: _Optional[_Iterable[_Union[ScheduledSend, _Mapping]]] = ...) -> None: ...

class ScheduleResponse(_message.Message):
    __slots__ = ("sends",)
    SENDS_FIELD_NUMBER: _ClassVar[int]
    sends: _containers.RepeatedCompositeFieldContainer[ScheduledSend]
    def __init__(self, sends: _Optional[_Iterable[_Union[ScheduledSend, _Mapping]]] = ...) -> None: ...

class CancelRequest(_message.Message):
    __slots__ = ("send_id", "campaign_id", "profile_id", "reason")
    SEND_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    send_id: str
    campaign_id: str
    profile_id: str
    reason: str
    def __init__(self, send_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., profile_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CancelSendsRequest(_message.Message):
    __slots__ = ("send_ids", "reason")
    SEND_IDS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    send_ids: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    def __init__(self, send_ids: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ...) -> None: ...

class CancelResponse(_message.Message):
    __slots__ = ("cancelled",)
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    cancelled: int
    def __init__(self, cancelled: _Optional[int] = ...) -> None: ...

class GetSendRequest(_message.Message):
    __slots__ = ("send_id", "workspace_id")
    SEND_ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    send_id: str
    workspace_id: str
    def __init__(self, send_id: _Optional[str] = ..., workspace_id: _Optional[str] = ...) -> None: ...

class ListSendsRequest(_message.Message):
    __slots__ = ("workspace_id", "campaign_id", "profile_id", "limit", "status", "channel", "before")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    campaign_id: str
    profile_id: str
    limit: int
    status: str
    channel: str
    before: str
    def __init__(self, workspace_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., profile_id: _Optional[str] = ..., limit: _Optional[int] = ..., status: _Optional[str] = ..., channel: _Optional[str] = ..., before: _Optional[str] = ...) -> None: ...

class ListSendsResponse(_message.Message):
    __slots__ = ("sends", "next_before")
    SENDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    sends: _containers.RepeatedCompositeFieldContainer[ScheduledSend]
    next_before: str
    def __init__(self, sends: _Optional[_Iterable[_Union[ScheduledSend, _Mapping]]] = ..., next_before: _Optional[str] = ...) -> None: ...

class ReleaseRequest(_message.Message):
    __slots__ = ("campaign_id",)
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    def __init__(self, campaign_id: _Optional[str] = ...) -> None: ...

class ReleaseResponse(_message.Message):
    __slots__ = ("released", "stale")
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    released: int
    stale: int
    def __init__(self, released: _Optional[int] = ..., stale: _Optional[int] = ...) -> None: ...
