"""Workspace settings: frequency caps, quiet hours and the global control group.

A settings file is YAML, read and checked like a campaign file (spec.py's reader: every error
by its path, unknown fields refused, YAML 1.2 scalars):

    frequency_caps:
      - { channel: any, max: 3, per: 1d }
      - { channel: sms, max: 1, per: calendar_day }
    quiet_hours: { start: "21:00", end: "08:00" }
    global_control: 5%

Campaign owns the settings and hands them to delivery with each send's Confirm answer; the
caps are enforced in delivery (see services/delivery/caps.py), where sends are claimed.

Pure: imports neither grpc nor sqlmodel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from herald_services.campaign.domain import CHANNELS
from herald_services.campaign.spec import (
    INVALID,
    CampaignFileInvalid,
    SpecReader,
    child_path,
    item_path,
    kind_of,
    load_yaml,
)
from herald_services.campaign.times import format_duration, parse_duration

CAP_CHANNELS = ("any", *CHANNELS)
CALENDAR_DAY = "calendar_day"
# Delivery keeps each user's sends this long for the caps to count; a longer window could not be
# honoured.
MAX_CAP_WINDOW = timedelta(days=31)
MIN_CAP_WINDOW = timedelta(minutes=1)
MAX_GLOBAL_CONTROL_PERCENT = 50.0
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")

_SETTINGS_FIELDS = {"frequency_caps": False, "quiet_hours": False, "global_control": False}
_CAP_FIELDS = {"channel": True, "max": True, "per": True}
_QUIET_FIELDS = {"start": True, "end": True, "fallback_timezone": False}


class SettingsFileInvalid(CampaignFileInvalid):
    """A settings file refused whole; `errors` lists every problem by its path."""


@dataclass(frozen=True)
class FrequencyCap:
    """At most `max` sends on `channel` ("any": every channel together) to one user per `per`
    (a rolling window), or per calendar day in the user's zone when `per` is None."""

    channel: str
    max: int
    per: timedelta | None

    @property
    def per_text(self) -> str:
        return CALENDAR_DAY if self.per is None else format_duration(self.per)

    def describe(self) -> str:
        """How the rule is named in a suppression's outcome: `any max 3 per 1d`."""
        return f"{self.channel} max {self.max} per {self.per_text}"


@dataclass(frozen=True)
class QuietHours:
    """Local times (minutes after midnight; `end` may be 1440) when nothing is sent; an end
    before the start crosses midnight (21:00-08:00)."""

    start: int
    end: int
    fallback_timezone: str | None = None


@dataclass(frozen=True)
class WorkspaceSettings:
    frequency_caps: tuple[FrequencyCap, ...] = ()
    quiet_hours: QuietHours | None = None
    global_control: float = 0.0  # a fraction, 0 to 0.5
    global_control_text: str = "0%"


NO_SETTINGS = WorkspaceSettings()


def parse_settings(text: str | bytes) -> WorkspaceSettings:
    """Reads and checks a settings file. Raises SettingsFileInvalid listing every error."""
    try:
        document = load_yaml(text)
    except CampaignFileInvalid as error:
        raise SettingsFileInvalid(error.errors) from None
    reader = _SettingsReader()
    settings = reader.settings({} if document is None else document)
    if reader.errors:
        raise SettingsFileInvalid(reader.errors)
    return settings


def minutes_to_clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class _SettingsReader(SpecReader):
    def settings(self, document: Any) -> WorkspaceSettings:
        fields = self.fields(document, "", _SETTINGS_FIELDS)
        if fields is None:
            return INVALID
        caps = self.caps(fields["frequency_caps"]) if "frequency_caps" in fields else ()
        quiet = self.quiet_hours(fields["quiet_hours"]) if "quiet_hours" in fields else None
        control, control_text = self.percentage(fields["global_control"]) if "global_control" in fields else (0.0, "0%")
        if self.errors:
            return INVALID
        return WorkspaceSettings(frequency_caps=caps, quiet_hours=quiet, global_control=control,
                                 global_control_text=control_text)

    def caps(self, value: Any) -> tuple[FrequencyCap, ...]:
        items = self.listing(value, "frequency_caps", what="caps ({channel, max, per})")
        if items is INVALID:
            return INVALID
        caps: list[FrequencyCap] = []
        seen: dict[tuple[str, timedelta | None], int] = {}
        for index, item in enumerate(items):
            path = item_path("frequency_caps", index)
            fields = self.fields(item, path, _CAP_FIELDS)
            if fields is None:
                continue
            start = len(self.errors)
            channel = fields.get("channel", INVALID)
            if channel is not INVALID and channel not in CAP_CHANNELS:
                channel = self.error(child_path(path, "channel"),
                                     f"unknown channel {channel!r} (expected one of {', '.join(CAP_CHANNELS)})")
            most = fields.get("max", INVALID)
            if most is not INVALID and (isinstance(most, bool) or not isinstance(most, int)):
                most = self.error(child_path(path, "max"), f"expected a whole number of sends, got {kind_of(most)}")
            elif most is not INVALID and most < 1:
                most = self.error(child_path(path, "max"), "must be at least 1 (pause the campaigns to send nothing)")
            per = self.cap_window(fields["per"], child_path(path, "per")) if "per" in fields else INVALID
            if len(self.errors) > start or INVALID in (channel, most, per):
                continue
            key = (channel, per)
            if key in seen:
                self.error(child_path(path, "per"),
                           f"frequency_caps[{seen[key]}] already caps {channel} per the same window")
                continue
            seen[key] = index
            caps.append(FrequencyCap(channel=channel, max=most, per=per))
        return tuple(caps)

    def cap_window(self, value: Any, path: str) -> timedelta | None:
        if value == CALENDAR_DAY:
            return None
        try:
            window = parse_duration(value)
        except ValueError as error:
            return self.error(path, f"{error}, or {CALENDAR_DAY}")
        if window < MIN_CAP_WINDOW:
            return self.error(path, f"must be at least {format_duration(MIN_CAP_WINDOW)}")
        if window > MAX_CAP_WINDOW:
            return self.error(path, f"must be at most {format_duration(MAX_CAP_WINDOW)}")
        return window

    def quiet_hours(self, value: Any) -> QuietHours:
        path = "quiet_hours"
        fields = self.fields(value, path, _QUIET_FIELDS)
        if fields is None:
            return INVALID
        start_count = len(self.errors)
        start = self.time_of_day(fields["start"], f"{path}.start", allow_end_of_day=False) if "start" in fields else INVALID
        end = self.time_of_day(fields["end"], f"{path}.end", allow_end_of_day=True) if "end" in fields else INVALID
        if start is not INVALID and end is not INVALID and start % 1440 == end % 1440:
            self.error(f"{path}.end", "the same as start: quiet hours must leave some time to send")
        zone = fields.get("fallback_timezone")
        if zone is not None:
            self.timezone_name(zone, f"{path}.fallback_timezone")
        if len(self.errors) > start_count:
            return INVALID
        return QuietHours(start=start, end=end, fallback_timezone=zone)

    def percentage(self, value: Any) -> tuple[float, str]:
        path = "global_control"
        hint = f"expected a percentage like 5% (0% to {MAX_GLOBAL_CONTROL_PERCENT:g}%)"
        match = _PERCENT.fullmatch(value.strip()) if isinstance(value, str) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0:
            return 0.0, "0%"
        if match is None:
            self.error(path, f"{hint}, got {value!r}")
            return INVALID, ""
        percent = float(match[1])
        if percent > MAX_GLOBAL_CONTROL_PERCENT:
            self.error(path, f"{hint}: {value!r} would keep too many users from every campaign")
            return INVALID, ""
        return percent / 100.0, f"{percent:g}%"
