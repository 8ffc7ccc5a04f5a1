"""identity's tables and its repository."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, delete, select, update
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
    )
    id: str = Field(primary_key=True, max_length=40)
    workspace_id: str = Field(max_length=64)
    user_id: str | None = Field(default=None, max_length=400)
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    attribute_times: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Set when this profile was merged into another; its events belong to that one.
    merged_into: str | None = Field(default=None, max_length=40)
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

    def profiles_by_ids(self, profile_ids: set[str]) -> dict[str, ProfileRecord]:
        if not profile_ids:
            return {}
        rows = self.session.execute(select(ProfileRecord).where(ProfileRecord.id.in_(profile_ids))).scalars()
        return {row.id: row for row in rows}

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

    def anonymous_id(self, workspace_id: str, anonymous_id: str) -> AnonymousIdRecord | None:
        return self.session.get(AnonymousIdRecord, (workspace_id, anonymous_id))

    def group(self, workspace_id: str, group_id: str) -> GroupRecord | None:
        return self.session.get(GroupRecord, (workspace_id, group_id))

    def move_profile_links(self, workspace_id: str, source_id: str, target_id: str) -> None:
        """Re-points everything that named source at target (after a merge)."""
        for table in (AnonymousIdRecord, DeviceRecord):
            self.session.execute(
                update(table).where(table.workspace_id == workspace_id, table.profile_id == source_id).values(profile_id=target_id)
            )
        self.session.execute(
            update(ProfileRecord)
            .where(ProfileRecord.workspace_id == workspace_id, ProfileRecord.merged_into == source_id)
            .values(merged_into=target_id)
        )
        members = self.session.execute(
            select(GroupMemberRecord.group_id).where(GroupMemberRecord.profile_id == source_id)
        ).scalars().all()
        self.session.execute(delete(GroupMemberRecord).where(GroupMemberRecord.profile_id == source_id))
        for group_id in members:
            self.session.merge(GroupMemberRecord(workspace_id=workspace_id, group_id=group_id, profile_id=target_id))

    def delete_profiles(self, workspace_id: str, profile_ids: list[str]) -> None:
        for table in (AnonymousIdRecord, DeviceRecord, GroupMemberRecord):
            self.session.execute(delete(table).where(table.workspace_id == workspace_id, table.profile_id.in_(profile_ids)))
        self.session.execute(delete(ProfileRecord).where(ProfileRecord.id.in_(profile_ids)))
