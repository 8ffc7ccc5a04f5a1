"""The campaigns this process knows, indexed for the hot path.

OnEvents finds the campaigns an event triggers by (workspace, event name), never by scanning
every campaign, and skips an event at once when no campaign is triggered by it and no user has a
goal window or cancel condition waiting for its name. Replicas refresh from the database when a
campaign row changes (a cheap max(updated_at) check), so an apply on one is seen by all.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from herald_services.campaign.domain import CampaignSpec
from herald_services.campaign.spec import parse_campaign
from herald_services.campaign.store import (
    CampaignRecord,
    CatalogueStateRecord,
    CampaignVersionRecord,
    CancelWatchRecord,
    GoalWindowRecord,
)
from sqlalchemy import Connection, insert, select, update

LIVE = "live"
DORMANT = frozenset({"paused", "draft"})


@dataclass(frozen=True)
class KnownCampaign:
    id: str
    workspace_id: str
    name: str
    status: str
    version: int
    trigger_event: str
    updated_at: datetime
    spec: CampaignSpec
    created_at: datetime | None = None


class Catalogue:
    def __init__(self) -> None:
        self.by_id: dict[str, KnownCampaign] = {}
        self.triggers: dict[tuple[str, str], list[KnownCampaign]] = {}
        # Paused and draft campaigns by trigger: their triggers enter nobody, but explain says so.
        self.dormant: dict[tuple[str, str], list[KnownCampaign]] = {}
        self.watched: set[tuple[str, str]] = set()  # (workspace, event name): goal or cancel event
        # (workspace, event name) -> ids of campaigns (any status) with a goal on that event: whose
        # sends on their way park it (a superset after a goal is renamed, never missing one).
        self.goal_campaigns: dict[tuple[str, str], frozenset[str]] = {}
        self._specs: dict[tuple[str, int], CampaignSpec] = {}
        self.version = -1  # catalogue_state.version this process has loaded

    # ---- loading ----------------------------------------------------------------------

    def load(self, connection: Connection) -> None:
        c = CampaignRecord
        rows = connection.execute(
            select(c.id, c.workspace_id, c.name, c.status, c.version, c.trigger_event, c.updated_at, c.created_at,
                   CampaignVersionRecord.source_yaml).join(
                CampaignVersionRecord,
                (CampaignVersionRecord.campaign_id == c.id) & (CampaignVersionRecord.version == c.version),
            )
        ).all()
        by_id: dict[str, KnownCampaign] = {}
        for row in rows:
            fields = row._mapping
            by_id[fields["id"]] = self._known_from(fields, fields["source_yaml"])
        self.by_id = by_id
        watched = {(ws, name) for ws, name in connection.execute(
            select(GoalWindowRecord.workspace_id, GoalWindowRecord.goal_event).where(
                GoalWindowRecord.converted_at.is_(None)
            ).distinct()
        )}
        watched |= {tuple(row) for row in connection.execute(
            select(CancelWatchRecord.workspace_id, CancelWatchRecord.event_name).distinct()
        )}
        self._watched_from_rows = watched
        self._reindex()
        self.version = self.read_version(connection)

    def _known_from(self, fields, source_yaml: str) -> KnownCampaign:
        spec = self.spec_from_source(fields["id"], fields["version"], source_yaml)
        return KnownCampaign(
            id=fields["id"], workspace_id=fields["workspace_id"], name=fields["name"], status=fields["status"],
            version=fields["version"], trigger_event=fields["trigger_event"], updated_at=fields["updated_at"], spec=spec,
            created_at=fields["created_at"],
        )

    @staticmethod
    def read_version(connection: Connection) -> int:
        found = connection.execute(select(CatalogueStateRecord.version).where(CatalogueStateRecord.id == 1)).scalar()
        return int(found or 0)

    def refresh_if_changed(self, connection: Connection) -> bool:
        if self.read_version(connection) == self.version:
            return False
        self.load(connection)
        return True

    def changed(self, connection: Connection) -> None:
        """Called in the transaction of an apply or status change (after put): bumps the shared
        version. This process stays current unless another one changed something meanwhile."""
        table = CatalogueStateRecord.__table__
        if not connection.execute(update(table).where(table.c.id == 1).values(version=table.c.version + 1)).rowcount:
            connection.execute(insert(table).values(id=1, version=1))
        new = self.read_version(connection)
        if new == self.version + 1:
            self.version = new

    def _reindex(self) -> None:
        triggers: dict[tuple[str, str], list[KnownCampaign]] = defaultdict(list)
        dormant: dict[tuple[str, str], list[KnownCampaign]] = defaultdict(list)
        watched = set(getattr(self, "_watched_from_rows", set()))
        goal_campaigns: dict[tuple[str, str], set[str]] = defaultdict(set)
        for known in self.by_id.values():
            for goal in known.spec.goals:
                goal_campaigns[(known.workspace_id, goal.event)].add(known.id)
            if known.status == LIVE:
                triggers[(known.workspace_id, known.trigger_event)].append(known)
            elif known.status in DORMANT:
                dormant[(known.workspace_id, known.trigger_event)].append(known)
            for goal in known.spec.goals:
                watched.add((known.workspace_id, goal.event))
            for rule in known.spec.cancel_if:
                watched.add((known.workspace_id, rule.event))
        self.triggers = dict(triggers)
        self.dormant = dict(dormant)
        self.watched = watched
        self.goal_campaigns = {key: frozenset(ids) for key, ids in goal_campaigns.items()}

    def put(self, known: KnownCampaign) -> None:
        """After an apply, pause or resume in this process: the index changes for this campaign
        only (applying 10,000 campaigns must not rebuild it 10,000 times)."""
        previous = self.by_id.get(known.id)
        self.by_id[known.id] = known
        triggers = dict(self.triggers)
        if previous is not None and previous.status == LIVE:
            key = (previous.workspace_id, previous.trigger_event)
            remaining = [c for c in triggers.get(key, []) if c.id != known.id]
            if remaining:
                triggers[key] = remaining
            else:
                triggers.pop(key, None)
        if known.status == LIVE:
            key = (known.workspace_id, known.trigger_event)
            triggers[key] = [*triggers.get(key, []), known]
        dormant = dict(self.dormant)
        if previous is not None and previous.status in DORMANT:
            key = (previous.workspace_id, previous.trigger_event)
            remaining = [c for c in dormant.get(key, []) if c.id != known.id]
            if remaining:
                dormant[key] = remaining
            else:
                dormant.pop(key, None)
        if known.status in DORMANT:
            key = (known.workspace_id, known.trigger_event)
            dormant[key] = [*dormant.get(key, []), known]
        self.dormant = dormant
        goal_campaigns = dict(self.goal_campaigns)
        for goal in known.spec.goals:
            key = (known.workspace_id, goal.event)
            goal_campaigns[key] = goal_campaigns.get(key, frozenset()) | {known.id}
        self.goal_campaigns = goal_campaigns
        watched = set(self.watched)
        watched.update((known.workspace_id, goal.event) for goal in known.spec.goals)
        watched.update((known.workspace_id, rule.event) for rule in known.spec.cancel_if)
        self.triggers, self.watched = triggers, watched

    def watch(self, workspace_id: str, event_name: str) -> None:
        self.watched.add((workspace_id, event_name))

    # ---- specs by version -------------------------------------------------------------

    def spec_from_source(self, campaign_id: str, version: int, source_yaml: str) -> CampaignSpec:
        key = (campaign_id, version)
        spec = self._specs.get(key)
        if spec is None:
            spec = parse_campaign(source_yaml)
            self._specs[key] = spec
        return spec

    def spec(self, connection: Connection, campaign_id: str, version: int) -> CampaignSpec:
        spec = self._specs.get((campaign_id, version))
        if spec is None:
            source = connection.execute(
                select(CampaignVersionRecord.source_yaml).where(
                    CampaignVersionRecord.campaign_id == campaign_id, CampaignVersionRecord.version == version
                )
            ).scalar_one()
            spec = self.spec_from_source(campaign_id, version, source)
        return spec

    def relevant(self, workspace_id: str, event_name: str, *, explaining: bool = False) -> bool:
        """Whether OnEvents has anything to do with the event; explaining: also the triggers of
        paused and draft campaigns, which only record why nobody entered."""
        key = (workspace_id, event_name)
        return key in self.triggers or key in self.watched or (explaining and key in self.dormant)

    def forget_spec(self, campaign_id: str, version: int) -> None:
        """A draft's version was rewritten in place."""
        self._specs.pop((campaign_id, version), None)
