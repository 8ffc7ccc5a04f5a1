"""The JSON documents the CLI prints, shaped from protobuf messages."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from herald.identity.v1 import identity_pb2
from herald.ingest.v1 import ingest_pb2
from herald_cli import shapes
from herald_common.protoconv import timestamp

CREATED = datetime(2026, 1, 5, 12, 0, 30, 250000, tzinfo=UTC)
SEEN = datetime(2026, 1, 6, 8, 15, tzinfo=UTC)


def test_user_document_has_the_contract_keys_with_times_in_iso_8601_with_an_offset():
    user = identity_pb2.User(
        profile_id="p1",
        user_id="u1",
        anonymous_ids=["anon-1", "anon-2"],
        attributes_json=orjson.dumps({"email": "ada@example.com", "address": {"city": "Berlin"}}),
        devices=[identity_pb2.Device(kind="apns", token="tok-ios", last_seen=timestamp(SEEN))],
        created_at=timestamp(CREATED),
        updated_at=timestamp(SEEN),
        merged_profile_ids=["p0"],
        group_ids=["g1"],
    )
    assert shapes.user_document(user) == {
        "user_id": "u1",
        "profile_id": "p1",
        "anonymous_ids": ["anon-1", "anon-2"],
        "attributes": {"email": "ada@example.com", "address": {"city": "Berlin"}},
        "devices": [{"kind": "apns", "token": "tok-ios", "last_seen": "2026-01-06T08:15:00+00:00"}],
        "groups": ["g1"],
        "merged_profile_ids": ["p0"],
        "created_at": "2026-01-05T12:00:30.250000+00:00",
        "updated_at": "2026-01-06T08:15:00+00:00",
    }


def test_an_anonymous_profile_has_a_null_user_id_and_empty_collections():
    document = shapes.user_document(identity_pb2.User(profile_id="p9", anonymous_ids=["anon-9"]))
    assert document["user_id"] is None
    assert (document["attributes"], document["devices"], document["groups"]) == ({}, [], [])
    assert document["created_at"] is None


def test_event_definition_never_seen_has_a_null_last_seen_and_no_property_sets_in_the_list():
    definition = ingest_pb2.EventDefinition(name="[Segment] Trial Ended", defined_by_hand=True, description="ran out")
    document = shapes.event_definition_document(definition)
    assert document == {
        "name": "[Segment] Trial Ended",
        "definitions": 0,
        "times_seen": 0,
        "seen_last_24h": False,
        "times_seen_last_24h": 0,
        "last_seen": None,
        "hidden": False,
        "defined_by_hand": True,
        "description": "ran out",
    }


def test_event_definition_for_show_lists_each_property_set_with_its_count():
    definition = ingest_pb2.EventDefinition(
        name="[Segment] Signed Up",
        definitions=2,
        times_seen=5,
        times_seen_last_24h=1,
        seen_in_last_24h=True,
        last_seen=timestamp(SEEN),
        property_sets=[
            ingest_pb2.PropertySet(properties=["plan", "referrer"], count=4, last_seen=timestamp(SEEN)),
            ingest_pb2.PropertySet(properties=[], count=1, last_seen=timestamp(CREATED)),
        ],
    )
    document = shapes.event_definition_document(definition, with_property_sets=True)
    assert (document["seen_last_24h"], document["times_seen_last_24h"]) == (True, 1)
    assert document["last_seen"] == "2026-01-06T08:15:00+00:00"
    assert document["property_sets"] == [
        {"properties": ["plan", "referrer"], "count": 4, "last_seen": "2026-01-06T08:15:00+00:00"},
        {"properties": [], "count": 1, "last_seen": "2026-01-05T12:00:30.250000+00:00"},
    ]


def test_event_document_decodes_properties_and_leaves_missing_ids_null():
    event = ingest_pb2.Event(
        id="e1",
        name="[Segment Page] Pricing",
        type="page",
        message_id="m1",
        profile_id="p1",
        anonymous_id="anon-1",
        properties_json=orjson.dumps({"url": "https://example.com/pricing"}),
        timestamp=timestamp(CREATED),
        received_at=timestamp(SEEN),
    )
    document = shapes.event_document(event)
    assert document["user_id"] is None
    assert document["anonymous_id"] == "anon-1"
    assert document["properties"] == {"url": "https://example.com/pricing"}
    assert document["context"] == {}
    assert (document["timestamp"], document["received_at"]) == (
        "2026-01-05T12:00:30.250000+00:00",
        "2026-01-06T08:15:00+00:00",
    )


def test_deletion_document_says_what_was_removed():
    response = identity_pb2.DeleteUserResponse(profile_ids=["p1", "p0"], events_deleted=12)
    assert shapes.deletion_document("u1", "default", response) == {
        "id": "u1",
        "workspace": "default",
        "profile_ids": ["p1", "p0"],
        "events_deleted": 12,
    }
