"""campaign's tables.

- ``campaign`` and ``campaign_version``: the campaign as applied, every version kept.
- ``send``: one row per user entering a campaign (its id is the idempotency key delivery uses),
  with the trigger event's properties, so templates and ``match_trigger`` read them later.
- ``goal_window`` (opened by MarkSent; a conversion is recorded on its row, so one send never
  converts twice for a goal) and ``cancel_watch`` (a pending send's cancel events): both indexed
  by (workspace, profile, event name), so an event finds its user's windows and watches without
  a scan.
- ``parked_goal_event``: a goal event of a user whose send is on its way (confirmed, its
  MarkSent not here yet), kept until MarkSent says when the provider accepted the message, so a
  goal reached in the first seconds still counts. Removed when the send ends; pruned by age.
- ``unsubscription``: all campaigns ('' as campaign id) or one.
- ``workspace_settings``: each workspace's settings file as applied (caps, quiet hours, global
  control); one primary-key read when delivery confirms a batch of sends.
- ``decision_step``: what campaign decided for each user's campaign entries, and why (herald
  explain): one row per (workspace, profile, time) of a unit of work, its steps as JSON
  (herald_common.steps; step names in docs/explain.md).
- ``trigger_count``: triggers per campaign, including those whose event filters or re-entry rule
  kept the user out; ``processed_event``: trigger events already handled (ingest delivers at
  least once).
"""

from __future__ import annotations

from datetime import datetime

from herald_common.steps import step_table_args
from sqlalchemy import BigInteger, Column, Index, Text, text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class CampaignTable(SQLModel, registry=registry()):
    """Base of campaign's tables: their own metadata, so migrations see only these."""


metadata = CampaignTable.metadata


class CampaignRecord(CampaignTable, table=True):
    __tablename__ = "campaign"
    __table_args__ = (Index("uq_campaign_name", "workspace_id", "name", unique=True),)
    id: str = Field(primary_key=True, max_length=40)
    workspace_id: str = Field(max_length=64)
    name: str = Field(max_length=200)
    status: str = Field(max_length=16)  # draft, live, paused, archived
    version: int
    trigger_event: str = Field(max_length=520)
    created_at: datetime
    updated_at: datetime


class CampaignVersionRecord(CampaignTable, table=True):
    __tablename__ = "campaign_version"
    campaign_id: str = Field(primary_key=True, max_length=40)
    version: int = Field(primary_key=True)
    source_yaml: str = Field(sa_column=Column(Text, nullable=False))
    file_name: str = Field(default="", max_length=500)
    created_at: datetime


class SendRecord(CampaignTable, table=True):
    __tablename__ = "send"
    __table_args__ = (
        # One index per user's sends serves re-entry (by campaign) and the user's sends alike:
        # each send costs a write at a random place in it, so there is one, not two.
        Index("ix_send_profile_campaign", "workspace_id", "profile_id", "campaign_id", "triggered_at"),
        # A campaign's sends by status, and its sent ones by time (the console's per-day chart):
        # sent_at changes in the same update as status, so it costs the index no extra write.
        Index("ix_send_campaign_status_sent", "campaign_id", "status", "sent_at"),
        # Only sends delivery has not acknowledged yet: an entry is added when a send is made
        # and removed when delivery acknowledges it, and later status changes never touch it.
        # A campaign's latest sends (its page, `herald sends list --campaign`): newest first
        # without reading and sorting every send of the campaign.
        Index("ix_send_campaign_created", "campaign_id", "created_at", "id"),
        # The sends of A/B variants, by campaign and variant: campaign stats count each
        # variant's sends from it; sends without a variant (most) are not in it.
        Index("ix_send_campaign_variant", "campaign_id", "variant", "status", sqlite_where=text("variant != ''"),
              postgresql_where=text("variant != ''")),
        Index("ix_send_handoff_pending", "created_at", sqlite_where=text("handed_off = 0"),
              postgresql_where=text("handed_off = false")),
    )
    id: str = Field(primary_key=True, max_length=40)
    workspace_id: str = Field(max_length=64)
    campaign_id: str = Field(max_length=40)
    version: int  # the version live when the user entered
    confirmed_version: int | None = None  # the version Confirm rendered
    profile_id: str = Field(max_length=40)
    user_id: str = Field(default="", max_length=400)
    channel: str = Field(max_length=16)
    trigger_event_id: str = Field(max_length=40)
    trigger_name: str = Field(max_length=520)
    trigger_properties: str = Field(sa_column=Column(Text, nullable=False))  # JSON object
    triggered_at: datetime  # the trigger event's timestamp
    trigger_at: datetime  # what timing counts from: when herald received the trigger
    settle_until: datetime | None = None  # filters are evaluated from then on
    due_at: datetime
    # scheduled, sending, sent, failed, suppressed, cancelled, unknown ('settling' is shown
    # for a scheduled send before settle_until)
    status: str = Field(max_length=16)
    outcome: str = Field(default="", max_length=2000)
    sent_at: datetime | None = None
    handed_off: bool = False  # delivery acknowledged Schedule
    created_at: datetime
    # Experiments, decided when the send is made (a sticky hash, experiments.py): '' treatment,
    # 'holdout' (the campaign's) or 'global_control' (the workspace's); and the A/B variant.
    control: str = Field(default="", max_length=16)
    variant: str = Field(default="", max_length=100)


class GoalWindowRecord(CampaignTable, table=True):
    __tablename__ = "goal_window"
    __table_args__ = (
        Index("ix_goal_window_lookup", "workspace_id", "profile_id", "goal_event"),
        # Conversions only (an entry is made when a window converts): a campaign's conversions
        # per goal, and per day, without reading its open windows.
        Index("ix_goal_window_converted", "campaign_id", "goal_name", "converted_at",
              sqlite_where=text("converted_at IS NOT NULL"), postgresql_where=text("converted_at IS NOT NULL")),
    )
    send_id: str = Field(primary_key=True, max_length=40)
    goal_name: str = Field(primary_key=True, max_length=200)
    workspace_id: str = Field(max_length=64)
    campaign_id: str = Field(max_length=40)
    profile_id: str = Field(max_length=40)
    goal_event: str = Field(max_length=520)
    opens_at: datetime
    closes_at: datetime
    converted_at: datetime | None = None
    conversion_event_id: str | None = Field(default=None, max_length=40)
    seconds_to_convert: float | None = None


class CancelWatchRecord(CampaignTable, table=True):
    __tablename__ = "cancel_watch"
    __table_args__ = (Index("ix_cancel_watch_lookup", "workspace_id", "profile_id", "event_name"),)
    send_id: str = Field(primary_key=True, max_length=40)
    event_name: str = Field(primary_key=True, max_length=520)
    workspace_id: str = Field(max_length=64)
    profile_id: str = Field(max_length=40)


class ParkedGoalEventRecord(CampaignTable, table=True):
    """A goal event that matched a goal of a send in `sending`: one row per (send, goal, event).
    Keyed by send, so MarkSent reads and deletes a send's rows as one range."""

    __tablename__ = "parked_goal_event"
    __table_args__ = (Index("ix_parked_goal_event_at", "parked_at"),)
    send_id: str = Field(primary_key=True, max_length=40)
    goal_name: str = Field(primary_key=True, max_length=200)
    event_id: str = Field(primary_key=True, max_length=40)
    event_name: str = Field(max_length=520)
    event_time: datetime
    parked_at: datetime


class UnsubscriptionRecord(CampaignTable, table=True):
    __tablename__ = "unsubscription"
    workspace_id: str = Field(primary_key=True, max_length=64)
    profile_id: str = Field(primary_key=True, max_length=40)
    campaign_id: str = Field(primary_key=True, max_length=40)  # '' = every campaign
    created_at: datetime


class TriggerCountRecord(CampaignTable, table=True):
    __tablename__ = "trigger_count"
    campaign_id: str = Field(primary_key=True, max_length=40)
    reason: str = Field(primary_key=True, max_length=32)  # entered, filters, reentry
    count: int = 0


class ProcessedEventRecord(CampaignTable, table=True):
    __tablename__ = "processed_event"
    __table_args__ = (Index("ix_processed_event_at", "processed_at"),)
    event_id: str = Field(primary_key=True, max_length=40)
    processed_at: datetime


class CatalogueStateRecord(CampaignTable, table=True):
    """One row: bumped by every apply and status change, so each replica knows at a glance
    (one primary-key read per OnEvents call on PostgreSQL) whether its catalogue is current."""

    __tablename__ = "catalogue_state"
    id: int = Field(primary_key=True)
    version: int = 0


class WorkspaceSettingsRecord(CampaignTable, table=True):
    """One row per workspace: its settings file as last applied (frequency caps, quiet hours,
    global control), read back through limits.parse_settings."""

    __tablename__ = "workspace_settings"
    workspace_id: str = Field(primary_key=True, max_length=64)
    source_yaml: str = Field(sa_column=Column(Text, nullable=False))
    file_name: str = Field(default="", max_length=500)
    updated_at: datetime


class DecisionStepRecord(CampaignTable, table=True):
    __tablename__ = "decision_step"
    __table_args__ = step_table_args("decision_step")
    workspace_id: str = Field(max_length=64)
    profile_id: str = Field(max_length=40)
    at: datetime
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    steps: str = Field(sa_column=Column(Text, nullable=False))  # JSON list of steps
