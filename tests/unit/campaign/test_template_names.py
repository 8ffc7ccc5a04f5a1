"""What a template's names mean: `event.<property>` is the trigger event's property exactly as
sent, herald's own names (`event_name`, `event_time`, `user_id`) never shadow it, and a file that
reads `event.name` is applied with a warning that the name now means the property."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from herald_services.campaign.spec import check_campaign
from herald_services.campaign.templates import HERALD_NAMES, compile_template, message_context

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
ADDED_AT = datetime(2026, 3, 2, 14, 5, tzinfo=UTC)


def product_added(**properties):
    return message_context(user_id="u1", attributes={"first_name": "Ada"}, event_name="[Segment] Product Added",
                           event_properties=properties, event_time=ADDED_AT)


def test_event_name_is_the_trigger_events_name_property_as_sent():
    template = compile_template("Still thinking about {{ event.name }}?")
    assert template.render(product_added(name="red shoes", price=50)) == "Still thinking about red shoes?"


def test_every_property_is_kept_exactly_as_sent_even_those_named_like_herald_names():
    properties = {"name": "red shoes", "event_name": "sent by the app", "user_id": "prop", "time": "t"}
    assert product_added(**properties)["event"] == properties


def test_the_events_own_name_and_time_are_event_name_and_event_time():
    template = compile_template("{{ event_name }} at {{ event_time }} on {{ event_time | date: '%Y-%m-%d' }}")
    assert template.render(product_added(name="red shoes")) == \
        "[Segment] Product Added at 2026-03-02T14:05:00+00:00 on 2026-03-02"


def test_an_event_without_a_name_property_renders_event_name_empty():
    assert compile_template("[{{ event.name }}]").render(product_added(price=5)) == "[]"


def test_herald_names_win_over_attributes_of_the_same_name():
    context = message_context(user_id="u1", attributes={"plan": "Pro", "user_id": "spoof", "event_name": "x"},
                              event_name="[Segment] Signed Up", event_properties={}, event_time=ADDED_AT)
    assert (context["user_id"], context["event_name"], context["plan"]) == ("u1", "[Segment] Signed Up", "Pro")
    assert set(HERALD_NAMES) == {"user_id", "event", "event_name", "event_time"}


CART_SMS = """
name: Cart
trigger: { event: "[Segment] Product Added" }
message:
  channel: email
  subject: "{{ event.name | upcase }}"
  body: |
    {% if event.name %}Still thinking about {{ event.name }}?{% endif %}
  html: "<p>{{ event['name'] }} {{ event_name }}</p>"
"""


def test_a_file_reading_event_name_applies_with_a_warning_by_path():
    checked = check_campaign(CART_SMS)
    assert checked.spec.name == "Cart"
    assert [w.field for w in checked.warnings] == ["message.subject", "message.body"]
    assert "event_name" in checked.warnings[0].reason and "'name' property" in checked.warnings[0].reason


def test_event_name_inside_a_webhook_body_is_warned_by_its_path():
    checked = check_campaign("""
name: Hook
trigger: { event: "[Segment] Signed Up" }
message:
  channel: webhook
  url: "https://example.com/h"
  body: { meta: { what: "{{ event.name }}" }, who: "{{ user_id }}" }
""")
    assert [w.field for w in checked.warnings] == ["message.body.meta.what"]


def test_the_examples_apply_unchanged_and_only_the_cart_sms_reads_event_name():
    warned = {path.name: [w.field for w in check_campaign(path.read_text()).warnings] for path in EXAMPLES.glob("*.yaml")}
    assert warned == {
        "cart-reminder-sms.yaml": ["message.body"],
        "churn-webhook.yaml": [],
        "coupon-campaign-europe.yaml": [],
        "payment-failed-voice.yaml": [],
        "welcome-push.yaml": [],
    }
