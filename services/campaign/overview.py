"""What the console and the CLI read about campaigns: the list with each campaign's figures, a
campaign's versions, its sends and conversions per day, and the preview of its message.

Each read answers from an index, a page at a time where the list can grow:

- the list: `uq_campaign_name` (workspace, name) for the page, then per page of campaigns one
  grouped read of `trigger_count` (its primary key), one of `send` (`ix_send_campaign_status_sent`:
  campaign, status, sent_at, counted without reading a row) and one of `goal_window`
  (`ix_goal_window_converted`, holding only conversions);
- versions: `campaign_version`'s primary key (campaign, version), newest first;
- per day: the same two indexes, ranged on sent_at and converted_at.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from herald_common.errors import InvalidArgument
from sqlalchemy import Connection, func, select

from herald_services.campaign.catalogue import Catalogue
from herald_services.campaign.domain import CampaignSpec, RenderedMessage, render_message
from herald_services.campaign.filters import filters_match
from herald_services.campaign.handlers import _addresses, get_campaign
from herald_services.campaign.store import (
    CampaignRecord,
    CampaignVersionRecord,
    GoalWindowRecord,
    SendRecord,
    TriggerCountRecord,
)
from herald_services.campaign.templates import RenderFailed, message_context

SUMMARY_PAGE = 100
SUMMARY_PAGE_MAX = 500
VERSION_PAGE = 20
VERSION_PAGE_MAX = 100
DAYS = 30
DAYS_MAX = 90


# ---- page tokens ---------------------------------------------------------------------------


_TOKEN_PREFIX = "p1:"


def encode_token(value: str) -> str:
    """A page token: where the next page starts, opaque to callers."""
    return base64.urlsafe_b64encode((_TOKEN_PREFIX + value).encode()).decode().rstrip("=")


def decode_token(token: str, field_name: str = "page_token") -> str:
    if not token:
        return ""
    try:
        value = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        value = ""
    if not value.startswith(_TOKEN_PREFIX):
        raise InvalidArgument(f"{field_name}: not a page token this service gave out")
    return value[len(_TOKEN_PREFIX):]


def page_size(asked: int, default: int, largest: int, field_name: str = "page_size") -> int:
    if asked < 0:
        raise InvalidArgument(f"{field_name}: must not be negative")
    return min(asked or default, largest)


# ---- the list ------------------------------------------------------------------------------


@dataclass
class Summary:
    campaign: dict[str, Any]
    channel: str
    triggered: int = 0
    sent: int = 0
    primary_goal: str = ""
    primary_conversions: int = 0

    @property
    def primary_rate(self) -> float:
        return self.primary_conversions / self.sent if self.sent else 0.0


def primary_goal(spec: CampaignSpec) -> str:
    """The goal marked primary, else the first one (how stats and the list read a campaign)."""
    for goal in spec.goals:
        if goal.primary:
            return goal.name
    return spec.goals[0].name if spec.goals else ""


def list_summaries(
    connection: Connection, catalogue: Catalogue, *, workspace_id: str, after: str, limit: int
) -> tuple[list[Summary], str]:
    """A page of campaigns by name after `after`, each with its figures; and the name to
    continue after ('' on the last page). Three grouped reads per page, never one per campaign."""
    rows = [dict(row) for row in connection.execute(
        select(CampaignRecord.__table__)
        .where(CampaignRecord.workspace_id == workspace_id, CampaignRecord.name > after)
        .order_by(CampaignRecord.name).limit(limit + 1)
    ).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    if not rows:
        return [], ""
    summaries: dict[str, Summary] = {}
    for row in rows:
        spec = catalogue.spec(connection, row["id"], row["version"])
        summaries[row["id"]] = Summary(campaign=row, channel=spec.channel, primary_goal=primary_goal(spec))
    ids = list(summaries)
    for campaign_id, count in connection.execute(
        select(TriggerCountRecord.campaign_id, func.sum(TriggerCountRecord.count))
        .where(TriggerCountRecord.campaign_id.in_(ids)).group_by(TriggerCountRecord.campaign_id)
    ):
        summaries[campaign_id].triggered = int(count or 0)
    sends = SendRecord.__table__
    for campaign_id, count in connection.execute(
        select(sends.c.campaign_id, func.count())
        .where(sends.c.campaign_id.in_(ids), sends.c.status == "sent").group_by(sends.c.campaign_id)
    ):
        summaries[campaign_id].sent = int(count)
    windows = GoalWindowRecord.__table__
    for campaign_id, goal_name, count in connection.execute(
        select(windows.c.campaign_id, windows.c.goal_name, func.count())
        .where(windows.c.campaign_id.in_(ids), windows.c.converted_at.is_not(None))
        .group_by(windows.c.campaign_id, windows.c.goal_name)
    ):
        summary = summaries[campaign_id]
        if goal_name == summary.primary_goal:
            summary.primary_conversions = int(count)
    return list(summaries.values()), rows[-1]["name"] if more else ""


# ---- versions ------------------------------------------------------------------------------


def list_versions(
    connection: Connection, catalogue: Catalogue, *, workspace_id: str, name: str, before: int | None, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    """A page of the campaign's versions, newest first, before version `before`; and the
    version to continue before (None on the last page)."""
    known, _ = get_campaign(connection, catalogue, workspace_id, name)
    table = CampaignVersionRecord.__table__
    statement = select(table).where(table.c.campaign_id == known.id)
    if before is not None:
        statement = statement.where(table.c.version < before)
    rows = [dict(row) for row in connection.execute(
        statement.order_by(table.c.version.desc()).limit(limit + 1)
    ).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    for row in rows:
        row["current"] = row["version"] == known.version
    return rows, rows[-1]["version"] if more and rows else None


# ---- per day -------------------------------------------------------------------------------


@dataclass
class Daily:
    primary_goal: str
    days: list[tuple[date, int, int]] = field(default_factory=list)  # (day, sent, conversions)


def utc_day(connection: Connection, column):
    """A time column's UTC day as 'YYYY-MM-DD', computed by the database: SQLite keeps UTC text
    (its first ten characters are the day), PostgreSQL a timestamptz (read in UTC)."""
    if connection.dialect.name == "sqlite":
        return func.substr(column, 1, 10)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")


def daily(connection: Connection, catalogue: Catalogue, *, workspace_id: str, name: str, days: int,
          now: datetime) -> Daily:
    """Sends (by sent_at) and primary-goal conversions (by converted_at) per UTC day, the last
    `days` days with today, oldest first; a day without any is there with zeros. Each is one
    grouped read of a range of its index (only the time column is read)."""
    known, _ = get_campaign(connection, catalogue, workspace_id, name)
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    sends = SendRecord.__table__
    day = utc_day(connection, sends.c.sent_at)
    sent = {str(d): int(n) for d, n in connection.execute(
        select(day, func.count()).where(sends.c.campaign_id == known.id, sends.c.status == "sent",
                                        sends.c.sent_at >= since).group_by(day)
    )}
    conversions: dict[str, int] = {}
    goal = primary_goal(known.spec)
    if goal:
        windows = GoalWindowRecord.__table__
        day = utc_day(connection, windows.c.converted_at)
        conversions = {str(d): int(n) for d, n in connection.execute(
            select(day, func.count()).where(windows.c.campaign_id == known.id, windows.c.goal_name == goal,
                                            windows.c.converted_at >= since).group_by(day)
        )}
    result = Daily(primary_goal=goal)
    for offset in range(days):
        key = (first + timedelta(days=offset)).isoformat()
        result.days.append((first + timedelta(days=offset), sent.get(key, 0), conversions.get(key, 0)))
    return result


# ---- preview -------------------------------------------------------------------------------


@dataclass
class Preview:
    channel: str
    message: RenderedMessage | None
    addresses: tuple = ()
    render_error: str = ""
    conditions_hold: bool = True


def preview(
    spec: CampaignSpec,
    *,
    user: dict[str, Any],
    event_name: str,
    event_properties: dict[str, Any],
    event_time: datetime,
    now: datetime,
) -> Preview:
    """The message `spec` renders for `user` (identity's profile: user_id, attributes,
    devices) after this trigger event: the one context (templates.message_context) and the
    one renderer (domain.render_message) Confirm uses, and the addresses Confirm would give
    delivery. Pure: nothing is stored."""
    attributes = user["attributes"]
    held = filters_match(spec.filters, event_properties=event_properties, user_attributes=attributes, now=now)
    context = message_context(user_id=user["user_id"], attributes=attributes, event_name=event_name,
                              event_properties=event_properties, event_time=event_time)
    try:
        message = render_message(spec.message, context)
    except RenderFailed as error:
        return Preview(spec.channel, None, render_error=str(error), conditions_hold=held)
    return Preview(spec.channel, message, _addresses(spec.channel, attributes, user["devices"], message),
                   conditions_hold=held)
