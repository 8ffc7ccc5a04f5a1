"""The gateway's pure rules: write keys, limits, splitting a batch, per-event refusals."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from herald_common.protoconv import to_datetime
from herald_services.gateway.domain import (
    ENDPOINTS,
    MAX_BATCH_EVENTS,
    MAX_CALL_BYTES,
    NO_IDENTITY,
    InflightGate,
    MalformedPayload,
    OverLimit,
    derived_time,
    parse_json_object,
    plan_batch,
    plan_call,
    write_key_from_authorization,
    write_key_from_body,
)

RECEIVED = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def batch_plan(events, **top):
    payload = {"batch": events, **top}
    return plan_batch(payload, received_at=RECEIVED, body_bytes=len(orjson.dumps(payload)))


def reasons(plan):
    return [(r.index, r.reason) for r in plan.rejected]


# ---- write keys ---------------------------------------------------------------------------


def basic(raw: str) -> str:
    return "Basic " + base64.b64encode(raw.encode()).decode()


def test_write_key_is_the_basic_user_name_with_empty_password():
    assert write_key_from_authorization(basic("wk_abc123:")) == "wk_abc123"


def test_write_key_base64_encoded_without_colon_is_accepted_for_backward_compatibility():
    assert write_key_from_authorization(basic("wk_abc123")) == "wk_abc123"


def test_write_key_base64_encoded_then_followed_by_a_colon_is_accepted():
    encoded = base64.b64encode(b"wk_abc123").decode()
    assert write_key_from_authorization(f"Basic {encoded}:") == "wk_abc123"


def test_write_key_scheme_is_case_insensitive():
    assert write_key_from_authorization("basic " + base64.b64encode(b"k:").decode()) == "k"


@pytest.mark.parametrize(
    "header", [None, "", "Bearer token", "Basic !!!not-base64", "Basic " + base64.b64encode(b":").decode()]
)
def test_authorization_without_a_usable_basic_write_key_gives_none(header):
    assert write_key_from_authorization(header) is None


def test_write_key_in_body():
    assert write_key_from_body({"writeKey": "wk"}) == "wk"
    assert write_key_from_body({"write_key": "wk"}) == "wk"
    assert write_key_from_body({"writeKey": ""}) is None
    assert write_key_from_body({"writeKey": 12}) is None
    assert write_key_from_body({}) is None


# ---- endpoints and JSON --------------------------------------------------------------------


def test_every_endpoint_exists_with_and_without_v1_prefix():
    for kind in ("identify", "track", "page", "screen", "group", "alias", "batch"):
        assert ENDPOINTS[f"/v1/{kind}"] == kind
        assert ENDPOINTS[f"/{kind}"] == kind


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "not an array"),
        (b'"text"', "not a string"),
        (b"null", "not null"),
    ],
)
def test_body_must_be_a_json_object(body, reason):
    with pytest.raises(MalformedPayload) as refused:
        parse_json_object(body)
    assert reason.split()[-1] in refused.value.reason


# ---- limits -------------------------------------------------------------------------------


def test_batch_that_is_not_a_list_is_malformed():
    with pytest.raises(MalformedPayload, match="batch must be a list"):
        plan_batch({"batch": {"type": "track"}}, received_at=RECEIVED, body_bytes=10)
    with pytest.raises(MalformedPayload):
        plan_batch({}, received_at=RECEIVED, body_bytes=2)


def test_batch_over_2500_events_is_over_limit():
    events = [{"type": "track", "userId": "u", "event": "E"}] * (MAX_BATCH_EVENTS + 1)
    with pytest.raises(OverLimit, match="2500"):
        plan_batch({"batch": events}, received_at=RECEIVED, body_bytes=100_000)


def test_batch_of_exactly_2500_events_is_kept():
    events = [{"type": "track", "userId": "u", "event": "E", "messageId": str(i)} for i in range(MAX_BATCH_EVENTS)]
    assert len(batch_plan(events).record.events) == MAX_BATCH_EVENTS


def test_one_event_over_32_kb_puts_the_batch_over_limit():
    big = {"type": "track", "userId": "u", "event": "E", "properties": {"blob": "x" * MAX_CALL_BYTES}}
    with pytest.raises(OverLimit, match="event 1"):
        batch_plan([{"type": "track", "userId": "u", "event": "E"}, big])


def test_event_just_under_32_kb_is_kept():
    event = {"type": "track", "userId": "u", "event": "E", "properties": {"blob": ""}}
    event["properties"]["blob"] = "x" * (MAX_CALL_BYTES - len(orjson.dumps(event)))
    assert len(orjson.dumps(event)) == MAX_CALL_BYTES
    assert len(batch_plan([event, event]).record.events) == 2


# ---- splitting ----------------------------------------------------------------------------


def test_batch_splits_into_identity_calls_and_one_record_request_keeping_indexes():
    plan = batch_plan(
        [
            {"type": "track", "userId": "u1", "event": "Signed Up", "messageId": "m0"},
            {"type": "identify", "userId": "u1", "traits": {"email": "a@example.com"}, "messageId": "m1"},
            {"type": "page", "anonymousId": "a1", "name": "Pricing", "messageId": "m2"},
            {"type": "alias", "previousId": "a1", "userId": "u1", "messageId": "m3"},
            {"type": "group", "userId": "u1", "groupId": "g1", "traits": {"plan": "pro"}, "messageId": "m4"},
            {"type": "screen", "userId": "u1", "name": "Home", "messageId": "m5"},
        ]
    )
    assert plan.record_index == [0, 2, 5]
    assert [(e.type, e.event, e.message_id) for e in plan.record.events] == [
        ("track", "Signed Up", "m0"),
        ("page", "Pricing", "m2"),
        ("screen", "Home", "m5"),
    ]
    assert plan.identify_index == [1]
    assert orjson.loads(plan.identify.calls[0].traits_json) == {"email": "a@example.com"}
    assert plan.alias_index == [3]
    assert (plan.alias.calls[0].previous_id, plan.alias.calls[0].user_id) == ("a1", "u1")
    assert plan.group_index == [4]
    assert plan.group.calls[0].group_id == "g1"
    assert plan.kept == 6
    assert plan.rejected == []


def test_record_event_carries_raw_timestamps_json_and_received_at():
    plan = batch_plan(
        [
            {
                "type": "track",
                "userId": "u1",
                "anonymousId": "a1",
                "event": "Clicked",
                "properties": {"button": "buy"},
                "context": {"ip": "1.2.3.4"},
                "timestamp": "2026-01-05T11:00:00Z",
                "originalTimestamp": "2026-01-05T10:59:00Z",
                "sentAt": "2026-01-05T11:00:01Z",
            }
        ]
    )
    [event] = plan.record.events
    assert (event.user_id, event.anonymous_id) == ("u1", "a1")
    assert orjson.loads(event.properties_json) == {"button": "buy"}
    assert orjson.loads(event.context_json) == {"ip": "1.2.3.4"}
    assert (event.timestamp, event.original_timestamp, event.sent_at) == (
        "2026-01-05T11:00:00Z",
        "2026-01-05T10:59:00Z",
        "2026-01-05T11:00:01Z",
    )
    assert to_datetime(event.received_at) == RECEIVED


def test_batch_sent_at_applies_to_events_without_their_own():
    plan = batch_plan(
        [
            {"type": "track", "userId": "u", "event": "A"},
            {"type": "track", "userId": "u", "event": "B", "sentAt": "2026-01-05T11:30:00Z"},
        ],
        sentAt="2026-01-05T11:59:59Z",
    )
    assert [e.sent_at for e in plan.record.events] == ["2026-01-05T11:59:59Z", "2026-01-05T11:30:00Z"]


def test_batch_context_is_merged_under_each_event_context():
    plan = batch_plan(
        [
            {"type": "track", "userId": "u", "event": "A", "context": {"ip": "9.9.9.9"}},
            {"type": "track", "userId": "u", "event": "B"},
        ],
        context={"ip": "1.1.1.1", "library": {"name": "x"}},
    )
    first, second = (orjson.loads(e.context_json) for e in plan.record.events)
    assert first == {"ip": "9.9.9.9", "library": {"name": "x"}}
    assert second == {"ip": "1.1.1.1", "library": {"name": "x"}}


def test_missing_message_id_is_generated_and_unique():
    plan = batch_plan([{"type": "track", "userId": "u", "event": "A"}] * 2)
    ids = [e.message_id for e in plan.record.events]
    assert all(ids) and ids[0] != ids[1]


def test_page_and_screen_event_is_the_name_or_empty():
    plan = batch_plan(
        [
            {"type": "page", "userId": "u", "properties": {"url": "https://x.test/pricing"}},
            {"type": "screen", "userId": "u", "name": "Home"},
        ]
    )
    assert [e.event for e in plan.record.events] == ["", "Home"]


def test_numeric_ids_are_kept_as_strings():
    plan = batch_plan([{"type": "track", "userId": 42, "event": "A"}])
    assert plan.record.events[0].user_id == "42"


def test_single_call_takes_its_type_from_the_endpoint():
    plan = plan_call("track", {"type": "identify", "userId": "u", "event": "Signed Up"}, received_at=RECEIVED)
    assert [e.type for e in plan.record.events] == ["track"]
    assert plan.record_index == [0]


# ---- per-event refusals ---------------------------------------------------------------------


def test_events_that_cannot_be_kept_are_refused_one_by_one_with_reasons():
    plan = batch_plan(
        [
            {"type": "track", "event": "No one"},
            {"type": "track", "userId": "u"},
            {"type": "alias", "userId": "u"},
            {"type": "alias", "previousId": "a"},
            {"type": "group", "userId": "u"},
            {"type": "explode", "userId": "u"},
            {"userId": "u"},
            "not an object",
            {"type": "identify", "userId": "u", "traits": ["a"]},
            {"type": "track", "userId": {"id": 1}, "event": "A"},
            {"type": "identify", "anonymousId": "a"},
        ]
    )
    assert reasons(plan) == [
        (0, NO_IDENTITY),
        (1, "a track call needs an event name"),
        (2, "an alias call needs a previousId"),
        (3, "an alias call needs a userId"),
        (4, "a group call needs a groupId"),
        (5, "unknown type 'explode'"),
        (6, "no type"),
        (7, "an event must be a JSON object"),
        (8, "traits must be a JSON object"),
        (9, "userId must be a string"),
    ]
    assert plan.identify_index == [10]
    assert plan.kept == 1


def test_refused_event_leaves_no_half_built_call():
    plan = batch_plan([{"type": "track", "userId": "u", "event": "A", "properties": "oops"}])
    assert len(plan.record.events) == 0
    assert reasons(plan) == [(0, "properties must be a JSON object")]


def test_track_with_blank_event_name_is_refused():
    plan = batch_plan([{"type": "track", "userId": "u", "event": "   "}])
    assert reasons(plan) == [(0, "a track call needs an event name")]


# ---- identity times -----------------------------------------------------------------------


def test_identify_time_is_the_explicit_timestamp():
    plan = batch_plan([{"type": "identify", "userId": "u", "timestamp": "2025-12-31T23:00:00+01:00"}])
    assert to_datetime(plan.identify.calls[0].timestamp) == datetime(2025, 12, 31, 22, 0, tzinfo=UTC)


def test_identify_without_timestamp_is_derived_segments_way_from_sent_at():
    plan = batch_plan(
        [{"type": "identify", "userId": "u", "originalTimestamp": "2026-01-05T11:00:00Z"}],
        sentAt="2026-01-05T11:00:10Z",
    )
    assert to_datetime(plan.identify.calls[0].timestamp) == RECEIVED - timedelta(seconds=10)


def test_identify_without_any_time_uses_received_time():
    plan = batch_plan([{"type": "identify", "userId": "u"}])
    assert to_datetime(plan.identify.calls[0].timestamp) == RECEIVED


def test_identify_with_unreadable_timestamp_is_kept_with_a_warning():
    plan = batch_plan([{"type": "identify", "userId": "u", "timestamp": "2015-2-02T00:30:08.276Z"}])
    assert plan.identify_index == [0]
    assert to_datetime(plan.identify.calls[0].timestamp) == RECEIVED
    [warning] = plan.warnings
    assert (warning.index, warning.field) == (0, "timestamp")


def test_derived_time_rules():
    assert derived_time("2026-01-01T00:00:00Z", None, None, RECEIVED) == datetime(2026, 1, 1, tzinfo=UTC)
    assert derived_time(None, None, "2026-01-01T00:00:00", RECEIVED) == datetime(2026, 1, 1, tzinfo=UTC)
    assert derived_time(None, None, None, RECEIVED) == RECEIVED
    assert derived_time("garbage", None, None, RECEIVED) is None


def test_workspace_is_set_on_every_request():
    plan = batch_plan([{"type": "identify", "userId": "u"}, {"type": "track", "userId": "u", "event": "A"}])
    plan.for_workspace("ws1")
    assert {plan.identify.workspace_id, plan.alias.workspace_id, plan.group.workspace_id, plan.record.workspace_id} == {
        "ws1"
    }


# ---- load shedding ------------------------------------------------------------------------


def test_inflight_gate_refuses_once_over_the_limit_and_admits_again_after_release():
    gate = InflightGate(limit=150)
    assert gate.try_admit(100)
    assert not gate.try_admit(100)
    assert gate.try_admit(50)
    gate.release(100)
    assert gate.try_admit(100)
    assert gate.inflight == 150


def test_inflight_gate_lets_a_batch_larger_than_the_limit_in_when_idle():
    gate = InflightGate(limit=1)
    assert gate.try_admit(5)
    assert not gate.try_admit(1)


def test_inflight_gate_is_full_at_its_limit():
    gate = InflightGate(limit=2)
    assert not gate.full
    gate.try_admit(2)
    assert gate.full


# ---- whether ingest's call waits for identity's --------------------------------------------


def _plan(*events):
    return plan_batch({"batch": list(events)}, received_at=RECEIVED, body_bytes=100)


@pytest.mark.parametrize(
    ("events", "waits"),
    [
        ([{"type": "identify", "userId": "u1"}, {"type": "track", "userId": "u2", "event": "E"}], False),
        ([{"type": "identify", "userId": "u1"}, {"type": "track", "userId": "u1", "event": "E"}], True),
        # The track comes first in the batch: identity still goes first for it.
        ([{"type": "track", "userId": "u1", "event": "E"}, {"type": "identify", "userId": "u1"}], True),
        ([{"type": "identify", "userId": "u1", "anonymousId": "a1"}, {"type": "page", "anonymousId": "a1", "name": "P"}], True),
        ([{"type": "alias", "previousId": "a1", "userId": "u1"}, {"type": "track", "anonymousId": "a1", "event": "E"}], True),
        ([{"type": "alias", "previousId": "u0", "userId": "u1"}, {"type": "track", "userId": "u0", "event": "E"}], True),
        ([{"type": "group", "groupId": "g1", "userId": "u1"}, {"type": "screen", "userId": "u1", "name": "S"}], True),
        # An identify without an anonymousId and a track without a userId share no id.
        ([{"type": "identify", "userId": "u1"}, {"type": "track", "anonymousId": "a9", "event": "E"}], False),
        ([{"type": "track", "userId": "u1", "event": "E"}], False),
    ],
    ids=["other-user", "same-user", "track-first", "anonymous-id", "alias-previous-anonymous", "alias-previous-user",
         "group", "no-shared-empty-id", "no-identity-calls"],
)
def test_record_waits_for_identity_only_when_they_name_the_same_user(events, waits):
    assert _plan(*events).record_waits_for_identity is waits
