"""identity's tables and its repository."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any

from herald_common.bulk import sqlite_time
from herald_common.db import json_text
from herald_services.identity.domain import Profile, ProfileBook
from sqlalchemy import JSON, Column, Connection, Index, UniqueConstraint, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import registry
from sqlmodel import Field, Session, SQLModel


class IdentityTable(SQLModel, registry=registry()):
    """Base of identity's tables: their own metadata, so migrations see only these."""


metadata = IdentityTable.metadata


class WorkspaceRecord(IdentityTable, table=True):
    __tablename__ = "workspace"
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    write_key: str = Field(max_length=200, unique=True)
    created_at: datetime


class ProfileRecord(IdentityTable, table=True):
    __tablename__ = "profile"
    __table_args__ = (
        UniqueConstraint("workspace_id", "user_id", name="uq_profile_workspace_user"),
        Index("ix_profile_merged_into", "workspace_id", "merged_into"),
        Index("ix_profile_email", "workspace_id", "email"),
    )
    id: str = Field(primary_key=True, max_length=40)
    workspace_id: str = Field(max_length=64)
    user_id: str | None = Field(default=None, max_length=400)
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    attribute_times: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Set when this profile was merged into another; its events belong to that one.
    merged_into: str | None = Field(default=None, max_length=40)
    # The `email` attribute, lower-cased, for the console's user search (kept by save_book).
    email: str | None = Field(default=None, max_length=400)
    created_at: datetime
    updated_at: datetime


class AnonymousIdRecord(IdentityTable, table=True):
    __tablename__ = "anonymous_id"
    workspace_id: str = Field(primary_key=True, max_length=64)
    anonymous_id: str = Field(primary_key=True, max_length=400)
    profile_id: str = Field(max_length=40, index=True)
    created_at: datetime


class DeviceRecord(IdentityTable, table=True):
    __tablename__ = "device"
    workspace_id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(primary_key=True, max_length=8)
    token: str = Field(primary_key=True, max_length=400)
    profile_id: str = Field(max_length=40, index=True)
    last_seen: datetime


class GroupRecord(IdentityTable, table=True):
    __tablename__ = "user_group"
    workspace_id: str = Field(primary_key=True, max_length=64)
    group_id: str = Field(primary_key=True, max_length=400)
    traits: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime


class GroupMemberRecord(IdentityTable, table=True):
    __tablename__ = "group_member"
    workspace_id: str = Field(primary_key=True, max_length=64)
    group_id: str = Field(primary_key=True, max_length=400)
    profile_id: str = Field(primary_key=True, max_length=40, index=True)


class IdentityRepository:
    """Queries identity's handlers need, on one session (the unit of work)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # workspaces
    def workspace(self, workspace_id: str) -> WorkspaceRecord | None:
        return self.session.get(WorkspaceRecord, workspace_id)

    def workspaces(self) -> list[WorkspaceRecord]:
        return list(self.session.execute(select(WorkspaceRecord).order_by(WorkspaceRecord.id)).scalars())

    def workspace_by_write_key(self, write_key: str) -> WorkspaceRecord | None:
        return self.session.execute(select(WorkspaceRecord).where(WorkspaceRecord.write_key == write_key)).scalars().first()

    # profiles
    def profile(self, profile_id: str) -> ProfileRecord | None:
        return self.session.get(ProfileRecord, profile_id)

    def profiles_by_user_ids(self, workspace_id: str, user_ids: set[str]) -> dict[str, ProfileRecord]:
        if not user_ids:
            return {}
        rows = self.session.execute(
            select(ProfileRecord).where(ProfileRecord.workspace_id == workspace_id, ProfileRecord.user_id.in_(user_ids))
        ).scalars()
        return {row.user_id: row for row in rows}

    def profile_ids_by_anonymous_ids(self, workspace_id: str, anonymous_ids: set[str]) -> dict[str, str]:
        if not anonymous_ids:
            return {}
        rows = self.session.execute(
            select(AnonymousIdRecord.anonymous_id, AnonymousIdRecord.profile_id).where(
                AnonymousIdRecord.workspace_id == workspace_id, AnonymousIdRecord.anonymous_id.in_(anonymous_ids)
            )
        )
        return dict(rows.all())

    def anonymous_ids_of(self, profile_id: str) -> list[str]:
        rows = self.session.execute(
            select(AnonymousIdRecord.anonymous_id)
            .where(AnonymousIdRecord.profile_id == profile_id)
            .order_by(AnonymousIdRecord.created_at, AnonymousIdRecord.anonymous_id)
        )
        return list(rows.scalars())

    def devices_of(self, profile_id: str) -> list[DeviceRecord]:
        rows = self.session.execute(
            select(DeviceRecord).where(DeviceRecord.profile_id == profile_id).order_by(DeviceRecord.last_seen)
        )
        return list(rows.scalars())

    def merged_into(self, workspace_id: str, profile_id: str) -> list[str]:
        rows = self.session.execute(
            select(ProfileRecord.id).where(
                ProfileRecord.workspace_id == workspace_id, ProfileRecord.merged_into == profile_id
            )
        )
        return sorted(rows.scalars())

    def group_ids_of(self, profile_id: str) -> list[str]:
        rows = self.session.execute(select(GroupMemberRecord.group_id).where(GroupMemberRecord.profile_id == profile_id))
        return sorted(rows.scalars())

    def device(self, workspace_id: str, kind: str, token: str) -> DeviceRecord | None:
        return self.session.get(DeviceRecord, (workspace_id, kind, token))

    def delete_profiles(self, workspace_id: str, profile_ids: list[str]) -> None:
        for table in (AnonymousIdRecord, DeviceRecord, GroupMemberRecord):
            self.session.execute(delete(table).where(table.workspace_id == workspace_id, table.profile_id.in_(profile_ids)))
        self.session.execute(delete(ProfileRecord).where(ProfileRecord.id.in_(profile_ids)))


# ---- the batch path: Core statements, a few per request ---------------------------------

PROFILE = ProfileRecord.__table__
ALIAS = AnonymousIdRecord.__table__
DEVICE = DeviceRecord.__table__
GROUP_MEMBER = GroupMemberRecord.__table__
WORKSPACE = WorkspaceRecord.__table__
_CHUNK = 500


def _chunks(values: list[str]):
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _upsert(connection: Connection, table):
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


# Statements of the batch path, built once: building and cache-keying a statement costs more
# than running it for a request of a hundred calls.
_PROFILE_FIELDS = ("user_id", "attributes", "attribute_times", "merged_into", "updated_at")
# What the batch path reads of a profile, in Profile's order: not its times (it only writes them).
_BOOK_COLUMNS = (PROFILE.c.id, PROFILE.c.workspace_id, PROFILE.c.user_id, PROFILE.c.attributes,
                 PROFILE.c.attribute_times, PROFILE.c.merged_into)
_PROFILES_BY_USER = select(*_BOOK_COLUMNS).where(
    PROFILE.c.workspace_id == bindparam("workspace_id"), PROFILE.c.user_id.in_(bindparam("ids", expanding=True))
)
_ALIASES = select(ALIAS.c.anonymous_id, ALIAS.c.profile_id).where(
    ALIAS.c.workspace_id == bindparam("workspace_id"), ALIAS.c.anonymous_id.in_(bindparam("ids", expanding=True))
)
_PROFILES_BY_ID = select(*_BOOK_COLUMNS).where(PROFILE.c.id.in_(bindparam("ids", expanding=True)))
_UPDATE_PROFILE = PROFILE.update().where(PROFILE.c.id == bindparam("b_id")).values(
    {f: bindparam(f"b_{f}") for f in (*_PROFILE_FIELDS, "email")}
)
MAX_EMAIL_LENGTH = 400


def email_of(attributes: dict[str, Any]) -> str | None:
    """What the user search finds a profile by: its `email` attribute, trimmed and lower-cased."""
    value = attributes.get("email") if attributes else None
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    return value[:MAX_EMAIL_LENGTH] or None


_SQLITE_UPDATE_PROFILE = (
    "UPDATE profile SET user_id = ?, attributes = ?, attribute_times = ?, merged_into = ?, updated_at = ?, email = ?"
    " WHERE id = ?"
)


@functools.cache
def _upserts(dialect_name: str):
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    aliases = dialect.insert(ALIAS)
    aliases = aliases.on_conflict_do_update(
        index_elements=["workspace_id", "anonymous_id"], set_={"profile_id": aliases.excluded.profile_id}
    )
    devices = dialect.insert(DEVICE)
    devices = devices.on_conflict_do_update(
        index_elements=["workspace_id", "kind", "token"],
        set_={"profile_id": devices.excluded.profile_id, "last_seen": devices.excluded.last_seen},
    )
    members = dialect.insert(GROUP_MEMBER).on_conflict_do_nothing()
    return aliases, devices, members


def workspace_exists(connection: Connection, workspace_id: str) -> bool:
    return connection.execute(select(WORKSPACE.c.id).where(WORKSPACE.c.id == workspace_id)).first() is not None


def _profile(row) -> Profile:
    profile_id, workspace_id, user_id, attributes, attribute_times, merged_into = row
    return Profile(profile_id, workspace_id, user_id, attributes, attribute_times, None, None, merged_into)


def load_book(
    connection: Connection,
    workspace_id: str,
    user_ids: set[str],
    aliases: set[str],
    *,
    now: datetime,
    new_id: Callable[[], str],
) -> ProfileBook:
    """The profiles and aliases these ids name, in a few queries."""
    book = ProfileBook(workspace_id=workspace_id, now=now, new_id=new_id)
    user_ids.discard("")
    aliases.discard("")
    for chunk in _chunks(sorted(user_ids)):
        for row in connection.execute(_PROFILES_BY_USER, {"workspace_id": workspace_id, "ids": chunk}):
            book.add_loaded(_profile(row))
    for chunk in _chunks(sorted(aliases | user_ids)):
        for alias, profile_id in connection.execute(_ALIASES, {"workspace_id": workspace_id, "ids": chunk}):
            book.by_alias[alias] = profile_id
    missing = sorted(set(book.by_alias.values()) - set(book.profiles))
    for chunk in _chunks(missing):
        for row in connection.execute(_PROFILES_BY_ID, {"ids": chunk}):
            book.add_loaded(_profile(row))
    return book


def save_book(connection: Connection, book: ProfileBook) -> None:
    """Writes back what the book changed: new and changed profiles, merges, aliases, devices."""
    fields = _PROFILE_FIELDS
    alias_upsert, device_upsert, member_upsert = _upserts(connection.dialect.name)
    created = [p for p in book.profiles.values() if p.new]
    if created:
        connection.execute(
            PROFILE.insert(),
            [
                {"id": p.id, "workspace_id": p.workspace_id, "created_at": p.created_at,
                 "email": email_of(p.attributes), **{f: getattr(p, f) for f in fields}}
                for p in created
            ],
        )
    changed = [p for p in book.profiles.values() if p.changed and not p.new]
    if changed and connection.dialect.name == "sqlite":
        # Most identifies change a profile: on SQLite the driver's executemany of values made
        # here, rather than SQLAlchemy's bind processing of five columns a row (~9% of identity).
        times: dict[datetime, str] = {}  # every change of a batch has the batch's time
        rows = []
        for p in changed:
            stamp = times.get(p.updated_at)
            if stamp is None:
                stamp = times[p.updated_at] = sqlite_time(p.updated_at)
            rows.append((p.user_id, json_text(p.attributes), json_text(p.attribute_times), p.merged_into, stamp,
                         email_of(p.attributes), p.id))
        connection.exec_driver_sql(_SQLITE_UPDATE_PROFILE, rows)
    elif changed:
        connection.execute(
            _UPDATE_PROFILE,
            [{"b_id": p.id, "b_email": email_of(p.attributes), **{f"b_{f}": getattr(p, f) for f in fields}} for p in changed],
        )
    for merge in book.merges:
        _move_links(connection, book.workspace_id, merge.source, merge.target)
    if book.new_aliases:
        connection.execute(
            alias_upsert,
            [
                {"workspace_id": book.workspace_id, "anonymous_id": alias, "profile_id": book.canonical(pid), "created_at": book.now}
                for alias, pid in book.new_aliases.items()
            ],
        )
    if book.devices:
        connection.execute(
            device_upsert,
            [
                {"workspace_id": book.workspace_id, "kind": kind, "token": token, "profile_id": book.canonical(pid), "last_seen": book.now}
                for (kind, token), pid in book.devices.items()
            ],
        )
    if book.memberships:
        connection.execute(
            member_upsert,
            [
                {"workspace_id": book.workspace_id, "group_id": group_id, "profile_id": book.canonical(pid)}
                for group_id, pid in sorted(book.memberships)
            ],
        )


def _move_links(connection: Connection, workspace_id: str, source: str, target: str) -> None:
    """Re-points what named source at target, after source merged into target."""
    for table in (ALIAS, DEVICE):
        connection.execute(
            update(table).where(table.c.workspace_id == workspace_id, table.c.profile_id == source).values(profile_id=target)
        )
    connection.execute(
        update(PROFILE).where(PROFILE.c.workspace_id == workspace_id, PROFILE.c.merged_into == source).values(merged_into=target)
    )
    groups = connection.execute(select(GROUP_MEMBER.c.group_id).where(GROUP_MEMBER.c.profile_id == source)).scalars().all()
    connection.execute(delete(GROUP_MEMBER).where(GROUP_MEMBER.c.profile_id == source))
    if groups:
        statement = _upsert(connection, GROUP_MEMBER)
        connection.execute(
            statement.on_conflict_do_nothing(),
            [{"workspace_id": workspace_id, "group_id": g, "profile_id": target} for g in groups],
        )


def upsert_group(connection: Connection, workspace_id: str, group_id: str, traits: dict[str, Any], now: datetime) -> None:
    table = GroupRecord.__table__
    current = connection.execute(
        select(table.c.traits).where(table.c.workspace_id == workspace_id, table.c.group_id == group_id)
    ).scalar_one_or_none()
    if current is None:
        connection.execute(table.insert(), [{"workspace_id": workspace_id, "group_id": group_id, "traits": traits, "updated_at": now}])
    else:
        connection.execute(
            table.update()
            .where(table.c.workspace_id == workspace_id, table.c.group_id == group_id)
            .values(traits={**current, **traits}, updated_at=now)
        )


_USER_PROFILE_IDS = select(PROFILE.c.user_id, PROFILE.c.id).where(
    PROFILE.c.workspace_id == bindparam("workspace_id"), PROFILE.c.user_id.in_(bindparam("ids", expanding=True))
)
_USER_IDS_OF = select(PROFILE.c.id, PROFILE.c.user_id).where(PROFILE.c.id.in_(bindparam("ids", expanding=True)))


def resolve_known(
    connection: Connection, workspace_id: str, refs: list[tuple[str | None, str | None]]
) -> list[tuple[str, str]] | None:
    """Answers a resolve from ids alone when every ref names an existing profile and nothing
    needs joining; None when some ref needs the full rules (create, join or merge)."""
    user_ids = sorted({u for u, _ in refs if u})
    aliases = sorted({a for _, a in refs if a} | set(user_ids))
    by_user: dict[str, str] = {}
    for chunk in _chunks(user_ids):
        by_user.update(connection.execute(_USER_PROFILE_IDS, {"workspace_id": workspace_id, "ids": chunk}).all())
    by_alias: dict[str, str] = {}
    for chunk in _chunks(aliases):
        by_alias.update(connection.execute(_ALIASES, {"workspace_id": workspace_id, "ids": chunk}).all())
    user_of = {profile_id: user_id for user_id, profile_id in by_user.items()}
    unknown = sorted(set(by_alias.values()) - set(user_of))
    for chunk in _chunks(unknown):
        for profile_id, user_id in connection.execute(_USER_IDS_OF, {"ids": chunk}):
            user_of[profile_id] = user_id
    answers = []
    for user_id, anonymous_id in refs:
        if user_id:
            profile_id = by_user.get(user_id) or by_alias.get(user_id)
            if profile_id is None or (anonymous_id and by_alias.get(anonymous_id) != profile_id):
                return None
        else:
            profile_id = by_alias.get(anonymous_id)
            if profile_id is None:
                return None
        answers.append((profile_id, user_of.get(profile_id) or ""))
    return answers
