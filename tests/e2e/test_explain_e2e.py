"""herald explain end to end: `herald up` with email going to a real SMTP server, driven by
Segment's own Python library through the brief's coupon campaign (and the cart reminder from
examples/, whose cancel_if cancels a send), then `herald explain` for a user who got the email,
one kept out by `locale`, one held by the delivery window and one whose send was cancelled,
checked in CONTRACT.md's JSON and in the words it prints."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.harness import launch, wait_for
from tests.e2e.test_campaign_e2e import COUPON, zone_where
from tests.e2e.test_segment_e2e import segment_client
from tests.fakes.smtp_sink import SmtpSink

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CART_SMS = ROOT / "examples" / "cart-reminder-sms.yaml"
COUPON_NAME = "Coupon Campaign - Europe"


def steps_of(entry: dict) -> list[tuple[str, str]]:
    return [(step["step"], step["outcome"]) for step in entry["steps"]]


def test_explain_says_why_each_user_did_or_did_not_get_the_coupon(tmp_path):
    inside = zone_where(lambda hour: 9 <= hour < 19)
    outside = zone_where(lambda hour: hour >= 22 or hour < 6)
    with SmtpSink() as smtp, launch(
        tmp_path, HERALD_SMTP_HOST="127.0.0.1", HERALD_SMTP_PORT=str(smtp.port), HERALD_SMTP_FROM="herald@example.com",
        HERALD_SETTLE_SECONDS="1",
    ) as suite:
        for path in (COUPON, CART_SMS):
            assert suite.herald_json("campaigns", "apply", "-f", str(path))["status"] == "live"
        with segment_client(suite) as segment:
            segment.identify("ada", {"email": "ada@example.com", "name": "Ada Lovelace", "timezone": inside})
            segment.identify("bob", {"email": "bob@example.com", "timezone": outside})
            segment.identify("cyd", {"email": "cyd@example.com", "timezone": inside})
            segment.identify("dan", {"email": "dan@example.com", "phone": "+14155550111", "timezone": inside})
            segment.track("ada", "Added item to cart", {"price": 50, "locale": "EU", "cart_id": "a1"})
            segment.track("bob", "Added item to cart", {"price": 70, "locale": "EU", "cart_id": "b1"})
            segment.track("cyd", "Added item to cart", {"price": 80, "locale": "US", "cart_id": "c1"})
            segment.track("dan", "Added item to cart", {"price": 20, "locale": "EU", "cart_id": "d1"})

        wait_for(lambda: smtp.messages, "the coupon email")

        def explained(user: str, *more: str) -> dict:
            return suite.herald_json("explain", user, *more)

        def coupon_entry(user: str, status: str) -> dict | None:
            entries = explained(user, "--campaign", COUPON_NAME)["entries"]
            return entries[0] if entries and entries[0]["status"] == status else None

        # ada got the email: every step from the trigger to the provider's answer
        ada = wait_for(lambda: coupon_entry("ada", "sent"), "ada's entry, sent")
        assert ada["campaign"] == COUPON_NAME and ada["send_id"] and ada["triggered_at"]
        names = steps_of(ada)
        assert names[:4] == [("triggered", "received"), ("event_conditions", "held"), ("entered", "scheduled"),
                             ("settle", "waiting")]
        for expected in (("scheduled", "scheduled"), ("user_conditions", "held"), ("confirm", "go"),
                         ("window", "open"), ("attempt", "accepted")):
            assert expected in names, (expected, names)
        assert names.index(("confirm", "go")) < names.index(("attempt", "accepted")) < names.index(("sent", "sent"))
        window = next(s for s in ada["steps"] if s["step"] == "window")
        assert (window["detail"]["zone"], window["detail"]["zone_source"]) == (inside, "user")
        text = suite.herald("explain", "ada", "--campaign", COUPON_NAME).stdout
        assert text.splitlines()[0].startswith(f"{COUPON_NAME} · triggered by event ") and " · sent" in text
        assert "Event conditions held: `price gt 45` held: price was `50`; `locale eq EU` held: locale was `EU`." in text
        assert f"Delivery window open now in {inside} (the user's own zone)." in text
        lines = [line.split("  ", 2)[-1] for line in text.splitlines()[1:]]
        assert any(line.startswith("Attempt 1 through smtp: accepted (") for line in lines)
        assert lines[-2:] == ["Sent.", lines[-1]] and lines[-1].startswith("Goal window `Purchased with coupon` open until ")

        # cyd was kept out by locale
        [cyd] = explained("cyd", "--campaign", COUPON_NAME)["entries"]
        assert (cyd["status"], cyd["send_id"]) == ("not_entered", None)
        assert steps_of(cyd) == [("triggered", "received"), ("event_conditions", "not_held")]
        assert "Filter `locale eq EU` did not hold: locale was `US`." in suite.herald("explain", "cyd").stdout

        # bob is held by the window: night in his zone, moved to its next opening
        bob = wait_for(lambda: (e := coupon_entry("bob", "scheduled")) and ("window", "moved") in steps_of(e) and e,
                       "bob's send moved by the window")
        moved = next(s for s in bob["steps"] if s["step"] == "window")
        after = datetime.fromisoformat(moved["detail"]["due_after"]).astimezone(ZoneInfo(outside))
        assert (after.hour, after.minute) == (8, 0) and moved["detail"]["zone_source"] == "user"
        assert f"Delivery window closed in {outside} (the user's own zone): moved from " in \
            suite.herald("explain", "bob", "--campaign", COUPON_NAME).stdout

        # dan's cart reminder SMS (4 h delay) is cancelled by buying that cart
        wait_for(lambda: explained("dan", "--campaign", "Cart reminder SMS")["entries"], "dan's cart reminder entry")
        with segment_client(suite) as segment:
            segment.track("dan", "Purchase made", {"cart_id": "d1"})

        def cancelled() -> dict | None:
            entries = explained("dan", "--campaign", "Cart reminder SMS")["entries"]
            return entries[0] if entries[0]["status"] == "cancelled" and \
                ("cancelled", "cancelled") in steps_of(entries[0]) else None

        dan = wait_for(cancelled, "dan's send cancelled")
        cancel = next(s for s in dan["steps"] if s["step"] == "cancel_if")
        assert cancel["outcome"] == "cancelled" and cancel["detail"]["event"] == "[Segment] Purchase made"
        text = suite.herald("explain", "dan", "--campaign", "Cart reminder SMS").stdout
        assert "Cancelled by `[Segment] Purchase made` (event " in text and "cart_id was `d1`, as on the trigger." in text
        assert "Delivery cancelled it (cancel_if)." in text
        # dan's coupon entry: price 20 kept him out; both campaigns' entries come newest first
        every = explained("dan")["entries"]
        assert {e["campaign"] for e in every} == {COUPON_NAME, "Cart reminder SMS"}
        assert [e["triggered_at"] for e in every] == sorted((e["triggered_at"] for e in every), reverse=True)
