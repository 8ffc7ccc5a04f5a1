"""The read/manage commands against real identity and ingest servers, started in-process on free ports."""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import dataclass

import orjson
import pytest

from tests.ports import free_port
import structlog
from herald.identity.v1 import identity_pb2
from herald.ingest.v1 import ingest_pb2
from herald_cli.main import main
from herald_cli.suite import is_built
from herald_common.clients import IdentityClient, IngestClient
from herald_common.db import create_service_engine, migrate
from herald_common.settings import Settings
from herald_common.testing import start_delivery_stand_in, start_recording_campaign, suite_caller

WS = "default"
needs_ingest = pytest.mark.skipif(not is_built("ingest"), reason="the ingest service is not built yet")




@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def document(self):
        assert self.err == "", self.err
        return json.loads(self.out)


@dataclass
class Suite:
    identity: IdentityClient
    ingest: IngestClient | None
    capsys: pytest.CaptureFixture

    async def herald(self, *argv: str) -> Run:
        """Runs `herald ARGV` in-process (in a thread: it runs its own event loop)."""
        self.capsys.readouterr()
        code = await asyncio.to_thread(main, list(argv))
        out, err = self.capsys.readouterr()
        return Run(code, out, err)

    async def identify(self, user_id: str = "", anonymous_id: str = "", traits=None, context=None) -> None:
        call = identity_pb2.IdentifyCall(
            message_id=f"m-{user_id}-{anonymous_id}",
            user_id=user_id,
            anonymous_id=anonymous_id,
            traits_json=orjson.dumps(traits or {}),
            context_json=orjson.dumps(context or {}),
        )
        await self.identity.identify(identity_pb2.IdentifyRequest(workspace_id=WS, calls=[call]))

    async def track(self, message_id: str, user_id: str, event: str, properties: dict) -> None:
        incoming = ingest_pb2.IncomingEvent(
            message_id=message_id,
            type="track",
            event=event,
            user_id=user_id,
            properties_json=orjson.dumps(properties),
            timestamp="2026-01-05T12:00:00Z",
        )
        response = await self.ingest.record(ingest_pb2.RecordRequest(workspace_id=WS, events=[incoming]))
        assert [r.outcome for r in response.results] == [ingest_pb2.RecordResult.OUTCOME_RECORDED]


async def _migrated(settings: Settings, service: str) -> None:
    engine = create_service_engine(settings, service)
    migrate(engine, service)
    engine.dispose()


@pytest.fixture
def quiet_services():
    """The in-process services log to their own buffer, so stdout holds only what the CLI prints."""
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=io.StringIO()))
    yield
    structlog.reset_defaults()


@pytest.fixture
async def suite(tmp_path, monkeypatch, capsys, quiet_services):
    addresses = {name: f"127.0.0.1:{free_port()}" for name in ("identity", "ingest", "campaign", "delivery")}
    settings = Settings(
        data_dir=tmp_path,
        sqlite_synchronous="NORMAL",
        identity_address=addresses["identity"],
        ingest_address=addresses["ingest"],
        campaign_address=addresses["campaign"],
        delivery_address=addresses["delivery"],
    )
    # Stand-ins for campaign (it takes ingest's outbox) and delivery: `users delete` asks both to
    # forget the user's decision steps.
    campaign_server, _, _ = await start_recording_campaign(addresses["campaign"], settings=settings)
    delivery_server, _, _ = await start_delivery_stand_in(addresses["delivery"], settings=settings)
    services = []
    from herald_services.identity.main import build as build_identity

    await _migrated(settings, "identity")
    services.append(await build_identity(settings, address=addresses["identity"]))
    if is_built("ingest"):
        from herald_services.ingest.main import build as build_ingest

        await _migrated(settings, "ingest")
        services.append(await build_ingest(settings, address=addresses["ingest"]))
    for service in services:
        await service.start()
    monkeypatch.setenv("HERALD_IDENTITY_ADDRESS", addresses["identity"])
    monkeypatch.setenv("HERALD_INGEST_ADDRESS", addresses["ingest"])
    monkeypatch.setenv("HERALD_DATA_DIR", str(tmp_path))  # where the CLI finds the admin token
    identity = IdentityClient(addresses["identity"], timeout=10, caller=suite_caller(settings))
    ingest = IngestClient(addresses["ingest"], timeout=10, caller=suite_caller(settings)) if is_built("ingest") else None
    await identity.ensure_workspace(workspace_id=WS, name="Default", write_key="wk_cli_test")
    yield Suite(identity, ingest, capsys)
    for client in (identity, ingest):
        if client is not None:
            await client.close()
    for service in reversed(services):
        await service.stop(grace=0)
    await campaign_server.stop(None)
    await delivery_server.stop(None)


async def test_users_show_json_has_the_profile_attributes_and_devices(suite):
    await suite.identify(
        user_id="u1",
        anonymous_id="anon-1",
        traits={"name": "Ada Lovelace", "email": "ada@example.com"},
        context={"device": {"type": "android", "token": "fcm-1"}},
    )
    run = await suite.herald("users", "show", "anon-1", "--json")
    assert run.code == 0
    user = run.document
    assert user["user_id"] == "u1"
    assert user["anonymous_ids"] == ["anon-1"]
    assert user["attributes"] == {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}
    assert [{k: d[k] for k in ("kind", "token")} for d in user["devices"]] == [{"kind": "fcm", "token": "fcm-1"}]
    assert user["created_at"].endswith("+00:00")
    assert {"profile_id", "merged_profile_ids", "groups", "updated_at"} <= user.keys()


async def test_users_show_of_an_anonymous_visitor_has_a_null_user_id(suite):
    await suite.identify(anonymous_id="anon-2", traits={"plan": "Free"})
    user = (await suite.herald("users", "show", "anon-2", "--json")).document
    assert user["user_id"] is None
    assert user["attributes"] == {"plan": "Free"}


async def test_users_show_as_text_lists_attributes_and_devices(suite):
    await suite.identify(user_id="u3", traits={"email": "c@example.com"}, context={"device": {"type": "ios", "token": "apns-3"}})
    run = await suite.herald("users", "show", "u3")
    assert run.code == 0
    assert "email" in run.out and "c@example.com" in run.out
    assert "apns" in run.out and "apns-3" in run.out


async def test_an_unknown_user_is_one_line_on_stderr_and_nothing_on_stdout(suite):
    run = await suite.herald("users", "show", "u9", "--json")
    assert (run.code, run.out, run.err) == (1, "", "herald: no user 'u9' in workspace 'default'\n")


async def test_an_unknown_workspace_is_named(suite):
    run = await suite.herald("users", "show", "u1", "--workspace", "acme")
    assert (run.code, run.err) == (1, "herald: workspace 'acme' does not exist\n")


@needs_ingest
async def test_events_list_counts_what_was_tracked_and_shows_definitions(suite):
    await suite.identify(user_id="u1")
    await suite.track("m1", "u1", "Signed Up", {"plan": "pro"})
    await suite.track("m2", "u1", "Signed Up", {"plan": "free", "referrer": "ads"})
    events = (await suite.herald("events", "list", "--json")).document
    [signed_up] = [e for e in events if e["name"] == "[Segment] Signed Up"]
    assert {k: signed_up[k] for k in ("definitions", "times_seen", "hidden")} == {
        "definitions": 2,
        "times_seen": 2,
        "hidden": False,
    }
    assert signed_up["last_seen"].endswith("+00:00")
    assert (signed_up["seen_last_24h"], signed_up["times_seen_last_24h"]) == (True, 2)

    shown = (await suite.herald("events", "show", "[Segment] Signed Up", "--json")).document
    assert sorted((s["properties"], s["count"]) for s in shown["property_sets"]) == [
        (["plan"], 1),
        (["plan", "referrer"], 1),
    ]


@needs_ingest
async def test_an_event_defined_by_hand_is_listed_with_zero_counts_and_no_last_seen(suite):
    defined = await suite.herald("events", "define", "[Segment] Trial Ended", "--description", "the trial ran out", "--json")
    assert defined.code == 0
    events = (await suite.herald("events", "list", "--json")).document
    [trial] = [e for e in events if e["name"] == "[Segment] Trial Ended"]
    assert (trial["times_seen"], trial["definitions"], trial["last_seen"]) == (0, 0, None)
    assert trial["seen_last_24h"] is False and trial["times_seen_last_24h"] == 0


@needs_ingest
async def test_events_list_table_says_yes_or_no_for_seen_in_last_24_hours(suite):
    await suite.identify(user_id="u1")
    await suite.track("m1", "u1", "Signed Up", {"plan": "pro"})
    await suite.herald("events", "define", "[Segment] Trial Ended")
    header, *lines = (await suite.herald("events", "list")).out.splitlines()
    column = header.index("SEEN IN LAST 24 HOURS?")
    seen = {line.split("  ")[0]: line[column:].split()[0] for line in lines}
    assert seen == {"[Segment] Signed Up": "Yes", "[Segment] Trial Ended": "No"}


@needs_ingest
async def test_a_hidden_event_is_left_out_unless_asked_for_and_unhide_brings_it_back(suite):
    await suite.herald("events", "define", "[Segment] Debug Ping")
    hidden = await suite.herald("events", "hide", "[Segment] Debug Ping", "--json")
    assert hidden.document["hidden"] is True
    listed = [e["name"] for e in (await suite.herald("events", "list", "--json")).document]
    assert "[Segment] Debug Ping" not in listed
    with_hidden = (await suite.herald("events", "list", "--hidden", "--json")).document
    assert [e["hidden"] for e in with_hidden if e["name"] == "[Segment] Debug Ping"] == [True]
    run = await suite.herald("events", "unhide", "[Segment] Debug Ping")
    assert (run.code, run.out) == (0, "'[Segment] Debug Ping' is listed by `herald events list` again\n")
    listed = [e["name"] for e in (await suite.herald("events", "list", "--json")).document]
    assert "[Segment] Debug Ping" in listed


@needs_ingest
async def test_showing_an_unknown_event_hints_at_segments_naming(suite):
    run = await suite.herald("events", "show", "Signed Up")
    assert run.code == 1
    assert run.err.startswith("herald: no event named 'Signed Up'")
    assert run.err.rstrip().endswith("(track events are named like '[Segment] Signed Up')")
    assert run.err.count("\n") == 1


@needs_ingest
async def test_users_events_lists_a_users_events_newest_first(suite):
    await suite.identify(user_id="u5")
    await suite.track("m5a", "u5", "Viewed Plan", {"plan": "pro"})
    events = (await suite.herald("users", "events", "u5", "--json")).document
    assert [(e["name"], e["message_id"], e["properties"]) for e in events] == [
        ("[Segment] Viewed Plan", "m5a", {"plan": "pro"})
    ]


@needs_ingest
async def test_users_delete_removes_the_profile_and_its_events(suite):
    await suite.identify(user_id="u6", anonymous_id="anon-6", traits={"email": "f@example.com"})
    await suite.track("m6a", "u6", "Signed Up", {})
    deleted = (await suite.herald("users", "delete", "u6", "--json")).document
    assert deleted["events_deleted"] == 1
    assert len(deleted["profile_ids"]) == 1
    gone = await suite.herald("users", "show", "anon-6")
    assert (gone.code, gone.err) == (1, "herald: no user 'anon-6' in workspace 'default'\n")


async def test_a_stopped_ingest_is_reported_as_unreachable(suite, monkeypatch):
    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("HERALD_INGEST_ADDRESS", address)
    run = await suite.herald("events", "list", "--json")
    assert (run.code, run.out) == (1, "")
    assert run.err == f"herald: cannot reach ingest at {address} (is `herald up` running?)\n"
