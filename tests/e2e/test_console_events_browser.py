"""The console in a real browser against the suite as `herald up` starts it: signing in, the Events
page filling after Segment calls (sent with Segment's own Python library), hiding an event,
defining one, opening one; finding a user and their sends; the Sends page. One browser and one
suite for the module; screenshots of each page."""

from __future__ import annotations

import time
import uuid

import pytest
from segment import analytics

from tests.e2e.browser import PHONE_VIEWPORT, new_page, screenshot, sign_in

pytestmark = pytest.mark.e2e


def send_segment_calls(suite, calls: list[tuple[str, str, dict]]) -> None:
    """(user id, event, properties) as an app sends them: Segment's library, batched and gzip'd."""
    errors: list[str] = []
    client = analytics.Client(
        suite.write_key, host=suite.gateway_url, gzip=True, upload_interval=0.05, max_retries=3, timeout=10,
        on_error=lambda error, batch: errors.append(str(error)),
    )
    try:
        for user_id, event, properties in calls:
            client.identify(user_id, {"email": f"{user_id}@example.com", "name": user_id.title()})
            client.track(user_id, event, properties, message_id=uuid.uuid4().hex)
        client.flush()
    finally:
        client.join()
    assert not errors, errors


def reload_until(page, text: str, timeout: float = 30.0) -> None:
    """The Events page fills as ingest records: reload it (as a person would) until `text` shows."""
    deadline = time.monotonic() + timeout
    while text not in page.content():
        assert time.monotonic() < deadline, f"{text!r} never appeared on {page.url}"
        time.sleep(0.3)
        page.reload()


def test_a_wrong_token_is_refused_and_the_right_one_signs_in(browser, suite):
    page = new_page(browser, suite)
    page.goto("/events")
    assert "/login" in page.url  # no session: the sign-in page
    screenshot(page, "login")
    sign_in(page, suite, token="not-the-token")
    alert = page.get_by_role("alert")
    assert "That is not the admin token" in alert.inner_text()
    assert page.get_by_label("Admin token").get_attribute("aria-invalid") == "true"
    screenshot(page, "login-refused", full_page=False)
    sign_in(page, suite)
    page.wait_for_url("**/events")
    assert page.get_by_role("heading", name="Events").is_visible()
    page.context.close()


def test_the_events_page_fills_after_segment_calls_and_hides_defines_and_opens_events(console_page, suite):
    page = console_page
    send_segment_calls(suite, [
        ("ada", "Added item to cart", {"price": 50, "currency": "EUR"}),
        ("bob", "Added item to cart", {"price": 20}),
        ("bob", "Signed Up", {"plan": "pro"}),
        ("cy", "Order Completed", {"total": 70, "items": 2}),
    ])
    page.goto("/events")
    reload_until(page, "[Segment] Order Completed")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="[Segment] Added item to cart"))
    assert row.get_by_role("cell").nth(0).inner_text() == "2"  # two property sets: definitions
    assert row.get_by_role("cell").nth(1).inner_text() == "2"  # times seen
    assert row.get_by_text("Yes").is_visible()
    screenshot(page, "events")

    # Hide a row (htmx swaps just that row: it stays in view, greyed, with Unhide).
    signed_up = page.get_by_role("row").filter(has=page.get_by_role("link", name="[Segment] Signed Up"))
    signed_up.get_by_role("button", name="Hide [Segment] Signed Up").click()
    page.get_by_role("button", name="Unhide [Segment] Signed Up").wait_for()
    page.reload()
    assert page.get_by_role("link", name="[Segment] Signed Up").count() == 0
    page.get_by_role("link", name="Show hidden events").click()
    page.get_by_role("button", name="Unhide [Segment] Signed Up").wait_for()
    screenshot(page, "events-hidden", full_page=False)

    # + Add new event: a bad name is refused naming the field and keeping the description.
    page.goto("/events")
    page.get_by_text("+ Add new event").click()
    page.get_by_label("Event name").fill("[Segment] Trial Ended")
    page.get_by_label("Description").fill("the 14-day trial ran out")
    page.get_by_role("button", name="Define event").click()
    assert "without the [Segment] prefix" in page.locator(".field-error").inner_text()
    assert page.get_by_label("Description").input_value() == "the 14-day trial ran out"
    screenshot(page, "events-define-refused", full_page=False)
    page.get_by_label("Event name").fill("Trial Ended")
    page.get_by_role("button", name="Define event").click()
    page.get_by_role("status").filter(has_text="Defined").wait_for()
    trial = page.get_by_role("row").filter(has=page.get_by_role("link", name="[Segment] Trial Ended"))
    assert "defined, not seen yet" in trial.inner_text().lower() and "the 14-day trial ran out" in trial.inner_text()

    # Open an event: its property sets with their counts.
    page.get_by_role("link", name="[Segment] Added item to cart").click()
    page.get_by_role("heading", name="[Segment] Added item to cart").wait_for()
    sets = page.get_by_role("row").filter(has=page.locator("code"))
    assert sets.count() == 2
    page.locator("figure.chart.drawn canvas").wait_for()  # Chart.js drew the 30 days
    assert page.get_by_role("link", name="ada").count() == 1  # its latest events, by user
    screenshot(page, "event")


WELCOME = """
name: Welcome email
trigger:
  event: "[Segment] Account Created"
message:
  channel: email
  subject: "Welcome, {{ name | default: 'friend' }}"
  body: "Your {{ event.plan }} plan is ready."
"""


def test_a_user_is_found_by_email_with_their_events_sends_and_subscription(console_page, suite, tmp_path):
    page = console_page
    campaign_file = tmp_path / "welcome.yaml"
    campaign_file.write_text(WELCOME)
    applied = suite.herald("campaigns", "apply", "-f", str(campaign_file))
    assert applied.returncode == 0, applied.stderr
    send_segment_calls(suite, [("dana", "Account Created", {"plan": "pro"}), ("dana", "Viewed Pricing", {"tier": 2})])

    page.goto("/users")
    page.get_by_label("User id, anonymous id or email").fill("DANA@example.com")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="dana").click()
    page.get_by_role("heading", name="dana", exact=True).wait_for()
    reload_until(page, "status-sent")  # delivery sent it (to the local outbox: no SMTP set)
    assert "dana@example.com" in page.get_by_role("region", name="Attributes").inner_text()
    assert page.get_by_role("link", name="[Segment] Viewed Pricing").count() == 1
    screenshot(page, "user")

    page.get_by_role("button", name="Unsubscribe").click()
    page.get_by_role("status").filter(has_text="Unsubscribed from every campaign").wait_for()
    page.get_by_role("button", name="Resubscribe").click()
    page.get_by_role("status").filter(has_text="Resubscribed to every campaign").wait_for()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sends").click()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="dana"))
    assert "Welcome email" in row.inner_text() and "sent" in row.inner_text().lower()
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    page.get_by_text("No sends match these filters.").wait_for()
    page.get_by_label("Status").select_option("")
    page.get_by_role("button", name="Filter").click()
    screenshot(page, "sends")

    page.goto("/users?q=nobody-at-all")
    page.get_by_text("No user has the user id").wait_for()
    page.goto("/users/nobody-at-all")
    assert "Not found: user 'nobody-at-all'" in page.get_by_role("alert").inner_text()
    screenshot(page, "user-not-found", full_page=False)


def test_the_events_page_reads_on_a_phone(browser, suite):
    page = new_page(browser, suite, viewport=PHONE_VIEWPORT)
    sign_in(page, suite)
    for path, name in (("/events", "events-phone"), ("/users/dana", "user-phone")):
        page.goto(path)
        page.get_by_role("heading").first.wait_for()
        # Nothing sticks out sideways but the tables, which scroll inside their own boxes.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_VIEWPORT["width"], path
        screenshot(page, name, full_page=False)
    page.context.close()
