"""A goal reached in the first seconds counts (issue 15 part 5): a goal event campaign handles
after Confirm but before delivery's MarkSent reaches it is kept ("parked") and counted at
MarkSent when it is at or after the time the provider accepted the message. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from herald_common.steps import read_steps
from herald_services.campaign.store import DecisionStepRecord, ParkedGoalEventRecord
from sqlalchemy import func, select

pytestmark = pytest.mark.asyncio

ADDED = "[Segment] Added item to cart"
PURCHASE = "[Segment] Purchase made"


def _parked(suite) -> int:
    engine = suite.campaign_service.extras["servicer"].engine
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(ParkedGoalEventRecord.__table__)).scalar_one()


def _steps(suite) -> list[dict]:
    engine = suite.campaign_service.extras["servicer"].engine
    table = DecisionStepRecord.__table__
    with engine.connect() as connection:
        found = []
        for workspace_id, profile_id in connection.execute(select(table.c.workspace_id, table.c.profile_id).distinct()):
            found += read_steps(connection, table, workspace_id=workspace_id, profile_ids=[profile_id])
    return [{"step": step.step, "outcome": step.outcome, "detail": step.detail, "send_id": step.send_id} for step in found]


async def _confirmed_send(suite, user: str, at: datetime) -> tuple[str, str]:
    profile = await suite.identify(user, email=f"{user}@example.com")
    before = set(suite.delivery.scheduled)
    await suite.send_events(suite.event(profile, user, ADDED, at=at, price=99.5, locale="EU"))
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == len(before) + 1)
    [send_id] = set(suite.delivery.scheduled) - before
    assert (await suite.confirm(send_id)).go
    return profile, send_id


async def test_a_purchase_handled_before_mark_sent_converts_from_the_accepted_time(suite):
    await suite.apply_example("coupon-campaign-europe.yaml")
    start = datetime.now(UTC) - timedelta(minutes=30)
    profile, send_id = await _confirmed_send(suite, "fast", start)
    accepted = start + timedelta(minutes=1)
    # The user buys within seconds of the email; campaign handles it before MarkSent arrives.
    await suite.send_events(
        suite.event(profile, "fast", PURCHASE, at=accepted - timedelta(seconds=1), **{"Coupon used": True}),
        suite.event(profile, "fast", PURCHASE, at=accepted + timedelta(seconds=2), **{"Coupon used": False}),
        suite.event(profile, "fast", PURCHASE, at=accepted + timedelta(seconds=3), **{"Coupon used": True}),
    )
    assert _parked(suite) == 2  # the two that match the goal's `where`; not the `false` one
    await suite.mark(send_id, at=accepted)  # MarkSent, late, with the provider's accepted time
    [goal] = (await suite.stats("Coupon Campaign - Europe")).goals
    assert (goal.conversions, goal.rate) == (1, 1.0)
    assert goal.average_seconds_to_convert == pytest.approx(3)  # the first at or after acceptance
    assert _parked(suite) == 0
    [conversion] = [s for s in _steps(suite) if s["step"] == "conversion"]
    assert conversion["send_id"] == send_id and conversion["outcome"] == "converted"
    assert conversion["detail"]["before_mark_sent"] is True
    assert conversion["detail"]["seconds_to_convert"] == pytest.approx(3)
    # A later purchase converts nothing more: one conversion per send and goal.
    await suite.send_events(suite.event(profile, "fast", PURCHASE, at=accepted + timedelta(minutes=5),
                                        **{"Coupon used": True}))
    assert (await suite.stats("Coupon Campaign - Europe")).goals[0].conversions == 1


async def test_only_sends_on_their_way_park_and_a_failed_send_drops_what_it_parked(suite):
    await suite.apply_example("coupon-campaign-europe.yaml")
    start = datetime.now(UTC) - timedelta(minutes=30)
    profile, send_id = await _confirmed_send(suite, "slow", start)
    # A user whose send is not confirmed yet (scheduled): nothing of theirs is parked.
    other = await suite.identify("waiting", email="waiting@example.com")
    await suite.send_events(suite.event(other, "waiting", ADDED, at=start, price=80, locale="EU"))
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 2)
    await suite.send_events(
        suite.event(other, "waiting", PURCHASE, at=start + timedelta(minutes=2), **{"Coupon used": True}),
        suite.event(profile, "slow", PURCHASE, at=start + timedelta(minutes=2), **{"Coupon used": True}),
    )
    assert _parked(suite) == 1
    await suite.mark(send_id, status="failed", outcome="550 no such user")
    assert _parked(suite) == 0
    assert (await suite.stats("Coupon Campaign - Europe")).goals[0].conversions == 0
