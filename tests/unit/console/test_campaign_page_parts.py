"""Parts of the campaign pages that need no service: stats fields the page does not know yet are
still drawn, and an error's path is found on its line of the file."""

from __future__ import annotations

from herald.campaign.v1 import campaign_pb2

from herald_services.console.pages.campaigns import extra_figures, line_of


def test_a_stats_field_the_page_does_not_know_is_drawn_by_its_name():
    stats = campaign_pb2.CampaignStats(name="c", triggered=3, sent=2)
    labels = {item["label"] for item in extra_figures(stats)}
    # these have sections of their own (the experiments' figures: the lift and variants tables)
    assert not labels & {"Name", "Status", "Triggered", "Sent", "Goals", "Held out", "Variants", "Holdout"}
    # a field added to a message later, with no section yet, is drawn by its name: scalars
    # become figures, a message a list of pairs
    summary = campaign_pb2.CampaignSummary(channel="email", primary_rate=0.25,
                                           campaign=campaign_pb2.Campaign(name="c", version=2))
    found = {item["label"]: item for item in extra_figures(summary)}
    assert found["Channel"] == {"kind": "figure", "label": "Channel", "value": "email"}
    assert found["Primary rate"]["value"] == "0.25"
    assert found["Campaign"]["kind"] == "map" and ("version", 2) in found["Campaign"]["items"]
    daily = campaign_pb2.GetCampaignDailyResponse(days=[campaign_pb2.CampaignDay(day="2026-12-01", sent=4)])
    [table] = [item for item in extra_figures(daily) if item["kind"] == "table"]
    assert table["columns"] == ["day", "sent", "conversions"] and table["rows"] == [["2026-12-01", 4, 0]]


def test_an_errors_path_is_found_on_its_line():
    source = "name: x\nfilters:\n  any_of:\n    - all_of:\n        - {op: gtt}\nmessage: {channel: fax}\n"
    assert line_of(source, "filters.any_of[0].all_of[0].op") == 5
    assert line_of(source, "message.channel") == 6
    assert line_of(source, "message.subject") == 6  # missing: its parent's line
    assert line_of(source, "(file)") is None
    assert line_of("a: [", "a") is None  # not YAML


def test_the_lift_and_variants_tables_read_every_figure_of_the_stats():
    from herald_services.console.pages.campaigns import experiment, variants

    assert experiment(campaign_pb2.CampaignStats(sent=10)) is None  # no control group: no lift table
    goal = campaign_pb2.GoalStats(name="Paid", primary=True, treatment_conversions=30, treatment_rate=0.3,
                                  control_conversions=10, control_rate=0.2, lift=0.5, enough_data=False)
    stats = campaign_pb2.CampaignStats(sent=100, held_out=50, holdout="33%", goals=[goal], min_group_size=100,
                                       held_out_by_group={"holdout": 45, "global_control": 5})
    found = experiment(stats)
    assert found["by_group"] == [("global_control", 5), ("holdout", 45)]
    [row] = found["goals"]
    assert row["treatment"] == (30, 100, 0.3) and row["control"] == (10, 50, 0.2)
    assert row["lift"] == 0.5 and row["confidence"] is None  # unset: not enough data
    stats.variants.add(name="a", weight=50, sent=60, goals=[campaign_pb2.VariantGoalStats(name="Paid", conversions=6, rate=0.1)])
    stats.variants.add(name="b", weight=50, sent=40, goals=[campaign_pb2.VariantGoalStats(
        name="Paid", conversions=8, rate=0.2, chance_to_beat_first=0.93)])
    stats.variants.add(name="old", weight=0, sent=5)
    a, b, old = variants(stats)
    assert a["first"] and a["goals"][0]["beats"] is None and b["goals"][0]["beats"] == 0.93
    assert a["promotable"] and b["promotable"] and not old["promotable"] and old["weight"] is None
