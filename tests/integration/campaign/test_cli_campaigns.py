"""herald campaigns / sends / users unsubscribe against a real campaign service (in-process)."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
import structlog
from herald_cli.main import main

from tests.integration.campaign.conftest import EXAMPLES

pytestmark = pytest.mark.asyncio


@pytest.fixture
def herald(suite, monkeypatch, capsys):
    # The services run in this process: keep their logs off the CLI's standard output.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=io.StringIO()))
    monkeypatch.setenv("HERALD_CAMPAIGN_ADDRESS", suite.settings.campaign_address)
    monkeypatch.setenv("HERALD_IDENTITY_ADDRESS", suite.settings.identity_address)
    monkeypatch.setenv("HERALD_DATA_DIR", str(suite.settings.data_dir))  # where the CLI finds the admin token

    async def run(*argv: str):
        capsys.readouterr()
        code = await asyncio.to_thread(main, list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    structlog.reset_defaults()


async def test_apply_list_show_stats_and_sends_as_json(suite, herald):
    code, out, err = await herald("campaigns", "apply", "-f", str(EXAMPLES / "coupon-campaign-europe.yaml"), "--json")
    assert (code, err) == (0, "")
    applied = json.loads(out)
    assert applied["created"] and applied["status"] == "live" and applied["version"] == 1
    code, out, _ = await herald("campaigns", "apply", "-f", str(EXAMPLES / "coupon-campaign-europe.yaml"))
    assert code == 0 and "unchanged" in out

    code, out, _ = await herald("campaigns", "list", "--json")
    assert [c["name"] for c in json.loads(out)] == ["Coupon Campaign - Europe"]
    code, out, _ = await herald("campaigns", "show", "Coupon Campaign - Europe", "--json")
    assert "Purchased with coupon" in json.loads(out)["source_yaml"]

    profile = await suite.identify("cli-1", email="cli-1@example.com")
    start = datetime.now(UTC) - timedelta(hours=1)
    await suite.send_events(suite.event(profile, "cli-1", "[Segment] Added item to cart", at=start, price=60, locale="EU"))
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 1)
    send_id = next(iter(suite.delivery.scheduled))
    assert (await suite.confirm(send_id)).go
    await suite.mark(send_id, at=start + timedelta(minutes=1))
    await suite.send_events(suite.event(profile, "cli-1", "[Segment] Purchase made", at=start + timedelta(minutes=3),
                                        **{"Coupon used": True}))

    code, out, err = await herald("campaigns", "stats", "Coupon Campaign - Europe", "--json")
    stats = json.loads(out)
    assert {k: stats[k] for k in ("name", "status", "triggered", "scheduled", "sent", "failed", "suppressed")} == {
        "name": "Coupon Campaign - Europe", "status": "live", "triggered": 1, "scheduled": 1, "sent": 1,
        "failed": 0, "suppressed": 0,
    }
    keys = ("name", "primary", "conversions", "rate", "average_seconds_to_convert")
    assert [{k: goal[k] for k in keys} for goal in stats["goals"]] == [
        {"name": "Purchased with coupon", "primary": True, "conversions": 1, "rate": 1.0,
         "average_seconds_to_convert": 120.0}]
    assert stats["held_out"] == 0 and stats["goals"][0]["control"] == {"size": 0, "conversions": 0, "rate": 0.0}
    code, out, _ = await herald("campaigns", "stats", "Coupon Campaign - Europe")
    assert "Purchased with coupon (primary)" in out and "100.0%" in out

    code, out, _ = await herald("sends", "list", "--campaign", "Coupon Campaign - Europe", "--json")
    [send] = json.loads(out)
    assert set(send) >= {"id", "campaign", "user_id", "channel", "status", "due_at", "sent_at", "outcome"}
    assert (send["id"], send["status"], send["channel"], send["user_id"]) == (send_id, "sent", "email", "cli-1")
    assert send["sent_at"].endswith("+00:00")
    code, out, _ = await herald("sends", "list", "--user", "cli-1", "--json")
    assert [s["id"] for s in json.loads(out)] == [send_id]


async def test_pause_resume_archive_and_unsubscribe(suite, herald):
    await herald("campaigns", "apply", "-f", str(EXAMPLES / "welcome-push.yaml"))
    code, out, _ = await herald("campaigns", "pause", "Welcome push", "--json")
    assert code == 0 and json.loads(out)["status"] == "paused"
    code, out, _ = await herald("campaigns", "resume", "Welcome push")
    assert code == 0 and "is live" in out and len(suite.delivery.released) == 1
    await suite.identify("cli-2")
    code, out, err = await herald("users", "unsubscribe", "cli-2", "--campaign", "Welcome push", "--json")
    assert code == 0 and json.loads(out) == {"id": "cli-2", "campaign": "Welcome push", "subscribed": False}
    code, out, _ = await herald("users", "resubscribe", "cli-2")
    assert code == 0 and "resubscribed to every campaign" in out
    code, out, _ = await herald("campaigns", "archive", "Welcome push")
    assert code == 0 and "archived" in out


async def test_failures_are_one_line_and_non_zero(suite, herald, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: X\ntrigger: {event: e}\nmessage: {channel: fax}\n")
    code, out, err = await herald("campaigns", "apply", "-f", str(bad))
    assert code != 0 and out == ""
    assert err.startswith("herald: bad.yaml: ") or err.startswith(f"herald: {bad}: ")
    assert "message.channel" in err and err.count("\n") == 1
    code, out, err = await herald("campaigns", "stats", "Nope")
    assert code != 0 and err == "herald: no campaign named 'Nope'\n"
    code, out, err = await herald("users", "unsubscribe", "ghost")
    assert code != 0 and "ghost" in err
    code, out, err = await herald("campaigns", "resume", "Nope")
    assert code != 0 and err.count("\n") == 1


async def test_apply_prints_a_warning_for_a_file_reading_event_name_and_still_applies_it(suite, herald):
    example = str(EXAMPLES / "cart-reminder-sms.yaml")
    code, out, err = await herald("campaigns", "apply", "-f", example)
    assert code == 0 and "created campaign 'Cart reminder SMS'" in out
    [warning] = err.splitlines()
    assert warning.startswith(f"warning: {example}: message.body: reads event.name") and "{{ event_name }}" in warning
    code, out, err = await herald("campaigns", "apply", "-f", example, "--json")
    assert (code, err) == (0, "")
    assert [w["field"] for w in json.loads(out)["warnings"]] == ["message.body"]


async def test_list_figures_versions_daily_and_preview_as_the_console_shows_them(suite, herald, tmp_path):
    source = (EXAMPLES / "coupon-campaign-europe.yaml").read_text()
    await suite.apply(source, file_name="coupon-campaign-europe.yaml")
    await suite.apply(source.replace("Use coupon EU10 today.", "Use coupon EU15 today."), file_name="v2.yaml")
    await suite.identify("cli-p", email="cli-p@example.com", first_name="Per")

    code, out, _ = await herald("campaigns", "list")
    assert code == 0 and "CONVERSION" in out and "email" in out and "0.0%" in out
    code, out, _ = await herald("campaigns", "list", "--json")
    [listed] = json.loads(out)
    assert (listed["channel"], listed["primary_goal"], listed["sent"]) == ("email", "Purchased with coupon", 0)

    code, out, _ = await herald("campaigns", "versions", "Coupon Campaign - Europe")
    assert code == 0 and out.splitlines()[1].split()[:3] == ["2", "yes", "v2.yaml"]
    code, out, _ = await herald("campaigns", "versions", "Coupon Campaign - Europe", "--version", "1")
    assert out.rstrip() == source.rstrip()
    code, _, err = await herald("campaigns", "versions", "Coupon Campaign - Europe", "--version", "7")
    assert code != 0 and "no version 7" in err

    code, out, _ = await herald("campaigns", "daily", "Coupon Campaign - Europe", "--days", "3", "--json")
    assert [d["sent"] for d in json.loads(out)["days"]] == [0, 0, 0]

    code, out, err = await herald("campaigns", "preview", "Coupon Campaign - Europe", "--user", "cli-p",
                                  "--event", '{"price": 70, "locale": "EU"}')
    assert code == 0, err
    assert "Per, 10% off what is in your cart" in out and "costs 70" in out and "EU15" in out
    assert "email cli-p@example.com" in out
    draft = tmp_path / "draft.yaml"
    draft.write_text(source.replace("channel: email", "channel: fax"))
    code, _, err = await herald("campaigns", "preview", "--file", str(draft), "--user", "cli-p")
    assert code != 0 and "message.channel" in err
    code, _, err = await herald("campaigns", "preview", "Coupon Campaign - Europe", "--user", "cli-p", "--event", "[1]")
    assert code != 0 and "--event" in err
