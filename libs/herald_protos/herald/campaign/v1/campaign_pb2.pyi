import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from herald.ingest.v1 import ingest_pb2 as _ingest_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExplainRequest(_message.Message):
    __slots__ = ("workspace_id", "user_id", "campaign", "trigger_event_id", "limit")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    user_id: str
    campaign: str
    trigger_event_id: str
    limit: int
    def __init__(self, workspace_id: _Optional[str] = ..., user_id: _Optional[str] = ..., campaign: _Optional[str] = ..., trigger_event_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ExplainStep(_message.Message):
    __slots__ = ("at", "step", "outcome", "detail_json", "send_id")
    AT_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    DETAIL_JSON_FIELD_NUMBER: _ClassVar[int]
    SEND_ID_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    step: str
    outcome: str
    detail_json: bytes
    send_id: str
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., step: _Optional[str] = ..., outcome: _Optional[str] = ..., detail_json: _Optional[bytes] = ..., send_id: _Optional[str] = ...) -> None: ...

class ExplainEntry(_message.Message):
    __slots__ = ("campaign_id", "campaign", "trigger_event_id", "triggered_at", "send_id", "status", "steps")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TRIGGERED_AT_FIELD_NUMBER: _ClassVar[int]
    SEND_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    campaign: str
    trigger_event_id: str
    triggered_at: _timestamp_pb2.Timestamp
    send_id: str
    status: str
    steps: _containers.RepeatedCompositeFieldContainer[ExplainStep]
    def __init__(self, campaign_id: _Optional[str] = ..., campaign: _Optional[str] = ..., trigger_event_id: _Optional[str] = ..., triggered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., send_id: _Optional[str] = ..., status: _Optional[str] = ..., steps: _Optional[_Iterable[_Union[ExplainStep, _Mapping]]] = ...) -> None: ...

class ExplainResponse(_message.Message):
    __slots__ = ("user_id", "profile_id", "profile_ids", "entries", "campaign_id", "trigger_event")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_IDS_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_EVENT_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    profile_id: str
    profile_ids: _containers.RepeatedScalarFieldContainer[str]
    entries: _containers.RepeatedCompositeFieldContainer[ExplainEntry]
    campaign_id: str
    trigger_event: str
    def __init__(self, user_id: _Optional[str] = ..., profile_id: _Optional[str] = ..., profile_ids: _Optional[_Iterable[str]] = ..., entries: _Optional[_Iterable[_Union[ExplainEntry, _Mapping]]] = ..., campaign_id: _Optional[str] = ..., trigger_event: _Optional[str] = ...) -> None: ...

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

class PromoteVariantRequest(_message.Message):
    __slots__ = ("workspace_id", "name", "variant")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    name: str
    variant: str
    def __init__(self, workspace_id: _Optional[str] = ..., name: _Optional[str] = ..., variant: _Optional[str] = ...) -> None: ...

class GetUserExperimentsRequest(_message.Message):
    __slots__ = ("workspace_id", "user_id", "profile_id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    user_id: str
    profile_id: str
    def __init__(self, workspace_id: _Optional[str] = ..., user_id: _Optional[str] = ..., profile_id: _Optional[str] = ...) -> None: ...

class CampaignAssignment(_message.Message):
    __slots__ = ("campaign", "group", "variant")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    campaign: str
    group: str
    variant: str
    def __init__(self, campaign: _Optional[str] = ..., group: _Optional[str] = ..., variant: _Optional[str] = ...) -> None: ...

class UserExperiments(_message.Message):
    __slots__ = ("global_control", "global_control_text", "campaigns")
    GLOBAL_CONTROL_FIELD_NUMBER: _ClassVar[int]
    GLOBAL_CONTROL_TEXT_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGNS_FIELD_NUMBER: _ClassVar[int]
    global_control: bool
    global_control_text: str
    campaigns: _containers.RepeatedCompositeFieldContainer[CampaignAssignment]
    def __init__(self, global_control: _Optional[bool] = ..., global_control_text: _Optional[str] = ..., campaigns: _Optional[_Iterable[_Union[CampaignAssignment, _Mapping]]] = ...) -> None: ...

class Campaign(_message.Message):
    __slots__ = ("id", "workspace_id", "name", "status", "version", "trigger_event", "source_yaml", "created_at", "updated_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_EVENT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_YAML_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    workspace_id: str
    name: str
    status: str
    version: int
    trigger_event: str
    source_yaml: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., workspace_id: _Optional[str] = ..., name: _Optional[str] = ..., status: _Optional[str] = ..., version: _Optional[int] = ..., trigger_event: _Optional[str] = ..., source_yaml: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ApplyCampaignRequest(_message.Message):
    __slots__ = ("workspace_id", "source_yaml", "file_name", "draft")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_YAML_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    DRAFT_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    source_yaml: str
    file_name: str
    draft: bool
    def __init__(self, workspace_id: _Optional[str] = ..., source_yaml: _Optional[str] = ..., file_name: _Optional[str] = ..., draft: _Optional[bool] = ...) -> None: ...

class ApplyCampaignResponse(_message.Message):
    __slots__ = ("campaign", "created", "changed", "warnings")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    campaign: Campaign
    created: bool
    changed: bool
    warnings: _containers.RepeatedCompositeFieldContainer[ApplyWarning]
    def __init__(self, campaign: _Optional[_Union[Campaign, _Mapping]] = ..., created: _Optional[bool] = ..., changed: _Optional[bool] = ..., warnings: _Optional[_Iterable[_Union[ApplyWarning, _Mapping]]] = ...) -> None: ...

class ApplyWarning(_message.Message):
    __slots__ = ("field", "reason")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    field: str
    reason: str
    def __init__(self, field: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class GetCampaignRequest(_message.Message):
    __slots__ = ("workspace_id", "name")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    name: str
    def __init__(self, workspace_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class ListCampaignsRequest(_message.Message):
    __slots__ = ("workspace_id",)
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    def __init__(self, workspace_id: _Optional[str] = ...) -> None: ...

class ListCampaignsResponse(_message.Message):
    __slots__ = ("campaigns",)
    CAMPAIGNS_FIELD_NUMBER: _ClassVar[int]
    campaigns: _containers.RepeatedCompositeFieldContainer[Campaign]
    def __init__(self, campaigns: _Optional[_Iterable[_Union[Campaign, _Mapping]]] = ...) -> None: ...

class SetCampaignStatusRequest(_message.Message):
    __slots__ = ("workspace_id", "name")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    name: str
    def __init__(self, workspace_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class GetCampaignStatsRequest(_message.Message):
    __slots__ = ("workspace_id", "name")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    name: str
    def __init__(self, workspace_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class GoalStats(_message.Message):
    __slots__ = ("name", "primary", "conversions", "rate", "average_seconds_to_convert", "treatment_conversions", "treatment_rate", "control_conversions", "control_rate", "lift", "confidence", "enough_data")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_SECONDS_TO_CONVERT_FIELD_NUMBER: _ClassVar[int]
    TREATMENT_CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    TREATMENT_RATE_FIELD_NUMBER: _ClassVar[int]
    CONTROL_CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    CONTROL_RATE_FIELD_NUMBER: _ClassVar[int]
    LIFT_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    ENOUGH_DATA_FIELD_NUMBER: _ClassVar[int]
    name: str
    primary: bool
    conversions: int
    rate: float
    average_seconds_to_convert: float
    treatment_conversions: int
    treatment_rate: float
    control_conversions: int
    control_rate: float
    lift: float
    confidence: float
    enough_data: bool
    def __init__(self, name: _Optional[str] = ..., primary: _Optional[bool] = ..., conversions: _Optional[int] = ..., rate: _Optional[float] = ..., average_seconds_to_convert: _Optional[float] = ..., treatment_conversions: _Optional[int] = ..., treatment_rate: _Optional[float] = ..., control_conversions: _Optional[int] = ..., control_rate: _Optional[float] = ..., lift: _Optional[float] = ..., confidence: _Optional[float] = ..., enough_data: _Optional[bool] = ...) -> None: ...

class VariantGoalStats(_message.Message):
    __slots__ = ("name", "conversions", "rate", "chance_to_beat_first")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    CHANCE_TO_BEAT_FIRST_FIELD_NUMBER: _ClassVar[int]
    name: str
    conversions: int
    rate: float
    chance_to_beat_first: float
    def __init__(self, name: _Optional[str] = ..., conversions: _Optional[int] = ..., rate: _Optional[float] = ..., chance_to_beat_first: _Optional[float] = ...) -> None: ...

class VariantStats(_message.Message):
    __slots__ = ("name", "weight", "sent", "goals")
    NAME_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    SENT_FIELD_NUMBER: _ClassVar[int]
    GOALS_FIELD_NUMBER: _ClassVar[int]
    name: str
    weight: int
    sent: int
    goals: _containers.RepeatedCompositeFieldContainer[VariantGoalStats]
    def __init__(self, name: _Optional[str] = ..., weight: _Optional[int] = ..., sent: _Optional[int] = ..., goals: _Optional[_Iterable[_Union[VariantGoalStats, _Mapping]]] = ...) -> None: ...

class CampaignStats(_message.Message):
    __slots__ = ("name", "status", "triggered", "scheduled", "sent", "failed", "suppressed", "suppressed_by_reason", "goals", "cancelled", "unknown", "not_entered", "held_out", "held_out_by_group", "holdout", "variants", "min_group_size")
    class SuppressedByReasonEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class NotEnteredEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class HeldOutByGroupEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TRIGGERED_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_FIELD_NUMBER: _ClassVar[int]
    SENT_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_BY_REASON_FIELD_NUMBER: _ClassVar[int]
    GOALS_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_FIELD_NUMBER: _ClassVar[int]
    NOT_ENTERED_FIELD_NUMBER: _ClassVar[int]
    HELD_OUT_FIELD_NUMBER: _ClassVar[int]
    HELD_OUT_BY_GROUP_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    MIN_GROUP_SIZE_FIELD_NUMBER: _ClassVar[int]
    name: str
    status: str
    triggered: int
    scheduled: int
    sent: int
    failed: int
    suppressed: int
    suppressed_by_reason: _containers.ScalarMap[str, int]
    goals: _containers.RepeatedCompositeFieldContainer[GoalStats]
    cancelled: int
    unknown: int
    not_entered: _containers.ScalarMap[str, int]
    held_out: int
    held_out_by_group: _containers.ScalarMap[str, int]
    holdout: str
    variants: _containers.RepeatedCompositeFieldContainer[VariantStats]
    min_group_size: int
    def __init__(self, name: _Optional[str] = ..., status: _Optional[str] = ..., triggered: _Optional[int] = ..., scheduled: _Optional[int] = ..., sent: _Optional[int] = ..., failed: _Optional[int] = ..., suppressed: _Optional[int] = ..., suppressed_by_reason: _Optional[_Mapping[str, int]] = ..., goals: _Optional[_Iterable[_Union[GoalStats, _Mapping]]] = ..., cancelled: _Optional[int] = ..., unknown: _Optional[int] = ..., not_entered: _Optional[_Mapping[str, int]] = ..., held_out: _Optional[int] = ..., held_out_by_group: _Optional[_Mapping[str, int]] = ..., holdout: _Optional[str] = ..., variants: _Optional[_Iterable[_Union[VariantStats, _Mapping]]] = ..., min_group_size: _Optional[int] = ...) -> None: ...

class OnEventsRequest(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_ingest_pb2.Event]
    def __init__(self, events: _Optional[_Iterable[_Union[_ingest_pb2.Event, _Mapping]]] = ...) -> None: ...

class OnEventsResponse(_message.Message):
    __slots__ = ("accepted",)
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    def __init__(self, accepted: _Optional[int] = ...) -> None: ...

class ConfirmRequest(_message.Message):
    __slots__ = ("send_id",)
    SEND_ID_FIELD_NUMBER: _ClassVar[int]
    send_id: str
    def __init__(self, send_id: _Optional[str] = ...) -> None: ...

class Address(_message.Message):
    __slots__ = ("kind", "value")
    KIND_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    kind: str
    value: str
    def __init__(self, kind: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class RenderedMessage(_message.Message):
    __slots__ = ("channel", "subject", "body", "html", "title", "data_json", "url")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    HTML_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    channel: str
    subject: str
    body: str
    html: str
    title: str
    data_json: bytes
    url: str
    def __init__(self, channel: _Optional[str] = ..., subject: _Optional[str] = ..., body: _Optional[str] = ..., html: _Optional[str] = ..., title: _Optional[str] = ..., data_json: _Optional[bytes] = ..., url: _Optional[str] = ...) -> None: ...

class ConfirmResponse(_message.Message):
    __slots__ = ("go", "suppress_reason", "message", "addresses", "timezone", "hold", "workspace_id", "user_id", "policy", "held_out", "variant")
    GO_FIELD_NUMBER: _ClassVar[int]
    SUPPRESS_REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    HOLD_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    HELD_OUT_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    go: bool
    suppress_reason: str
    message: RenderedMessage
    addresses: _containers.RepeatedCompositeFieldContainer[Address]
    timezone: str
    hold: bool
    workspace_id: str
    user_id: str
    policy: SendPolicy
    held_out: bool
    variant: str
    def __init__(self, go: _Optional[bool] = ..., suppress_reason: _Optional[str] = ..., message: _Optional[_Union[RenderedMessage, _Mapping]] = ..., addresses: _Optional[_Iterable[_Union[Address, _Mapping]]] = ..., timezone: _Optional[str] = ..., hold: _Optional[bool] = ..., workspace_id: _Optional[str] = ..., user_id: _Optional[str] = ..., policy: _Optional[_Union[SendPolicy, _Mapping]] = ..., held_out: _Optional[bool] = ..., variant: _Optional[str] = ...) -> None: ...

class FrequencyCap(_message.Message):
    __slots__ = ("channel", "max", "per_seconds", "calendar_day", "per")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    PER_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CALENDAR_DAY_FIELD_NUMBER: _ClassVar[int]
    PER_FIELD_NUMBER: _ClassVar[int]
    channel: str
    max: int
    per_seconds: int
    calendar_day: bool
    per: str
    def __init__(self, channel: _Optional[str] = ..., max: _Optional[int] = ..., per_seconds: _Optional[int] = ..., calendar_day: _Optional[bool] = ..., per: _Optional[str] = ...) -> None: ...

class QuietHours(_message.Message):
    __slots__ = ("start", "end", "fallback_timezone")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    start: str
    end: str
    fallback_timezone: str
    def __init__(self, start: _Optional[str] = ..., end: _Optional[str] = ..., fallback_timezone: _Optional[str] = ...) -> None: ...

class SendPolicy(_message.Message):
    __slots__ = ("frequency_caps", "quiet_hours", "transactional", "on_cap")
    FREQUENCY_CAPS_FIELD_NUMBER: _ClassVar[int]
    QUIET_HOURS_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONAL_FIELD_NUMBER: _ClassVar[int]
    ON_CAP_FIELD_NUMBER: _ClassVar[int]
    frequency_caps: _containers.RepeatedCompositeFieldContainer[FrequencyCap]
    quiet_hours: QuietHours
    transactional: bool
    on_cap: str
    def __init__(self, frequency_caps: _Optional[_Iterable[_Union[FrequencyCap, _Mapping]]] = ..., quiet_hours: _Optional[_Union[QuietHours, _Mapping]] = ..., transactional: _Optional[bool] = ..., on_cap: _Optional[str] = ...) -> None: ...

class WorkspaceSettings(_message.Message):
    __slots__ = ("workspace_id", "frequency_caps", "quiet_hours", "global_control", "global_control_text", "source_yaml", "file_name", "updated_at", "changed")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    FREQUENCY_CAPS_FIELD_NUMBER: _ClassVar[int]
    QUIET_HOURS_FIELD_NUMBER: _ClassVar[int]
    GLOBAL_CONTROL_FIELD_NUMBER: _ClassVar[int]
    GLOBAL_CONTROL_TEXT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_YAML_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    frequency_caps: _containers.RepeatedCompositeFieldContainer[FrequencyCap]
    quiet_hours: QuietHours
    global_control: float
    global_control_text: str
    source_yaml: str
    file_name: str
    updated_at: _timestamp_pb2.Timestamp
    changed: bool
    def __init__(self, workspace_id: _Optional[str] = ..., frequency_caps: _Optional[_Iterable[_Union[FrequencyCap, _Mapping]]] = ..., quiet_hours: _Optional[_Union[QuietHours, _Mapping]] = ..., global_control: _Optional[float] = ..., global_control_text: _Optional[str] = ..., source_yaml: _Optional[str] = ..., file_name: _Optional[str] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., changed: _Optional[bool] = ...) -> None: ...

class ApplySettingsRequest(_message.Message):
    __slots__ = ("workspace_id", "source_yaml", "file_name")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_YAML_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    source_yaml: str
    file_name: str
    def __init__(self, workspace_id: _Optional[str] = ..., source_yaml: _Optional[str] = ..., file_name: _Optional[str] = ...) -> None: ...

class GetSettingsRequest(_message.Message):
    __slots__ = ("workspace_id",)
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    def __init__(self, workspace_id: _Optional[str] = ...) -> None: ...

class MarkSentRequest(_message.Message):
    __slots__ = ("send_id", "sent_at", "failed", "outcome", "status", "due_at")
    SEND_ID_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    send_id: str
    sent_at: _timestamp_pb2.Timestamp
    failed: bool
    outcome: str
    status: str
    due_at: _timestamp_pb2.Timestamp
    def __init__(self, send_id: _Optional[str] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., failed: _Optional[bool] = ..., outcome: _Optional[str] = ..., status: _Optional[str] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MarkSentResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSendsRequest(_message.Message):
    __slots__ = ("workspace_id", "campaign", "user_id", "limit")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    campaign: str
    user_id: str
    limit: int
    def __init__(self, workspace_id: _Optional[str] = ..., campaign: _Optional[str] = ..., user_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class SendSummary(_message.Message):
    __slots__ = ("id", "campaign", "user_id", "channel", "status", "due_at", "sent_at", "outcome")
    ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    id: str
    campaign: str
    user_id: str
    channel: str
    status: str
    due_at: _timestamp_pb2.Timestamp
    sent_at: _timestamp_pb2.Timestamp
    outcome: str
    def __init__(self, id: _Optional[str] = ..., campaign: _Optional[str] = ..., user_id: _Optional[str] = ..., channel: _Optional[str] = ..., status: _Optional[str] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., outcome: _Optional[str] = ...) -> None: ...

class ListSendsResponse(_message.Message):
    __slots__ = ("sends",)
    SENDS_FIELD_NUMBER: _ClassVar[int]
    sends: _containers.RepeatedCompositeFieldContainer[SendSummary]
    def __init__(self, sends: _Optional[_Iterable[_Union[SendSummary, _Mapping]]] = ...) -> None: ...

class UnsubscribeRequest(_message.Message):
    __slots__ = ("workspace_id", "id", "campaign", "resubscribe")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    RESUBSCRIBE_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    id: str
    campaign: str
    resubscribe: bool
    def __init__(self, workspace_id: _Optional[str] = ..., id: _Optional[str] = ..., campaign: _Optional[str] = ..., resubscribe: _Optional[bool] = ...) -> None: ...

class UnsubscribeResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSubscriptionsRequest(_message.Message):
    __slots__ = ("workspace_id", "id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    id: str
    def __init__(self, workspace_id: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class Subscriptions(_message.Message):
    __slots__ = ("unsubscribed_from_all", "unsubscribed_campaigns")
    UNSUBSCRIBED_FROM_ALL_FIELD_NUMBER: _ClassVar[int]
    UNSUBSCRIBED_CAMPAIGNS_FIELD_NUMBER: _ClassVar[int]
    unsubscribed_from_all: bool
    unsubscribed_campaigns: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, unsubscribed_from_all: _Optional[bool] = ..., unsubscribed_campaigns: _Optional[_Iterable[str]] = ...) -> None: ...

class ConfirmBatchRequest(_message.Message):
    __slots__ = ("send_ids",)
    SEND_IDS_FIELD_NUMBER: _ClassVar[int]
    send_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, send_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ConfirmResult(_message.Message):
    __slots__ = ("send_id", "answer", "error")
    SEND_ID_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    send_id: str
    answer: ConfirmResponse
    error: str
    def __init__(self, send_id: _Optional[str] = ..., answer: _Optional[_Union[ConfirmResponse, _Mapping]] = ..., error: _Optional[str] = ...) -> None: ...

class ConfirmBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ConfirmResult]
    def __init__(self, results: _Optional[_Iterable[_Union[ConfirmResult, _Mapping]]] = ...) -> None: ...

class MarkSentBatchRequest(_message.Message):
    __slots__ = ("reports",)
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    reports: _containers.RepeatedCompositeFieldContainer[MarkSentRequest]
    def __init__(self, reports: _Optional[_Iterable[_Union[MarkSentRequest, _Mapping]]] = ...) -> None: ...

class MarkSentBatchResponse(_message.Message):
    __slots__ = ("unknown_send_ids",)
    UNKNOWN_SEND_IDS_FIELD_NUMBER: _ClassVar[int]
    unknown_send_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, unknown_send_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ListCampaignSummariesRequest(_message.Message):
    __slots__ = ("workspace_id", "page_size", "page_token")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    page_size: int
    page_token: str
    def __init__(self, workspace_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class CampaignSummary(_message.Message):
    __slots__ = ("campaign", "channel", "triggered", "sent", "primary_goal", "primary_conversions", "primary_rate")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TRIGGERED_FIELD_NUMBER: _ClassVar[int]
    SENT_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_GOAL_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_RATE_FIELD_NUMBER: _ClassVar[int]
    campaign: Campaign
    channel: str
    triggered: int
    sent: int
    primary_goal: str
    primary_conversions: int
    primary_rate: float
    def __init__(self, campaign: _Optional[_Union[Campaign, _Mapping]] = ..., channel: _Optional[str] = ..., triggered: _Optional[int] = ..., sent: _Optional[int] = ..., primary_goal: _Optional[str] = ..., primary_conversions: _Optional[int] = ..., primary_rate: _Optional[float] = ...) -> None: ...

class ListCampaignSummariesResponse(_message.Message):
    __slots__ = ("campaigns", "next_page_token")
    CAMPAIGNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    campaigns: _containers.RepeatedCompositeFieldContainer[CampaignSummary]
    next_page_token: str
    def __init__(self, campaigns: _Optional[_Iterable[_Union[CampaignSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListCampaignVersionsRequest(_message.Message):
    __slots__ = ("workspace_id", "name", "page_size", "page_token")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    name: str
    page_size: int
    page_token: str
    def __init__(self, workspace_id: _Optional[str] = ..., name: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class CampaignVersion(_message.Message):
    __slots__ = ("version", "source_yaml", "file_name", "created_at", "current")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_YAML_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    version: int
    source_yaml: str
    file_name: str
    created_at: _timestamp_pb2.Timestamp
    current: bool
    def __init__(self, version: _Optional[int] = ..., source_yaml: _Optional[str] = ..., file_name: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., current: _Optional[bool] = ...) -> None: ...

class ListCampaignVersionsResponse(_message.Message):
    __slots__ = ("versions", "next_page_token")
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[CampaignVersion]
    next_page_token: str
    def __init__(self, versions: _Optional[_Iterable[_Union[CampaignVersion, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetCampaignDailyRequest(_message.Message):
    __slots__ = ("workspace_id", "name", "days")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    name: str
    days: int
    def __init__(self, workspace_id: _Optional[str] = ..., name: _Optional[str] = ..., days: _Optional[int] = ...) -> None: ...

class CampaignDay(_message.Message):
    __slots__ = ("day", "sent", "conversions")
    DAY_FIELD_NUMBER: _ClassVar[int]
    SENT_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    day: str
    sent: int
    conversions: int
    def __init__(self, day: _Optional[str] = ..., sent: _Optional[int] = ..., conversions: _Optional[int] = ...) -> None: ...

class GetCampaignDailyResponse(_message.Message):
    __slots__ = ("days", "primary_goal")
    DAYS_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_GOAL_FIELD_NUMBER: _ClassVar[int]
    days: _containers.RepeatedCompositeFieldContainer[CampaignDay]
    primary_goal: str
    def __init__(self, days: _Optional[_Iterable[_Union[CampaignDay, _Mapping]]] = ..., primary_goal: _Optional[str] = ...) -> None: ...

class PreviewMessageRequest(_message.Message):
    __slots__ = ("workspace_id", "name", "source_yaml", "user_id", "event_properties_json", "event_name", "event_time")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_YAML_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_PROPERTIES_JSON_FIELD_NUMBER: _ClassVar[int]
    EVENT_NAME_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    name: str
    source_yaml: str
    user_id: str
    event_properties_json: bytes
    event_name: str
    event_time: _timestamp_pb2.Timestamp
    def __init__(self, workspace_id: _Optional[str] = ..., name: _Optional[str] = ..., source_yaml: _Optional[str] = ..., user_id: _Optional[str] = ..., event_properties_json: _Optional[bytes] = ..., event_name: _Optional[str] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PreviewMessageResponse(_message.Message):
    __slots__ = ("message", "addresses", "render_error", "conditions_hold", "attributes_json", "user_id", "channel", "warnings")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    RENDER_ERROR_FIELD_NUMBER: _ClassVar[int]
    CONDITIONS_HOLD_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_JSON_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    message: RenderedMessage
    addresses: _containers.RepeatedCompositeFieldContainer[Address]
    render_error: str
    conditions_hold: bool
    attributes_json: bytes
    user_id: str
    channel: str
    warnings: _containers.RepeatedCompositeFieldContainer[ApplyWarning]
    def __init__(self, message: _Optional[_Union[RenderedMessage, _Mapping]] = ..., addresses: _Optional[_Iterable[_Union[Address, _Mapping]]] = ..., render_error: _Optional[str] = ..., conditions_hold: _Optional[bool] = ..., attributes_json: _Optional[bytes] = ..., user_id: _Optional[str] = ..., channel: _Optional[str] = ..., warnings: _Optional[_Iterable[_Union[ApplyWarning, _Mapping]]] = ...) -> None: ...

class SimulateRequest(_message.Message):
    __slots__ = ("workspace_id", "source_yaml", "name", "file_name", "since", "until")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_YAML_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    source_yaml: str
    name: str
    file_name: str
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    def __init__(self, workspace_id: _Optional[str] = ..., source_yaml: _Optional[str] = ..., name: _Optional[str] = ..., file_name: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SimulateCount(_message.Message):
    __slots__ = ("key", "count")
    KEY_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    key: str
    count: int
    def __init__(self, key: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class SimulateGoal(_message.Message):
    __slots__ = ("name", "conversions", "rate")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    name: str
    conversions: int
    rate: float
    def __init__(self, name: _Optional[str] = ..., conversions: _Optional[int] = ..., rate: _Optional[float] = ...) -> None: ...

class SimulateResponse(_message.Message):
    __slots__ = ("campaign", "events_replayed", "triggered", "entered", "filtered_out", "cancelled", "would_send", "would_send_by_day", "would_send_by_local_hour", "goals", "kept_out_by_reentry", "not_sent", "users_in_flight_peak")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    EVENTS_REPLAYED_FIELD_NUMBER: _ClassVar[int]
    TRIGGERED_FIELD_NUMBER: _ClassVar[int]
    ENTERED_FIELD_NUMBER: _ClassVar[int]
    FILTERED_OUT_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    WOULD_SEND_FIELD_NUMBER: _ClassVar[int]
    WOULD_SEND_BY_DAY_FIELD_NUMBER: _ClassVar[int]
    WOULD_SEND_BY_LOCAL_HOUR_FIELD_NUMBER: _ClassVar[int]
    GOALS_FIELD_NUMBER: _ClassVar[int]
    KEPT_OUT_BY_REENTRY_FIELD_NUMBER: _ClassVar[int]
    NOT_SENT_FIELD_NUMBER: _ClassVar[int]
    USERS_IN_FLIGHT_PEAK_FIELD_NUMBER: _ClassVar[int]
    campaign: str
    events_replayed: int
    triggered: int
    entered: int
    filtered_out: _containers.RepeatedCompositeFieldContainer[SimulateCount]
    cancelled: int
    would_send: int
    would_send_by_day: _containers.RepeatedCompositeFieldContainer[SimulateCount]
    would_send_by_local_hour: _containers.RepeatedCompositeFieldContainer[SimulateCount]
    goals: _containers.RepeatedCompositeFieldContainer[SimulateGoal]
    kept_out_by_reentry: int
    not_sent: _containers.RepeatedCompositeFieldContainer[SimulateCount]
    users_in_flight_peak: int
    def __init__(self, campaign: _Optional[str] = ..., events_replayed: _Optional[int] = ..., triggered: _Optional[int] = ..., entered: _Optional[int] = ..., filtered_out: _Optional[_Iterable[_Union[SimulateCount, _Mapping]]] = ..., cancelled: _Optional[int] = ..., would_send: _Optional[int] = ..., would_send_by_day: _Optional[_Iterable[_Union[SimulateCount, _Mapping]]] = ..., would_send_by_local_hour: _Optional[_Iterable[_Union[SimulateCount, _Mapping]]] = ..., goals: _Optional[_Iterable[_Union[SimulateGoal, _Mapping]]] = ..., kept_out_by_reentry: _Optional[int] = ..., not_sent: _Optional[_Iterable[_Union[SimulateCount, _Mapping]]] = ..., users_in_flight_peak: _Optional[int] = ...) -> None: ...
