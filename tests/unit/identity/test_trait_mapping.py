"""The Segment trait -> attribute mapping and merge rules, without a server or database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from herald_services.identity.domain import apply_attributes, map_traits, merge_attributes, split_name
from hypothesis import given
from hypothesis import strategies as st

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def mapped(traits, context=None, region="US"):
    return map_traits(traits, context or {}, default_region=region)


def test_name_splits_into_first_word_and_rest():
    assert mapped({"name": "Ada King Lovelace"}).attributes == {"first_name": "Ada", "last_name": "King Lovelace"}
    assert mapped({"name": "Cher"}).attributes == {"first_name": "Cher"}


def test_explicit_first_and_last_name_win_over_name():
    result = mapped({"name": "Ada Lovelace", "firstName": "Augusta", "last_name": "King"})
    assert result.attributes == {"first_name": "Augusta", "last_name": "King"}


def test_phone_becomes_e164_with_the_default_region():
    assert mapped({"phone": "(415) 555-2671"}).attributes == {"phone_number": "+14155552671"}
    assert mapped({"phone": "030 1234567"}, region="DE").attributes == {"phone_number": "+49301234567"}
    assert mapped({"phone": "+44 20 7946 0958"}).attributes == {"phone_number": "+442079460958"}


def test_unparseable_phone_is_refused_alone():
    result = mapped({"phone": "call me maybe", "plan": "Pro"})
    assert result.attributes == {"plan": "Pro"}
    assert [e.field for e in result.rejected] == ["traits.phone"]


def test_malformed_email_is_refused_alone_and_good_one_normalised():
    bad = mapped({"email": "not-an-email", "plan": "Pro"})
    assert bad.attributes == {"plan": "Pro"} and [e.field for e in bad.rejected] == ["traits.email"]
    assert mapped({"email": "ada@Example.COM"}).attributes == {"email": "ada@example.com"}


def test_timezone_from_traits_else_context_and_only_iana_names():
    assert mapped({"timezone": "Europe/Berlin"}, {"timezone": "Asia/Tokyo"}).attributes == {"timezone": "Europe/Berlin"}
    assert mapped({}, {"timezone": "Asia/Tokyo"}).attributes == {"timezone": "Asia/Tokyo"}
    refused = mapped({"timezone": "Central Time"})
    assert refused.attributes == {} and refused.rejected[0].field == "traits.timezone"
    assert "IANA" in refused.rejected[0].reason
    assert mapped({}, {"timezone": "GMT+25"}).rejected[0].field == "context.timezone"


def test_device_tokens_map_to_apns_and_fcm():
    ios = mapped({}, {"device": {"token": "t1", "type": "ios"}})
    android = mapped({}, {"device": {"token": "t2", "type": "Android"}})
    assert [(d.kind, d.token) for d in ios.devices] == [("apns", "t1")]
    assert [(d.kind, d.token) for d in android.devices] == [("fcm", "t2")]
    web = mapped({}, {"device": {"token": "t3", "type": "web"}})
    assert web.devices == [] and web.rejected[0].field == "context.device.type"


def test_other_traits_are_custom_attributes_with_nested_values_kept():
    traits = {"plan": "Enterprise", "address": {"city": "Berlin", "zip": "10115"}, "tags": ["a", "b"], "age": 36}
    assert mapped(traits).attributes == traits


def test_newer_attribute_values_win_and_older_identifies_do_not_overwrite():
    attributes, times = {}, {}
    apply_attributes(attributes, times, {"plan": "Pro"}, T0 + timedelta(hours=1))
    apply_attributes(attributes, times, {"plan": "Free"}, T0)
    assert attributes == {"plan": "Pro"}
    apply_attributes(attributes, times, {"plan": None}, T0 + timedelta(hours=2))
    assert attributes == {}


def test_sending_the_same_value_again_is_a_change_to_keep_its_newer_time():
    attributes, times = {}, {}
    assert apply_attributes(attributes, times, {"plan": "Pro"}, T0)
    assert apply_attributes(attributes, times, {"plan": "Pro"}, T0 + timedelta(hours=2))
    assert not apply_attributes(attributes, times, {"plan": "Pro"}, T0 + timedelta(hours=2))  # nothing new
    assert not apply_attributes(attributes, times, {"plan": "Free"}, T0 + timedelta(hours=1))
    assert attributes == {"plan": "Pro"}


def test_merge_keeps_the_newer_value_of_each_attribute():
    into, into_times = {"plan": "Pro", "email": "a@x.test"}, {}
    apply_attributes(into, into_times, dict(into), T0)
    other, other_times = {}, {}
    apply_attributes(other, other_times, {"plan": "Free", "city": "Berlin"}, T0 + timedelta(minutes=1))
    apply_attributes(other, other_times, {"email": "old@x.test"}, T0 - timedelta(days=1))
    merge_attributes(into, into_times, other, other_times)
    assert into == {"plan": "Free", "email": "a@x.test", "city": "Berlin"}


@given(st.text(alphabet=st.characters(categories=("L", "Zs")), max_size=40))
def test_split_name_rejoins_to_the_words(name):
    first, last = split_name(name)
    words = name.split()
    assert first == (words[0] if words else None)
    assert " ".join(w for w in (first, last) if w) == " ".join(words)


def test_zone_names_that_are_not_places_are_refused():
    for name in ("localtime", "Factory"):
        assert mapped({"timezone": name}).rejected[0].field == "traits.timezone"
