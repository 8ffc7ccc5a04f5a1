"""The brief's campaign end to end: `herald up` (every service, as users start it) with email going
to a real SMTP server (aiosmtpd), driven by Segment's own Python library, from the first identify
to a conversion in `herald campaigns stats`."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.harness import launch, wait_for
from tests.e2e.test_segment_e2e import segment_client
from tests.fakes.smtp_sink import SmtpSink

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
COUPON = ROOT / "examples" / "coupon-campaign-europe.yaml"
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "America/Los_Angeles", "Australia/Sydney",
         "Asia/Kolkata", "Pacific/Auckland", "America/Sao_Paulo"]


def zone_where(accept) -> str:
    """A time zone whose local hour right now satisfies accept (the offsets above leave no
    gap wider than the campaign's 08:00-21:00 window or its night)."""
    now = datetime.now(UTC)
    for name in ZONES:
        if accept(now.astimezone(ZoneInfo(name)).hour):
            return name
    raise AssertionError(f"no zone in {ZONES} fits at {now}")



def test_coupon_campaign_from_segment_calls_to_a_conversion(tmp_path):
    inside = zone_where(lambda hour: 9 <= hour < 19)  # the window is open for an hour or more
    outside = zone_where(lambda hour: hour >= 22 or hour < 6)
    with SmtpSink() as smtp, launch(
        tmp_path, HERALD_SMTP_HOST="127.0.0.1", HERALD_SMTP_PORT=str(smtp.port), HERALD_SMTP_FROM="herald@example.com",
        HERALD_SETTLE_SECONDS="1",
    ) as suite:
        applied = suite.herald_json("campaigns", "apply", "-f", str(COUPON))
        assert applied["created"] and applied["status"] == "live"

        with segment_client(suite) as segment:
            segment.identify("ada", {"email": "ada@example.com", "name": "Ada Lovelace", "timezone": inside})
            segment.identify("bob", {"email": "bob@example.com", "name": "Bob Night", "timezone": outside})
            segment.track("ada", "Added item to cart", {"price": 50, "locale": "EU", "cart_id": "a1"})
            segment.track("ada", "Added item to cart", {"price": 10, "locale": "EU", "cart_id": "a2"})  # filtered out
            segment.track("bob", "Added item to cart", {"price": 70, "locale": "EU", "cart_id": "b1"})

        mail = wait_for(lambda: smtp.messages, "the coupon email")[0]
        assert mail.rcpt_tos == ["ada@example.com"]
        assert mail.email["Subject"] == "Ada, 10% off what is in your cart"
        assert "the item you added costs 50. Use coupon EU10 today." in mail.email.get_content()

        def sends():
            return {s["user_id"]: s for s in suite.herald_json("sends", "list", "--campaign", "Coupon Campaign - Europe")}

        ada = wait_for(lambda: (s := sends().get("ada")) and s["status"] == "sent" and s, "ada's send marked sent")
        assert ada["channel"] == "email" and ada["sent_at"]
        bob = sends()["bob"]
        # bob's night: held for the next opening of the window in his zone, not sent at a guess
        assert bob["status"] == "scheduled"
        due = datetime.fromisoformat(bob["due_at"]).astimezone(ZoneInfo(outside))
        assert due > datetime.now(UTC) and (due.hour, due.minute) == (8, 0)

        with segment_client(suite) as segment:
            segment.track("ada", "Purchase made", {"Coupon used": True, "cart_id": "a1"})

        def converted():
            stats = suite.herald_json("campaigns", "stats", "Coupon Campaign - Europe")
            return stats if stats["goals"][0]["conversions"] == 1 else None

        stats = wait_for(converted, "the conversion")
        assert {k: stats[k] for k in ("status", "triggered", "scheduled", "sent", "failed", "suppressed")} == {
            "status": "live", "triggered": 3, "scheduled": 2, "sent": 1, "failed": 0, "suppressed": 0,
        }
        goal = stats["goals"][0]
        assert (goal["name"], goal["primary"], goal["conversions"], goal["rate"]) == ("Purchased with coupon", True, 1, 1.0)
        time.sleep(1.0)
        assert len(smtp.messages) == 1  # once, and only once
