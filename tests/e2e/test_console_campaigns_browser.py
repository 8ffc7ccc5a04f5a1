"""The campaign pages in a real browser (Playwright driving Debian's chromium, headless; the
fixtures of tests/e2e/browser.py) against the suite as `herald up` starts it, fed by Segment's own
Python library: sign in, write a campaign in the editor with an error first (shown inline by its
path and line), fix it, preview it for a user, make it live, watch its send and conversion appear
on its page, pause it behind its confirmation. `herald campaigns show` gives back the file the
browser saved. Screenshots: the campaign list, the campaign page and the editor (`make
screenshots` writes them into docs/console/)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.e2e import browser as browsers
from tests.e2e.harness import Suite, launch

BROKEN = """name: Welcome mail
trigger:
  event: "[Segment] Signed Up"
filters:
  any_of:
    - all_of:
        - { source: event, property: plan, op: gtt, value: 1 }
message:
  channel: email
  subject: "Welcome, {{ first_name | default: 'there' }}"
  body: |
    Hi {{ first_name | default: 'there' }},
    your {{ event.plan }} plan is ready.
goals:
  - name: Activated
    event: "[Segment] Activated"
    within: 1d
"""
FIXED = BROKEN.replace("op: gtt, value: 1", "op: exists")


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> Iterator[Suite]:
    """The campaign has filters: a settle of one second instead of a minute before they are read."""
    with launch(tmp_path_factory.mktemp("console-campaigns"), HERALD_SETTLE_SECONDS="1") as running:
        yield running


def segment(suite: Suite):
    from segment import analytics

    errors: list[str] = []
    client = analytics.Client(suite.write_key, host=suite.gateway_url, gzip=True, upload_interval=0.05, max_retries=3,
                              on_error=lambda error, batch: errors.append(str(error)))
    return client, errors


def figure(page, label: str):
    """The value of one figure of a campaign's page."""
    return page.locator(".figures > div", has=page.locator("dt", has_text=label)).locator("dd").first


def reload_until(page, locator, text: str, tries: int = 60) -> None:
    for _ in range(tries):
        page.reload()
        if locator.inner_text() == text:
            return
        page.wait_for_timeout(250)


def test_write_preview_launch_watch_and_pause_a_campaign(browser, suite):
    from playwright.sync_api import expect

    client, errors = segment(suite)
    client.identify("bea-1", {"email": "bea@example.com", "first_name": "Bea"})
    client.track("bea-1", "Signed Up", {"plan": "Team"})  # before the campaign exists: the preview's event
    client.flush()
    assert not errors, errors

    page = browsers.new_page(browser, suite)
    page.goto("/campaigns")
    expect(page).to_have_url(f"{suite.console_url}/login?next=/campaigns")
    page.get_by_label("Admin token").fill(suite.admin_token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()

    # the editor: an error first, shown inline by its path and line, the file kept as typed
    page.get_by_role("link", name="+ New campaign").click()
    page.get_by_label("Campaign file (YAML)").fill(BROKEN)
    page.get_by_role("button", name="Save and go live").click()
    problems = page.locator("#source-errors")
    expect(problems).to_contain_text("line 7 filters.any_of[0].all_of[0].op: unknown operator 'gtt'")
    expect(page.get_by_label("Campaign file (YAML)")).to_have_attribute("aria-invalid", "true")
    assert page.get_by_label("Campaign file (YAML)").input_value() == BROKEN
    browsers.screenshot(page, "campaign-editor-refused")
    page.get_by_label("Campaign file (YAML)").fill(FIXED)

    # the preview for a user, after their latest trigger event as herald recorded it
    page.get_by_label("User id").fill("bea-1")
    page.get_by_role("button", name="Preview the message").click()
    preview = page.locator("#preview")
    expect(preview.locator(".subject")).to_have_text("Welcome, Bea")
    expect(preview).to_contain_text("your Team plan is ready.")
    expect(preview).to_contain_text("bea@example.com")
    browsers.screenshot(page, "campaign-editor")

    page.get_by_role("button", name="Save and go live").click()
    expect(page.get_by_role("heading", name="Welcome mail")).to_be_visible()
    expect(page.locator("h1 .badge")).to_have_text("live")
    assert suite.herald_json("campaigns", "show", "Welcome mail")["source_yaml"] == FIXED  # what the browser saved

    # its send and conversion appear on its page
    client.track("bea-1", "Signed Up", {"plan": "Pro"})
    client.flush()
    reload_until(page, figure(page, "Sent"), "1")
    expect(figure(page, "Sent")).to_have_text("1")
    client.track("bea-1", "Activated", {})
    client.flush()
    reload_until(page, figure(page, "Conversion (Activated)"), "100.0%")
    expect(figure(page, "Conversion (Activated)")).to_have_text("100.0%")
    expect(page.locator("figure.chart canvas")).to_be_visible()  # Chart.js drew the per-day table
    expect(page.locator("section", has_text="Latest sends").get_by_role("link", name="bea-1")).to_be_visible()
    browsers.screenshot(page, "campaign")

    # pause, behind its confirmation page
    page.get_by_role("link", name="Pause…").click()
    expect(page.get_by_role("heading", name="Pause Welcome mail?")).to_be_visible()
    page.get_by_role("button", name="Pause Welcome mail").click()
    expect(page.locator("h1 .badge")).to_have_text("paused")
    assert suite.herald_json("campaigns", "show", "Welcome mail")["status"] == "paused"

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Campaigns").click()
    row = page.locator("tr", has=page.get_by_role("link", name="Welcome mail"))
    expect(row).to_contain_text("paused")
    expect(row).to_contain_text("100.0%")
    browsers.screenshot(page, "campaigns")

    # on a phone the table scrolls inside its box; the page itself does not scroll sideways
    page.set_viewport_size(browsers.PHONE_VIEWPORT)
    page.goto("/campaigns/Welcome%20mail")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    browsers.screenshot(page, "campaign-phone")
    page.context.close()
    client.shutdown()
    assert not errors, errors


EXPERIMENT = """name: Trial AB
trigger:
  event: "[Segment] Trial Started"
holdout: 30%
variants:
  - name: plain
    weight: 50
    message: {channel: email, subject: "Your trial has started", body: "Welcome aboard."}
  - name: emoji
    weight: 50
    message: {channel: email, subject: "Your trial has started 🎉", body: "Welcome aboard 🎉"}
goals:
  - {name: Subscribed, event: "[Segment] Subscribed", within: 7d}
"""


def test_see_a_holdouts_lift_and_promote_a_variant(browser, suite, tmp_path):
    from playwright.sync_api import expect

    path = tmp_path / "trial-ab.yaml"
    path.write_text(EXPERIMENT)
    suite.herald_json("campaigns", "apply", "-f", str(path))
    client, errors = segment(suite)
    users = [f"trial-{n}" for n in range(30)]
    for user in users:
        client.identify(user, {"email": f"{user}@example.com"})
        client.track(user, "Trial Started", {})
    client.flush()
    for _ in range(120):
        stats = suite.herald_json("campaigns", "stats", "Trial AB")
        if stats["sent"] + stats["held_out"] == len(users):
            break
        time.sleep(0.25)
    assert stats["sent"] + stats["held_out"] == len(users), stats
    for user in users[::3]:
        client.track(user, "Subscribed", {})
    client.flush()

    page = browsers.new_page(browser, suite)
    page.goto("/login?next=/campaigns/Trial%20AB")
    page.get_by_label("Admin token").fill(suite.admin_token)
    page.get_by_role("button", name="Sign in").click()
    lift = page.locator("#lift")
    expect(lift.get_by_role("heading", name="Lift: sent against held out")).to_be_visible()
    expect(lift).to_contain_text("Holdout 30%")
    for _ in range(60):  # the conversions arrive
        stats = suite.herald_json("campaigns", "stats", "Trial AB")
        if sum(g["treatment"]["conversions"] + g["control"]["conversions"] for g in stats["goals"]) == len(users[::3]):
            break
        time.sleep(0.25)
    page.reload()
    [goal] = stats["goals"]
    row = page.locator("#lift tbody tr").first
    expect(row).to_contain_text(f"{goal['treatment']['conversions']} / {stats['sent']}")
    expect(row).to_contain_text(f"{goal['control']['conversions']} / {stats['held_out']}")
    expect(row).to_contain_text("not enough data")
    variants = page.locator("#variants")
    expect(variants.get_by_role("link", name="Promote…")).to_have_count(2)
    browsers.screenshot(page, "campaign-experiment")

    variants.locator("tr", has_text="emoji").get_by_role("link", name="Promote…").click()
    expect(page.get_by_role("heading", name="Promote emoji?")).to_be_visible()
    page.get_by_role("button", name="Promote emoji").click()
    expect(page.locator(".notice")).to_contain_text("variant emoji promoted; version 2, live")
    shown = suite.herald_json("campaigns", "show", "Trial AB")
    assert shown["version"] == 2 and "variants" not in shown["source_yaml"] and "🎉" in shown["source_yaml"]
    page.context.close()
    client.shutdown()
    assert not errors, errors


SETTINGS = """frequency_caps:
  - {channel: any, max: 3, per: 1d}
  - {channel: sms, max: 1, per: calendar_day}
quiet_hours: {start: "21:00", end: "08:00", fallback_timezone: America/New_York}
global_control: 5%
"""


def test_apply_workspace_settings_with_an_error_first(browser, suite):
    from playwright.sync_api import expect

    page = browsers.new_page(browser, suite)
    browsers.sign_in(page, suite)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Settings", exact=True)).to_be_visible()
    editor = page.get_by_label("Settings file (YAML)")
    editor.fill(SETTINGS.replace("max: 3", "max: -1"))
    page.get_by_role("button", name="Apply the settings").click()
    expect(page.locator("#source-errors")).to_contain_text("line 2 frequency_caps[0].max")
    assert editor.input_value() == SETTINGS.replace("max: 3", "max: -1")  # what was typed, kept
    editor.fill(SETTINGS)
    page.get_by_role("button", name="Apply the settings").click()
    expect(page.locator(".notice")).to_contain_text("Settings saved: 2 frequency cap(s), quiet hours 21:00-08:00")
    expect(page.locator("#caps-heading + .table-wrap tbody tr")).to_have_count(2)
    browsers.screenshot(page, "settings")
    assert suite.herald_json("settings", "show")["source_yaml"] == SETTINGS  # what the browser saved
    page.context.close()
