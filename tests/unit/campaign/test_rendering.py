"""Rendering messages with Liquid: attributes, user_id and event.*, lenient about missing values."""

from __future__ import annotations

from pathlib import Path

import pytest
from herald_services.campaign.domain import RenderedMessage, render_message
from herald_services.campaign.spec import parse_campaign
from herald_services.campaign.templates import (
    RenderFailed,
    TemplateInvalid,
    compile_template,
    message_context,
)

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
ADA = {"first_name": "Ada", "email": "ada@example.com", "plan": "Business"}


def example(name):
    return parse_campaign((EXAMPLES / name).read_text())


def context(attributes=None, event_name="[Segment] Added item to cart", **properties):
    return message_context(user_id="u1", attributes=ADA if attributes is None else attributes,
                           event_name=event_name, event_properties=properties)


def test_the_brief_email_renders_with_attributes_and_event_properties():
    rendered = render_message(example("coupon-campaign-europe.yaml").message, context(price=50, locale="EU"))
    assert rendered == RenderedMessage(
        "email",
        subject="Ada, 10% off what is in your cart",
        body="Hi Ada,\nthe item you added costs 50. Use coupon EU10 today.\n",
    )


def test_missing_values_render_empty_and_default_fills_them():
    rendered = render_message(example("coupon-campaign-europe.yaml").message, context(attributes={}))
    assert rendered.subject == "Hello, 10% off what is in your cart"
    assert rendered.body == "Hi there,\nthe item you added costs . Use coupon EU10 today.\n"


def test_default_also_replaces_an_empty_value():
    rendered = render_message(example("cart-reminder-sms.yaml").message,
                              context(attributes={"first_name": ""}, name="red shoes", cart_id="c1"))
    assert rendered.body == "Hi, your cart is waiting: red shoes"


def test_voice_renders_its_text():
    rendered = render_message(example("payment-failed-voice.yaml").message,
                              context(event_name="[Segment] Payment Failed", amount=120))
    assert rendered == RenderedMessage("voice", text="Hello Ada. Your payment of 120 dollars did not go through.")


def test_push_renders_title_body_and_data():
    rendered = render_message(example("welcome-push.yaml").message, context(attributes={}, plan="Startup"))
    assert (rendered.channel, rendered.title, rendered.body, rendered.data) == (
        "push", "Welcome, friend", "Your Startup plan is ready.", {},
    )
    spec = parse_campaign(
        "name: P\ntrigger: {event: E}\nmessage:\n  channel: push\n  title: t\n  body: b\n"
        "  data: { screen: cart, badge: 3, cart: '{{ event.cart_id }}' }\n"
    )
    assert render_message(spec.message, context(cart_id="c9")).data == {"screen": "cart", "badge": "3", "cart": "c9"}


def test_the_webhook_body_renders_value_by_value_into_a_json_object():
    rendered = render_message(example("churn-webhook.yaml").message,
                              context(event_name="[Segment] Subscription Cancelled", reason="too expensive"))
    assert rendered.url == "https://crm.internal.example/hooks/churn"
    assert rendered.data == {"user": "u1", "email": "ada@example.com", "reason": "too expensive"}


def test_a_webhook_body_keeps_numbers_booleans_nulls_and_nesting():
    spec = parse_campaign(
        "name: W\ntrigger: {event: E}\nmessage:\n  channel: webhook\n  url: 'https://h.test/u/{{ user_id }}'\n"
        "  body: { n: 1, on: true, none: null, tags: [a, '{{ plan }}'], who: { email: '{{ email }}', missing: '{{ nope }}' } }\n"
    )
    rendered = render_message(spec.message, context())
    assert rendered.url == "https://h.test/u/u1"
    assert rendered.data == {"n": 1, "on": True, "none": None, "tags": ["a", "Business"],
                             "who": {"email": "ada@example.com", "missing": ""}}


def test_html_escapes_what_it_interpolates_and_text_parts_do_not():
    spec = parse_campaign(
        "name: H\ntrigger: {event: E}\nmessage:\n  channel: email\n  subject: 'Hi {{ first_name }}'\n"
        "  body: 'Hi {{ first_name }}'\n  html: '<p>Hi {{ first_name }}</p>{{ event.snippet | safe }}'\n"
    )
    rendered = render_message(spec.message, context(attributes={"first_name": "<b>Ada</b> & co"}, snippet="<hr>"))
    assert rendered.subject == "Hi <b>Ada</b> & co"
    assert rendered.body == "Hi <b>Ada</b> & co"
    assert rendered.html == "<p>Hi &lt;b&gt;Ada&lt;/b&gt; &amp; co</p><hr>"


def test_the_context_has_attributes_user_id_event_and_the_events_own_name():
    assert message_context(user_id="u1", attributes={"plan": "Pro", "user_id": "spoof", "event": "x"},
                           event_name="[Segment] Signed Up", event_properties={"name": "kept", "plan": "Pro"}) == {
        "plan": "Pro", "user_id": "u1", "event": {"name": "kept", "plan": "Pro"},
        "event_name": "[Segment] Signed Up", "event_time": "",
    }


def test_property_names_with_spaces_and_nested_values_render():
    template = compile_template("{{ event['Coupon used'] }} {{ address.city }} {{ event.items[0].sku }}")
    assert template.render(context(attributes={"address": {"city": "Berlin"}}, **{"Coupon used": True, "items": [{"sku": "A1"}]})) == \
        "true Berlin A1"


def test_a_template_that_fails_at_render_time_raises_render_failed():
    with pytest.raises(RenderFailed, match="divided_by"):
        compile_template("{{ event.total | divided_by: 0 }}").render(context(total=10))


def test_runaway_loops_are_stopped():
    with pytest.raises(RenderFailed, match="limit"):
        compile_template("{% for i in (1..100000) %}x{% endfor %}").render({})


def test_compile_refuses_unknown_filters_and_bad_syntax():
    with pytest.raises(TemplateInvalid, match="unknown filters 'nope', 'zap'"):
        compile_template("{{ a | nope }}{{ b | zap }}")
    with pytest.raises(TemplateInvalid, match="does not parse"):
        compile_template("{% for %}")


def test_templates_are_equal_by_their_text():
    assert compile_template("{{ a }}") == compile_template("{{ a }}")
    assert compile_template("{{ a }}") != compile_template("{{ a }}", escape_html=True)
