"""identity's use cases: plain functions taking a command and a unit of work (a Session)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import Session

from herald_common.errors import AlreadyExists, FieldError, InvalidArgument, NotFound
from herald_services.identity.domain import apply_attributes, map_traits, merge_attributes
from herald_services.identity.store import (
    AnonymousIdRecord,
    DeviceRecord,
    GroupMemberRecord,
    GroupRecord,
    IdentityRepository,
    ProfileRecord,
    WorkspaceRecord,
)

log = structlog.get_logger(__name__)


# ---- commands and results -------------------------------------------------------------


@dataclass(frozen=True)
class IdentifyCommand:
    user_id: str | None
    anonymous_id: str | None
    traits: dict[str, Any]
    context: dict[str, Any]
    timestamp: datetime
    message_id: str = ""


@dataclass(frozen=True)
class AliasCommand:
    previous_id: str
    user_id: str
    timestamp: datetime


@dataclass(frozen=True)
class GroupCommand:
    group_id: str
    user_id: str | None
    anonymous_id: str | None
    traits: dict[str, Any]
    timestamp: datetime


@dataclass(frozen=True)
class UserRef:
    user_id: str | None
    anonymous_id: str | None


@dataclass
class IdentifyOutcome:
    profile_id: str
    rejected: list[FieldError] = field(default_factory=list)


@dataclass
class UserView:
    profile: ProfileRecord
    anonymous_ids: list[str]
    devices: list[DeviceRecord]
    merged_profile_ids: list[str]
    group_ids: list[str]


# ---- linking ids to profiles ----------------------------------------------------------


class _Linker:
    """Finds, creates and merges profiles for the ids of one batch, in call order.

    The batch's profiles are loaded with a few queries up front and kept in memory, so a
    batch of a hundred calls costs a handful of round trips, not hundreds.
    """

    def __init__(self, repo: IdentityRepository, workspace_id: str, now: datetime) -> None:
        self.repo = repo
        self.workspace_id = workspace_id
        self.now = now
        self.by_user: dict[str, ProfileRecord] = {}
        self.by_alias: dict[str, str] = {}  # anonymous id or former user id -> profile id
        self.profiles: dict[str, ProfileRecord] = {}

    def preload(self, user_ids: set[str], aliases: set[str]) -> None:
        user_ids.discard("")
        aliases.discard("")
        self.by_user = self.repo.profiles_by_user_ids(self.workspace_id, user_ids)
        self.by_alias = self.repo.profile_ids_by_anonymous_ids(self.workspace_id, aliases | user_ids)
        self.profiles = {p.id: p for p in self.by_user.values()}
        missing = set(self.by_alias.values()) - set(self.profiles)
        self.profiles.update(self.repo.profiles_by_ids(missing))

    def _by_user_id(self, user_id: str) -> ProfileRecord | None:
        profile = self.by_user.get(user_id)
        if profile is None and user_id in self.by_alias:
            profile = self.profiles.get(self.by_alias[user_id])
        return profile

    def _by_alias(self, alias: str) -> ProfileRecord | None:
        profile_id = self.by_alias.get(alias)
        return self.profiles.get(profile_id) if profile_id else None

    def _create(self, user_id: str | None) -> ProfileRecord:
        profile = ProfileRecord(
            id=uuid.uuid4().hex,
            workspace_id=self.workspace_id,
            user_id=user_id,
            attributes={},
            attribute_times={},
            created_at=self.now,
            updated_at=self.now,
        )
        self.repo.session.add(profile)
        self.profiles[profile.id] = profile
        if user_id:
            self.by_user[user_id] = profile
        log.info("profile_created", profile_id=profile.id, anonymous=user_id is None)
        return profile

    def _add_alias(self, alias: str, profile: ProfileRecord) -> None:
        self.repo.session.add(
            AnonymousIdRecord(
                workspace_id=self.workspace_id, anonymous_id=alias, profile_id=profile.id, created_at=self.now
            )
        )
        self.by_alias[alias] = profile.id

    def merge(self, source: ProfileRecord, target: ProfileRecord) -> None:
        """Merges source into target: newer attribute values win, ids and devices are unioned,
        and source is kept as a pointer so its events stay reachable under target."""
        self.repo.session.flush()
        merge_attributes(target.attributes, target.attribute_times, source.attributes, source.attribute_times)
        flag_modified(target, "attributes")
        flag_modified(target, "attribute_times")
        target.updated_at = self.now
        self.repo.move_profile_links(self.workspace_id, source.id, target.id)
        former_user_id = source.user_id
        source.user_id = None
        source.merged_into = target.id
        source.attributes, source.attribute_times = {}, {}
        source.updated_at = self.now
        self.repo.session.flush()
        if former_user_id:
            self.by_user.pop(former_user_id, None)
            self._add_alias(former_user_id, target)
        for alias, profile_id in list(self.by_alias.items()):
            if profile_id == source.id:
                self.by_alias[alias] = target.id
        log.info("profiles_merged", source=source.id, target=target.id)

    def link(self, user_id: str | None, anonymous_id: str | None, *, create: bool = True) -> ProfileRecord | None:
        """The profile these ids name; joins an anonymous profile to its user."""
        by_user = self._by_user_id(user_id) if user_id else None
        by_anonymous = self._by_alias(anonymous_id) if anonymous_id else None
        if by_user is not None:
            if anonymous_id and by_anonymous is None:
                self._add_alias(anonymous_id, by_user)
            elif by_anonymous is not None and by_anonymous.id != by_user.id:
                if by_anonymous.user_id is None:
                    self.merge(by_anonymous, by_user)
                else:
                    # The anonymous id already belongs to another identified user: two people
                    # shared a device. Never merge two known users on a guess.
                    log.info("anonymous_id_of_other_user", anonymous_id=anonymous_id, kept_on=by_anonymous.id)
            return by_user
        if by_anonymous is not None:
            if not user_id:
                return by_anonymous
            if by_anonymous.user_id is None:
                by_anonymous.user_id = user_id
                by_anonymous.updated_at = self.now
                self.by_user[user_id] = by_anonymous
                return by_anonymous
            return self._create(user_id) if create else None
        if not create:
            return None
        profile = self._create(user_id or None)
        if anonymous_id:
            self._add_alias(anonymous_id, profile)
        return profile

    def alias(self, previous_id: str, user_id: str) -> ProfileRecord:
        previous = self._by_user_id(previous_id) or self._by_alias(previous_id)
        current = self._by_user_id(user_id)
        if previous is not None and current is not None:
            if previous.id != current.id:
                self.merge(previous, current)
            return current
        if previous is not None:
            if previous.user_id and previous.user_id != user_id:
                self.by_user.pop(previous.user_id, None)
                self._add_alias(previous.user_id, previous)
            previous.user_id = user_id
            previous.updated_at = self.now
            self.by_user[user_id] = previous
            return previous
        if current is None:
            current = self._create(user_id)
        self._add_alias(previous_id, current)
        return current


def _require_workspace(repo: IdentityRepository, workspace_id: str) -> None:
    if not workspace_id:
        raise InvalidArgument(errors=[FieldError("workspace_id", "is required")])
    if repo.workspace(workspace_id) is None:
        raise NotFound(f"workspace {workspace_id!r} does not exist")


# ---- use cases --------------------------------------------------------------------------


def ensure_workspace(session: Session, *, workspace_id: str, name: str, write_key: str, now: datetime) -> WorkspaceRecord:
    errors = [FieldError(f, "is required") for f, v in (("id", workspace_id), ("write_key", write_key)) if not v]
    if errors:
        raise InvalidArgument(errors=errors)
    repo = IdentityRepository(session)
    holder = repo.workspace_by_write_key(write_key)
    if holder is not None and holder.id != workspace_id:
        raise AlreadyExists(f"write key is already used by workspace {holder.id!r}")
    workspace = repo.workspace(workspace_id)
    if workspace is None:
        workspace = WorkspaceRecord(id=workspace_id, name=name or workspace_id, write_key=write_key, created_at=now)
        session.add(workspace)
        log.info("workspace_created", workspace_id=workspace_id)
    elif workspace.write_key != write_key or (name and workspace.name != name):
        workspace.write_key = write_key
        workspace.name = name or workspace.name
        log.info("workspace_updated", workspace_id=workspace_id)
    return workspace


def workspace_by_write_key(session: Session, *, write_key: str) -> WorkspaceRecord:
    workspace = IdentityRepository(session).workspace_by_write_key(write_key) if write_key else None
    if workspace is None:
        raise NotFound("unknown write key")
    return workspace


def identify(
    session: Session, *, workspace_id: str, calls: list[IdentifyCommand], default_region: str, now: datetime
) -> list[IdentifyOutcome]:
    repo = IdentityRepository(session)
    _require_workspace(repo, workspace_id)
    linker = _Linker(repo, workspace_id, now)
    linker.preload({c.user_id for c in calls if c.user_id}, {c.anonymous_id for c in calls if c.anonymous_id})
    outcomes = []
    for call in calls:
        if not call.user_id and not call.anonymous_id:
            outcomes.append(IdentifyOutcome("", [FieldError("userId", "an identify needs a userId or an anonymousId")]))
            continue
        profile = linker.link(call.user_id, call.anonymous_id)
        mapping = map_traits(call.traits, call.context, default_region=default_region)
        if apply_attributes(profile.attributes, profile.attribute_times, mapping.attributes, call.timestamp):
            profile.updated_at = now
        flag_modified(profile, "attributes")
        flag_modified(profile, "attribute_times")
        for device in mapping.devices:
            _keep_device(repo, workspace_id, device.kind, device.token, profile.id, now)
        for rejection in mapping.rejected:
            log.info("field_refused", profile_id=profile.id, field=rejection.field, reason=rejection.reason)
        outcomes.append(IdentifyOutcome(profile.id, mapping.rejected))
    return outcomes


def _keep_device(repo: IdentityRepository, workspace_id: str, kind: str, token: str, profile_id: str, now: datetime) -> None:
    """A token is kept once; it moves to the user who sent it last."""
    existing = repo.device(workspace_id, kind, token)
    if existing is None:
        repo.session.add(DeviceRecord(workspace_id=workspace_id, kind=kind, token=token, profile_id=profile_id, last_seen=now))
        repo.session.flush()
    else:
        if existing.profile_id != profile_id:
            log.info("device_moved", kind=kind, from_profile=existing.profile_id, to_profile=profile_id)
        existing.profile_id = profile_id
        existing.last_seen = now


def alias(session: Session, *, workspace_id: str, calls: list[AliasCommand], now: datetime) -> list[str]:
    repo = IdentityRepository(session)
    _require_workspace(repo, workspace_id)
    errors = []
    for index, call in enumerate(calls):
        if not call.previous_id:
            errors.append(FieldError(f"calls[{index}].previousId", "is required"))
        if not call.user_id:
            errors.append(FieldError(f"calls[{index}].userId", "is required"))
    if errors:
        raise InvalidArgument(errors=errors)
    linker = _Linker(repo, workspace_id, now)
    ids = {c.previous_id for c in calls} | {c.user_id for c in calls}
    linker.preload(set(ids), set(ids))
    return [linker.alias(call.previous_id, call.user_id).id for call in calls]


def group(session: Session, *, workspace_id: str, calls: list[GroupCommand], now: datetime) -> None:
    repo = IdentityRepository(session)
    _require_workspace(repo, workspace_id)
    linker = _Linker(repo, workspace_id, now)
    linker.preload({c.user_id for c in calls if c.user_id}, {c.anonymous_id for c in calls if c.anonymous_id})
    for call in calls:
        if not call.group_id:
            continue
        record = repo.group(workspace_id, call.group_id)
        if record is None:
            record = GroupRecord(workspace_id=workspace_id, group_id=call.group_id, traits={}, updated_at=now)
            session.add(record)
        record.traits = {**record.traits, **call.traits}
        record.updated_at = now
        if call.user_id or call.anonymous_id:
            profile = linker.link(call.user_id, call.anonymous_id)
            session.merge(GroupMemberRecord(workspace_id=workspace_id, group_id=call.group_id, profile_id=profile.id))
        session.flush()


def resolve(
    session: Session, *, workspace_id: str, refs: list[UserRef], create_missing: bool, now: datetime
) -> list[ProfileRecord | None]:
    repo = IdentityRepository(session)
    _require_workspace(repo, workspace_id)
    linker = _Linker(repo, workspace_id, now)
    linker.preload({r.user_id for r in refs if r.user_id}, {r.anonymous_id for r in refs if r.anonymous_id})
    return [
        linker.link(ref.user_id, ref.anonymous_id, create=create_missing) if (ref.user_id or ref.anonymous_id) else None
        for ref in refs
    ]


def find_profile(repo: IdentityRepository, workspace_id: str, some_id: str) -> ProfileRecord | None:
    """By user id, else by any joined anonymous id or former user id."""
    profile = repo.profiles_by_user_ids(workspace_id, {some_id}).get(some_id)
    if profile is None:
        profile_id = repo.profile_ids_by_anonymous_ids(workspace_id, {some_id}).get(some_id)
        profile = repo.profile(profile_id) if profile_id else None
    return profile


def get_user(session: Session, *, workspace_id: str, some_id: str = "", profile_id: str = "") -> UserView:
    repo = IdentityRepository(session)
    _require_workspace(repo, workspace_id)
    if profile_id:
        profile = repo.profile(profile_id)
        while profile is not None and profile.merged_into:
            profile = repo.profile(profile.merged_into)
        if profile is not None and profile.workspace_id != workspace_id:
            profile = None
    elif some_id:
        profile = find_profile(repo, workspace_id, some_id)
    else:
        raise InvalidArgument(errors=[FieldError("id", "a user id, anonymous id or profile id is required")])
    if profile is None:
        raise NotFound(f"no user {some_id or profile_id!r} in workspace {workspace_id!r}")
    return UserView(
        profile=profile,
        anonymous_ids=repo.anonymous_ids_of(profile.id),
        devices=repo.devices_of(profile.id),
        merged_profile_ids=repo.merged_into(workspace_id, profile.id),
        group_ids=repo.group_ids_of(profile.id),
    )


def profile_ids_for_deletion(session: Session, *, workspace_id: str, some_id: str) -> list[str]:
    view = get_user(session, workspace_id=workspace_id, some_id=some_id)
    return [view.profile.id, *view.merged_profile_ids]


def delete_profiles(session: Session, *, workspace_id: str, profile_ids: list[str]) -> None:
    IdentityRepository(session).delete_profiles(workspace_id, profile_ids)
    log.info("user_deleted", profile_ids=profile_ids)


def remove_device(session: Session, *, workspace_id: str, kind: str, token: str) -> bool:
    repo = IdentityRepository(session)
    device = repo.device(workspace_id, kind, token)
    if device is None:
        return False
    session.delete(device)
    log.info("device_removed", kind=kind, profile_id=device.profile_id)
    return True
