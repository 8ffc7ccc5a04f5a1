"""Parts of the campaign pages that need no service: stats fields the page does not know yet are
still drawn, and an error's path is found on its line of the file."""

from __future__ import annotations

from herald.campaign.v1 import campaign_pb2

from herald_services.console.pages.campaigns import extra_figures, line_of


def test_a_stats_field_the_page_does_not_know_is_drawn_by_its_name():
    stats = campaign_pb2.CampaignStats(name="c", triggered=3, sent=2)
    labels = {item["label"] for item in extra_figures(stats)}
    assert not labels & {"Name", "Status", "Triggered", "Sent", "Goals"}  # these have sections of their own
    assert "Held out" in labels  # the experiments' figures have none yet: drawn by their name
    # the same reading of a message with fields the page has no section for (as lift, control
    # or variants will be): scalars become figures, a message a list of pairs
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
