"""How ids join profiles (ProfileBook), without a database: linking, joining, merging, alias."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from herald_services.identity.domain import Profile, ProfileBook, apply_attributes

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def book() -> ProfileBook:
    counter = itertools.count(1)
    return ProfileBook(workspace_id="ws", now=NOW, new_id=lambda: f"p{next(counter)}")


def loaded(book_: ProfileBook, profile_id: str, user_id: str | None, aliases=(), **attributes) -> Profile:
    profile = Profile(profile_id, "ws", user_id, {}, {}, NOW - timedelta(days=1), NOW - timedelta(days=1))
    apply_attributes(profile.attributes, profile.attribute_times, attributes, NOW - timedelta(days=1))
    book_.add_loaded(profile)
    for alias in aliases:
        book_.by_alias[alias] = profile_id
    return profile


def test_unknown_anonymous_id_creates_an_anonymous_profile():
    b = book()
    profile = b.link(None, "anon-1")
    assert (profile.user_id, profile.new) == (None, True)
    assert b.new_aliases == {"anon-1": profile.id}
    assert b.link(None, "anon-1") is profile


def test_identify_of_an_anonymous_profile_gives_it_the_user_id_without_a_merge():
    b = book()
    anonymous = loaded(b, "a", None, aliases=["anon-1"])
    profile = b.link("u1", "anon-1")
    assert profile is anonymous and profile.user_id == "u1" and b.merges == []


def test_known_user_and_known_anonymous_profile_merge_into_the_user():
    b = book()
    user = loaded(b, "u", "u1", plan="Pro")
    anonymous = loaded(b, "a", None, aliases=["anon-1"], city="Berlin")
    profile = b.link("u1", "anon-1")
    assert profile is user
    assert anonymous.merged_into == "u" and anonymous.attributes == {}
    assert user.attributes == {"plan": "Pro", "city": "Berlin"}
    assert [(m.source, m.target) for m in b.merges] == [("a", "u")]
    assert b.link(None, "anon-1") is user


def test_an_anonymous_id_of_another_known_user_is_never_merged():
    b = book()
    ada = loaded(b, "ada", "u-ada", aliases=["shared-device"])
    bob = loaded(b, "bob", "u-bob")
    assert b.link("u-bob", "shared-device") is bob
    assert b.merges == [] and ada.merged_into is None


def test_alias_of_a_former_user_id_keeps_it_resolvable():
    b = book()
    old = loaded(b, "p", "old-id")
    profile = b.alias("old-id", "new-id")
    assert profile is old and profile.user_id == "new-id"
    assert b.new_aliases == {"old-id": "p"}
    assert b.link("old-id", None) is old


def test_alias_merges_two_known_profiles_and_the_previous_user_id_stays_an_alias():
    b = book()
    previous = loaded(b, "a", "guest-7", email="a@x.test")
    current = loaded(b, "b", "u1")
    assert b.alias("guest-7", "u1") is current
    assert previous.merged_into == "b" and previous.user_id is None
    assert b.new_aliases["guest-7"] == "b"
    assert current.attributes == {"email": "a@x.test"}


def test_chained_merges_resolve_to_the_last_target():
    b = book()
    loaded(b, "a", None, aliases=["anon-a"])
    loaded(b, "b", "u-b")
    loaded(b, "c", "u-c")
    b.link("u-b", "anon-a")
    b.alias("u-b", "u-c")
    assert b.canonical("a") == "c"
    b.keep_device("apns", "tok", b.profiles["a"])
    assert b.canonical(b.devices[("apns", "tok")]) == "c"


def test_a_device_token_moves_to_the_user_who_sent_it_last():
    b = book()
    first, second = loaded(b, "a", "u1"), loaded(b, "b", "u2")
    b.keep_device("fcm", "t", first)
    b.keep_device("fcm", "t", second)
    assert b.devices == {("fcm", "t"): "b"}
