"""identity's use cases: plain functions taking a command and a unit of work (a Session)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from herald_common.errors import AlreadyExists, FieldError, InvalidArgument, NotFound
from herald_services.identity import store
from herald_services.identity.domain import apply_attributes, map_traits
from herald_services.identity.store import (
    AnonymousIdRecord,
    DeviceRecord,
    IdentityRepository,
    ProfileRecord,
    WorkspaceRecord,
)
from sqlalchemy import Connection, Text, cast, select
from sqlmodel import Session

log = structlog.get_logger(__name__)


# ---- commands and results -------------------------------------------------------------


@dataclass(slots=True)  # not frozen: a frozen init costs twice as much, once per call of every batch
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


def new_profile_id() -> str:
    return uuid.uuid4().hex


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


def list_workspaces(session: Session) -> list[tuple[str, str]]:
    """(id, name) of every workspace, by id."""
    return [(w.id, w.name) for w in IdentityRepository(session).workspaces()]


def workspace_by_write_key(session: Session, *, write_key: str) -> WorkspaceRecord:
    workspace = IdentityRepository(session).workspace_by_write_key(write_key) if write_key else None
    if workspace is None:
        raise NotFound("unknown write key")
    return workspace


def _require_workspace_exists(connection: Connection, workspace_id: str) -> None:
    if not workspace_id:
        raise InvalidArgument(errors=[FieldError("workspace_id", "is required")])
    if not store.workspace_exists(connection, workspace_id):
        raise NotFound(f"workspace {workspace_id!r} does not exist")


def _book_for(connection: Connection, workspace_id: str, items, now: datetime, new_id: Callable[[], str]):
    """The profiles named by the user ids and anonymous ids of these calls (or refs)."""
    return store.load_book(
        connection,
        workspace_id,
        {item.user_id for item in items if item.user_id},
        {item.anonymous_id for item in items if item.anonymous_id},
        now=now,
        new_id=new_id,
    )


def identify(
    connection: Connection,
    *,
    workspace_id: str,
    calls: list[IdentifyCommand],
    default_region: str,
    now: datetime,
    new_id: Callable[[], str] = new_profile_id,
) -> list[IdentifyOutcome]:
    _require_workspace_exists(connection, workspace_id)
    book = _book_for(connection, workspace_id, calls, now, new_id)
    linked: list[tuple[str, list[FieldError]]] = []
    for call in calls:
        if not call.user_id and not call.anonymous_id:
            linked.append(("", [FieldError("userId", "an identify needs a userId or an anonymousId")]))
            continue
        profile = book.link(call.user_id, call.anonymous_id)
        mapping = map_traits(call.traits, call.context, default_region=default_region)
        if apply_attributes(profile.attributes, profile.attribute_times, mapping.attributes, call.timestamp):
            profile.updated_at = now
            profile.changed = True
        for device in mapping.devices:
            book.keep_device(device.kind, device.token, profile)
        for rejection in mapping.rejected:
            log.info("field_refused", profile_id=profile.id, field=rejection.field, reason=rejection.reason)
        linked.append((profile.id, mapping.rejected))
    store.save_book(connection, book)
    _log_book(book)
    return [IdentifyOutcome(book.canonical(pid) if pid else "", rejected) for pid, rejected in linked]


def _log_book(book) -> None:
    if book.created:
        log.info("profiles_created", count=len(book.created))
    for merge in book.merges:
        log.info("profiles_merged", source=merge.source, target=merge.target)


def alias(
    connection: Connection, *, workspace_id: str, calls: list[AliasCommand], now: datetime,
    new_id: Callable[[], str] = new_profile_id,
) -> list[str]:
    _require_workspace_exists(connection, workspace_id)
    errors = []
    for index, call in enumerate(calls):
        if not call.previous_id:
            errors.append(FieldError(f"calls[{index}].previousId", "is required"))
        if not call.user_id:
            errors.append(FieldError(f"calls[{index}].userId", "is required"))
    if errors:
        raise InvalidArgument(errors=errors)
    ids = {c.previous_id for c in calls} | {c.user_id for c in calls}
    book = store.load_book(connection, workspace_id, set(ids), set(ids), now=now, new_id=new_id)
    profiles = [book.alias(call.previous_id, call.user_id).id for call in calls]
    store.save_book(connection, book)
    _log_book(book)
    return [book.canonical(pid) for pid in profiles]


def group(
    connection: Connection, *, workspace_id: str, calls: list[GroupCommand], now: datetime,
    new_id: Callable[[], str] = new_profile_id,
) -> None:
    _require_workspace_exists(connection, workspace_id)
    book = _book_for(connection, workspace_id, calls, now, new_id)
    for call in calls:
        if not call.group_id:
            continue
        store.upsert_group(connection, workspace_id, call.group_id, call.traits, now)
        if call.user_id or call.anonymous_id:
            profile = book.link(call.user_id, call.anonymous_id)
            book.memberships.add((call.group_id, profile.id))
    store.save_book(connection, book)
    _log_book(book)


def resolve(
    connection: Connection, *, workspace_id: str, refs: list[UserRef], create_missing: bool, now: datetime,
    new_id: Callable[[], str] = new_profile_id,
) -> list[tuple[str, str] | None]:
    """[(profile id, user id)] per ref, None for a ref that names no one (and creates nothing)."""
    _require_workspace_exists(connection, workspace_id)
    if all(ref.user_id or ref.anonymous_id for ref in refs):
        known = store.resolve_known(connection, workspace_id, [(r.user_id, r.anonymous_id) for r in refs])
        if known is not None:
            return known
    book = _book_for(connection, workspace_id, refs, now, new_id)
    found = [
        book.link(ref.user_id, ref.anonymous_id, create=create_missing) if (ref.user_id or ref.anonymous_id) else None
        for ref in refs
    ]
    store.save_book(connection, book)
    _log_book(book)
    answers = []
    for profile in found:
        if profile is None:
            answers.append(None)
        else:
            canonical = book.profiles[book.canonical(profile.id)]
            answers.append((canonical.id, canonical.user_id or ""))
    return answers


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


SEARCH_LIMIT = 20
MAX_SEARCH_LIMIT = 100
_PREFIX_END = "\uffff"  # after every character a query's next one can be: `query <= x < query + this`


def search_users(session: Session, *, workspace_id: str, query: str, limit: int) -> list[tuple[UserView, str]]:
    """Users whose user id, anonymous id or email (lower-cased) is the query, then those whose
    one starts with it, each once (by the profile it was merged into), with how it matched.
    Every lookup is a range of an index: the profile's user id and email, the anonymous ids."""
    repo = IdentityRepository(session)
    _require_workspace(repo, workspace_id)
    query = query.strip()
    if not query:
        raise InvalidArgument(errors=[FieldError("query", "is required: a user id, anonymous id or email")])
    if len(query) > 400:
        raise InvalidArgument(errors=[FieldError("query", "is longer than 400 characters")])
    limit = min(limit or SEARCH_LIMIT, MAX_SEARCH_LIMIT)
    found: dict[str, tuple[ProfileRecord, str]] = {}

    def add(profile: ProfileRecord | None, how: str) -> None:
        seen = set()
        while profile is not None and profile.merged_into and profile.id not in seen:
            seen.add(profile.id)
            profile = repo.profile(profile.merged_into)
        if profile is not None and profile.id not in found and len(found) < limit:
            found[profile.id] = (profile, how)

    email = query.lower()
    user_id, anonymous_id, by_email = ProfileRecord.user_id, AnonymousIdRecord.anonymous_id, ProfileRecord.email
    for exact in (True, False):
        for column, value, how in ((user_id, query, "user_id"), (by_email, email, "email"),
                                   (anonymous_id, query, "anonymous_id")):
            if len(found) >= limit:
                break
            condition = (column == value) if exact else (column > value) & (column < value + _PREFIX_END)
            if how == "anonymous_id":
                rows = session.execute(
                    select(AnonymousIdRecord.profile_id).where(AnonymousIdRecord.workspace_id == workspace_id, condition)
                    .order_by(column).limit(limit)
                ).scalars()
                for profile_id in rows:
                    add(repo.profile(profile_id), how)
            else:
                rows = session.execute(
                    select(ProfileRecord).where(ProfileRecord.workspace_id == workspace_id, condition)
                    .order_by(column).limit(limit)
                ).scalars()
                for profile in rows:
                    add(profile, how)
    return [
        (UserView(
            profile=profile,
            anonymous_ids=repo.anonymous_ids_of(profile.id),
            devices=repo.devices_of(profile.id),
            merged_profile_ids=repo.merged_into(workspace_id, profile.id),
            group_ids=repo.group_ids_of(profile.id),
        ), how)
        for profile, how in found.values()
    ]


@dataclass(frozen=True)
class UserNow:
    """A user as GetUsers gives it: the profile (after merges), attributes as stored JSON text."""

    profile_id: str
    user_id: str
    attributes_json: str
    devices: list[tuple[str, str, datetime | None]]


def get_users(session: Session, *, workspace_id: str, profile_ids: list[str]) -> dict[str, UserNow]:
    """Users by profile id as they are now, a few statements per 500 ids; a merged profile gives
    the one it went into; an id not found (or of another workspace) is left out."""
    repo = IdentityRepository(session)
    _require_workspace(repo, workspace_id)
    profiles = ProfileRecord.__table__
    devices = DeviceRecord.__table__
    wanted = list(dict.fromkeys(profile_ids))
    rows: dict[str, Any] = {}
    ask = wanted
    for _ in range(20):  # merges are followed; chains are short
        for start in range(0, len(ask), 500):
            chunk = ask[start:start + 500]
            for row in session.execute(
                select(profiles.c.id, profiles.c.workspace_id, profiles.c.user_id, profiles.c.merged_into,
                       cast(profiles.c.attributes, Text).label("attributes")).where(profiles.c.id.in_(chunk))
            ):
                rows[row.id] = row
        ask = [row.merged_into for row in list(rows.values()) if row.merged_into and row.merged_into not in rows]
        if not ask:
            break

    def final(profile_id: str) -> Any:
        row = rows.get(profile_id)
        for _ in range(20):
            if row is None or not row.merged_into:
                break
            row = rows.get(row.merged_into)
        return row if row is not None and row.workspace_id == workspace_id and not row.merged_into else None

    finals = {profile_id: final(profile_id) for profile_id in wanted}
    owned: dict[str, list[tuple[str, str, datetime | None]]] = {}
    ids = sorted({row.id for row in finals.values() if row is not None})
    for start in range(0, len(ids), 500):
        for kind, token, owner, last_seen in session.execute(
            select(devices.c.kind, devices.c.token, devices.c.profile_id, devices.c.last_seen)
            .where(devices.c.profile_id.in_(ids[start:start + 500])).order_by(devices.c.last_seen)
        ):
            owned.setdefault(owner, []).append((kind, token, last_seen))
    return {asked: UserNow(row.id, row.user_id or "", row.attributes or "{}", owned.get(row.id, []))
            for asked, row in finals.items() if row is not None}


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
