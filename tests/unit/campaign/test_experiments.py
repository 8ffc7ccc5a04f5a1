"""Sticky assignment to holdouts, the global control and variants, and the numbers the stats
show: lift, the two-proportion confidence, and a variant's chance to beat the first."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from herald_services.campaign import experiments
from herald_services.campaign.spec import CampaignFileInvalid, parse_campaign
from hypothesis import given, settings
from hypothesis import strategies as st

USERS = [f"user-{number}" for number in range(100_000)]


@st.composite
def weights(draw) -> list[int]:
    """2 to 8 whole weights, each at least 1, summing to 100 (as a campaign file's)."""
    count = draw(st.integers(2, 8))
    cuts = sorted(draw(st.lists(st.integers(1, 99), min_size=count - 1, max_size=count - 1, unique=True)))
    return [b - a for a, b in zip([0, *cuts], [*cuts, 100])]


@settings(max_examples=4, deadline=None)
@given(weights=weights(), campaign=st.text(min_size=1, max_size=12))
def test_variants_split_100000_users_within_one_percent_of_their_weights(weights, campaign):
    counts = Counter(experiments.choose_variant(campaign, user, weights) for user in USERS)
    for index, weight in enumerate(weights):
        assert abs(counts[index] / len(USERS) - weight / 100) < 0.01, (index, weight, counts)


@settings(max_examples=3, deadline=None)
@given(percent=st.integers(1, 50), campaign=st.text(min_size=1, max_size=12))
def test_a_holdout_keeps_its_share_of_100000_users_within_one_percent(percent, campaign):
    held = sum(experiments.in_holdout(campaign, user, percent / 100) for user in USERS)
    assert abs(held / len(USERS) - percent / 100) < 0.01


@given(campaign=st.text(max_size=20), user=st.text(max_size=20))
def test_assignment_is_sticky_and_the_holdout_size_never_moves_anyone_between_variants(campaign, user):
    first = experiments.bucket(campaign, user, purpose=experiments.HOLDOUT)
    assert 0 <= first < 1 and experiments.bucket(campaign, user, purpose=experiments.HOLDOUT) == first
    variant = experiments.choose_variant(campaign, user, [30, 70])
    assert all(experiments.choose_variant(campaign, user, [30, 70]) == variant for _ in range(3))
    # A user held out by 10% is held out by 20% too: growing a holdout only adds users to it.
    if experiments.in_holdout(campaign, user, 0.1):
        assert experiments.in_holdout(campaign, user, 0.2)


def test_the_global_control_hash_is_not_a_campaigns_holdout_hash():
    both = sum(experiments.in_global_control("ws", user, 0.5) == experiments.in_holdout("ws", user, 0.5)
               for user in USERS[:10_000])
    assert 0.45 < both / 10_000 < 0.55  # independent draws agree half the time


def test_lift_and_confidence_against_a_worked_example():
    # 200 of 1000 treated converted, 150 of 1000 held out: pooled 0.175,
    # se = sqrt(0.175 * 0.825 * (1/1000 + 1/1000)) = 0.016993, z = 0.05 / se = 2.9424,
    # two-sided p = 0.003256: confidence 0.996744.
    comparison = experiments.GroupComparison(1000, 200, 1000, 150)
    assert comparison.lift == pytest.approx(1 / 3)
    assert experiments.z_score(200, 1000, 150, 1000) == pytest.approx(2.9424, abs=1e-4)
    assert comparison.confidence == pytest.approx(0.996744, abs=1e-6)
    # Equal rates: no confidence in a difference. A control that never converts: no lift.
    assert experiments.confidence(10, 100, 10, 100) == pytest.approx(0.0)
    assert experiments.lift(0.1, 0.0) is None
    # 1.96 standard errors is the textbook 95%.
    assert math.erf(1.959964 / math.sqrt(2)) == pytest.approx(0.95, abs=1e-6)


def test_below_the_minimum_group_size_there_is_not_enough_data():
    small = experiments.GroupComparison(500, 100, experiments.MIN_GROUP_SIZE - 1, 5)
    assert small.confidence is None and not small.enough_data and small.lift is not None
    assert experiments.GroupComparison(100, 20, 100, 10).enough_data


def test_chance_to_beat_against_closed_forms():
    # Beta(2,1) vs Beta(1,1): P(X > Y) = integral of 2x * x dx = 2/3.
    assert experiments.beta_beats(2, 1, 1, 1) == pytest.approx(2 / 3)
    assert experiments.beta_beats(1, 1, 2, 1) == pytest.approx(1 / 3)
    # Identical evidence: a coin toss; the exact sum and the normal approximation agree at scale.
    assert experiments.chance_to_beat(40, 400, 40, 400) == pytest.approx(0.5, abs=1e-9)
    exact = experiments.chance_to_beat(120, 1000, 100, 1000)
    assert exact == pytest.approx(experiments._normal_beats(121, 881, 101, 901), abs=2e-3)
    assert 0.92 < exact < 0.93
    assert experiments.chance_to_beat(30_000, 100_000, 29_000, 100_000) == pytest.approx(1.0, abs=1e-6)


CAMPAIGN = "name: AB\ntrigger: {event: x}\n"


def errors_of(text: str) -> list[str]:
    with pytest.raises(CampaignFileInvalid) as refused:
        parse_campaign(CAMPAIGN + text)
    return [str(error) for error in refused.value.errors]


def test_a_holdout_is_a_percentage_up_to_half():
    spec = parse_campaign(CAMPAIGN + "holdout: 12.5%\nmessage: {channel: sms, body: hi}\n")
    assert (spec.holdout, spec.holdout_text) == (0.125, "12.5%")
    assert errors_of("holdout: 60%\nmessage: {channel: sms, body: hi}\n") == [
        "holdout: expected a percentage like 10% (0% to 50%): '60%' would leave too few users to message"]
    assert errors_of("holdout: 0.1\nmessage: {channel: sms, body: hi}\n") == [
        "holdout: expected a percentage like 10% (0% to 50%), got 0.1"]


def test_variants_are_two_to_eight_named_weighted_messages_summing_to_100():
    spec = parse_campaign(CAMPAIGN + "variants:\n  - {name: A, weight: 70, message: {channel: sms, body: a}}\n"
                                     "  - {name: B, weight: 30, message: {channel: push, title: t, body: b}}\n")
    assert [(v.name, v.weight, v.message.channel) for v in spec.variants] == [("A", 70, "sms"), ("B", 30, "push")]
    assert spec.message is spec.variants[0].message and spec.message_for("B").channel == "push"
    assert spec.message_for("gone") is spec.message
    one = "variants: [{name: A, weight: 100, message: {channel: sms, body: a}}]\n"
    assert errors_of(one) == ["variants: expected 2 to 8 variants, got 1"]
    short = ("variants: [{name: A, weight: 50, message: {channel: sms, body: a}},"
             " {name: B, weight: 40, message: {channel: sms, body: b}}]\n")
    assert errors_of(short) == ["variants: the weights add up to 90; they must add up to 100"]
    bad = ("variants: [{name: A, weight: 50, message: {channel: sms}},"
           " {name: A, weight: half, message: {channel: sms, body: b}}]\n")
    assert errors_of(bad) == ["variants[0].message.body: missing required field",
                              "variants[1].name: 'A' is also the name of variants[0]",
                              "variants[1].weight: expected a whole number from 1 to 99, got text"]
    both = "message: {channel: sms, body: a}\n" + short
    assert errors_of(both) == ["variants: a campaign has either message or variants, not both"]
