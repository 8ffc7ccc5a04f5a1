"""herald explain, campaign's half: a user's campaign entries read back from decision_step.

An entry is one user, one campaign, one trigger event: the steps recorded under that
(campaign_id, trigger_event_id), in the order they were taken. Its send is the send id its
steps carry (from `entered` on); its status is that send's, as ListSends shows it, or
`not_entered` when the trigger made no send. Delivery's steps of the same sends are read by
delivery's Explain and merged in by the caller (herald_common.explain).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from herald_common.clock import as_utc
from herald_common.steps import Step, delete_steps, prune_steps, steps_newest_first
from sqlalchemy import Connection, select

from herald_services.campaign.handlers import STEPS, displayed_status
from herald_services.campaign.store import CampaignRecord, SendRecord

NOT_ENTERED = "not_entered"
TRIGGERED = "triggered"  # the first step of every entry
DEFAULT_LIMIT = 20
MAX_LIMIT = 500


@dataclass
class Entry:
    campaign_id: str
    trigger_event_id: str
    triggered_at: datetime
    campaign: str = ""
    send_id: str = ""
    status: str = NOT_ENTERED
    steps: list[Step] = field(default_factory=list)


def user_entries(
    connection: Connection,
    *,
    workspace_id: str,
    profile_ids: list[str],
    now: datetime,
    campaign_id: str = "",
    trigger_event_id: str = "",
    limit: int = DEFAULT_LIMIT,
) -> list[Entry]:
    """The user's entries (of one campaign, or of one trigger event, when asked), newest first,
    at most `limit`, each with its steps in order, its campaign's name and its send's status.

    The user's rows are read newest first and reading stops once `limit` entries have begun
    (their `triggered` step read) and every row at or after the oldest of those beginnings has
    been read: an entry's steps all come at or after its trigger, so those entries are whole,
    and an older entry only partly read (a late conversion, not its trigger) is left out."""
    steps: list[Step] = []
    begun: list[datetime] = []
    whole = True  # every row read: entries whose trigger is gone (pruned) are shown as they are
    # Pages sized to the limit (an entry is a few rows: its trigger, Confirm, MarkSent): one small
    # page usually holds the newest entries; parsing a 500-row page cost 70 ms on this machine.
    rows = min(500, max(50, 3 * limit))
    for page in steps_newest_first(connection, STEPS, workspace_id=workspace_id, profile_ids=profile_ids, page=rows):
        for step in page:
            if (campaign_id and step.campaign_id != campaign_id) or (
                    trigger_event_id and step.trigger_event_id != trigger_event_id):
                continue
            steps.append(step)
            if step.step == TRIGGERED:
                begun.append(step.at)
        if len(begun) >= limit and page and page[-1].at < sorted(begun, reverse=True)[limit - 1]:
            whole = False
            break
    steps.sort(key=lambda step: (step.at, step.seq))
    entries: dict[tuple[str, str], Entry] = {}
    for step in steps:
        key = (step.campaign_id, step.trigger_event_id)
        entry = entries.get(key)
        if entry is None:
            entry = entries[key] = Entry(campaign_id=step.campaign_id, trigger_event_id=step.trigger_event_id,
                                         triggered_at=step.at)
        if step.send_id and not entry.send_id:
            entry.send_id = step.send_id
        entry.steps.append(step)
    if not whole:  # an older entry whose later steps were read but not its trigger
        entries = {key: entry for key, entry in entries.items() if entry.steps[0].step == TRIGGERED}
    newest = sorted(entries.values(), key=lambda e: (e.triggered_at, e.steps[0].seq), reverse=True)[:limit]
    names = _campaign_names(connection, {entry.campaign_id for entry in newest})
    sends = _sends(connection, [entry.send_id for entry in newest if entry.send_id])
    for entry in newest:
        entry.campaign = names.get(entry.campaign_id, "")
        send = sends.get(entry.send_id)
        if send is not None:
            entry.status = displayed_status(send, now)
        elif entry.send_id:
            entry.status = ""  # a send its steps name but the table no longer has
    return newest


def campaign_to_explain(connection: Connection, *, workspace_id: str, name: str) -> dict | None:
    """The campaign's id and trigger event, for `herald explain --campaign NAME`."""
    table = CampaignRecord.__table__
    row = connection.execute(
        select(table.c.id, table.c.trigger_event).where(table.c.workspace_id == workspace_id, table.c.name == name)
    ).mappings().first()
    return dict(row) if row else None


def forget_profiles(connection: Connection, *, workspace_id: str, profile_ids: list[str]) -> int:
    """A privacy deletion: every decision step of these profiles."""
    return delete_steps(connection, STEPS, workspace_id=workspace_id, profile_ids=profile_ids)


def prune(connection: Connection, *, now: datetime, retention_seconds: float) -> int:
    """Steps older than HERALD_EXPLAIN_RETENTION go (a bounded number per call)."""
    return prune_steps(connection, STEPS, before=now - timedelta(seconds=retention_seconds))


def _campaign_names(connection: Connection, campaign_ids: set[str]) -> dict[str, str]:
    if not campaign_ids:
        return {}
    table = CampaignRecord.__table__
    rows = connection.execute(select(table.c.id, table.c.name).where(table.c.id.in_(sorted(campaign_ids))))
    return {campaign_id: name for campaign_id, name in rows}


def _sends(connection: Connection, send_ids: list[str]) -> dict[str, dict]:
    if not send_ids:
        return {}
    table = SendRecord.__table__
    rows = connection.execute(
        select(table.c.id, table.c.status, table.c.settle_until).where(table.c.id.in_(send_ids))
    ).mappings()
    found = {}
    for row in rows:
        send = dict(row)
        if send["settle_until"] is not None:
            send["settle_until"] = as_utc(send["settle_until"])
        found[send["id"]] = send
    return found
