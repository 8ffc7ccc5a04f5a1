"""The HTTP-side helpers that need no server: body decoding, answers, the write-key cache."""

from __future__ import annotations

import asyncio
import gzip

import orjson
import pytest
from herald_services.gateway.app import UnsupportedEncoding, decode_body, success_body
from herald_services.gateway.domain import FieldWarning, MalformedPayload, OverLimit, Rejection
from herald_services.gateway.forwarder import Outcome, WorkspaceDirectory


def test_gzip_body_is_decompressed():
    assert decode_body(gzip.compress(b'{"a": 1}'), b"gzip", 100) == b'{"a": 1}'
    assert decode_body(gzip.compress(b"{}"), b"x-gzip", 100) == b"{}"


def test_concatenated_gzip_members_are_all_read():
    assert decode_body(gzip.compress(b'{"a":') + gzip.compress(b"1}"), b"gzip", 100) == b'{"a":1}'


def test_gzip_limit_is_measured_on_the_decompressed_body_and_stops_early():
    bomb = gzip.compress(b" " * 50_000_000)
    assert len(bomb) < 100_000
    with pytest.raises(OverLimit):
        decode_body(bomb, b"gzip", 500 * 1024)


def test_plain_body_over_limit_is_refused():
    with pytest.raises(OverLimit):
        decode_body(b"x" * 101, None, 100)
    assert decode_body(b"x" * 100, b"identity", 100) == b"x" * 100


def test_broken_or_truncated_gzip_is_malformed():
    with pytest.raises(MalformedPayload, match="gzip"):
        decode_body(b"not gzip at all", b"gzip", 100)
    with pytest.raises(MalformedPayload, match="truncated"):
        decode_body(gzip.compress(b'{"a": 1}')[:-6], b"gzip", 100)


def test_other_content_encodings_are_unsupported():
    with pytest.raises(UnsupportedEncoding, match="br"):
        decode_body(b"x", b"br", 100)


def test_success_answer_lists_rejections_and_warnings_by_index():
    body = success_body(
        Outcome(
            rejected=[Rejection(4, "no event"), Rejection(1, "no id")],
            warnings=[FieldWarning(2, "traits.timezone", "not IANA")],
        )
    )
    assert orjson.loads(body) == {
        "success": True,
        "rejected": [{"index": 1, "reason": "no id"}, {"index": 4, "reason": "no event"}],
        "warnings": [{"index": 2, "field": "traits.timezone", "reason": "not IANA"}],
    }
    assert orjson.loads(success_body(Outcome())) == {"success": True}


class FakeLookup:
    def __init__(self, known: dict[str, str]) -> None:
        self.known = known
        self.calls: list[str] = []

    async def __call__(self, write_key: str) -> str | None:
        self.calls.append(write_key)
        await asyncio.sleep(0)
        return self.known.get(write_key)


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_known_write_key_is_cached_for_a_minute():
    lookup, clock = FakeLookup({"wk": "ws"}), FakeMonotonic()
    directory = WorkspaceDirectory(lookup, monotonic=clock)
    assert await directory.workspace_for("wk") == "ws"
    clock.now += 59
    assert await directory.workspace_for("wk") == "ws"
    assert lookup.calls == ["wk"]
    clock.now += 2
    assert await directory.workspace_for("wk") == "ws"
    assert lookup.calls == ["wk", "wk"]


async def test_unknown_write_key_is_cached_only_briefly():
    lookup, clock = FakeLookup({}), FakeMonotonic()
    directory = WorkspaceDirectory(lookup, monotonic=clock)
    assert await directory.workspace_for("nope") is None
    clock.now += 4
    assert await directory.workspace_for("nope") is None
    assert lookup.calls == ["nope"]
    lookup.known["nope"] = "ws2"
    clock.now += 2
    assert await directory.workspace_for("nope") == "ws2"


async def test_concurrent_requests_for_one_write_key_share_one_lookup():
    lookup = FakeLookup({"wk": "ws"})
    directory = WorkspaceDirectory(lookup)
    results = await asyncio.gather(*(directory.workspace_for("wk") for _ in range(20)))
    assert results == ["ws"] * 20
    assert lookup.calls == ["wk"]


async def test_forgotten_write_key_is_looked_up_again():
    lookup = FakeLookup({"wk": "ws"})
    directory = WorkspaceDirectory(lookup)
    await directory.workspace_for("wk")
    directory.forget("wk")
    await directory.workspace_for("wk")
    assert lookup.calls == ["wk", "wk"]


async def test_cache_stays_bounded_under_many_distinct_keys():
    lookup = FakeLookup({})
    directory = WorkspaceDirectory(lookup, max_entries=10)
    for i in range(25):
        await directory.workspace_for(f"k{i}")
    assert len(directory._cache) <= 10
