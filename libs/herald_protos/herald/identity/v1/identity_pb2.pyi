import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Workspace(_message.Message):
    __slots__ = ("id", "name", "write_key")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    WRITE_KEY_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    write_key: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., write_key: _Optional[str] = ...) -> None: ...

class EnsureWorkspaceRequest(_message.Message):
    __slots__ = ("id", "name", "write_key")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    WRITE_KEY_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    write_key: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., write_key: _Optional[str] = ...) -> None: ...

class GetWorkspaceByWriteKeyRequest(_message.Message):
    __slots__ = ("write_key",)
    WRITE_KEY_FIELD_NUMBER: _ClassVar[int]
    write_key: str
    def __init__(self, write_key: _Optional[str] = ...) -> None: ...

class ListWorkspacesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListWorkspacesResponse(_message.Message):
    __slots__ = ("workspaces",)
    WORKSPACES_FIELD_NUMBER: _ClassVar[int]
    workspaces: _containers.RepeatedCompositeFieldContainer[Workspace]
    def __init__(self, workspaces: _Optional[_Iterable[_Union[Workspace, _Mapping]]] = ...) -> None: ...

class FieldRejection(_message.Message):
    __slots__ = ("field", "reason")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    field: str
    reason: str
    def __init__(self, field: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class IdentifyCall(_message.Message):
    __slots__ = ("message_id", "user_id", "anonymous_id", "traits_json", "context_json", "timestamp")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ANONYMOUS_ID_FIELD_NUMBER: _ClassVar[int]
    TRAITS_JSON_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_JSON_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    user_id: str
    anonymous_id: str
    traits_json: bytes
    context_json: bytes
    timestamp: _timestamp_pb2.Timestamp
    def __init__(self, message_id: _Optional[str] = ..., user_id: _Optional[str] = ..., anonymous_id: _Optional[str] = ..., traits_json: _Optional[bytes] = ..., context_json: _Optional[bytes] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class IdentifyRequest(_message.Message):
    __slots__ = ("workspace_id", "calls")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    calls: _containers.RepeatedCompositeFieldContainer[IdentifyCall]
    def __init__(self, workspace_id: _Optional[str] = ..., calls: _Optional[_Iterable[_Union[IdentifyCall, _Mapping]]] = ...) -> None: ...

class IdentifyResult(_message.Message):
    __slots__ = ("profile_id", "rejected")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    rejected: _containers.RepeatedCompositeFieldContainer[FieldRejection]
    def __init__(self, profile_id: _Optional[str] = ..., rejected: _Optional[_Iterable[_Union[FieldRejection, _Mapping]]] = ...) -> None: ...

class IdentifyResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[IdentifyResult]
    def __init__(self, results: _Optional[_Iterable[_Union[IdentifyResult, _Mapping]]] = ...) -> None: ...

class AliasCall(_message.Message):
    __slots__ = ("message_id", "previous_id", "user_id", "timestamp")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    previous_id: str
    user_id: str
    timestamp: _timestamp_pb2.Timestamp
    def __init__(self, message_id: _Optional[str] = ..., previous_id: _Optional[str] = ..., user_id: _Optional[str] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AliasRequest(_message.Message):
    __slots__ = ("workspace_id", "calls")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    calls: _containers.RepeatedCompositeFieldContainer[AliasCall]
    def __init__(self, workspace_id: _Optional[str] = ..., calls: _Optional[_Iterable[_Union[AliasCall, _Mapping]]] = ...) -> None: ...

class AliasResult(_message.Message):
    __slots__ = ("profile_id",)
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    def __init__(self, profile_id: _Optional[str] = ...) -> None: ...

class AliasResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[AliasResult]
    def __init__(self, results: _Optional[_Iterable[_Union[AliasResult, _Mapping]]] = ...) -> None: ...

class GroupCall(_message.Message):
    __slots__ = ("message_id", "group_id", "user_id", "anonymous_id", "traits_json", "timestamp")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ANONYMOUS_ID_FIELD_NUMBER: _ClassVar[int]
    TRAITS_JSON_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    group_id: str
    user_id: str
    anonymous_id: str
    traits_json: bytes
    timestamp: _timestamp_pb2.Timestamp
    def __init__(self, message_id: _Optional[str] = ..., group_id: _Optional[str] = ..., user_id: _Optional[str] = ..., anonymous_id: _Optional[str] = ..., traits_json: _Optional[bytes] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GroupRequest(_message.Message):
    __slots__ = ("workspace_id", "calls")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    calls: _containers.RepeatedCompositeFieldContainer[GroupCall]
    def __init__(self, workspace_id: _Optional[str] = ..., calls: _Optional[_Iterable[_Union[GroupCall, _Mapping]]] = ...) -> None: ...

class GroupResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UserRef(_message.Message):
    __slots__ = ("user_id", "anonymous_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ANONYMOUS_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    anonymous_id: str
    def __init__(self, user_id: _Optional[str] = ..., anonymous_id: _Optional[str] = ...) -> None: ...

class ResolveRequest(_message.Message):
    __slots__ = ("workspace_id", "refs", "create_missing")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    REFS_FIELD_NUMBER: _ClassVar[int]
    CREATE_MISSING_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    refs: _containers.RepeatedCompositeFieldContainer[UserRef]
    create_missing: bool
    def __init__(self, workspace_id: _Optional[str] = ..., refs: _Optional[_Iterable[_Union[UserRef, _Mapping]]] = ..., create_missing: _Optional[bool] = ...) -> None: ...

class ResolvedUser(_message.Message):
    __slots__ = ("profile_id", "user_id")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    user_id: str
    def __init__(self, profile_id: _Optional[str] = ..., user_id: _Optional[str] = ...) -> None: ...

class ResolveResponse(_message.Message):
    __slots__ = ("users",)
    USERS_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[ResolvedUser]
    def __init__(self, users: _Optional[_Iterable[_Union[ResolvedUser, _Mapping]]] = ...) -> None: ...

class Device(_message.Message):
    __slots__ = ("kind", "token", "last_seen")
    KIND_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    kind: str
    token: str
    last_seen: _timestamp_pb2.Timestamp
    def __init__(self, kind: _Optional[str] = ..., token: _Optional[str] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class User(_message.Message):
    __slots__ = ("profile_id", "user_id", "anonymous_ids", "attributes_json", "devices", "created_at", "updated_at", "merged_profile_ids", "group_ids")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ANONYMOUS_IDS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_JSON_FIELD_NUMBER: _ClassVar[int]
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    MERGED_PROFILE_IDS_FIELD_NUMBER: _ClassVar[int]
    GROUP_IDS_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    user_id: str
    anonymous_ids: _containers.RepeatedScalarFieldContainer[str]
    attributes_json: bytes
    devices: _containers.RepeatedCompositeFieldContainer[Device]
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    merged_profile_ids: _containers.RepeatedScalarFieldContainer[str]
    group_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, profile_id: _Optional[str] = ..., user_id: _Optional[str] = ..., anonymous_ids: _Optional[_Iterable[str]] = ..., attributes_json: _Optional[bytes] = ..., devices: _Optional[_Iterable[_Union[Device, _Mapping]]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., merged_profile_ids: _Optional[_Iterable[str]] = ..., group_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class GetUserRequest(_message.Message):
    __slots__ = ("workspace_id", "id", "profile_id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    id: str
    profile_id: str
    def __init__(self, workspace_id: _Optional[str] = ..., id: _Optional[str] = ..., profile_id: _Optional[str] = ...) -> None: ...

class GetUsersRequest(_message.Message):
    __slots__ = ("workspace_id", "profile_ids")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_IDS_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    profile_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, workspace_id: _Optional[str] = ..., profile_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class GetUsersResponse(_message.Message):
    __slots__ = ("users", "missing_profile_ids")
    class UsersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: User
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[User, _Mapping]] = ...) -> None: ...
    USERS_FIELD_NUMBER: _ClassVar[int]
    MISSING_PROFILE_IDS_FIELD_NUMBER: _ClassVar[int]
    users: _containers.MessageMap[str, User]
    missing_profile_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, users: _Optional[_Mapping[str, User]] = ..., missing_profile_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class DeleteUserRequest(_message.Message):
    __slots__ = ("workspace_id", "id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    id: str
    def __init__(self, workspace_id: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class DeleteUserResponse(_message.Message):
    __slots__ = ("profile_ids", "events_deleted")
    PROFILE_IDS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_DELETED_FIELD_NUMBER: _ClassVar[int]
    profile_ids: _containers.RepeatedScalarFieldContainer[str]
    events_deleted: int
    def __init__(self, profile_ids: _Optional[_Iterable[str]] = ..., events_deleted: _Optional[int] = ...) -> None: ...

class RemoveDeviceRequest(_message.Message):
    __slots__ = ("workspace_id", "kind", "token")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    kind: str
    token: str
    def __init__(self, workspace_id: _Optional[str] = ..., kind: _Optional[str] = ..., token: _Optional[str] = ...) -> None: ...

class RemoveDeviceResponse(_message.Message):
    __slots__ = ("removed",)
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    removed: bool
    def __init__(self, removed: _Optional[bool] = ...) -> None: ...

class SearchUsersRequest(_message.Message):
    __slots__ = ("workspace_id", "query", "limit")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    query: str
    limit: int
    def __init__(self, workspace_id: _Optional[str] = ..., query: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class UserMatch(_message.Message):
    __slots__ = ("user", "matched", "email")
    USER_FIELD_NUMBER: _ClassVar[int]
    MATCHED_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    user: User
    matched: str
    email: str
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ..., matched: _Optional[str] = ..., email: _Optional[str] = ...) -> None: ...

class SearchUsersResponse(_message.Message):
    __slots__ = ("matches",)
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    matches: _containers.RepeatedCompositeFieldContainer[UserMatch]
    def __init__(self, matches: _Optional[_Iterable[_Union[UserMatch, _Mapping]]] = ...) -> None: ...
