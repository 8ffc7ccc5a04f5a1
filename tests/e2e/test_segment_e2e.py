"""Segment traffic end to end: the suite started as `herald up` starts it, driven by Segment's own
Python library (gzip on) and by raw HTTP for what that library would never send.

Most tests share one suite whose events go to one campaign receiver (a real gRPC server of
campaign's proto, herald_common.testing.RecordingCampaign): each test uses its own user ids,
anonymous ids and event names, so none reads another's data. Two tests share a second scenario:
a suite whose campaign is down, stopped with SIGTERM and started again on the same data dir.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from herald_common.testing import start_recording_campaign
from segment import analytics

from tests.e2e.harness import Suite, free_port, launch

pytestmark = pytest.mark.e2e
# `make test` distributes by file (--dist loadfile), so this module's shared suites start once.

SETTLE_SECONDS = 0.5  # after the last expected event arrives: long enough for a repeat to show up


# ---- campaign's receiver ---------------------------------------------------------------------


class CampaignReceiver:
    """campaign's OnEvents as a real gRPC server (herald_common.testing.RecordingCampaign), run on
    an event loop of its own in a background thread so synchronous tests can use it."""

    def __init__(self, address: str = "127.0.0.1:0") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="campaign-receiver", daemon=True)
        self._thread.start()
        try:
            self._server, self.port, self._recorder = self._call(start_recording_campaign(address))
        except BaseException:
            self._close_loop()
            raise

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def events_of(self, user_ids: set[str]) -> list:
        """Every event handed over for these user ids, repeats included, in arrival order."""
        return [e for e in list(self._recorder.events) if e.user_id in user_ids]

    def wait_for_message_ids(self, user_ids: set[str], message_ids: set[str], timeout: float = 20) -> list:
        """Waits until every message id arrived for these users; returns their events, then waits a
        little longer so that an event handed over twice would show up twice."""
        deadline = time.monotonic() + timeout
        while not message_ids <= {e.message_id for e in self.events_of(user_ids)}:
            if time.monotonic() > deadline:
                got = {e.message_id for e in self.events_of(user_ids)}
                raise AssertionError(f"{len(message_ids - got)} of {len(message_ids)} events never reached campaign")
            time.sleep(0.05)
        time.sleep(SETTLE_SECONDS)
        return self.events_of(user_ids)

    def stop(self) -> None:
        try:
            self._call(self._server.stop(None))
        finally:
            self._close_loop()

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    def _close_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@contextmanager
def campaign_receiver(address: str = "127.0.0.1:0") -> Iterator[CampaignReceiver]:
    receiver = CampaignReceiver(address)
    try:
        yield receiver
    finally:
        receiver.stop()


# ---- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def receiver() -> Iterator[CampaignReceiver]:
    with campaign_receiver() as running:
        yield running


@pytest.fixture(scope="module")
def suite(tmp_path_factory, receiver) -> Iterator[Suite]:
    """The module's suite, handing its events to the module's campaign receiver."""
    # The receiver stands in for campaign, so herald up must not start one of its own.
    with launch(
        tmp_path_factory.mktemp("segment-suite"), HERALD_CAMPAIGN_ADDRESS=receiver.address, HERALD_UP_WITHOUT="campaign"
    ) as running:
        yield running


@pytest.fixture
def ids() -> Callable[[str], str]:
    """Ids and names unique to one test, so tests sharing a suite never see each other's data."""
    tag = uuid.uuid4().hex[:8]
    return lambda name: f"{name}-{tag}"


# ---- talking to the suite --------------------------------------------------------------------


@contextmanager
def segment_client(suite: Suite, host: str | None = None, **options) -> Iterator[analytics.Client]:
    """Segment's Python library as an app uses it (a background thread sending gzip'd batches to
    /v1/batch); leaving the block flushes it, stops its thread, and fails on any upload error."""
    errors: list[str] = []
    settings = dict(gzip=True, upload_interval=0.05, max_retries=3, timeout=10)
    settings.update(options)
    client = analytics.Client(
        suite.write_key,
        host=host or suite.gateway_url,
        on_error=lambda error, batch: errors.append(f"{error} ({len(batch)} messages)"),
        **settings,
    )
    try:
        yield client
        client.flush()
    finally:
        client.join()
    assert not errors, f"Segment's library could not upload: {errors}"


def post(suite: Suite, path: str, body=None, *, content: bytes | None = None, auth=True, headers=None) -> httpx.Response:
    """A raw POST to the gateway; auth=True sends the suite's write key as the Basic user name."""
    return httpx.post(
        f"{suite.gateway_url}{path}",
        json=body if content is None else None,
        content=content,
        auth=(suite.write_key, "") if auth is True else auth or None,
        headers=headers,
        timeout=30,
    )


def catalogue(suite: Suite, names: set[str] | None = None) -> dict[str, dict]:
    """`herald events list --json` by name, only the given names when names are given."""
    listing = suite.herald_json("events", "list")
    return {e["name"]: e for e in listing if names is None or e["name"] in names}


def times_seen(suite: Suite, names: set[str]) -> dict[str, int]:
    return {name: e["times_seen"] for name, e in catalogue(suite, names).items()}


def suite_log_shows(suite: Suite, text: str, timeout: float = 10) -> None:
    """Waits until text appears in the logs of the suite's processes (herald up's stdout)."""
    deadline = time.monotonic() + timeout
    while text not in suite.stdout():
        assert time.monotonic() < deadline, f"{text} never appeared in the suite's logs"
        time.sleep(0.05)


def devices(profile: dict) -> list[dict]:
    return [{"kind": d["kind"], "token": d["token"]} for d in profile["devices"]]


def parse(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.utcoffset() is not None, f"{text} has no offset"
    return moment


def track(user_id: str, event: str, message_id: str, **fields) -> dict:
    return {"type": "track", "userId": user_id, "event": event, "messageId": message_id, **fields}


# ---- Segment's library -----------------------------------------------------------------------


def test_identify_group_and_alias_from_segments_library_become_one_profile_with_mapped_attributes(suite, ids):
    user, first_anonymous, second_anonymous = ids("ada"), ids("anon-ada-1"), ids("anon-ada-2")
    token = ids("apns-token")
    with segment_client(suite) as client:
        client.identify(
            user,
            {
                "name": "Ada King Lovelace",
                "email": "ada@example.com",
                "phone": "(415) 555-2671",
                "timezone": "America/New_York",
                "plan": "pro",
                "preferences": {"newsletter": True, "topics": ["engines", "poetry"]},
            },
            context={"device": {"token": token, "type": "ios"}},
            anonymous_id=first_anonymous,
        )
        client.group(user, ids("acme"), {"name": "Acme", "employees": 40})
        client.alias(second_anonymous, user)

    profile = suite.herald_json("users", "show", user)
    assert profile["user_id"] == user
    assert profile["attributes"] == {
        "first_name": "Ada",
        "last_name": "King Lovelace",
        "email": "ada@example.com",
        "phone_number": "+14155552671",
        "timezone": "America/New_York",
        "plan": "pro",
        "preferences": {"newsletter": True, "topics": ["engines", "poetry"]},
    }
    assert devices(profile) == [{"kind": "apns", "token": token}]
    assert sorted(profile["anonymous_ids"]) == sorted([first_anonymous, second_anonymous])
    assert profile["groups"] == [ids("acme")]
    assert profile["created_at"] and profile["created_at"][-6] in "+-"
    assert suite.herald_json("users", "show", second_anonymous)["profile_id"] == profile["profile_id"]


def test_track_page_and_screen_from_segments_library_are_catalogued_under_segment_names_with_their_property_sets(
    suite, ids
):
    user = ids("grace")
    event, page, screen, url = ids("Plan Chosen"), ids("Pricing"), ids("Home"), f"https://example.com/{ids('docs')}"
    with segment_client(suite) as client:
        client.track(user, event, {"plan": "pro"})
        client.track(user, event, {"plan": "team"})
        client.track(user, event, {"plan": "team", "seats": 5})
        client.page(user, name=page, properties={"url": "https://example.com/pricing"})
        client.page(user, properties={"url": url, "title": "Docs"})
        client.screen(user, name=screen)
        client.screen(user, name=screen, properties={"tab": "feed"})

    expected = {
        f"[Segment] {event}": (3, 2),
        f"[Segment Page] {page}": (1, 1),
        f"[Segment Page] {url}": (1, 1),
        f"[Segment Screen] {screen}": (2, 2),
    }
    everything = catalogue(suite)
    listed = {name: everything[name] for name in expected if name in everything}
    assert {name: (e["times_seen"], e["definitions"]) for name, e in listed.items()} == expected
    assert all(e["times_seen_last_24h"] == e["times_seen"] and not e["hidden"] for e in listed.values())
    assert all(e["seen_last_24h"] is True for e in listed.values())
    assert not [name for name in everything if name.endswith((" undefined", " None", "] "))]

    shown = suite.herald_json("events", "show", f"[Segment] {event}")
    assert shown["name"] == f"[Segment] {event}"
    assert sorted((s["properties"], s["count"]) for s in shown["property_sets"]) == [
        (["plan"], 2),
        (["plan", "seats"], 1),
    ]
    shown = suite.herald_json("events", "show", f"[Segment Page] {url}")
    assert [(s["properties"], s["count"]) for s in shown["property_sets"]] == [(["title", "url"], 1)]

    mine = suite.herald_json("users", "events", user)
    assert Counter(e["name"] for e in mine) == {name: seen for name, (seen, _) in expected.items()}
    assert {e["type"] for e in mine} == {"track", "page", "screen"}


def test_a_batch_the_library_retries_after_a_lost_answer_is_recorded_once(suite, ids, receiver):
    """The gateway keeps the batch, its answer is lost on the way back (the proxy turns it into a
    503), and Segment's library sends the same batch, with the same messageIds, again."""
    user, event, page = ids("retry-user"), ids("Retried"), ids("Retried Page")
    with lossy_proxy(suite.gateway_url, lose_answers=1) as proxy:
        with segment_client(suite, host=proxy.url) as client:
            client.track(user, event, {"n": 1})
            client.track(user, event, {"n": 2})
            client.page(user, name=page)

    lost, retried = proxy.requests[:2]
    assert retried.headers.get("X-Retry-Count") == "1", "the library should have sent the lost batch again"
    assert retried.message_ids() == lost.message_ids()
    sent = [m for request in proxy.requests[1:] for m in request.message_ids()]
    assert len(sent) == 3

    assert times_seen(suite, {f"[Segment] {event}", f"[Segment Page] {page}"}) == {
        f"[Segment] {event}": 2,
        f"[Segment Page] {page}": 1,
    }
    assert sorted(e["message_id"] for e in suite.herald_json("users", "events", user)) == sorted(sent)
    arrived = receiver.wait_for_message_ids({user}, set(sent))
    assert sorted(e.message_id for e in arrived) == sorted(sent)


def test_a_batch_posted_twice_with_the_same_message_ids_records_nothing_twice(suite, ids, receiver):
    user, event = ids("twice"), ids("Sent Twice")
    batch = {
        "batch": [
            {"type": "identify", "userId": user, "traits": {"plan": "free"}, "messageId": ids("m-identify")},
            track(user, event, ids("m-track-1"), properties={"n": 1}),
            track(user, event, ids("m-track-2"), properties={"n": 2}),
            {"type": "page", "userId": user, "name": ids("Twice Page"), "messageId": ids("m-page")},
        ]
    }
    expected = {f"[Segment] {event}": 2, f"[Segment Page] {ids('Twice Page')}": 1}
    assert post(suite, "/v1/batch", batch).json() == {"success": True}
    assert times_seen(suite, set(expected)) == expected

    again = post(suite, "/v1/batch", batch)
    assert (again.status_code, again.json()) == (200, {"success": True})
    assert times_seen(suite, set(expected)) == expected
    assert len(suite.herald_json("users", "events", user)) == 3
    recorded = [ids("m-track-1"), ids("m-track-2"), ids("m-page")]
    arrived = receiver.wait_for_message_ids({user}, set(recorded))
    assert sorted(e.message_id for e in arrived) == sorted(recorded)


# ---- the outbox to campaign --------------------------------------------------------------------


def send_numbered_events(
    suite: Suite, users: list[str], event: str, per_user: int, first: int = 0
) -> dict[str, list[str]]:
    """per_user track calls for each user, interleaved, numbered from first, through Segment's
    library in several batches; returns each user's message ids in the order they were sent."""
    sent: dict[str, list[str]] = defaultdict(list)
    with segment_client(suite, upload_size=7) as client:
        for n in range(first, first + per_user):
            for user in users:
                _, message = client.track(user, event, {"n": n})
                sent[user].append(message["messageId"])
    return sent


def assert_each_once_in_order(arrived: list, sent: dict[str, list[str]]) -> None:
    repeats = [m for m, count in Counter(e.message_id for e in arrived).items() if count > 1]
    assert not repeats, f"handed to campaign more than once: {repeats}"
    for user, message_ids in sent.items():
        assert [e.message_id for e in arrived if e.user_id == user] == message_ids, f"{user}'s events out of order"
        assert [json.loads(e.properties_json)["n"] for e in arrived if e.user_id == user] == list(range(len(message_ids)))


def test_recorded_events_reach_campaign_once_each_and_in_order_per_user(suite, ids, receiver):
    users, event = [ids("order-a"), ids("order-b"), ids("order-c")], ids("Stepped")
    sent = send_numbered_events(suite, users, event, per_user=12)

    arrived = receiver.wait_for_message_ids(set(users), {m for ids_ in sent.values() for m in ids_})
    assert len(arrived) == 36
    assert_each_once_in_order(arrived, sent)
    assert {e.name for e in arrived} == {f"[Segment] {event}"}
    assert all(e.workspace_id == "default" and e.profile_id and e.type == "track" for e in arrived)


# ---- raw HTTP: what Segment's library would never send ----------------------------------------


def test_a_missing_or_unknown_write_key_is_refused_with_401_and_nothing_is_kept(suite, ids):
    event = ids("Unauthorised")
    call = track(ids("nobody"), event, ids("m"))
    missing = post(suite, "/v1/track", call, auth=False)
    unknown = post(suite, "/v1/track", call, auth=(ids("not-a-key"), ""))
    unknown_in_body = post(suite, "/v1/batch", {"batch": [call], "writeKey": ids("not-a-key")}, auth=False)
    for answer in (missing, unknown, unknown_in_body):
        assert answer.status_code == 401, answer.text
        assert answer.json()["success"] is False and answer.json()["message"]
    assert "write key" in missing.json()["message"]
    assert catalogue(suite, {f"[Segment] {event}"}) == {}


def test_the_write_key_is_read_from_the_basic_user_name_or_from_write_key_in_the_body(suite, ids):
    event, user = ids("Keyed"), ids("keyed")
    as_basic_user = post(suite, "/v1/track", track(user, event, ids("m-basic")))
    in_body = post(suite, "/v1/track", {**track(user, event, ids("m-body")), "writeKey": suite.write_key}, auth=False)
    in_batch_body = post(
        suite, "/v1/batch", {"batch": [track(user, event, ids("m-batch"))], "writeKey": suite.write_key}, auth=False
    )
    for answer in (as_basic_user, in_body, in_batch_body):
        assert (answer.status_code, answer.json()) == (200, {"success": True})
    assert times_seen(suite, {f"[Segment] {event}"}) == {f"[Segment] {event}": 3}


def test_a_body_that_is_not_a_json_object_is_refused_with_400_naming_the_reason(suite):
    cases = {
        b'{"userId": "u", "event": ': "not valid JSON",
        b"[]": "must be a JSON object, not an array",
        b"": "empty",
    }
    for body, reason in cases.items():
        answer = post(suite, "/v1/track", content=body, headers={"Content-Type": "application/json"})
        assert answer.status_code == 400, (body, answer.text)
        assert reason in answer.json()["error"], answer.json()
        assert answer.json()["message"] == answer.json()["error"]

    not_a_list = post(suite, "/v1/batch", {"batch": {"type": "track"}})
    assert not_a_list.status_code == 400 and "batch must be a list" in not_a_list.json()["error"]
    not_gzip = post(suite, "/v1/batch", content=b"plainly not gzip", headers={"Content-Encoding": "gzip"})
    assert not_gzip.status_code == 400 and "gzip" in not_gzip.json()["error"]


def test_requests_over_segments_limits_are_refused_whole_with_413(suite, ids):
    user, event = ids("big"), ids("Too Big")
    bulky = "x" * (16 * 1024)
    over_500_kb = {"batch": [track(user, event, ids(f"m-kb-{i}"), properties={"blob": bulky}) for i in range(32)]}
    over_2500_events = {"batch": [track(user, event, ids(f"m-n-{i}")) for i in range(2501)]}
    one_event_over_32_kb = {
        "batch": [
            track(user, event, ids("m-small")),
            track(user, event, ids("m-large"), properties={"blob": "y" * (33 * 1024)}),
        ]
    }
    one_call_over_32_kb = track(user, event, ids("m-call"), properties={"blob": "z" * (33 * 1024)})

    refusals = {
        "500 KB": post(suite, "/v1/batch", over_500_kb),
        "2500 events": post(suite, "/v1/batch", over_2500_events),
        "event over 32 KB": post(suite, "/v1/batch", one_event_over_32_kb),
        "call over 32 KB": post(suite, "/v1/track", one_call_over_32_kb),
        "gzip over 500 KB": post(
            suite, "/v1/batch", content=gzip.compress(json.dumps(over_500_kb).encode()), headers={"Content-Encoding": "gzip"}
        ),
    }
    for limit, answer in refusals.items():
        assert answer.status_code == 413, (limit, answer.status_code, answer.text)
        assert answer.json()["success"] is False and answer.json()["error"], limit
    assert "2500" in refusals["2500 events"].json()["error"]
    assert "event 1" in refusals["event over 32 KB"].json()["error"]
    assert catalogue(suite, {f"[Segment] {event}"}) == {}, "nothing of a refused request is kept"


def test_events_that_cannot_be_kept_are_rejected_by_index_in_a_200_and_the_rest_of_the_batch_is_kept(suite, ids):
    user, kept, page = ids("partly"), ids("Kept"), ids("Kept Page")
    answer = post(
        suite,
        "/v1/batch",
        {
            "batch": [
                track(user, kept, ids("m-1")),
                {"type": "track", "event": kept, "messageId": ids("m-nobody")},
                {"type": "track", "userId": user, "messageId": ids("m-nameless")},
                {"type": "page", "anonymousId": ids("anon-partly"), "name": page, "messageId": ids("m-2")},
                {"type": "identify", "traits": {"plan": "pro"}, "messageId": ids("m-anonymous-identify")},
                {"type": "page", "userId": user, "messageId": ids("m-page-without-name-or-url")},
                track(user, kept, ids("m-3")),
            ]
        },
    )
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert document["success"] is True
    rejected = {r["index"]: r["reason"] for r in document["rejected"]}
    assert sorted(rejected) == [1, 2, 4, 5]
    assert rejected[1] == rejected[4] == "no userId and no anonymousId"
    assert rejected[2] == "a track call needs an event name"
    assert "a page call needs a name or a properties.url" in rejected[5]

    assert times_seen(suite, {f"[Segment] {kept}", f"[Segment Page] {page}"}) == {
        f"[Segment] {kept}": 2,
        f"[Segment Page] {page}": 1,
    }
    assert len(suite.herald_json("users", "events", user)) == 2
    single = post(suite, "/v1/track", {"event": kept, "messageId": ids("m-single")})
    assert (single.status_code, single.json()) == (
        200,
        {"success": True, "rejected": [{"index": 0, "reason": "no userId and no anonymousId"}]},
    )


def test_an_events_time_is_its_timestamp_else_received_at_less_the_clients_clock_skew(suite, ids):
    user = ids("timed")
    answer = post(
        suite,
        "/v1/batch",
        {
            "sentAt": "2024-01-01T00:00:10Z",
            "batch": [
                track(user, ids("Stamped"), ids("m-1"), timestamp="2023-05-05T12:00:00+02:00"),
                track(user, ids("Skewed"), ids("m-2"), originalTimestamp="2024-01-01T00:00:00Z"),
                track(user, ids("Unstamped"), ids("m-3")),
            ],
        },
    )
    assert answer.json() == {"success": True}
    events = {e["name"]: e for e in suite.herald_json("users", "events", user)}
    times = {name: (parse(e["timestamp"]), parse(e["received_at"])) for name, e in events.items()}

    timestamp, _ = times[f"[Segment] {ids('Stamped')}"]
    assert timestamp == parse("2023-05-05T10:00:00+00:00")
    timestamp, received_at = times[f"[Segment] {ids('Skewed')}"]
    assert timestamp == received_at - timedelta(seconds=10), "sentAt - originalTimestamp is the clock skew"
    timestamp, received_at = times[f"[Segment] {ids('Unstamped')}"]
    assert timestamp == received_at, "without originalTimestamp there is no skew to measure"


def test_a_gzip_body_and_the_endpoints_without_v1_are_accepted(suite, ids):
    user, event = ids("zipped"), ids("Zipped")
    batch = {"batch": [track(user, event, ids("m-1")), track(user, event, ids("m-2"))]}
    zipped = post(suite, "/v1/batch", content=gzip.compress(json.dumps(batch).encode()), headers={"Content-Encoding": "gzip"})
    assert (zipped.status_code, zipped.json()) == (200, {"success": True})
    for path, call in (
        ("/batch", {"batch": [track(user, event, ids("m-3"))]}),
        ("/track", track(user, event, ids("m-4"))),
        ("/identify", {"userId": user, "traits": {"plan": "zip"}}),
        ("/page", {"userId": user, "name": ids("Unprefixed"), "messageId": ids("m-5")}),
    ):
        answer = post(suite, path, call)
        assert (answer.status_code, answer.json()) == (200, {"success": True}), path
    assert times_seen(suite, {f"[Segment] {event}", f"[Segment Page] {ids('Unprefixed')}"}) == {
        f"[Segment] {event}": 4,
        f"[Segment Page] {ids('Unprefixed')}": 1,
    }
    assert suite.herald_json("users", "show", user)["attributes"] == {"plan": "zip"}


# ---- identity's rules, seen from outside -------------------------------------------------------


def test_a_bad_time_zone_is_refused_alone_reported_as_a_warning_and_the_other_traits_are_kept(suite, ids):
    user, other = ids("zoned"), ids("zoned-other")
    first = post(suite, "/v1/identify", {"userId": user, "traits": {"timezone": "Europe/Paris", "plan": "free"}})
    assert first.json() == {"success": True}

    answer = post(
        suite,
        "/v1/batch",
        {
            "batch": [
                {"type": "identify", "userId": other, "traits": {"timezone": "Asia/Tokyo"}},
                {
                    "type": "identify",
                    "userId": user,
                    "traits": {"timezone": "Mars/Olympus_Mons", "plan": "pro", "email": "zoned@example.com"},
                },
            ]
        },
    )
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert document["success"] is True and "rejected" not in document
    [warning] = document["warnings"]
    assert (warning["index"], warning["field"]) == (1, "traits.timezone")
    assert "Mars/Olympus_Mons" in warning["reason"] and "IANA" in warning["reason"]

    assert suite.herald_json("users", "show", user)["attributes"] == {
        "timezone": "Europe/Paris",
        "plan": "pro",
        "email": "zoned@example.com",
    }
    assert suite.herald_json("users", "show", other)["attributes"] == {"timezone": "Asia/Tokyo"}


def test_anonymous_activity_joins_the_identified_user_and_deleting_the_user_removes_it_all(suite, ids):
    user, visitor, other_device = ids("joined"), ids("anon-visitor"), ids("anon-phone")
    with segment_client(suite) as client:
        client.identify(user, {"email": "joined@example.com", "plan": "free"})
        client.track(anonymous_id=visitor, event=ids("Viewed Product"), properties={"sku": "A1"})
        client.page(anonymous_id=visitor, name=ids("Landing"))
        client.identify(anonymous_id=other_device, traits={"plan": "trial", "color": "green"})
        client.track(anonymous_id=other_device, event=ids("Opened App"))
    before_join = suite.herald_json("users", "show", visitor)
    assert before_join["user_id"] is None and before_join["anonymous_ids"] == [visitor]

    with segment_client(suite) as client:
        client.identify(user, {"plan": "pro"}, anonymous_id=visitor)
        client.alias(other_device, user)
        client.track(user, ids("Checked Out"))

    profile = suite.herald_json("users", "show", user)
    assert sorted(profile["anonymous_ids"]) == sorted([visitor, other_device])
    assert profile["attributes"] == {"email": "joined@example.com", "plan": "pro", "color": "green"}
    assert len(profile["merged_profile_ids"]) == 2
    assert suite.herald_json("users", "show", other_device)["user_id"] == user

    events = suite.herald_json("users", "events", user)
    assert sorted((e["name"], e["anonymous_id"]) for e in events) == sorted(
        [
            (f"[Segment] {ids('Viewed Product')}", visitor),
            (f"[Segment Page] {ids('Landing')}", visitor),
            (f"[Segment] {ids('Opened App')}", other_device),
            (f"[Segment] {ids('Checked Out')}", None),
        ]
    )

    deleted = suite.herald_json("users", "delete", user)
    assert deleted["events_deleted"] == 4 and profile["profile_id"] in deleted["profile_ids"]
    for gone in (user, visitor):
        shown = suite.herald("users", "show", gone, "--json")
        assert (shown.returncode, shown.stdout) == (1, "")
        assert shown.stderr == f"herald: no user {gone!r} in workspace 'default'\n"


# ---- a restart of the whole suite while campaign is down ----------------------------------------


@dataclass
class Restarted:
    """What was sent to a suite whose campaign was down, what it showed before SIGTERM, and a
    second suite on the same data dir (campaign still down) to look at it again."""

    suite: Suite
    campaign_port: int
    user: str
    token: str
    names: dict[str, str]
    profile_before: dict
    catalogue_before: dict[str, dict]
    resent_batch: dict
    waiting_event: str
    sent: dict[str, list[str]]  # to the first suite, each user's message ids in order


@pytest.fixture(scope="module")
def restarted(tmp_path_factory) -> Iterator[Restarted]:
    tag = uuid.uuid4().hex[:8]
    data_dir = tmp_path_factory.mktemp("restarted") / "var"
    campaign_port = free_port()  # nothing listens here until a test starts a receiver
    campaign = {"HERALD_CAMPAIGN_ADDRESS": f"127.0.0.1:{campaign_port}", "HERALD_UP_WITHOUT": "campaign"}
    user, token = f"durable-{tag}", f"fcm-token-{tag}"
    names = {"track": f"[Segment] Persisted {tag}", "screen": f"[Segment Screen] Settings {tag}"}
    batch = {"batch": [track(user, f"Persisted {tag}", f"m-{tag}-{n}", properties={"n": n}) for n in range(3)]}

    with launch(data_dir.parent / "first", data_dir=data_dir, **campaign) as first:
        with segment_client(first) as client:
            client.identify(
                user,
                {"name": "Grace Hopper", "phone": "+44 20 7946 0958"},
                anonymous_id=f"anon-{tag}",
                context={"device": {"token": token, "type": "android"}},
            )
            client.screen(user, name=f"Settings {tag}")
        assert post(first, "/v1/batch", batch).json() == {"success": True}
        waiting_event = f"Waited {tag}"
        sent = send_numbered_events(first, [f"waiting-a-{tag}", f"waiting-b-{tag}"], waiting_event, per_user=8)
        profile_before = first.herald_json("users", "show", user)
        catalogue_before = catalogue(first, set(names.values()))
        suite_log_shows(first, '"outbox_blocked"')
        first.stop()  # SIGTERM, with every event still waiting for campaign

    with launch(data_dir.parent / "second", data_dir=data_dir, **campaign) as second:
        yield Restarted(second, campaign_port, user, token, names, profile_before, catalogue_before, batch, waiting_event, sent)


def test_profiles_the_catalogue_and_message_id_dedup_survive_a_restart_of_the_suite(restarted):
    suite, user, names = restarted.suite, restarted.user, restarted.names
    assert restarted.profile_before["attributes"] == {
        "first_name": "Grace",
        "last_name": "Hopper",
        "phone_number": "+442079460958",
    }
    assert devices(restarted.profile_before) == [{"kind": "fcm", "token": restarted.token}]
    assert {name: e["times_seen"] for name, e in restarted.catalogue_before.items()} == {
        names["track"]: 3,
        names["screen"]: 1,
    }

    assert suite.herald_json("users", "show", user) == restarted.profile_before
    assert catalogue(suite, set(names.values())) == restarted.catalogue_before

    again = post(suite, "/v1/batch", restarted.resent_batch)
    assert (again.status_code, again.json()) == (200, {"success": True})
    assert times_seen(suite, {names["track"]}) == {names["track"]: 3}
    assert len(suite.herald_json("users", "events", user)) == 4


def test_events_recorded_while_campaign_is_down_before_and_after_a_restart_arrive_once_in_order_when_it_comes_up(
    restarted,
):
    users = list(restarted.sent)
    later = send_numbered_events(restarted.suite, users, restarted.waiting_event, per_user=4, first=8)
    sent = {user: restarted.sent[user] + later[user] for user in users}
    suite_log_shows(restarted.suite, '"outbox_blocked"')  # the restarted suite tried too: campaign is still down

    with campaign_receiver(f"127.0.0.1:{restarted.campaign_port}") as receiver:
        arrived = receiver.wait_for_message_ids(set(users), {m for ids_ in sent.values() for m in ids_}, timeout=30)
    assert len(arrived) == 24
    assert_each_once_in_order(arrived, sent)


# ---- a proxy that loses answers ---------------------------------------------------------------


class ProxiedRequest:
    def __init__(self, headers: dict[str, str], body: bytes) -> None:
        self.headers = headers
        self.body = body

    def message_ids(self) -> list[str]:
        body = gzip.decompress(self.body) if self.headers.get("Content-Encoding") == "gzip" else self.body
        return [event["messageId"] for event in json.loads(body)["batch"]]


class LossyProxy:
    def __init__(self, url: str, requests: list[ProxiedRequest]) -> None:
        self.url = url
        self.requests = requests


@contextmanager
def lossy_proxy(target: str, lose_answers: int) -> Iterator[LossyProxy]:
    """An HTTP proxy to the gateway that passes every request on, but answers the first
    lose_answers of them with a 503 instead of the gateway's answer (as if it were lost)."""
    requests: list[ProxiedRequest] = []
    lock = threading.Lock()
    forwarded_headers = ("Authorization", "Content-Encoding", "Content-Type", "User-Agent", "X-Retry-Count")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {name: self.headers[name] for name in forwarded_headers if self.headers.get(name)}
            with lock:
                requests.append(ProxiedRequest(headers, body))
                lose = len(requests) <= lose_answers
            answer = httpx.post(f"{target}{self.path}", content=body, headers=headers, timeout=30)
            status, payload = answer.status_code, answer.content
            if lose:
                status, payload = 503, json.dumps({"code": "unavailable", "message": "the answer was lost"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="lossy-proxy", daemon=True)
    thread.start()
    try:
        yield LossyProxy(f"http://127.0.0.1:{server.server_address[1]}", requests)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
