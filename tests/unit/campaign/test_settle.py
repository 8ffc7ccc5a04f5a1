"""When a triggered send is first due: instant campaigns at once, filtered ones after settling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from herald_services.campaign.spec import parse_campaign

TRIGGERED = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
SETTLE = timedelta(seconds=60)
BASE = "name: C\ntrigger: {event: E}\nmessage: {channel: sms, body: hi}\n"
FILTERS = "filters: {any_of: [{all_of: [{source: user, property: plan, op: exists}]}]}\n"


@pytest.mark.parametrize(("extra", "instant", "due_after"), [
    ("", True, timedelta(0)),
    ("delay: 0m\n", True, timedelta(0)),
    ("delay: 4h\n", False, timedelta(hours=4)),
    (FILTERS, False, SETTLE),
    (FILTERS + "delay: 30s\n", False, SETTLE),  # the settle period is the floor
    (FILTERS + "delay: 4h\n", False, timedelta(hours=4)),  # a longer delay already covers it
])
def test_due_time_by_filters_and_delay(extra, instant, due_after):
    spec = parse_campaign(BASE + extra)
    assert spec.instant is instant
    assert spec.due_at(TRIGGERED, settle=SETTLE) == TRIGGERED + due_after
