"""The gateway over real HTTP, in front of a real identity server and a recording ingest server."""

from __future__ import annotations

import asyncio
import base64
import gzip
import socket

import grpc
import httpx
import orjson
import pytest
from herald.identity.v1 import identity_pb2
from herald_common.clients import IdentityClient
from herald_common.testing import suite_caller
from herald_services.gateway.main import ensure_default_workspace

from .conftest import WORKSPACE, WRITE_KEY, basic_auth, start_identity


def batch(*events, **top):
    return {"batch": list(events), **top}


def track(user_id="u1", event="Signed Up", **fields):
    return {"type": "track", "userId": user_id, "event": event, **fields}


def identify(user_id="u1", traits=None, **fields):
    return {"type": "identify", "userId": user_id, "traits": traits or {}, **fields}


async def post(http: httpx.AsyncClient, path: str, document, headers=None, gzipped=False) -> httpx.Response:
    body = orjson.dumps(document) if not isinstance(document, bytes) else document
    headers = {"Content-Type": "application/json", **(headers or {})}
    if gzipped:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return await http.post(path, content=body, headers=headers)


# ---- accepted calls and the fan-out --------------------------------------------------------


async def test_batch_with_basic_auth_is_forwarded_as_one_identify_and_one_record_call(http, recording_ingest, identity):
    response = await post(
        http,
        "/v1/batch",
        batch(
            identify("u1", {"email": "ada@example.com", "plan": "pro"}, messageId="m-1"),
            track("u1", "Signed Up", messageId="m-2", properties={"plan": "pro"}),
            {"type": "page", "userId": "u1", "name": "Pricing", "messageId": "m-3"},
            track("u2", "Clicked", messageId="m-4"),
        ),
        headers=basic_auth(),
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}
    assert len(recording_ingest.requests) == 1
    [request] = recording_ingest.requests
    assert request.workspace_id == WORKSPACE
    assert [(e.type, e.event, e.message_id) for e in request.events] == [
        ("track", "Signed Up", "m-2"),
        ("page", "Pricing", "m-3"),
        ("track", "Clicked", "m-4"),
    ]
    assert orjson.loads(request.events[0].properties_json) == {"plan": "pro"}
    assert request.events[0].received_at.seconds > 0
    user = await identity.get_user(WORKSPACE, "u1")
    assert orjson.loads(user.attributes_json) == {"email": "ada@example.com", "plan": "pro"}


async def test_identity_calls_are_made_before_record_so_the_tracked_user_exists(http, recording_ingest, identity):
    async def user_exists(request):
        try:
            await identity.get_user(request.workspace_id, request.events[0].user_id)
            return True
        except grpc.aio.AioRpcError:
            return False

    recording_ingest.on_record = user_exists
    response = await post(
        http, "/v1/batch", batch(track("late-user"), identify("late-user", {"plan": "x"})), basic_auth()
    )
    assert response.status_code == 200
    assert recording_ingest.seen == [True]


def _hold_identify_calls(gateway) -> asyncio.Event:
    """Identify calls from this gateway wait until the returned event is set."""
    release = asyncio.Event()
    coalescer = gateway.app.forwarder.identify
    send = coalescer._send

    async def held(request):
        await release.wait()
        return await send(request)

    coalescer._send = held
    return release


async def test_tracks_of_users_the_batch_does_not_identify_are_recorded_without_waiting_for_identity(
    gateway, http, recording_ingest, identity
):
    release = _hold_identify_calls(gateway)
    answer = asyncio.ensure_future(
        post(http, "/v1/batch", batch(identify("held-user", {"plan": "x"}), track("other-user")), basic_auth())
    )
    for _ in range(200):
        if recording_ingest.requests:
            break
        await asyncio.sleep(0.01)
    # Ingest had the track while the identify was still held back.
    assert [e.user_id for e in recording_ingest.events] == ["other-user"]
    assert not answer.done()
    release.set()
    response = await answer
    assert response.status_code == 200, response.text
    assert orjson.loads((await identity.get_user(WORKSPACE, "held-user")).attributes_json) == {"plan": "x"}


@pytest.mark.parametrize(
    "tracked",
    [track("u1"), track("", anonymousId="a1"), track("u9", anonymousId="a1")],
    ids=["same-user-id", "same-anonymous-id", "anonymous-id-joined-by-the-identify"],
)
async def test_tracks_of_a_user_the_batch_identifies_wait_for_identity(gateway, http, recording_ingest, tracked):
    release = _hold_identify_calls(gateway)
    answer = asyncio.ensure_future(
        post(http, "/v1/batch", batch(identify("u1", {"plan": "x"}, anonymousId="a1"), tracked, track("u2")), basic_auth())
    )
    await asyncio.sleep(0.3)
    assert recording_ingest.requests == []
    release.set()
    assert (await answer).status_code == 200
    assert len(recording_ingest.events) == 2


async def test_identity_failure_is_reported_even_when_the_record_call_went_at_the_same_time(
    gateway, http, recording_ingest
):
    coalescer = gateway.app.forwarder.identify

    async def unavailable(request):
        raise grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "identity is restarting")

    coalescer._send = unavailable
    response = await post(http, "/v1/batch", batch(identify("u1"), track("u2")), basic_auth())
    assert response.status_code == 503
    assert "identity" in response.json()["error"]


async def test_alias_and_group_in_a_batch_reach_identity(http, identity):
    response = await post(
        http,
        "/v1/batch",
        batch(
            {"type": "identify", "anonymousId": "anon-9", "traits": {"plan": "free"}},
            {"type": "alias", "previousId": "anon-9", "userId": "u9"},
            {"type": "group", "userId": "u9", "groupId": "acme", "traits": {"name": "Acme"}},
        ),
        basic_auth(),
    )
    assert response.status_code == 200, response.text
    user = await identity.get_user(WORKSPACE, "anon-9")
    assert user.user_id == "u9"
    assert list(user.group_ids) == ["acme"]


@pytest.mark.parametrize("path", ["/v1/track", "/track", "/v1/track/"])
async def test_single_track_with_write_key_in_body_is_recorded(http, recording_ingest, path):
    response = await post(http, path, {"userId": "u1", "event": "Opened", "writeKey": WRITE_KEY})
    assert response.status_code == 200, response.text
    assert [(e.type, e.event) for e in recording_ingest.events] == [("track", "Opened")]
    assert recording_ingest.events[0].message_id


async def test_single_identify_endpoint_updates_the_profile_without_recording(http, recording_ingest, identity):
    response = await post(http, "/identify", {"userId": "u5", "traits": {"email": "e@example.com"}}, basic_auth())
    assert response.status_code == 200
    assert recording_ingest.requests == []
    assert orjson.loads((await identity.get_user(WORKSPACE, "u5")).attributes_json) == {"email": "e@example.com"}


async def test_page_and_screen_endpoints_record_their_name(http, recording_ingest):
    await post(
        http, "/v1/page", {"anonymousId": "a", "name": "Home", "properties": {"url": "https://x.test"}}, basic_auth()
    )
    await post(http, "/v1/screen", {"anonymousId": "a", "name": "Settings"}, basic_auth())
    assert [(e.type, e.event) for e in recording_ingest.events] == [("page", "Home"), ("screen", "Settings")]


async def test_gzip_batch_is_accepted(http, recording_ingest):
    response = await post(
        http, "/v1/batch", batch(track(messageId="gz-1"), sentAt="2026-01-05T12:00:00Z"), basic_auth(), gzipped=True
    )
    assert response.status_code == 200, response.text
    [event] = recording_ingest.events
    assert (event.message_id, event.sent_at) == ("gz-1", "2026-01-05T12:00:00Z")


async def test_write_key_base64_encoded_without_colon_is_accepted(http):
    headers = {"Authorization": "Basic " + base64.b64encode(WRITE_KEY.encode()).decode()}
    response = await post(http, "/v1/track", {"userId": "u1", "event": "A"}, headers)
    assert response.status_code == 200, response.text


async def test_empty_batch_is_accepted_without_any_rpc(http, recording_ingest):
    response = await post(http, "/v1/batch", batch(), basic_auth())
    assert response.status_code == 200
    assert recording_ingest.requests == []


# ---- per-event refusals --------------------------------------------------------------------


async def test_events_that_cannot_be_kept_are_listed_and_the_rest_of_the_batch_is_kept(http, recording_ingest):
    recording_ingest.reject_event_named["Too Old"] = "timestamp: more than a year in the past"
    response = await post(
        http,
        "/v1/batch",
        batch(
            track("u1", "Kept"),
            {"type": "track", "event": "Anonymous nobody"},
            {"type": "track", "userId": "u1"},
            {"type": "alias", "userId": "u1"},
            {"type": "group", "userId": "u1"},
            {"type": "bogus", "userId": "u1"},
            track("u1", "Too Old"),
        ),
        basic_auth(),
    )
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "rejected": [
            {"index": 1, "reason": "no userId and no anonymousId"},
            {"index": 2, "reason": "a track call needs an event name"},
            {"index": 3, "reason": "an alias call needs a previousId"},
            {"index": 4, "reason": "a group call needs a groupId"},
            {"index": 5, "reason": "unknown type 'bogus'"},
            {"index": 6, "reason": "timestamp: more than a year in the past"},
        ],
    }
    assert [e.event for e in recording_ingest.events] == ["Kept", "Too Old"]


async def test_single_call_that_cannot_be_kept_answers_200_with_its_rejection(http, recording_ingest):
    response = await post(http, "/v1/track", {"event": "No one"}, basic_auth())
    assert response.status_code == 200
    assert response.json() == {"success": True, "rejected": [{"index": 0, "reason": "no userId and no anonymousId"}]}
    assert recording_ingest.requests == []


async def test_field_refused_by_identity_is_reported_as_a_warning_and_the_rest_kept(http, identity):
    response = await post(
        http,
        "/v1/batch",
        batch(track("u7", "A"), identify("u7", {"timezone": "Mars/Olympus", "plan": "pro"})),
        basic_auth(),
    )
    assert response.status_code == 200
    [warning] = response.json()["warnings"]
    assert (warning["index"], warning["field"]) == (1, "traits.timezone")
    assert "IANA" in warning["reason"]
    assert orjson.loads((await identity.get_user(WORKSPACE, "u7")).attributes_json) == {"plan": "pro"}


# ---- refused requests ----------------------------------------------------------------------


async def test_missing_write_key_is_401(http, recording_ingest):
    response = await post(http, "/v1/track", {"userId": "u1", "event": "A"})
    assert response.status_code == 401
    body = response.json()
    assert body["success"] is False and "write key" in body["error"]
    assert recording_ingest.requests == []


@pytest.mark.parametrize("where", ["header", "body"])
async def test_unknown_write_key_is_401(http, where):
    document = {"userId": "u1", "event": "A"}
    headers = None
    if where == "header":
        headers = basic_auth("wk_nobody")
    else:
        document["writeKey"] = "wk_nobody"
    response = await post(http, "/v1/track", document, headers)
    assert response.status_code == 401
    assert response.json() == {
        "success": False,
        "code": "unauthorized",
        "message": "unknown write key",
        "error": "unknown write key",
    }


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"batch": {"type": "track"}}', "batch must be a list"),
    ],
)
async def test_malformed_body_is_400_with_the_reason(http, body, reason):
    response = await post(http, "/v1/batch", body, basic_auth())
    assert response.status_code == 400
    assert reason in response.json()["error"]


async def test_body_that_is_not_gzip_although_it_says_so_is_400(http):
    response = await http.post("/v1/batch", content=b"plain", headers={**basic_auth(), "Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert "gzip" in response.json()["error"]


async def test_single_call_over_32_kb_is_413(http):
    response = await post(http, "/v1/track", track(properties={"blob": "x" * 33_000}), basic_auth())
    assert response.status_code == 413


async def test_batch_over_500_kb_decompressed_is_413_even_when_gzip_is_small(http, recording_ingest):
    events = [track(properties={"blob": "x" * 30_000}, messageId=str(i)) for i in range(20)]
    response = await post(http, "/v1/batch", batch(*events), basic_auth(), gzipped=True)
    assert response.status_code == 413
    assert "500 KB" in response.json()["error"]
    assert recording_ingest.requests == []


async def test_batch_of_more_than_2500_events_is_413(http):
    response = await post(http, "/v1/batch", batch(*([{"type": "track"}] * 2501)), basic_auth())
    assert response.status_code == 413
    assert "2500" in response.json()["error"]


async def test_batch_with_one_event_over_32_kb_is_413(http, recording_ingest):
    response = await post(http, "/v1/batch", batch(track(), track(properties={"blob": "x" * 33_000})), basic_auth())
    assert response.status_code == 413
    assert "event 1" in response.json()["error"]
    assert recording_ingest.requests == []


async def test_unknown_path_is_404_and_wrong_method_is_405(http):
    assert (await http.post("/v2/track", content=b"{}")).status_code == 404
    response = await http.get("/v1/batch")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


async def test_health_answers_200(http):
    response = await http.get("/health")
    assert response.status_code == 200


# ---- load and failures ---------------------------------------------------------------------


async def test_over_the_inflight_limit_the_gateway_answers_429_with_retry_after(gateway_factory, recording_ingest):
    recording_ingest.delay = 0.5
    gateway = await gateway_factory(gateway_max_inflight_events=3)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
        first = asyncio.create_task(post(http, "/v1/batch", batch(track(), track(), track()), basic_auth()))
        while not recording_ingest.requests:
            await asyncio.sleep(0.01)
        shed = await post(http, "/v1/batch", batch(track()), basic_auth())
        assert shed.status_code == 429
        assert shed.headers["retry-after"] == "1"
        assert (await first).status_code == 200
        recording_ingest.delay = 0
        assert (await post(http, "/v1/batch", batch(track()), basic_auth())).status_code == 200
    assert len(recording_ingest.requests) == 2


async def test_ingest_down_answers_503_with_retry_after(gateway_factory):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nowhere = f"127.0.0.1:{probe.getsockname()[1]}"
    gateway = await gateway_factory(ingest_address=nowhere)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
        response = await post(http, "/v1/track", track(), basic_auth())
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) > 0
    assert "ingest" in response.json()["error"]


async def test_request_id_travels_to_ingest_and_back(http, recording_ingest):
    response = await post(http, "/v1/track", track(), {**basic_auth(), "X-Request-Id": "req-abc-123"})
    assert response.headers["x-request-id"] == "req-abc-123"
    assert recording_ingest.request_ids == ["req-abc-123"]


async def test_each_request_gets_its_own_request_id(http, recording_ingest):
    first = await post(http, "/v1/track", track(), basic_auth())
    second = await post(http, "/v1/track", track(), basic_auth())
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert recording_ingest.request_ids == [first.headers["x-request-id"], second.headers["x-request-id"]]


# ---- the default workspace -----------------------------------------------------------------


async def test_gateway_with_a_write_key_ensures_the_default_workspace_at_start(gateway_factory, identity):
    gateway = await gateway_factory(write_key="wk_from_the_environment")
    workspace = await identity.workspace_by_write_key("wk_from_the_environment")
    assert workspace.id == "default"
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
        response = await post(http, "/v1/track", track(), basic_auth("wk_from_the_environment"))
    assert response.status_code == 200


async def test_default_workspace_is_ensured_once_identity_comes_up(sqlite_settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    client = IdentityClient(address, timeout=2, caller=suite_caller(sqlite_settings))
    ensuring = asyncio.create_task(ensure_default_workspace(client, "wk_late", first_delay=0.05, max_delay=0.2))
    await asyncio.sleep(0.3)
    assert not ensuring.done()
    service = await start_identity(sqlite_settings, address=address)
    try:
        await asyncio.wait_for(ensuring, timeout=10)
        workspace = await client.workspace_by_write_key("wk_late")
        assert isinstance(workspace, identity_pb2.Workspace) and workspace.id == "default"
    finally:
        await client.close()
        await service.stop()


async def test_concurrent_batches_share_record_calls_and_each_gets_its_own_rejections(http, recording_ingest):
    recording_ingest.delay = 0.3
    recording_ingest.reject_event_named = {f"Bad {n}": f"bad event of batch {n}" for n in range(8)}

    async def send(n: int) -> httpx.Response:
        events = [track("u1", f"Good {n}.{i}", messageId=f"{n}-{i}") for i in range(n % 3 + 1)]
        events.insert(n % 2, track("u1", f"Bad {n}", messageId=f"{n}-bad"))
        return await post(http, "/v1/batch", batch(*events), basic_auth())

    responses = await asyncio.gather(*(send(n) for n in range(8)))
    for n, response in enumerate(responses):
        assert response.status_code == 200
        assert response.json()["rejected"] == [{"index": n % 2, "reason": f"bad event of batch {n}"}]
    assert len(recording_ingest.requests) < 8
    assert sorted(e.message_id for e in recording_ingest.events) == sorted(
        [f"{n}-{i}" for n in range(8) for i in range(n % 3 + 1)] + [f"{n}-bad" for n in range(8)]
    )


async def test_unknown_header_write_key_is_refused_before_the_body_is_read_and_the_connection_stays_usable(http):
    oversized = batch(*[track(properties={"blob": "x" * 30_000}) for _ in range(20)])
    refused = await post(http, "/v1/batch", oversized, basic_auth("wk_nobody"))
    assert refused.status_code == 401
    accepted = await post(http, "/v1/batch", batch(track()), basic_auth())
    assert accepted.status_code == 200


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (grpc.StatusCode.INTERNAL, 500),
        (grpc.StatusCode.INVALID_ARGUMENT, 400),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 503),
        (grpc.StatusCode.DEADLINE_EXCEEDED, 503),
    ],
)
async def test_ingest_failures_map_to_status_codes_that_tell_the_client_whether_to_retry(
    http, recording_ingest, code, status
):
    recording_ingest.abort_with = (code, "ingest says no")
    response = await post(http, "/v1/batch", batch(track()), basic_auth())
    assert response.status_code == status
    assert "ingest" in response.json()["error"]
