"""Workspace settings files: what they mean, and every error by its path."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from herald_services.campaign.limits import FrequencyCap, QuietHours, SettingsFileInvalid, parse_settings
from herald_services.campaign.spec import CampaignFileInvalid, parse_campaign

DOCS_EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "workspace-settings.yaml"


def errors_of(text: str) -> list[str]:
    with pytest.raises(SettingsFileInvalid) as refused:
        parse_settings(text)
    return [str(error) for error in refused.value.errors]


def test_the_documented_example_reads_as_three_caps_quiet_hours_and_a_control_group():
    settings = parse_settings(DOCS_EXAMPLE.read_text())
    assert settings.frequency_caps == (
        FrequencyCap("any", 3, timedelta(days=1)),
        FrequencyCap("any", 10, timedelta(days=7)),
        FrequencyCap("sms", 1, None),
    )
    assert settings.quiet_hours == QuietHours(start=21 * 60, end=8 * 60, fallback_timezone="America/New_York")
    assert settings.global_control == pytest.approx(0.05) and settings.global_control_text == "5%"
    assert [cap.describe() for cap in settings.frequency_caps] == [
        "any max 3 per 1d", "any max 10 per 7d", "sms max 1 per calendar_day",
    ]


def test_an_empty_file_or_mapping_means_no_limits():
    for text in ("", "{}\n", "# nothing yet\n"):
        settings = parse_settings(text)
        assert settings.frequency_caps == () and settings.quiet_hours is None and settings.global_control == 0


def test_every_error_is_named_by_its_path():
    text = """
frequency_caps:
  - {channel: anyy, max: 0, per: 1x}
  - {channel: any, max: two}
  - {channel: any, max: 2, per: 2h, extra: 1}
  - {channel: email, max: 1, per: 40d}
quiet_hours: {start: "21:00", end: "21:00", fallback_timezone: Mars/Base}
global_control: 60%
colour: red
"""
    assert errors_of(text) == [
        "colour: unknown field",
        "frequency_caps[0].channel: unknown channel 'anyy' (expected one of any, email, sms, voice, push, webhook)",
        "frequency_caps[0].max: must be at least 1 (pause the campaigns to send nothing)",
        "frequency_caps[0].per: '1x' is not a duration (like 30m, 4h, 2d), or calendar_day",
        "frequency_caps[1].per: missing required field",
        "frequency_caps[1].max: expected a whole number of sends, got text",
        "frequency_caps[2].extra: unknown field",
        "frequency_caps[3].per: must be at most 31d",
        "quiet_hours.end: the same as start: quiet hours must leave some time to send",
        "quiet_hours.fallback_timezone: 'Mars/Base' is not an IANA time zone",
        "global_control: expected a percentage like 5% (0% to 50%): '60%' would keep too many users from every campaign",
    ]


def test_two_caps_on_the_same_channel_and_window_are_refused():
    assert errors_of("frequency_caps: [{channel: sms, max: 1, per: 1d}, {channel: sms, max: 2, per: 24h}]") == [
        "frequency_caps[1].per: frequency_caps[0] already caps sms per the same window",
    ]


def test_unquoted_clock_times_and_bad_yaml_are_refused_with_a_reason():
    assert errors_of("quiet_hours: {start: 2100, end: '08:00'}") == [
        "quiet_hours.start: 2100 is not a time of day (HH:MM, like \"09:00\")",
    ]
    assert errors_of("frequency_caps: [")[0].startswith("(file): not valid YAML")
    assert errors_of("global_control: 5") == ["global_control: expected a percentage like 5% (0% to 50%), got 5"]


def test_quiet_hours_may_end_at_midnight_and_need_not_cross_it():
    assert parse_settings("quiet_hours: {start: '12:00', end: '14:00'}").quiet_hours == QuietHours(720, 840)
    assert parse_settings("quiet_hours: {start: '22:00', end: '24:00'}").quiet_hours == QuietHours(1320, 1440)


CAMPAIGN = """
name: Receipt
trigger: {event: "[Segment] Order Completed"}
message: {channel: email, subject: Your receipt, body: Thanks}
"""


def test_campaigns_are_not_transactional_and_suppress_on_a_cap_unless_they_say_so():
    spec = parse_campaign(CAMPAIGN)
    assert spec.transactional is False and spec.on_cap == "suppress"
    spec = parse_campaign(CAMPAIGN + "transactional: true\non_cap: defer\n")
    assert spec.transactional is True and spec.on_cap == "defer"


def test_campaign_transactional_and_on_cap_are_checked():
    with pytest.raises(CampaignFileInvalid) as refused:
        parse_campaign(CAMPAIGN + "transactional: yes\non_cap: wait\n")
    assert [str(e) for e in refused.value.errors] == [
        "transactional: expected true or false, got text",
        "on_cap: expected one of suppress, defer, got 'wait'",
    ]
