"""The JSON documents the CLI prints, built from the services' protobuf messages.

CONTRACT.md fixes the keys users rely on; more may follow, none may go.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from herald.campaign.v1 import campaign_pb2
from herald.identity.v1 import identity_pb2
from herald.ingest.v1 import ingest_pb2
from herald_common.clock import isoformat
from herald_common.protoconv import json_object, to_datetime


def iso(timestamp: Timestamp) -> str | None:
    """ISO 8601 with an offset; None for an unset timestamp."""
    return isoformat(to_datetime(timestamp))


def user_document(user: identity_pb2.User) -> dict[str, Any]:
    return {
        "user_id": user.user_id or None,
        "profile_id": user.profile_id,
        "anonymous_ids": list(user.anonymous_ids),
        "attributes": json_object(user.attributes_json, "attributes"),
        "devices": [{"kind": d.kind, "token": d.token, "last_seen": iso(d.last_seen)} for d in user.devices],
        "groups": list(user.group_ids),
        "merged_profile_ids": list(user.merged_profile_ids),
        "created_at": iso(user.created_at),
        "updated_at": iso(user.updated_at),
    }


def deletion_document(
    requested_id: str, workspace_id: str, response: identity_pb2.DeleteUserResponse
) -> dict[str, Any]:
    return {
        "id": requested_id,
        "workspace": workspace_id,
        "profile_ids": list(response.profile_ids),
        "events_deleted": response.events_deleted,
    }


def event_definition_document(
    definition: ingest_pb2.EventDefinition, *, with_property_sets: bool = False
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": definition.name,
        "definitions": definition.definitions,
        "times_seen": definition.times_seen,
        "seen_last_24h": definition.seen_in_last_24h,
        "times_seen_last_24h": definition.times_seen_last_24h,
        "last_seen": iso(definition.last_seen),
        "hidden": definition.hidden,
        "defined_by_hand": definition.defined_by_hand,
        "description": definition.description,
    }
    if with_property_sets:
        document["property_sets"] = [
            {"properties": list(s.properties), "count": s.count, "last_seen": iso(s.last_seen)}
            for s in definition.property_sets
        ]
    return document


def event_document(event: ingest_pb2.Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "name": event.name,
        "type": event.type,
        "timestamp": iso(event.timestamp),
        "received_at": iso(event.received_at),
        "message_id": event.message_id,
        "user_id": event.user_id or None,
        "anonymous_id": event.anonymous_id or None,
        "profile_id": event.profile_id,
        "properties": json_object(event.properties_json, "properties"),
        "context": json_object(event.context_json, "context"),
    }


def campaign_document(campaign: campaign_pb2.Campaign, *, with_source: bool = False) -> dict[str, Any]:
    document = {
        "id": campaign.id,
        "name": campaign.name,
        "status": campaign.status,
        "version": campaign.version,
        "trigger_event": campaign.trigger_event,
        "created_at": iso(campaign.created_at),
        "updated_at": iso(campaign.updated_at),
    }
    if with_source:
        document["source_yaml"] = campaign.source_yaml
    return document


def stats_document(stats: campaign_pb2.CampaignStats) -> dict[str, Any]:
    return {
        "name": stats.name,
        "status": stats.status,
        "triggered": stats.triggered,
        "scheduled": stats.scheduled,
        "sent": stats.sent,
        "failed": stats.failed,
        "suppressed": stats.suppressed,
        "suppressed_by_reason": dict(sorted(stats.suppressed_by_reason.items())),
        "cancelled": stats.cancelled,
        "unknown": stats.unknown,
        "not_entered": dict(sorted(stats.not_entered.items())),
        "held_out": stats.held_out,
        "held_out_by_group": dict(sorted(stats.held_out_by_group.items())),
        "holdout": stats.holdout or None,
        "min_group_size": stats.min_group_size,
        "goals": [
            {
                "name": goal.name,
                "primary": goal.primary,
                "conversions": goal.conversions,
                "rate": goal.rate,
                "average_seconds_to_convert": (
                    goal.average_seconds_to_convert if goal.HasField("average_seconds_to_convert") else None
                ),
                "treatment": {"size": stats.sent, "conversions": goal.treatment_conversions, "rate": goal.treatment_rate},
                "control": {"size": stats.held_out, "conversions": goal.control_conversions, "rate": goal.control_rate},
                "lift": goal.lift if goal.HasField("lift") else None,
                "confidence": goal.confidence if goal.HasField("confidence") else None,
                "enough_data": goal.enough_data,
            }
            for goal in stats.goals
        ],
        "variants": [
            {
                "name": variant.name,
                "weight": variant.weight or None,
                "sent": variant.sent,
                "goals": [
                    {
                        "name": goal.name,
                        "conversions": goal.conversions,
                        "rate": goal.rate,
                        "chance_to_beat_first": (
                            goal.chance_to_beat_first if goal.HasField("chance_to_beat_first") else None
                        ),
                    }
                    for goal in variant.goals
                ],
            }
            for variant in stats.variants
        ],
    }


def send_document(send: campaign_pb2.SendSummary) -> dict[str, Any]:
    return {
        "id": send.id,
        "campaign": send.campaign,
        "user_id": send.user_id or None,
        "channel": send.channel,
        "status": send.status,
        "due_at": iso(send.due_at),
        "sent_at": iso(send.sent_at),
        "outcome": send.outcome,
    }


def settings_document(settings: campaign_pb2.WorkspaceSettings) -> dict[str, Any]:
    """A workspace's settings as applied (`herald settings show`)."""
    return {
        "workspace_id": settings.workspace_id,
        "frequency_caps": [{"channel": c.channel, "max": c.max, "per": c.per} for c in settings.frequency_caps],
        "quiet_hours": (
            {"start": settings.quiet_hours.start, "end": settings.quiet_hours.end,
             "fallback_timezone": settings.quiet_hours.fallback_timezone or None}
            if settings.HasField("quiet_hours") else None
        ),
        "global_control": settings.global_control_text or "0%",
        "global_control_fraction": settings.global_control,
        "file_name": settings.file_name or None,
        "updated_at": iso(settings.updated_at),
        "source_yaml": settings.source_yaml,
    }
