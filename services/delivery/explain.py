"""herald explain, delivery's half: the steps delivery decided for a user's sends, read back from
delivery_step (campaign's Explain has the entries; the caller merges these into them by send id),
removed with a privacy deletion, pruned after HERALD_EXPLAIN_RETENTION."""

from __future__ import annotations

from datetime import datetime, timedelta

from herald_common.steps import Step, delete_steps, prune_steps, read_steps
from sqlalchemy import Connection

from herald_services.delivery.store import STEP


def user_steps(connection: Connection, *, workspace_id: str, profile_ids: list[str], send_ids: list[str] | None = None,
               campaign_id: str = "") -> list[Step]:
    """These profiles' steps in the order they were taken, only those of `send_ids` when given."""
    return read_steps(connection, STEP, workspace_id=workspace_id, profile_ids=profile_ids,
                      campaign_ids=[campaign_id] if campaign_id else None, send_ids=send_ids or None)


def forget_profiles(connection: Connection, *, workspace_id: str, profile_ids: list[str]) -> int:
    """A privacy deletion: every delivery step of these profiles."""
    return delete_steps(connection, STEP, workspace_id=workspace_id, profile_ids=profile_ids)


def prune(connection: Connection, *, now: datetime, retention_seconds: float) -> int:
    """Steps older than HERALD_EXPLAIN_RETENTION go (a bounded number per call)."""
    return prune_steps(connection, STEP, before=now - timedelta(seconds=retention_seconds))
