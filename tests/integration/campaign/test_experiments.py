"""Holdouts, the global control group, A/B variants and promote through campaign's RPCs, on
SQLite and PostgreSQL: groups decided when a send is made (sticky), held-out sends confirmed like
any other and reported held_out, their goal windows opened and counted as the control group."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import json

import grpc
import pytest
from herald.campaign.v1 import campaign_pb2
from herald_services.campaign import experiments

from tests.integration.campaign.test_cli_campaigns import herald  # noqa: F401 - the CLI fixture
from tests.integration.conftest import WORKSPACE

pytestmark = pytest.mark.asyncio

TRIGGER = "[Segment] Trial Started"
GOAL = "[Segment] Subscribed"
HOLDOUT = f"""\
name: Trial nudge
trigger: {{event: "{TRIGGER}"}}
holdout: 50%
message: {{channel: sms, body: "Hi {{{{ first_name }}}}, your trial has started"}}
goals:
  - {{name: Subscribed, event: "{GOAL}", within: 7d}}
"""
VARIANTS = f"""\
name: Trial AB
trigger: {{event: "{TRIGGER}"}}
holdout: 20%
variants:
  - name: plain
    weight: 50
    message: {{channel: sms, body: "Trial started, {{{{ first_name }}}}"}}
  - name: emoji
    weight: 50
    message: {{channel: sms, body: "🎉 Trial started, {{{{ first_name }}}}"}}
goals:
  - {{name: Subscribed, event: "{GOAL}", within: 7d}}
"""


async def _users(suite, count: int) -> list[tuple[str, str]]:
    users = []
    for number in range(count):
        user_id = f"x{number}"
        profile = await suite.identify(user_id, phone=f"+1415555{number:04d}", first_name=f"U{number}")
        users.append((user_id, profile))
    return users


async def _trigger_all(suite, users, at: datetime) -> dict[str, str]:
    """Triggers the campaign for every user; their send ids by user id."""
    before = set(suite.delivery.scheduled)
    await suite.send_events(*(suite.event(profile, user_id, TRIGGER, at=at) for user_id, profile in users))
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == len(before) + len(users))
    return {send.user_id: send_id for send_id, send in suite.delivery.scheduled.items() if send_id not in before}


async def test_held_out_users_are_confirmed_like_everyone_and_count_as_the_control_group(suite, herald):
    applied = await suite.apply(HOLDOUT)
    campaign_id = applied.campaign.id
    users = await _users(suite, 24)
    start = datetime.now(UTC) - timedelta(hours=2)
    sends = await _trigger_all(suite, users, start)
    held = {user_id for user_id, _ in users if experiments.in_holdout(campaign_id, user_id, 0.5)}
    assert 0 < len(held) < len(users)
    sent_at = start + timedelta(minutes=1)
    for user_id, send_id in sends.items():
        answer = await suite.confirm(send_id)
        # The control group goes through everything a send does: rendered, addressed, go.
        assert answer.go and answer.held_out == (user_id in held), user_id
        assert answer.message.body == f"Hi U{user_id[1:]}, your trial has started"
        await suite.mark(send_id, status="held_out" if answer.held_out else "sent", at=sent_at)
    # Two of each group convert: a held-out user's window opened when the message would have gone.
    converting = sorted(held)[:2] + sorted(set(sends) - held)[:2]
    profiles = dict(users)
    await suite.send_events(*(suite.event(profiles[u], u, GOAL, at=sent_at + timedelta(hours=1)) for u in converting))
    stats = await suite.stats("Trial nudge")
    assert (stats.sent, stats.held_out, stats.holdout) == (len(users) - len(held), len(held), "50%")
    assert dict(stats.held_out_by_group) == {"holdout": len(held)}
    [goal] = stats.goals
    assert (goal.conversions, goal.treatment_conversions, goal.control_conversions) == (2, 2, 2)
    assert goal.rate == goal.treatment_rate == pytest.approx(2 / stats.sent)
    assert goal.control_rate == pytest.approx(2 / stats.held_out)
    assert goal.lift == pytest.approx((goal.treatment_rate - goal.control_rate) / goal.control_rate)
    assert not goal.HasField("confidence") and not goal.enough_data  # 24 users: not enough data
    listed = {send.user_id: send for send in await suite.sends(campaign="Trial nudge")}
    assert {u for u, send in listed.items() if send.status == "held_out"} == held
    assert listed[sorted(held)[0]].outcome == "held out: holdout (not sent)"
    code, out, err = await herald("campaigns", "stats", "Trial nudge", "--json")
    document = json.loads(out)
    assert {"name", "status", "triggered", "scheduled", "sent", "failed", "suppressed", "goals", "held_out"} <= set(document)
    assert document["held_out"] == len(held) and document["holdout"] == "50%"
    [shown] = document["goals"]
    assert {"name", "primary", "conversions", "rate"} <= set(shown)
    assert shown["control"] == {"size": len(held), "conversions": 2, "rate": pytest.approx(2 / len(held))}
    assert shown["treatment"]["conversions"] == 2 and shown["confidence"] is None
    assert shown["lift"] == pytest.approx(goal.lift)
    code, out, err = await herald("campaigns", "stats", "Trial nudge")
    assert code == 0 and f"held out    {len(held)} (holdout {len(held)}); holdout 50%" in out
    assert "not enough data (needs 100 in each group)" in out


async def test_a_user_stays_in_their_group_when_they_enter_again(suite):
    applied = await suite.apply(HOLDOUT)
    users = await _users(suite, 12)
    first = await _trigger_all(suite, users, datetime.now(UTC) - timedelta(hours=1))
    second = await _trigger_all(suite, users, datetime.now(UTC))
    for user_id, _ in users:
        answers = [await suite.confirm(sends[user_id]) for sends in (first, second)]
        assert answers[0].held_out == answers[1].held_out == experiments.in_holdout(applied.campaign.id, user_id, 0.5)


async def test_global_control_holds_users_out_of_every_campaign_but_transactional_ones(suite, herald):
    await suite.stub.ApplySettings(campaign_pb2.ApplySettingsRequest(
        workspace_id=WORKSPACE, source_yaml="global_control: 50%\n", file_name="settings.yaml"))
    await suite.apply(HOLDOUT.replace("holdout: 50%\n", ""))
    await suite.apply(HOLDOUT.replace("Trial nudge", "Receipt").replace("holdout: 50%\n", "transactional: true\n"))
    users = await _users(suite, 16)
    await suite.send_events(*(suite.event(profile, user_id, TRIGGER) for user_id, profile in users))
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 2 * len(users))
    controlled = {user_id for user_id, _ in users if experiments.in_global_control(WORKSPACE, user_id, 0.5)}
    assert 0 < len(controlled) < len(users)
    by_campaign = {}
    for send_id in suite.delivery.scheduled:
        answer = await suite.confirm(send_id)
        by_campaign.setdefault(suite.delivery.scheduled[send_id].campaign_id, {})[answer.user_id] = answer.held_out
    nudge = (await suite.stub.GetCampaign(campaign_pb2.GetCampaignRequest(workspace_id=WORKSPACE, name="Trial nudge"))).id
    receipt = next(campaign for campaign in by_campaign if campaign != nudge)
    assert {u for u, held in by_campaign[nudge].items() if held} == controlled
    assert not any(by_campaign[receipt].values())
    groups = await suite.stub.GetUserExperiments(campaign_pb2.GetUserExperimentsRequest(
        workspace_id=WORKSPACE, user_id=sorted(controlled)[0]))
    assert groups.global_control and groups.global_control_text == "50%"
    assert [(c.campaign, c.group) for c in groups.campaigns] == [("Trial nudge", "global_control")]
    code, out, err = await herald("users", "show", sorted(controlled)[0], "--json")
    shown = json.loads(out)
    assert shown["global_control"] is True
    assert shown["experiments"] == [{"campaign": "Trial nudge", "group": "global_control", "variant": None}]
    code, out, err = await herald("users", "show", sorted(controlled)[0])
    assert "global control   yes: held out of every campaign but transactional ones" in out
    outside = sorted({u for u, _ in users} - controlled)[0]
    assert not (await suite.stub.GetUserExperiments(campaign_pb2.GetUserExperimentsRequest(
        workspace_id=WORKSPACE, user_id=outside))).global_control


async def test_variants_render_each_users_message_stats_compare_them_and_promote_makes_one_the_campaign(suite, herald):
    applied = await suite.apply(VARIANTS)
    campaign_id = applied.campaign.id
    users = await _users(suite, 20)
    start = datetime.now(UTC) - timedelta(hours=2)
    sends = await _trigger_all(suite, users, start)
    expected = {}
    for user_id, _ in users:
        if experiments.in_holdout(campaign_id, user_id, 0.2):
            expected[user_id] = ""
        else:
            expected[user_id] = ("plain", "emoji")[experiments.choose_variant(campaign_id, user_id, [50, 50])]
    assert {"plain", "emoji"} <= set(expected.values())
    pending = next(u for u, v in expected.items() if v == "emoji")
    for user_id, send_id in sends.items():
        if user_id == pending:
            continue
        answer = await suite.confirm(send_id)
        assert answer.variant == expected[user_id] and answer.held_out == (expected[user_id] == "")
        if expected[user_id] == "emoji":
            assert answer.message.body.startswith("🎉 Trial started, U")
        elif expected[user_id] == "plain":
            assert answer.message.body.startswith("Trial started, U")
        await suite.mark(send_id, status="held_out" if answer.held_out else "sent", at=start + timedelta(minutes=1))
    emoji_users = [u for u, v in expected.items() if v == "emoji" and u != pending]
    profiles = dict(users)
    await suite.send_events(suite.event(profiles[emoji_users[0]], emoji_users[0], GOAL, at=start + timedelta(hours=1)))
    stats = await suite.stats("Trial AB")
    by_name = {variant.name: variant for variant in stats.variants}
    assert [variant.name for variant in stats.variants] == ["plain", "emoji"]
    assert by_name["plain"].sent == sum(1 for v in expected.values() if v == "plain")
    assert by_name["emoji"].sent == len(emoji_users)
    assert by_name["emoji"].goals[0].conversions == 1 and by_name["plain"].goals[0].conversions == 0
    assert not by_name["plain"].goals[0].HasField("chance_to_beat_first")
    # The split follows the campaign's random id, so the expected chance is computed, not fixed.
    assert by_name["emoji"].goals[0].chance_to_beat_first == pytest.approx(
        experiments.chance_to_beat(1, by_name["emoji"].sent, 0, by_name["plain"].sent))

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await suite.stub.PromoteVariant(campaign_pb2.PromoteVariantRequest(
            workspace_id=WORKSPACE, name="Trial AB", variant="bold"))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "variant: campaign 'Trial AB' has no variant 'bold' (it has plain, emoji)" in refused.value.details()
    code, out, err = await herald("campaigns", "stats", "Trial AB")
    assert code == 0 and "CHANCE TO BEAT FIRST" in out and "(first)" in out
    code, out, err = await herald("campaigns", "promote", "Trial AB", "plain", "--json")
    promoted = json.loads(out)
    assert (code, promoted["changed"], promoted["version"], promoted["variant"]) == (0, True, 2, "plain")
    shown = await suite.stub.GetCampaign(campaign_pb2.GetCampaignRequest(workspace_id=WORKSPACE, name="Trial AB"))
    assert "variants" not in shown.source_yaml and "holdout: 20%" in shown.source_yaml
    # A send made for the other variant before the promote gets the promoted message.
    answer = await suite.confirm(sends[pending])
    assert answer.message.body == f"Trial started, U{pending[1:]}"
    after = await suite.stats("Trial AB")
    assert [(v.name, v.weight) for v in after.variants] == [("emoji", 0), ("plain", 0)]
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await suite.stub.PromoteVariant(campaign_pb2.PromoteVariantRequest(
            workspace_id=WORKSPACE, name="Trial AB", variant="plain"))
    assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION
