"""Campaign files: every example parses unchanged; a bad file is refused whole, every error by its path."""

from __future__ import annotations

import re
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from herald_common.errors import InvalidArgument
from herald_services.campaign.domain import (
    DeliveryWindow,
    EmailMessage,
    PushMessage,
    Reentry,
    SmsMessage,
    TemplateArray,
    TemplateObject,
    VoiceMessage,
    WebhookMessage,
)
from herald_services.campaign.filters import Condition
from herald_services.campaign.spec import CampaignFileInvalid, parse_campaign
from hypothesis import given, settings
from hypothesis import strategies as st

EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "examples").glob("*.yaml"))

MINIMAL = """
name: Minimal
trigger: { event: "[Segment] Signed Up" }
message: { channel: sms, body: "Hi" }
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(CampaignFileInvalid) as refused:
        parse_campaign(textwrap.dedent(text))
    return [str(error) for error in refused.value.errors]


def with_minimal(extra: str) -> str:
    return textwrap.dedent(MINIMAL) + textwrap.dedent(extra)


def test_there_are_examples():
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_every_example_parses_unchanged(path):
    spec = parse_campaign(path.read_text())
    assert spec.name
    assert spec.trigger.event.startswith("[Segment")


def test_the_brief_campaign_reads_as_the_brief_says():
    spec = parse_campaign((EXAMPLES[0].parent / "coupon-campaign-europe.yaml").read_text())
    assert spec.name == "Coupon Campaign - Europe"
    assert spec.trigger.event == "[Segment] Added item to cart"
    [group] = spec.filters.any_of
    assert group.all_of == (Condition("price", "gt", 45, source="event"), Condition("locale", "eq", "EU", source="event"))
    assert spec.delay == timedelta(0)
    assert spec.delivery_window == DeliveryWindow(
        days=("mon", "tue", "wed", "thu", "fri", "sat", "sun"), start=8 * 60, end=21 * 60, fallback_timezone="Europe/Berlin",
    )
    assert isinstance(spec.message, EmailMessage) and spec.message.html is None
    [goal] = spec.goals
    assert (goal.name, goal.primary, goal.event, goal.within) == ("Purchased with coupon", True, "[Segment] Purchase made", timedelta(days=2))
    assert goal.where == (Condition("Coupon used", "eq", True),)
    assert spec.reentry == Reentry("every_time")
    assert not spec.instant  # it has filters, so it settles first


def test_the_examples_read_their_channels_and_rules():
    by_name = {path.stem: parse_campaign(path.read_text()) for path in EXAMPLES}
    cart = by_name["cart-reminder-sms"]
    assert isinstance(cart.message, SmsMessage)
    assert cart.delay == timedelta(hours=4)
    assert cart.reentry == Reentry("once_per", timedelta(days=1))
    assert cart.cancel_if[0].event == "[Segment] Purchase made" and cart.cancel_if[0].match_trigger == ("cart_id",)
    assert cart.goals[0].match_trigger == ("cart_id",)
    assert isinstance(by_name["payment-failed-voice"].message, VoiceMessage)
    assert by_name["payment-failed-voice"].filters.any_of[1].all_of[0].value == ("Business", "Enterprise")
    welcome = by_name["welcome-push"]
    assert isinstance(welcome.message, PushMessage) and welcome.instant and welcome.delivery_window is None
    churn = by_name["churn-webhook"].message
    assert isinstance(churn, WebhookMessage)
    assert [key for key, _ in churn.body.items] == ["user", "email", "reason"]


def test_a_minimal_campaign_takes_the_defaults():
    spec = parse_campaign(MINIMAL)
    assert (spec.filters, spec.delay, spec.delivery_window, spec.goals, spec.cancel_if) == (None, timedelta(0), None, (), ())
    assert spec.reentry == Reentry("every_time")
    assert spec.instant
    assert spec.channel == "sms"


def test_the_same_file_parses_to_equal_specs():
    text = EXAMPLES[0].read_text()
    assert parse_campaign(text) == parse_campaign(text)


BROKEN = """
name: Broken
trigger:
  event: "[Segment] Added item to cart"
  evnt: typo
filters:
  any_of:
    - all_of:
        - { source: event, property: price, op: gt, value: 45 }
        - { source: event, property: price, op: gtt, value: 45 }
        - { source: visitor, property: plan, op: in, value: Business }
        - { source: user, property: age, op: gte }
        - { source: user, property: email, op: exists, value: "yes" }
    - all_of: []
delay: 4x
delivery_window:
  days: [mon, funday, mon]
  start: "25:00"
  end: 18:00
  fallback_timezone: Mars/Base
message:
  channel: email
  subjct: "Hi"
  body: "Hello {{ first_name "
  html: "<p>{{ x | nosuch }}</p>"
  text: "a voice field"
goals:
  - name: A
    primary: true
    event: "[Segment] Purchase made"
    within: 2d
  - name: A
    primary: true
    event: "[Segment] Purchase made"
    where:
      - { source: event, property: x, op: eq, value: 1 }
  - name: C
    primary: "yes"
    event: E
    within: 0m
    match_trigger: cart_id
cancel_if:
  - event: "[Segment] Purchase made"
    match_trigger: [cart_id, ""]
    where:
      - { property: when, op: before, value: yesterday }
reentry: twice
extra: 1
"""


def test_a_broken_file_is_refused_with_every_error_by_its_path():
    assert errors_of(BROKEN) == [
        "extra: unknown field",
        "trigger.evnt: unknown field",
        "filters.any_of[0].all_of[1].op: unknown operator 'gtt' (expected one of eq, neq, gt, gte, lt, lte, "
        "contains, not_contains, starts_with, in, not_in, exists, not_exists, before, after)",
        "filters.any_of[0].all_of[2].source: unknown source 'visitor' (expected event or user)",
        "filters.any_of[0].all_of[2].value: 'in' needs a list of values, like [a, b], got text",
        "filters.any_of[0].all_of[3].value: missing required field ('gte' needs a value)",
        "filters.any_of[0].all_of[4].value: 'exists' takes no value",
        "filters.any_of[1].all_of: must not be empty",
        "delay: '4x' is not a duration (like 30m, 4h, 2d)",
        "delivery_window.days[1]: unknown day 'funday' (expected one of mon, tue, wed, thu, fri, sat, sun)",
        "delivery_window.days[2]: 'mon' is listed twice",
        "delivery_window.start: '25:00' is not a time of day (HH:MM, like \"09:00\")",
        "delivery_window.fallback_timezone: 'Mars/Base' is not an IANA time zone",
        "message.subjct: unknown field",
        "message.text: unknown field for an email message (it has subject, body, html)",
        "message.subject: missing required field",
        "message.body: template does not parse: expected '}}', found end of file",
        "message.html: unknown filter 'nosuch'",
        "goals[1].within: missing required field",
        "goals[1].name: 'A' is also the name of goals[0]",
        "goals[1].primary: more than one primary goal (goals[0] is primary too)",
        "goals[1].where[0].source: unknown field (where reads this event's own properties)",
        "goals[2].primary: expected true or false, got text",
        "goals[2].match_trigger: expected a list of property names, like [cart_id], got text",
        "goals[2].within: must be longer than 0",
        "cancel_if[0].where[0].value: 'yesterday' is not a time (an ISO date like 2026-01-31, an ISO time "
        "like 2026-01-31T09:00:00Z, now, or relative like -7d, +2h)",
        "cancel_if[0].match_trigger[1]: must not be empty",
        "reentry: expected every_time, once or {once_per: <duration>}, got 'twice'",
    ]


def test_the_refusal_is_an_invalid_argument_carrying_field_errors():
    with pytest.raises(InvalidArgument) as refused:
        parse_campaign(with_minimal("delay: soon\n"))
    assert [(error.field, error.reason) for error in refused.value.errors] == [
        ("delay", "'soon' is not a duration (like 30m, 4h, 2d)"),
    ]
    assert str(refused.value) == "delay: 'soon' is not a duration (like 30m, 4h, 2d)"


@pytest.mark.parametrize(("text", "expected"), [
    ("", ["(file): expected a mapping, got nothing"]),
    ("- a\n- b\n", ["(file): expected a mapping, got a list"]),
    ("name: [\n", ["(file): not valid YAML: expected the node content, but found '<stream end>' (line 2, column 1)"]),
    ("name: a\nname: b\n", ["(file): not valid YAML: the key 'name' appears twice in one mapping (line 2, column 1)"]),
    ("name: x\n", ["trigger: missing required field", "message: missing required field (or variants, for an A/B test)"]),
    ("name: ''\ntrigger: {event: 3}\nmessage: {channel: sms, body: hi}\n", [
        "name: must not be empty", "trigger.event: expected text, got a number",
    ]),
    ("name: x\ntrigger: E\nmessage: hello\n", [
        "trigger: expected a mapping, got text", "message: expected a mapping, got text",
    ]),
])
def test_file_level_and_required_field_errors(text, expected):
    assert errors_of(text) == expected


@pytest.mark.parametrize(("extra", "expected"), [
    ("filters: {}\n", ["filters.any_of: missing required field"]),
    ("filters: {any_of: []}\n", ["filters.any_of: must not be empty (leave filters out to match everyone)"]),
    ("filters: {any_of: {all_of: []}}\n", ["filters.any_of: expected a list of groups ({all_of: [...]}), got a mapping"]),
    ("filters: {any_of: [{all_of: [{source: event, property: p, op: eq, value: [a, b]}]}]}\n", [
        "filters.any_of[0].all_of[0].value: expected text, a number or a boolean, got a list (use in for a list)",
    ]),
    ("filters: {any_of: [{all_of: [{source: event, property: p, op: in, value: []}]}]}\n", [
        "filters.any_of[0].all_of[0].value: 'in' needs at least one value",
    ]),
    ("filters: {any_of: [{all_of: [{source: event, property: p, op: not_in, value: [a, [b]]}]}]}\n", [
        "filters.any_of[0].all_of[0].value[1]: expected text, a number or a boolean, got a list",
    ]),
    ("filters: {any_of: [{all_of: [{source: event, property: p, op: gt, value: true}]}]}\n", [
        "filters.any_of[0].all_of[0].value: 'gt' compares numbers or text, not booleans",
    ]),
    ("filters: {any_of: [{all_of: [{source: event, property: p, op: eq, value: null}]}]}\n", [
        "filters.any_of[0].all_of[0].value: missing required field ('eq' needs a value)",
    ]),
    ("filters: {any_of: [{all_of: [{property: p, op: eq, value: 1}]}]}\n", [
        "filters.any_of[0].all_of[0].source: missing required field",
    ]),
    ("filters: {any_of: [{all_of: [{source: event, property: '', op: after, value: '7d'}]}]}\n", [
        "filters.any_of[0].all_of[0].property: must not be empty",
        "filters.any_of[0].all_of[0].value: '7d' is not a time (an ISO date like 2026-01-31, an ISO time like "
        "2026-01-31T09:00:00Z, now, or relative like -7d, +2h)",
    ]),
    ("delay: 90\n", ["delay: 90 is not a duration (like 30m, 4h, 2d)"]),
    ("delay: 30m1h\n", ["delay: '30m1h' is not a duration (like 30m, 4h, 2d)"]),
    ("delay: 5000d\n", ["delay: '5000d' is longer than 3650d"]),
    ("delivery_window: {days: [], start: '10:00', end: '10:00'}\n", [
        "delivery_window.days: must list at least one day",
        "delivery_window.end: the same as start: the window would be empty (24 hours is 00:00 to 24:00)",
    ]),
    ("delivery_window: {days: [mon], start: '24:00', end: '9:60', fallback_timezone: 3}\n", [
        "delivery_window.start: '24:00' is not a time of day (HH:MM, like \"09:00\")",
        "delivery_window.end: '9:60' is not a time of day (HH:MM, like \"09:00\")",
        "delivery_window.fallback_timezone: expected an IANA time zone name as text, got a number",
    ]),
    ("delivery_window: {days: [mon]}\n", [
        "delivery_window.start: missing required field", "delivery_window.end: missing required field",
    ]),
    ("goals: [{name: G, event: E, within: 1x}]\n", ["goals[0].within: '1x' is not a duration (like 30m, 4h, 2d)"]),
    ("goals: [{name: G, event: E}]\n", ["goals[0].within: missing required field"]),
    ("goals: {name: G}\n", ["goals: expected a list of goals, got a mapping"]),
    ("cancel_if: [{where: [{property: p, op: exists}]}]\n", ["cancel_if[0].event: missing required field"]),
    ("reentry: {once_per: 0m, every: 1d}\n", ["reentry.every: unknown field", "reentry.once_per: must be longer than 0"]),
    ("reentry: 3\n", ["reentry: expected every_time, once or {once_per: <duration>}, got a number"]),
])
def test_section_errors(extra, expected):
    assert errors_of(with_minimal(extra)) == expected


@pytest.mark.parametrize(("message", "expected"), [
    ("{channel: fax, subject: s, foo: 1}", [
        "message.channel: unknown channel 'fax' (expected one of email, sms, voice, push, webhook)",
        "message.foo: unknown field",
    ]),
    ("{body: hi}", ["message.channel: missing required field"]),
    ("{channel: sms, subject: s, body: hi}", ["message.subject: unknown field for an sms message (it has body)"]),
    ("{channel: sms, body: ''}", ["message.body: must not be empty"]),
    ("{channel: voice, text: 42}", ["message.text: expected text, got a number"]),
    ("{channel: push, title: '{% if x %}', body: b}", ["message.title: template does not parse: expected tag endif, found end of expression"]),
    ("{channel: push, title: t, body: b, data: [1]}", ["message.data: expected a mapping of keys to text, got a list"]),
    ("{channel: push, title: t, body: b, data: {screen: '{{ x | nope }}'}}", ["message.data.screen: unknown filter 'nope'"]),
    ("{channel: email, subject: s, body: '{% include \"x\" %}'}", ["message.body: template does not parse: unexpected tag 'include'"]),
    ("{channel: webhook, url: '{{ hook_url }}', body: {a: b}}", [
        "message.url: must start with http:// or https:// and a host written out (templates may follow the host)",
    ]),
    ("{channel: webhook, url: 'https://{{ host }}/x', body: {a: b}}", [
        "message.url: must start with http:// or https:// and a host written out (templates may follow the host)",
    ]),
    ("{channel: webhook, url: 'https://h.test/x', body: [a]}", [
        "message.body: expected a mapping (the JSON object to send), got a list",
    ]),
    ("{channel: webhook, url: 'https://h.test/x', body: {'user name': '{{ x', ok: [1, '{{ y }']}}", [
        "message.body['user name']: template does not parse: expected '}}', found end of file",
        "message.body.ok[1]: template does not parse: expected '}}', found end of file",
    ]),
])
def test_message_errors(message, expected):
    text = "name: M\ntrigger: {event: E}\nmessage: " + message + "\n"
    assert errors_of(text) == expected


def test_a_template_error_on_a_later_line_says_which_line():
    text = 'name: M\ntrigger: {event: E}\nmessage:\n  channel: sms\n  body: |\n    Hello\n    {{ first_name\n'
    assert errors_of(text) == ["message.body: template does not parse: expected '}}', found end of file (line 2)"]


def test_without_a_primary_goal_the_first_goal_is_primary():
    spec = parse_campaign(with_minimal("goals:\n  - {name: A, event: E, within: 1d}\n  - {name: B, event: F, within: 2h}\n"))
    assert [(goal.name, goal.primary) for goal in spec.goals] == [("A", True), ("B", False)]
    assert spec.primary_goal.name == "A"


def test_a_later_goal_may_be_the_primary_one():
    spec = parse_campaign(with_minimal("goals:\n  - {name: A, event: E, within: 1d}\n  - {name: B, event: F, within: 90m, primary: true}\n"))
    assert [(goal.name, goal.primary, goal.within) for goal in spec.goals] == [
        ("A", False, timedelta(days=1)), ("B", True, timedelta(minutes=90)),
    ]


def test_yaml_reads_core_types_only():
    spec = parse_campaign(with_minimal(
        "filters:\n  any_of:\n    - all_of:\n"
        "        - { source: user, property: country, op: eq, value: NO }\n"
        "        - { source: user, property: opt_in, op: eq, value: yes }\n"
        "        - { source: user, property: signup, op: before, value: 2026-01-31 }\n"
        "        - { source: user, property: zip, op: eq, value: 012 }\n"
        "delivery_window: { days: [Mon, FRI], start: 9:00, end: 10:30 }\n"
    ))
    [group] = spec.filters.any_of
    assert [condition.value for condition in group.all_of] == ["NO", "yes", "2026-01-31", 12]
    assert spec.delivery_window == DeliveryWindow(days=("mon", "fri"), start=9 * 60, end=10 * 60 + 30, fallback_timezone=None)


def test_a_window_may_end_at_midnight_or_cross_it():
    spec = parse_campaign(with_minimal("delivery_window: { days: [fri], start: '22:00', end: '06:00' }\n"))
    assert spec.delivery_window.crosses_midnight
    spec = parse_campaign(with_minimal("delivery_window: { days: [fri], start: '00:00', end: '24:00' }\n"))
    assert (spec.delivery_window.start, spec.delivery_window.end) == (0, 24 * 60)


def test_push_data_and_webhook_bodies_keep_their_shape():
    push = parse_campaign(
        "name: P\ntrigger: {event: E}\nmessage:\n  channel: push\n  title: t\n  body: b\n"
        "  data: { screen: cart, badge: 3, silent: false, cart: '{{ event.cart_id }}' }\n"
    ).message
    assert [(key, template.source) for key, template in push.data] == [
        ("screen", "cart"), ("badge", "3"), ("silent", "false"), ("cart", "{{ event.cart_id }}"),
    ]
    hook = parse_campaign(
        "name: W\ntrigger: {event: E}\nmessage:\n  channel: webhook\n  url: 'https://h.test/u/{{ user_id }}'\n"
        "  body: { n: 1, on: true, none: null, tags: [a, 2], nested: { who: '{{ email }}' } }\n"
    ).message
    kinds = {key: type(value).__name__ for key, value in hook.body.items}
    assert kinds == {"n": "int", "on": "bool", "none": "NoneType", "tags": "TemplateArray", "nested": "TemplateObject"}
    assert isinstance(dict(hook.body.items)["tags"], TemplateArray)
    assert isinstance(dict(hook.body.items)["nested"], TemplateObject)


def test_an_oversized_file_is_refused():
    assert errors_of("name: x\n" + "#" * 300_000) == ["(file): larger than 256 KB"]


def test_every_yaml_snippet_in_the_docs_parses():
    docs = (Path(__file__).resolve().parents[3] / "docs" / "campaigns.md").read_text()
    snippets = re.findall(r"```yaml\n(.*?)```", docs, re.S)
    assert len(snippets) >= 5
    for snippet in snippets:
        text = snippet if snippet.startswith("name:") else "name: D\ntrigger: {event: E}\n" + snippet
        if "message:" not in text:
            text += "message: {channel: sms, body: hi}\n"
        parse_campaign(text)


junk = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12),
              st.sampled_from(["{{ x", "{% if %}", "eq", "in", "before", "-7d", "25:00", "email", "once_per"])),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)),
    max_leaves=8,
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _replaced(node, path, value):
    if not path:
        return value
    copy = dict(node) if isinstance(node, dict) else list(node)
    copy[path[0]] = _replaced(node[path[0]], path[1:], value)
    return copy


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_damage_to_a_valid_file_is_either_accepted_or_refused_with_field_errors(data):
    path = data.draw(st.sampled_from(EXAMPLES), label="example")
    document = yaml.safe_load(path.read_text())
    where = data.draw(st.sampled_from(list(_paths(document))), label="path")
    damaged = _replaced(document, where, data.draw(junk, label="junk"))
    try:
        parse_campaign(yaml.safe_dump(damaged, allow_unicode=True))
    except CampaignFileInvalid as refused:
        assert refused.errors and all(error.field and error.reason for error in refused.errors)
