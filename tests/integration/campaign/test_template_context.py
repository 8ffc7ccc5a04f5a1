"""A send renders the trigger event's properties exactly as sent, through campaign's Confirm, and
apply carries a warning for a file that reads `event.name`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

pytestmark = pytest.mark.asyncio

STILL_THINKING = """
name: Still thinking
trigger: { event: "[Segment] Product Added" }
message:
  channel: sms
  body: "Still thinking about {{ event.name }}? ({{ event_name }} at {{ event_time }}, for {{ user_id }})"
"""


async def test_confirm_renders_event_name_as_the_products_name_and_event_name_as_the_events(suite):
    applied = await suite.apply(STILL_THINKING)
    assert [(w.field, "event_name" in w.reason) for w in applied.warnings] == [("message.body", True)]
    profile = await suite.identify("shopper", phone="+14155550123")
    added_at = datetime(2026, 3, 2, 14, 5, tzinfo=UTC)
    await suite.send_events(suite.event(profile, "shopper", "[Segment] Product Added", at=added_at,
                                        properties={"name": "red shoes", "price": 50}))
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 1)
    confirmed = await suite.confirm(next(iter(suite.delivery.scheduled)))
    assert confirmed.go
    assert confirmed.message.body == (
        "Still thinking about red shoes? ([Segment] Product Added at 2026-03-02T14:05:00+00:00, for shopper)"
    )


async def test_apply_warns_about_event_name_on_every_apply_and_not_for_event_name_in_brackets(suite):
    first = await suite.apply(STILL_THINKING)
    again = await suite.apply(STILL_THINKING)
    assert (first.created, again.changed) == (True, False)
    assert [w.field for w in again.warnings] == ["message.body"]
    fixed = await suite.apply(STILL_THINKING.replace("{{ event.name }}", "{{ event['name'] }}"))
    assert fixed.changed and list(fixed.warnings) == []
