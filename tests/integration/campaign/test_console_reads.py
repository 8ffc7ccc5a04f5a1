"""The reads the console's campaign pages make, over gRPC on SQLite and PostgreSQL: the list
with each campaign's figures (paged), versions with their files (paged), sends and conversions
per day, and the preview of a message for a user; and the query plans behind them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import orjson
import pytest
from herald.campaign.v1 import campaign_pb2
from herald_common.protoconv import set_timestamp
from sqlalchemy import text

from tests.integration.conftest import WORKSPACE


ADDED = "[Segment] Added item to cart"
PURCHASE = "[Segment] Purchase made"


async def _sent_and_converted(suite, user: str, *, sent_at: datetime, convert_at: datetime | None) -> str:
    """One user through Coupon Campaign - Europe: triggered, confirmed, sent at sent_at, and
    converted at convert_at (when given)."""
    profile = await suite.identify(user, email=f"{user}@example.com", first_name=user.upper())
    before = set(suite.delivery.scheduled)
    await suite.send_events(suite.event(profile, user, ADDED, at=sent_at - timedelta(minutes=1), price=80, locale="EU"))
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == len(before) + 1)
    [send_id] = set(suite.delivery.scheduled) - before
    assert (await suite.confirm(send_id)).go
    await suite.mark(send_id, at=sent_at)
    if convert_at is not None:
        await suite.send_events(suite.event(profile, user, PURCHASE, at=convert_at, **{"Coupon used": True}))
    return send_id


async def test_the_list_gives_each_campaign_its_channel_trigger_and_figures_in_one_call(suite):
    await suite.apply_example("coupon-campaign-europe.yaml")
    await suite.apply_example("welcome-push.yaml")
    now = datetime.now(UTC)
    await _sent_and_converted(suite, "a1", sent_at=now - timedelta(hours=2), convert_at=now - timedelta(hours=1))
    await _sent_and_converted(suite, "a2", sent_at=now - timedelta(hours=2), convert_at=None)
    response = await suite.stub.ListCampaignSummaries(campaign_pb2.ListCampaignSummariesRequest(workspace_id=WORKSPACE))
    assert [s.campaign.name for s in response.campaigns] == ["Coupon Campaign - Europe", "Welcome push"]
    coupon, welcome = response.campaigns
    assert (coupon.channel, coupon.campaign.status, coupon.campaign.trigger_event) == ("email", "live", ADDED)
    assert (coupon.triggered, coupon.sent, coupon.primary_goal, coupon.primary_conversions) == (
        2, 2, "Purchased with coupon", 1)
    assert coupon.primary_rate == pytest.approx(0.5)
    assert (welcome.channel, welcome.triggered, welcome.sent, welcome.primary_rate) == ("push", 0, 0, 0.0)
    assert response.next_page_token == ""


async def test_the_list_pages_by_name_and_refuses_a_token_it_did_not_give(suite):
    template = """
name: {name}
trigger: {{event: "[Segment] Signed Up"}}
message: {{channel: sms, body: hi}}
"""
    for index in range(5):
        await suite.apply(template.format(name=f"Campaign {index}"))
    seen, token = [], ""
    while True:
        page = await suite.stub.ListCampaignSummaries(
            campaign_pb2.ListCampaignSummariesRequest(workspace_id=WORKSPACE, page_size=2, page_token=token))
        seen.append([s.campaign.name for s in page.campaigns])
        token = page.next_page_token
        if not token:
            break
    assert seen == [["Campaign 0", "Campaign 1"], ["Campaign 2", "Campaign 3"], ["Campaign 4"]]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.stub.ListCampaignSummaries(
            campaign_pb2.ListCampaignSummariesRequest(workspace_id=WORKSPACE, page_token="%%%"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page_token" in caught.value.details()


async def test_versions_newest_first_each_with_its_file_paged(suite):
    base = """name: Versioned
trigger: {{event: "[Segment] Signed Up"}}
message: {{channel: sms, body: "version {n}"}}
"""
    for n in (1, 2, 3):
        await suite.apply(base.format(n=n), file_name=f"v{n}.yaml")
    first = await suite.stub.ListCampaignVersions(
        campaign_pb2.ListCampaignVersionsRequest(workspace_id=WORKSPACE, name="Versioned", page_size=2))
    assert [(v.version, v.current, v.file_name) for v in first.versions] == [(3, True, "v3.yaml"), (2, False, "v2.yaml")]
    assert first.versions[0].source_yaml == base.format(n=3)
    rest = await suite.stub.ListCampaignVersions(campaign_pb2.ListCampaignVersionsRequest(
        workspace_id=WORKSPACE, name="Versioned", page_size=2, page_token=first.next_page_token))
    assert [v.version for v in rest.versions] == [1] and rest.next_page_token == ""
    assert 'body: "version 1"' in rest.versions[0].source_yaml
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.stub.ListCampaignVersions(campaign_pb2.ListCampaignVersionsRequest(workspace_id=WORKSPACE, name="Nope"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND and "Nope" in caught.value.details()


async def test_a_draft_keeps_one_version_rewritten_by_each_apply(suite):
    base = """name: Drafted
trigger: {{event: "[Segment] Signed Up"}}
message: {{channel: sms, body: "draft {n}"}}
"""
    await suite.apply(base.format(n=1), draft=True)
    await suite.apply(base.format(n=2))
    versions = await suite.stub.ListCampaignVersions(
        campaign_pb2.ListCampaignVersionsRequest(workspace_id=WORKSPACE, name="Drafted"))
    assert [(v.version, v.source_yaml) for v in versions.versions] == [(1, base.format(n=2))]


async def test_daily_counts_sends_and_primary_conversions_on_their_utc_days(suite):
    await suite.apply_example("coupon-campaign-europe.yaml")
    now = datetime.now(UTC)
    today = now.date()
    await _sent_and_converted(suite, "d1", sent_at=now - timedelta(days=2), convert_at=now - timedelta(days=2) + timedelta(minutes=5))
    await _sent_and_converted(suite, "d2", sent_at=now - timedelta(days=2), convert_at=None)
    await _sent_and_converted(suite, "d3", sent_at=now - timedelta(minutes=30), convert_at=now - timedelta(minutes=10))
    await _sent_and_converted(suite, "d4", sent_at=now - timedelta(days=40), convert_at=None)  # out of range
    daily = await suite.stub.GetCampaignDaily(
        campaign_pb2.GetCampaignDailyRequest(workspace_id=WORKSPACE, name="Coupon Campaign - Europe"))
    assert daily.primary_goal == "Purchased with coupon"
    assert len(daily.days) == 30 and daily.days[-1].day == today.isoformat()
    assert daily.days[0].day == (today - timedelta(days=29)).isoformat()
    by_day = {d.day: (d.sent, d.conversions) for d in daily.days if d.sent or d.conversions}
    sent_times = [now - timedelta(days=2), now - timedelta(days=2), now - timedelta(minutes=30)]
    converted_times = [now - timedelta(days=2) + timedelta(minutes=5), now - timedelta(minutes=10)]
    expected: dict[str, tuple[int, int]] = {}
    for at in sent_times:
        day = at.date().isoformat()
        expected[day] = (expected.get(day, (0, 0))[0] + 1, expected.get(day, (0, 0))[1])
    for at in converted_times:
        day = at.date().isoformat()
        expected[day] = (expected.get(day, (0, 0))[0], expected.get(day, (0, 0))[1] + 1)
    assert by_day == expected
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.stub.GetCampaignDaily(
            campaign_pb2.GetCampaignDailyRequest(workspace_id=WORKSPACE, name="Coupon Campaign - Europe", days=400))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "days" in caught.value.details()


async def test_preview_renders_as_confirm_does_with_the_users_attributes_and_the_event(suite):
    await suite.apply_example("coupon-campaign-europe.yaml")
    profile = await suite.identify("p1", email="p1@example.com", first_name="Pia")
    request = campaign_pb2.PreviewMessageRequest(
        workspace_id=WORKSPACE, name="Coupon Campaign - Europe", user_id="p1",
        event_properties_json=orjson.dumps({"price": 80, "locale": "EU"}),
    )
    preview = await suite.stub.PreviewMessage(request)
    assert preview.render_error == "" and preview.channel == "email" and preview.conditions_hold
    assert preview.message.subject == "Pia, 10% off what is in your cart"
    assert "costs 80" in preview.message.body
    assert [(a.kind, a.value) for a in preview.addresses] == [("email", "p1@example.com")]
    assert orjson.loads(preview.attributes_json)["first_name"] == "Pia"
    # the same user and event through the real path: Confirm gives delivery the same message
    await suite.send_events(suite.event(profile, "p1", ADDED, price=80, locale="EU"))
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 1)
    confirmed = await suite.confirm(next(iter(suite.delivery.scheduled)))
    assert confirmed.message == preview.message
    # a US event: the filters do not hold, and the preview says so (the message still renders)
    us = await suite.stub.PreviewMessage(campaign_pb2.PreviewMessageRequest(
        workspace_id=WORKSPACE, name="Coupon Campaign - Europe", user_id="p1",
        event_properties_json=orjson.dumps({"price": 80, "locale": "US"})))
    assert not us.conditions_hold and us.message.subject


async def test_preview_of_a_file_not_applied_checks_it_as_apply_does(suite):
    await suite.identify("p2", phone_number="+14155550100", first_name="Ola")
    text_ = """name: Not applied
trigger: {event: "[Segment] Signed Up"}
message: {channel: sms, body: "{{ first_name }} signed up at {{ event_time }} ({{ event.plan }})"}
"""
    request = campaign_pb2.PreviewMessageRequest(workspace_id=WORKSPACE, source_yaml=text_, user_id="p2",
                                                 event_properties_json=b'{"plan": "Pro"}')
    set_timestamp(request.event_time, datetime(2026, 12, 1, 9, 30, tzinfo=UTC))
    preview = await suite.stub.PreviewMessage(request)
    assert preview.message.body == "Ola signed up at 2026-12-01T09:30:00+00:00 (Pro)"
    assert [(a.kind, a.value) for a in preview.addresses] == [("phone", "+14155550100")]
    listed = await suite.stub.ListCampaigns(campaign_pb2.ListCampaignsRequest(workspace_id=WORKSPACE))
    assert list(listed.campaigns) == []  # nothing was applied
    bad = text_.replace("channel: sms", "channel: fax")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.stub.PreviewMessage(campaign_pb2.PreviewMessageRequest(
            workspace_id=WORKSPACE, source_yaml=bad, user_id="p2"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "message.channel" in caught.value.details()
    for wrong, field in ((b"[1, 2]", "event_properties_json"), (b"{nope", "event_properties_json")):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await suite.stub.PreviewMessage(campaign_pb2.PreviewMessageRequest(
                workspace_id=WORKSPACE, source_yaml=text_, user_id="p2", event_properties_json=wrong))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and field in caught.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await suite.stub.PreviewMessage(campaign_pb2.PreviewMessageRequest(
            workspace_id=WORKSPACE, source_yaml=text_, user_id="nobody"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND and "nobody" in caught.value.details()


async def test_preview_says_when_a_template_cannot_render_for_this_user(suite):
    await suite.identify("p3", phone_number="+14155550101")
    text_ = """name: Divides
trigger: {event: "[Segment] Signed Up"}
message: {channel: sms, body: "{{ 10 | divided_by: event.n }}"}
"""
    preview = await suite.stub.PreviewMessage(campaign_pb2.PreviewMessageRequest(
        workspace_id=WORKSPACE, source_yaml=text_, user_id="p3", event_properties_json=b'{"n": 0}'))
    assert preview.render_error and not preview.HasField("message")


def test_the_console_reads_use_their_indexes(sqlite_settings):
    """SQLite's plans for the list's, the chart's and the versions' reads: each a search of an
    index (counts covered by it), never a scan of the send or goal_window table."""
    from herald_common.db import create_service_engine, migrate

    engine = create_service_engine(sqlite_settings, "campaign")
    migrate(engine, "campaign")
    queries = {
        "sent per campaign": "SELECT campaign_id, count(*) FROM send WHERE campaign_id IN ('a', 'b') AND status = 'sent' GROUP BY campaign_id",
        "sends by status": "SELECT status, count(*) FROM send WHERE campaign_id = 'a' GROUP BY status",
        "sent per day": "SELECT substr(sent_at, 1, 10), count(*) FROM send WHERE campaign_id = 'a' AND status = 'sent' AND sent_at >= '2026-01-01' GROUP BY 1",
        "conversions": "SELECT campaign_id, goal_name, count(*) FROM goal_window WHERE campaign_id IN ('a') AND converted_at IS NOT NULL GROUP BY campaign_id, goal_name",
        "conversions per day": "SELECT substr(converted_at, 1, 10), count(*) FROM goal_window WHERE campaign_id = 'a' AND goal_name = 'g' AND converted_at >= '2026-01-01' GROUP BY 1",
        "versions": "SELECT * FROM campaign_version WHERE campaign_id = 'a' AND version < 5 ORDER BY version DESC LIMIT 21",
        "latest sends of a campaign": "SELECT * FROM send WHERE workspace_id = 'default' AND campaign_id = 'a' ORDER BY created_at DESC, id LIMIT 20",
        "page of campaigns": "SELECT * FROM campaign WHERE workspace_id = 'default' AND name > 'x' ORDER BY name LIMIT 101",
    }
    with engine.connect() as connection:
        for what, query in queries.items():
            plan = " | ".join(row[-1] for row in connection.execute(text("EXPLAIN QUERY PLAN " + query)))
            assert "SEARCH" in plan and "SCAN" not in plan.replace("SCAN CONSTANT ROW", ""), (what, plan)
            if what in ("sent per campaign", "sends by status", "sent per day", "conversions", "conversions per day"):
                assert "COVERING INDEX" in plan, (what, plan)
            if "per day" not in what:  # (a day's group is made in a small temporary tree: 30 of them)
                # (the latest sends: only sends of the same microsecond are ordered by id in one)
                assert "TEMP B-TREE" not in plan.replace("USE TEMP B-TREE FOR RIGHT PART OF ORDER BY", ""), (what, plan)
    engine.dispose()


async def test_campaign_stats_count_from_indexes_not_the_sends(suite, settings):
    """Every statement `campaign_stats` runs against the send table, as it runs them, searches an
    index; the counts by status are covered by it (the campaign page reads them for campaigns
    with hundreds of thousands of sends), and variants come from their own partial index."""
    if settings.database_url:
        pytest.skip("the plans checked are SQLite's (EXPLAIN QUERY PLAN); PostgreSQL runs the same statements")
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from herald_common.db import create_service_engine

    await suite.apply_example("coupon-campaign-europe.yaml")
    await _sent_and_converted(suite, "u1", sent_at=datetime.now(UTC) - timedelta(hours=1), convert_at=None)
    statements: list[tuple[str, tuple]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "FROM send " in statement and "goal_window" not in statement:
            statements.append((statement, parameters))

    event.listen(Engine, "before_cursor_execute", capture)
    try:
        stats = await suite.stats("Coupon Campaign - Europe")
    finally:
        event.remove(Engine, "before_cursor_execute", capture)
    assert stats.sent == 1
    engine = create_service_engine(settings, "campaign")
    with engine.connect() as connection:
        for statement, parameters in statements:
            plan = " | ".join(row[-1] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))
            assert "SEARCH" in plan and "SCAN" not in plan, (statement, plan)
            if "GROUP BY send.status" in statement:
                assert "COVERING INDEX ix_send_campaign_status_sent" in plan, (statement, plan)
            if "send.variant !=" in statement:
                assert "ix_send_campaign_variant" in plan, (statement, plan)
    engine.dispose()
    assert len(statements) >= 2, statements  # by status, and by variant (there are sent ones)

