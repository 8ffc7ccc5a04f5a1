"""delivery's tables and its repository.

- ``send``: one row per scheduled send (its id is campaign's idempotency key). The timer reads
  it through ``ix_send_wake`` (status, wake_at): the earliest due row and the rows due now.
  ``due_at`` is when the send is due (what campaign is told; the stale limit counts from it);
  ``wake_at`` is when delivery next looks at it (the due time, or a retry's time).
- ``send_address``: one row per address of a send (an email, a phone, each push device), with
  its own status, attempts and provider answer, so a push succeeds or fails per device and a
  retry never resends to a device that accepted.
- ``send_report``: the outbox of MarkSent calls to campaign, one row per send (a newer outcome
  replaces one campaign has not acknowledged yet), retried with backoff until acknowledged.
- ``delivery_step``: what delivery decided for each send, and why (herald explain): one row
  per (workspace, profile, time) of a unit of work, its steps as JSON (herald_common.steps;
  step names in docs/explain.md).
- ``cap_slot``: one row per send counted against its user's frequency caps (written in the
  transaction that marks the send 'sending'), read through ``ix_cap_slot_user`` (workspace,
  profile, at): a cap check is one index range per user, never a scan of their history. Rows
  older than the longest window a cap may have are pruned.
- ``campaign_release``: when each campaign was last released (resumed), so a Confirm that
  answered "hold" just before a resume does not park its send for good.

The hot paths (schedule, claim, results) use SQLAlchemy Core statements; the tables are
SQLModel classes and change only through migrations.
"""

from __future__ import annotations

from datetime import datetime

from herald_common.steps import step_table_args
from sqlalchemy import BigInteger, Column, Connection, Index, Text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

# A send's status in delivery's table. Terminal ones never change again.
SCHEDULED = "scheduled"  # waiting for wake_at (first due, a window opening, a retry, a release)
HELD = "held"  # the campaign is paused: no timer until Release
CLAIMED = "claimed"  # a replica took it (Confirm, deciding); no provider was called for it yet
SENDING = "sending"  # some address is at its provider right now
SENT = "sent"
FAILED = "failed"
SUPPRESSED = "suppressed"
CANCELLED = "cancelled"
UNKNOWN = "unknown"  # a crash fell during a provider call: never resent
HELD_OUT = "held_out"  # a control group's send: everything happened but the provider call
TERMINAL = (SENT, FAILED, SUPPRESSED, CANCELLED, UNKNOWN, HELD_OUT)

# An address's status.
ADDRESS_PENDING = "pending"
ADDRESS_SENDING = "sending"
ADDRESS_ACCEPTED = "accepted"
ADDRESS_RETRY = "retry"
ADDRESS_FAILED = "failed"
ADDRESS_GONE = "gone"
ADDRESS_UNKNOWN = "unknown"
ADDRESS_FINAL = (ADDRESS_ACCEPTED, ADDRESS_FAILED, ADDRESS_GONE, ADDRESS_UNKNOWN)


class DeliveryTable(SQLModel, registry=registry()):
    """Base of delivery's tables: their own metadata, so migrations see only these."""


metadata = DeliveryTable.metadata


class SendRecord(DeliveryTable, table=True):
    __tablename__ = "send"
    __table_args__ = (
        Index("ix_send_wake", "status", "wake_at"),
        # Neither holds status: a send changes status three times on its way out, and each
        # change would move its entry in both (random pages, with a million pending sends).
        Index("ix_send_campaign_created", "campaign_id", "created_at"),
        Index("ix_send_profile_created", "profile_id", "created_at"),
        # The workspace's sends newest first, paged by (created_at, id): the console's Sends page.
        Index("ix_send_workspace_created", "workspace_id", "created_at", "id"),
    )
    id: str = Field(primary_key=True, max_length=200)
    workspace_id: str = Field(max_length=64)
    campaign_id: str = Field(max_length=64)
    profile_id: str = Field(max_length=64)
    user_id: str = Field(default="", max_length=400)
    channel: str = Field(max_length=16)
    trigger_at: datetime
    delay_seconds: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    settle_seconds: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    window: str | None = Field(default=None, max_length=200)  # JSON {"days", "start", "end"}; None: any time
    fallback_timezone: str = Field(default="", max_length=64)
    timezone: str = Field(default="", max_length=64)  # the user's zone as last known
    ready_at: datetime  # trigger + wait, before any window moved it
    due_at: datetime | None = None
    wake_at: datetime | None = None
    status: str = Field(max_length=16)
    outcome: str = Field(default="", max_length=2000)
    sent_at: datetime | None = None
    attempts: int = 0
    message: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # Confirm's rendered message, JSON
    claimed_by: str | None = Field(default=None, max_length=80)
    lease_until: datetime | None = None
    created_at: datetime
    updated_at: datetime


class SendAddressRecord(DeliveryTable, table=True):
    __tablename__ = "send_address"
    send_id: str = Field(primary_key=True, max_length=200)
    position: int = Field(primary_key=True)
    kind: str = Field(max_length=16)
    value: str = Field(max_length=2000)
    status: str = Field(max_length=16)
    attempts: int = 0
    detail: str = Field(default="", max_length=2000)
    retry_after: float | None = None
    sent_at: datetime | None = None


class SendReportRecord(DeliveryTable, table=True):
    __tablename__ = "send_report"
    __table_args__ = (Index("ix_send_report_next", "next_at"),)
    send_id: str = Field(primary_key=True, max_length=200)
    token: int = Field(sa_column=Column(BigInteger, nullable=False))  # which outcome this is: acks delete only it
    status: str = Field(max_length=16)
    outcome: str = Field(default="", max_length=2000)
    sent_at: datetime | None = None
    due_at: datetime | None = None
    attempts: int = 0
    next_at: datetime


class CampaignReleaseRecord(DeliveryTable, table=True):
    __tablename__ = "campaign_release"
    campaign_id: str = Field(primary_key=True, max_length=64)
    released_at: datetime


class DeliveryStepRecord(DeliveryTable, table=True):
    __tablename__ = "delivery_step"
    __table_args__ = step_table_args("delivery_step")
    workspace_id: str = Field(max_length=64)
    profile_id: str = Field(max_length=64)
    at: datetime
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    steps: str = Field(sa_column=Column(Text, nullable=False))  # JSON list of steps
class CapSlotRecord(DeliveryTable, table=True):
    __tablename__ = "cap_slot"
    __table_args__ = (
        Index("ix_cap_slot_user", "workspace_id", "profile_id", "at"),
        Index("ix_cap_slot_at", "at"),
    )
    send_id: str = Field(primary_key=True, max_length=200)
    workspace_id: str = Field(max_length=64)
    profile_id: str = Field(max_length=64)
    channel: str = Field(max_length=16)
    at: datetime  # when the send started going out


SEND = SendRecord.__table__
ADDRESS = SendAddressRecord.__table__
REPORT = SendReportRecord.__table__
RELEASE = CampaignReleaseRecord.__table__
STEP = DeliveryStepRecord.__table__
CAP_SLOT = CapSlotRecord.__table__


def dialect_insert(connection: Connection, table):
    """INSERT with the dialect's ON CONFLICT support (SQLite or PostgreSQL)."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)
