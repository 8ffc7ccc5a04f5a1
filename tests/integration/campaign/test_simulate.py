"""Simulate against the live campaign (issue 13): events recorded through a real ingest are
handled live by a real campaign (delivery's part played by the test through Confirm and
MarkSent), then the same campaign file is simulated over the same period. The replayed figures
equal what the live campaign did. Also: ingest's ReadEvents pages, the CLI's JSON, a bad file
and an empty period. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import structlog
from herald.campaign.v1 import campaign_pb2
from herald.ingest.v1 import ingest_pb2
from herald_cli.main import main
from herald_common.clients import IngestClient
from herald_common.protoconv import set_timestamp
from herald_common.testing import suite_caller

from tests.integration.campaign.conftest import Suite, start_recording_delivery
from tests.integration.conftest import WORKSPACE, free_port, migrate_all

pytestmark = pytest.mark.asyncio

ADDED, EMPTIED, BOUGHT = "[Segment] Added", "[Segment] Emptied", "[Segment] Bought"
CAMPAIGN = f"""
name: Cart nudge
trigger: {{event: "{ADDED}"}}
filters:
  any_of:
    - all_of:
        - {{source: event, property: price, op: gt, value: 45}}
        - {{source: user, property: plan, op: neq, value: Enterprise}}
reentry: once
message: {{channel: email, subject: "Still thinking?", body: "It costs {{{{ event.price }}}}"}}
cancel_if:
  - {{event: "{EMPTIED}", match_trigger: [cart]}}
goals:
  - {{name: Bought the cart, event: "{BOUGHT}", within: 1d, match_trigger: [cart]}}
"""


@pytest.fixture
async def live(settings):
    """identity, ingest and campaign in-process; ingest's outbox feeds campaign; a recording
    delivery behind campaign (the test confirms and marks sends as delivery would)."""
    from herald_services.campaign.main import build as build_campaign
    from herald_services.identity.main import build as build_identity
    from herald_services.ingest.main import build as build_ingest

    migrate_all(settings, ("identity", "ingest", "campaign"))
    delivery_server, delivery_port, delivery = await start_recording_delivery()
    wired = settings.model_copy(update={
        "identity_address": f"127.0.0.1:{free_port()}", "campaign_address": f"127.0.0.1:{free_port()}",
        "ingest_address": f"127.0.0.1:{free_port()}", "delivery_address": f"127.0.0.1:{delivery_port}",
        "settle_seconds": 1,
    })
    started = []
    for build in (build_identity, build_campaign, build_ingest):
        service = await build(wired)
        await service.start()
        started.append(service)
    from herald_common.clients import CampaignClient, IdentityClient

    caller = suite_caller(wired)
    suite = Suite(wired, IdentityClient(wired.identity_address, 10, caller=caller),
                  CampaignClient(wired.campaign_address, 30, caller=caller), delivery, started[1])
    suite.ingest = IngestClient(wired.ingest_address, 10, caller=caller)
    await suite.identity.ensure_workspace(workspace_id=WORKSPACE, name="Default", write_key="wk_simulate")
    yield suite
    for client in (suite.identity, suite.campaign, suite.ingest):
        await client.close()
    for service in reversed(started):
        await service.stop()
    await delivery_server.stop(None)


async def _record(suite, user: str, name: str, **properties) -> None:
    event = ingest_pb2.IncomingEvent(message_id=f"m-{next(suite.event_ids)}", type="track", event=name.removeprefix(
        "[Segment] "), user_id=user, properties_json=orjson.dumps(properties))
    set_timestamp(event.received_at, datetime.now(UTC))
    response = await suite.ingest.record(ingest_pb2.RecordRequest(workspace_id=WORKSPACE, events=[event]))
    assert response.results[0].outcome == ingest_pb2.RecordResult.OUTCOME_RECORDED, response


async def _until(predicate, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def _simulate(suite, since: datetime, until: datetime, **which) -> campaign_pb2.SimulateResponse:
    request = campaign_pb2.SimulateRequest(workspace_id=WORKSPACE, **which)
    set_timestamp(request.since, since)
    set_timestamp(request.until, until)
    return await suite.stub.Simulate(request)


async def test_the_replay_equals_what_the_live_campaign_did_on_the_same_events(live, monkeypatch, capsys):
    suite = live
    start = datetime.now(UTC) - timedelta(seconds=1)
    for user, traits in {"u1": {"email": "u1@example.com", "plan": "Pro"}, "u2": {"email": "u2@example.com", "plan": "Pro"},
                         "u3": {"email": "u3@example.com", "plan": "Enterprise"},
                         "u4": {"email": "u4@example.com", "plan": "Pro"},
                         "u5": {"email": "u5@example.com", "plan": "Pro"}, "u6": {"plan": "Pro"}}.items():
        await suite.identify(user, **traits)
    await suite.apply(CAMPAIGN)
    await _record(suite, "u1", ADDED, price=50, cart="c1")
    await _record(suite, "u1", "[Segment] Viewed", cart="c1")   # no rule reads it: counted, not sent over
    await _record(suite, "u2", ADDED, price=10, cart="c2")      # kept out by the event condition
    await _record(suite, "u3", ADDED, price=50, cart="c3")      # kept out at confirm: plan
    await _record(suite, "u4", ADDED, price=50, cart="c4")
    await _record(suite, "u4", EMPTIED, cart="c4")              # cancels before the due time
    await _record(suite, "u5", ADDED, price=50, cart="c5")
    await _record(suite, "u5", ADDED, price=70, cart="c5b")     # re-entry once: kept out
    await _record(suite, "u6", ADDED, price=50, cart="c6")      # no email: not sent

    async def handled():
        stats = await suite.stats("Cart nudge")
        return stats.triggered == 7 and stats.cancelled == 1 and len(suite.delivery.scheduled) == 5
    await _until(handled)
    # delivery's part: at each send's due time, Confirm, then MarkSent at that time
    scheduled = dict(suite.delivery.scheduled)
    await asyncio.sleep(1.1)
    for send_id, send in scheduled.items():
        if send_id in suite.delivery.cancelled:
            continue
        answer = await suite.confirm(send_id)
        if answer.go:
            due = send.trigger_at.ToDatetime(tzinfo=UTC) + timedelta(seconds=send.settle_seconds)
            await suite.mark(send_id, at=due)
    await _record(suite, "u1", BOUGHT, cart="c1")                # converts
    await _record(suite, "u5", BOUGHT, cart="other")             # not the cart

    async def converted():
        return (await suite.stats("Cart nudge")).goals[0].conversions == 1
    await _until(converted)
    until = datetime.now(UTC) + timedelta(seconds=1)

    stats = await suite.stats("Cart nudge")
    live_figures = {
        "triggered": stats.triggered, "entered": stats.scheduled, "cancelled": stats.cancelled,
        "would_send": stats.sent, "conversions": stats.goals[0].conversions,
        "kept_out_by_filters": stats.not_entered["filters"] + stats.suppressed_by_reason["filters"],
        "kept_out_by_reentry": stats.not_entered["reentry"], "no_address": stats.suppressed_by_reason["no_address"],
    }
    assert live_figures == {"triggered": 7, "entered": 5, "cancelled": 1, "would_send": 2, "conversions": 1,
                            "kept_out_by_filters": 2, "kept_out_by_reentry": 1, "no_address": 1}

    replay = await _simulate(suite, start, until, source_yaml=CAMPAIGN)
    filtered = {c.key: c.count for c in replay.filtered_out}
    assert {
        "triggered": replay.triggered, "entered": replay.entered, "cancelled": replay.cancelled,
        "would_send": replay.would_send, "conversions": replay.goals[0].conversions,
        "kept_out_by_filters": sum(filtered.values()), "kept_out_by_reentry": replay.kept_out_by_reentry,
        "no_address": {n.key: n.count for n in replay.not_sent}["no_address"],
    } == live_figures
    assert filtered == {"event.price gt 45": 1, "user.plan neq Enterprise": 1}
    assert replay.events_replayed == 11 and replay.goals[0].rate == pytest.approx(0.5)
    # the stored campaign by name gives the same; nothing was written by either replay
    by_name = await _simulate(suite, start, until, name="Cart nudge")
    assert (by_name.entered, by_name.would_send, by_name.goals[0].conversions) == (5, 2, 1)
    assert (await suite.stats("Cart nudge")) == stats and len(await suite.sends()) == 5

    # The CLI: the JSON document, the same errors as apply for a bad file, an empty period.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=io.StringIO()))
    monkeypatch.setenv("HERALD_CAMPAIGN_ADDRESS", suite.settings.campaign_address)
    monkeypatch.setenv("HERALD_DATA_DIR", str(suite.settings.data_dir))  # where the CLI finds the admin token
    try:
        async def herald(*argv):
            capsys.readouterr()
            code = await asyncio.to_thread(main, list(argv))
            return (code, *capsys.readouterr())

        folder = Path(tempfile.mkdtemp())
        campaign_file = folder / "cart.yaml"
        campaign_file.write_text(CAMPAIGN)
        code, out, err = await herald("campaigns", "simulate", "-f", str(campaign_file), "--since", "1h", "--json")
        assert (code, err) == (0, "")
        document = json.loads(out)
        assert {"events_replayed", "triggered", "entered", "filtered_out", "cancelled", "would_send",
                "would_send_by_day", "would_send_by_local_hour", "goals"} <= set(document)
        assert document["would_send"] == 2 and document["goals"] == [
            {"name": "Bought the cart", "conversions": 1, "rate": 0.5}]
        assert document["filtered_out"] == [{"condition": "event.price gt 45", "users": 1},
                                            {"condition": "user.plan neq Enterprise", "users": 1}]
        assert sum(day["sends"] for day in document["would_send_by_day"]) == 2
        code, out, _ = await herald("campaigns", "simulate", "--name", "Cart nudge", "--since", "1h")
        assert code == 0 and "as they are now" in out and "would send        2" in out
        bad = folder / "bad.yaml"
        bad.write_text(CAMPAIGN.replace("op: gt", "op: bigger"))
        applied = await herald("campaigns", "apply", "-f", str(bad))
        simulated = await herald("campaigns", "simulate", "-f", str(bad))
        assert applied[0] == simulated[0] != 0 and applied[2] == simulated[2] and "op" in simulated[2]
        code, out, _ = await herald("campaigns", "simulate", "-f", str(campaign_file), "--since", "2026-01-01",
                                    "--until", "2026-01-02")
        assert code == 0 and "No events were recorded in this period" in out
    finally:
        structlog.reset_defaults()


async def test_read_events_pages_the_period_in_recorded_order(live, monkeypatch):
    suite = live
    from herald_services.ingest import handlers

    monkeypatch.setattr(handlers, "READ_SPAN", 3)
    before = datetime.now(UTC) - timedelta(seconds=1)
    for n in range(7):
        await _record(suite, f"r{n % 2}", ADDED if n % 3 else BOUGHT, n=n)
    until = datetime.now(UTC) + timedelta(seconds=1)

    def naive_utc(text: str) -> datetime:  # as Timestamp.ToDatetime() gives it
        at = datetime.fromisoformat(text)
        assert at.utcoffset() == timedelta(0), text
        return at.replace(tzinfo=None)

    async def read(as_columns: bool, workspace_id: str = WORKSPACE) -> tuple[list, int, int]:
        seen, counted, cursor, pages = [], 0, "", 0
        while True:
            request = ingest_pb2.ReadEventsRequest(workspace_id=workspace_id, names=[ADDED], cursor=cursor, limit=2,
                                                   as_columns=as_columns)
            set_timestamp(request.since, before)
            set_timestamp(request.until, until)
            page = await suite.ingest.read_events(request)
            if as_columns:
                columns = page.columns
                assert not page.events
                seen += [(str(i), name, profile, user, orjson.loads(properties), naive_utc(at), naive_utc(received))
                         for i, name, profile, user, properties, at, received in zip(
                             columns.ids, columns.names, columns.profile_ids, columns.user_ids,
                             columns.properties_json, columns.timestamps, columns.received_at, strict=True)]
            else:
                seen += [(e.id, e.name, e.profile_id, e.user_id, orjson.loads(e.properties_json),
                          e.timestamp.ToDatetime(), e.received_at.ToDatetime()) for e in page.events]
            counted += page.counted
            pages += 1
            if page.done:
                return seen, counted, pages
            cursor = page.next_cursor

    events, counted, pages = await read(as_columns=False)
    assert [properties["n"] for *_, properties, _, _ in events] == [1, 2, 4, 5] and counted == 7 and pages >= 3
    # As columns: the same events, field by field; times as ISO text in UTC, to the microsecond.
    assert await read(as_columns=True) == (events, 7, pages)
    # Another workspace's events are neither read nor counted.
    elsewhere, counted, _ = await read(as_columns=False, workspace_id="elsewhere")
    assert (elsewhere, counted) == ([], 0)


async def test_get_users_answers_many_users_as_they_are_now(live):
    suite = live
    known = await suite.identify("g1", email="g1@example.com", plan="Pro", device={"type": "ios", "token": "t-1"})
    response = await suite.identity.get_users(WORKSPACE, [known, "nobody"])
    assert list(response.missing_profile_ids) == ["nobody"]
    user = response.users[known]
    assert (user.profile_id, user.user_id) == (known, "g1")
    assert orjson.loads(user.attributes_json)["plan"] == "Pro"
    assert [(d.kind, d.token) for d in user.devices] == [("apns", "t-1")]
