"""identity as a real gRPC server on port 0, on SQLite and on PostgreSQL."""

from __future__ import annotations

import grpc
import orjson
import pytest
from herald.identity.v1 import identity_pb2 as pb
from herald_common.clients import IdentityClient
from herald_common.db import create_service_engine, migrate
from herald_common.grpcclient import field_errors
from herald_common.testing import suite_caller
from herald_services.identity.main import build

WS = "default"


@pytest.fixture
async def identity(settings):
    engine = create_service_engine(settings, "identity")
    migrate(engine, "identity")
    engine.dispose()
    service = await build(settings, address="127.0.0.1:0")
    await service.start()
    client = IdentityClient(f"127.0.0.1:{service.port}", timeout=10, caller=suite_caller(settings))
    await client.ensure_workspace(workspace_id=WS, name="Default", write_key="wk_test")
    yield client
    await client.close()
    await service.stop()


def identify_call(user_id="", anonymous_id="", traits=None, context=None, message_id="m"):
    return pb.IdentifyCall(
        message_id=message_id,
        user_id=user_id,
        anonymous_id=anonymous_id,
        traits_json=orjson.dumps(traits or {}),
        context_json=orjson.dumps(context or {}),
    )


async def test_identify_maps_traits_and_refuses_only_the_bad_field(identity):
    response = await identity.identify(
        pb.IdentifyRequest(
            workspace_id=WS,
            calls=[
                identify_call(
                    user_id="u1",
                    traits={"name": "Ada King Lovelace", "email": "ada@example.com", "phone": "(415) 555-2671",
                            "timezone": "Mars/Olympus", "plan": "Business", "address": {"city": "Berlin"}},
                    context={"timezone": "Europe/Berlin", "device": {"token": "tok-ios", "type": "ios"}},
                )
            ],
        )
    )
    [result] = response.results
    assert [(r.field, "IANA" in r.reason) for r in result.rejected] == [("traits.timezone", True)]
    user = await identity.get_user(WS, "u1")
    attributes = orjson.loads(user.attributes_json)
    assert attributes == {
        "first_name": "Ada",
        "last_name": "King Lovelace",
        "email": "ada@example.com",
        "phone_number": "+14155552671",
        "plan": "Business",
        "address": {"city": "Berlin"},
    }
    assert [(d.kind, d.token) for d in user.devices] == [("apns", "tok-ios")]


async def test_identify_with_anonymous_id_merges_anonymous_profile_into_user(identity):
    resolved = await identity.resolve(
        pb.ResolveRequest(workspace_id=WS, refs=[pb.UserRef(anonymous_id="anon-1")], create_missing=True)
    )
    anonymous_profile = resolved.users[0].profile_id
    await identity.identify(
        pb.IdentifyRequest(workspace_id=WS, calls=[identify_call(anonymous_id="anon-1", traits={"plan": "Free"})])
    )
    await identity.identify(pb.IdentifyRequest(workspace_id=WS, calls=[identify_call(user_id="u2", traits={"email": "b@example.com"})]))
    await identity.identify(pb.IdentifyRequest(workspace_id=WS, calls=[identify_call(user_id="u2", anonymous_id="anon-1")]))
    user = await identity.get_user(WS, "anon-1")
    assert user.user_id == "u2"
    assert list(user.anonymous_ids) == ["anon-1"]
    assert list(user.merged_profile_ids) == [anonymous_profile]
    assert orjson.loads(user.attributes_json) == {"plan": "Free", "email": "b@example.com"}
    again = await identity.resolve(pb.ResolveRequest(workspace_id=WS, refs=[pb.UserRef(anonymous_id="anon-1"), pb.UserRef(user_id="u2")]))
    assert {u.profile_id for u in again.users} == {user.profile_id}


async def test_list_workspaces_gives_every_workspace_by_id_without_its_write_key(identity):
    await identity.ensure_workspace(workspace_id="shop", name="Shop", write_key="wk_shop")
    workspaces = await identity.list_workspaces()
    assert [(w.id, w.name, w.write_key) for w in workspaces] == [("default", "Default", ""), ("shop", "Shop", "")]


async def test_unknown_workspace_is_not_found_with_a_clear_message(identity):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await identity.get_user("nope", "u1")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "workspace 'nope'" in caught.value.details()


async def test_alias_with_missing_ids_lists_every_field(identity):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await identity.alias(pb.AliasRequest(workspace_id=WS, calls=[pb.AliasCall(previous_id="", user_id="")]))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [e.field for e in field_errors(caught.value)] == ["calls[0].previousId", "calls[0].userId"]


async def test_a_repeated_value_still_counts_as_the_newest_against_late_older_calls(identity):
    """t1 plan=Pro, t3 plan=Pro (same value), then t2 plan=Free arriving late: Pro is the newest."""
    from datetime import UTC, datetime, timedelta

    from herald_common.protoconv import timestamp

    t1 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    for at, plan in ((t1, "Pro"), (t1 + timedelta(hours=2), "Pro"), (t1 + timedelta(hours=1), "Free")):
        call = identify_call(user_id="u-late", traits={"plan": plan})
        call.timestamp.CopyFrom(timestamp(at))
        await identity.identify(pb.IdentifyRequest(workspace_id=WS, calls=[call]))
    user = await identity.get_user(WS, "u-late")
    assert orjson.loads(user.attributes_json)["plan"] == "Pro"
